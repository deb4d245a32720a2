import numpy as np


def _errors(y_true, y_pred):
    return np.asarray(y_pred, dtype=float) - np.asarray(y_true, dtype=float)


def mse(y_true, y_pred):
    """Mean squared error over all elements."""
    return float(np.mean(_errors(y_true, y_pred) ** 2))


def mae(y_true, y_pred):
    """Mean absolute error over all elements."""
    return float(np.mean(np.abs(_errors(y_true, y_pred))))


def mse_gradient(y_true, y_pred):
    """d mse / d y_pred = 2 (y_pred - y_true) / n."""
    e = _errors(y_true, y_pred)
    return 2.0 * e / e.size


def mae_gradient(y_true, y_pred):
    """d mae / d y_pred = sign(y_pred - y_true) / n (0 where the error is 0)."""
    e = _errors(y_true, y_pred)
    return np.sign(e) / e.size
