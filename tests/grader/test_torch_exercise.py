"""The seeded torch-bce-with-logits exercise (the `torch` environment), graded through the
real sandbox: what a right answer earns, and what the usual wrong ones lose."""

from __future__ import annotations

import pytest

from tests.grader.seeded import grade, key, passed

SLUG = "torch-bce-with-logits"

ACCURACY = """
def accuracy(logits, targets):
    return ((logits > 0).to(targets.dtype) == targets).float().mean()


def accuracy_gradient(logits, targets):
    z = logits.detach().clone().requires_grad_(True)
    value = accuracy(z, targets)
    if not value.requires_grad:
        return torch.zeros_like(z)
    (gradient,) = torch.autograd.grad(value, z, allow_unused=True)
    return torch.zeros_like(z) if gradient is None else gradient
"""

GRADIENT = """
def bce_logit_gradient(logits, targets):
    z = logits.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(bce_with_logits(z, targets), z)
    return gradient
"""

STABLE = (
    "import torch\n\n\n"
    "def bce_with_logits(logits, targets):\n"
    "    z, y = logits, targets\n"
    "    return (z.clamp(min=0) - z * y + torch.log1p(torch.exp(-z.abs()))).mean()\n" + GRADIENT + ACCURACY
)
NAIVE = (
    "import torch\n\n\n"
    "def bce_with_logits(logits, targets):\n"
    "    p = torch.sigmoid(logits)\n"
    "    return -(targets * torch.log(p) + (1 - targets) * torch.log(1 - p)).mean()\n" + GRADIENT + ACCURACY
)
IN_PLACE = STABLE.replace("    z, y = logits, targets\n", "    z, y = logits.clamp_(-50, 50), targets\n")
SMOOTH_ACCURACY = STABLE.replace(
    "return ((logits > 0).to(targets.dtype) == targets).float().mean()",
    "return (targets * torch.sigmoid(logits) + (1 - targets) * (1 - torch.sigmoid(logits))).mean()",
)


def test_the_reference_validates_with_full_marks():
    verdict = key(SLUG).reference
    assert verdict.score == verdict.max_score == 12


def test_a_stable_implementation_with_autograd_earns_full_marks():
    verdict = grade(SLUG, STABLE)
    assert verdict.score == verdict.max_score, verdict.summary
    assert passed(verdict) == {check.name for check in key(SLUG).checks}


def test_the_naive_formula_loses_the_extreme_logits():
    verdict = grade(SLUG, NAIVE)
    lost = {check.name for check in key(SLUG).checks} - passed(verdict)
    assert {"extreme-logits-value", "extreme-logits-finite"} <= lost
    assert "random-logits" in passed(verdict)


@pytest.mark.parametrize(
    ("code", "lost"),
    [(IN_PLACE, "inputs-unchanged"), (SMOOTH_ACCURACY, "accuracy")],
    ids=["clamps-its-input-in-place", "smooth-accuracy"],
)
def test_common_mistakes_cost_their_check(code: str, lost: str):
    verdict = grade(SLUG, code)
    assert lost not in passed(verdict)
    assert verdict.score < verdict.max_score
