import numpy as np


def _sigmoid(z):
    # tanh form: never overflows, for any z.
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def accuracy(w, X, y):
    """Fraction of rows whose prediction (X @ w > 0) equals the 0/1 label."""
    predicted = (np.asarray(X) @ np.asarray(w) > 0).astype(float)
    return float(np.mean(predicted == np.asarray(y, dtype=float)))


def bce_loss(w, X, y, eps=1e-7):
    """Mean binary cross-entropy of sigmoid(X @ w), clipped to [eps, 1 - eps]."""
    y = np.asarray(y, dtype=float)
    p = np.clip(_sigmoid(np.asarray(X) @ np.asarray(w)), eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def numerical_gradient(f, w, h=1e-5):
    """Central-difference gradient of the scalar function f at w (same shape as w)."""
    w = np.array(w, dtype=float)  # a copy: the caller's w is never touched
    grad = np.empty_like(w)
    for i in np.ndindex(w.shape):
        step = np.zeros_like(w)
        step[i] = h
        grad[i] = (f(w + step) - f(w - step)) / (2.0 * h)
    return grad
