def accuracy(w, X, y):
    """Fraction of rows of X whose predicted class (1 where X @ w > 0, else 0)
    equals the 0/1 label in y. Returns a float in [0, 1]."""
    raise NotImplementedError


def bce_loss(w, X, y, eps=1e-7):
    """Mean binary cross-entropy of p = sigmoid(X @ w) against the labels y,
    with p clipped to [eps, 1 - eps]. Returns a float."""
    raise NotImplementedError


def numerical_gradient(f, w, h=1e-5):
    """Central-difference estimate of the gradient of f at w.

    f maps an array shaped like w to a float. Component i of the result is
    (f(w + h * e_i) - f(w - h * e_i)) / (2 * h), where e_i is the i-th unit
    array. Returns an array of the same shape as w; must not modify w.
    """
    raise NotImplementedError
