def bce_with_logits(logits, targets):
    """Mean binary cross-entropy of sigmoid(logits) against targets, stable for logits of +-100."""
    raise NotImplementedError


def bce_logit_gradient(logits, targets):
    """The gradient of your bce_with_logits with respect to the logits, found by autograd."""
    raise NotImplementedError


def accuracy(logits, targets):
    """The fraction of predictions (logit > 0 means class 1) that match the targets."""
    raise NotImplementedError


def accuracy_gradient(logits, targets):
    """The gradient of your accuracy with respect to the logits, by autograd (zeros where
    autograd finds no path back to the logits)."""
    raise NotImplementedError
