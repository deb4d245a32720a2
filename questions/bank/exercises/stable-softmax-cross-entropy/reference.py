import numpy as np


def log_softmax(logits):
    """Row-wise log-softmax, stable for any finite logits (log-sum-exp trick)."""
    z = np.asarray(logits, dtype=float)
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(logits, labels):
    """Mean over rows of -log softmax(logits)[i, labels[i]]."""
    log_p = log_softmax(logits)
    labels = np.asarray(labels, dtype=int)
    return float(-np.mean(log_p[np.arange(labels.size), labels]))
