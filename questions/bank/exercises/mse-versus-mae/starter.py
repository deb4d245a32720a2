def mse(y_true, y_pred):
    """Mean squared error: the mean over all elements of (y_pred - y_true) ** 2.
    Inputs are array-likes of equal shape. Returns a float."""
    raise NotImplementedError


def mae(y_true, y_pred):
    """Mean absolute error: the mean over all elements of |y_pred - y_true|.
    Returns a float."""
    raise NotImplementedError


def mse_gradient(y_true, y_pred):
    """Gradient of mse with respect to y_pred: an array shaped like y_pred."""
    raise NotImplementedError


def mae_gradient(y_true, y_pred):
    """Gradient of mae with respect to y_pred: an array shaped like y_pred,
    0 where y_pred equals y_true."""
    raise NotImplementedError
