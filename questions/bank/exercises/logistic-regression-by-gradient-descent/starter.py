def predict(w, X):
    """Predicted classes for the rows of X: an array of 0s and 1s, 1 where
    X @ w > 0."""
    raise NotImplementedError


def fit(X, y, lr=0.1, steps=1000):
    """Train logistic-regression weights by full-batch gradient descent.

    X: (n, d) array (its last column is all ones: the bias). y: n labels, 0 or 1.
    Start from w = np.zeros(d) and, `steps` times, update
        w = w - lr * X.T @ (sigmoid(X @ w) - y) / n
    the gradient of the mean binary cross-entropy. Return w, shape (d,).
    Must not modify X or y.
    """
    raise NotImplementedError
