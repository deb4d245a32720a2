import torch
import torch.nn.functional as F


def bce_with_logits(logits, targets):
    """Mean binary cross-entropy of sigmoid(logits) against targets: PyTorch's own."""
    return F.binary_cross_entropy_with_logits(logits, targets)


def bce_logit_gradient(logits, targets):
    """d(mean BCE)/d(logits), analytically: (sigmoid(z) - y) / n."""
    return (torch.sigmoid(logits) - targets) / logits.numel()


def accuracy(logits, targets):
    return ((logits > 0).to(targets.dtype) == targets).float().mean()


def accuracy_gradient(logits, targets):
    z = logits.detach().clone().requires_grad_(True)
    value = accuracy(z, targets)
    if not value.requires_grad:
        return torch.zeros_like(z)  # the comparison cut the graph: no path back to z
    (gradient,) = torch.autograd.grad(value, z, allow_unused=True)
    return torch.zeros_like(z) if gradient is None else gradient
