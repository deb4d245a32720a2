import numpy as np


def binary_cross_entropy(y_true, y_pred, eps=1e-7):
    """Mean binary cross-entropy over all elements, predictions clipped to [eps, 1 - eps]."""
    y = np.asarray(y_true, dtype=float)
    p = np.clip(np.asarray(y_pred, dtype=float), eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))
