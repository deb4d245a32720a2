def held_out_probabilities(X_train, y_train, X_test):
    """Fit a scikit-learn classifier on (X_train, y_train); return P(class 1) for each row of X_test."""
    raise NotImplementedError


def loss_and_accuracy(y_true, p):
    """np.array([log loss, accuracy]) of the probabilities p of class 1."""
    raise NotImplementedError


def same_accuracy_different_loss(y_true):
    """A (2, n) array: two models' probabilities of class 1 for y_true, with the same
    accuracy but log losses at least 0.1 apart."""
    raise NotImplementedError
