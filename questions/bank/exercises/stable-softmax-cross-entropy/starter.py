def log_softmax(logits):
    """Row-wise log-softmax of an (n, k) array of logits.

    Returns an (n, k) array whose row i is log(softmax(logits[i])). Must be
    finite for logits as large as +-1000 and must not modify its argument.
    """
    raise NotImplementedError


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of (n, k) logits against n integer labels in [0, k).

    Returns the mean over rows of -log_softmax(logits)[i, labels[i]] as a float.
    """
    raise NotImplementedError
