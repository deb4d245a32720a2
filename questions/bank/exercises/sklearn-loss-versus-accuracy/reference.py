import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def held_out_probabilities(X_train, y_train, X_test):
    """Fit on the training split; P(benign = 1) for each held-out row."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X_train, y_train)
    return model.predict_proba(X_test)[:, 1]


def loss_and_accuracy(y_true, p):
    """[log loss, accuracy] of probabilities p of class 1, as scikit-learn computes them."""
    y = np.asarray(y_true)
    p = np.asarray(p, dtype=float)
    return np.array([log_loss(y, p, labels=[0, 1]), accuracy_score(y, (p > 0.5).astype(y.dtype))])


def same_accuracy_different_loss(y_true):
    """Two models' probabilities: both right on every example, one hesitant, one confident."""
    y = np.asarray(y_true, dtype=float)
    hesitant = np.where(y == 1, 0.6, 0.4)
    confident = np.where(y == 1, 0.95, 0.05)
    return np.stack([hesitant, confident])
