def binary_cross_entropy(y_true, y_pred, eps=1e-7):
    """Mean binary cross-entropy between labels and predicted probabilities.

    y_true: array-like (list or numpy array, 1-D or 2-D) of labels in [0, 1].
    y_pred: array-like of the same shape, predicted probabilities of class 1.
    eps: predictions are clipped to [eps, 1 - eps] before taking logarithms.

    Returns the mean over ALL elements as a single float. Must not modify its
    arguments.
    """
    raise NotImplementedError
