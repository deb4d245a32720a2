"""The check-strength report (grader.strength) through the real sandbox: what code that
does no real work scores on every seeded exercise, and the flag a weak key gets."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from functools import cache
from typing import Any

import pytest

from grader.checks import (
    expected_from_reference,
    judge_every_variant,
    limits_for,
    run_checks,
)
from grader.strength import (
    NEGATED,
    NON_SOLUTIONS,
    STARTER,
    negated_reference_code,
    non_solution_code,
    strength_candidates,
    strength_flag,
    strength_report,
)
from questions.exercises import CheckSpec
from tests.grader.seeded import SLUGS, grade, key, passed, runner
from workers.sandbox.protocol import SandboxJob, SandboxRun, SandboxUnavailable


@cache
def report(slug: str) -> dict[str, Any]:
    k = key(slug)
    return strength_report(
        runner=k.runner,
        checks=k.checks,
        expected=k.expected,
        entry_points=k.spec.entry_points,
        limits=k.limits,
        reference=k.spec.reference_solution,
        starter=k.spec.starter_code,
    )


def test_the_bank_holds_the_seeded_exercises():
    assert SLUGS == [
        "accuracy-zero-gradient",
        "binary-cross-entropy",
        "logistic-regression-by-gradient-descent",
        "mse-versus-mae",
        "notebook-binary-cross-entropy",
        "sklearn-loss-versus-accuracy",
        "stable-softmax-cross-entropy",
        "torch-bce-with-logits",
    ]


# --- Every seeded exercise --------------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
def test_the_reference_earns_full_marks_on_every_variant(slug: str):
    reference = key(slug).reference

    assert reference.max_score > 0
    assert reference.score == reference.max_score, [(c.name, c.message) for c in reference.checks if not c.passed]
    assert reference.summary == f"{len(reference.checks)} of {len(reference.checks)} checks passed"


@pytest.mark.parametrize("slug", SLUGS)
def test_the_report_runs_the_starter_every_generated_non_solution_and_the_negated_reference(slug: str):
    made = report(slug)

    assert "error" not in made
    assert [row["slug"] for row in made["runs"]] == [STARTER, *(item.slug for item in NON_SOLUTIONS), NEGATED]
    max_score = str(key(slug).reference.max_score)
    assert {row["max_score"] for row in made["runs"]} == {max_score}
    assert set(made["checks"]) == {check.name for check in key(slug).checks}


@pytest.mark.parametrize("slug", SLUGS)
def test_the_starter_code_and_every_constant_score_nothing(slug: str):
    made = report(slug)

    scoring = [(row["label"], row["score"], row["passing"]) for row in made["runs"] if row["constant"]]
    assert len(scoring) == 1 + len(NON_SOLUTIONS)
    assert all(Decimal(score) == 0 for _label, score, _passing in scoring), scoring
    assert made["flag"] == ""


@pytest.mark.parametrize("slug", SLUGS)
def test_the_negated_reference_scores_at_most_a_quarter(slug: str):
    """A wrong sign is the commonest slip: it must not pass the checks that pay for
    properties (finite, scalar, unchanged, time) on the strength of its magnitudes."""
    (negated,) = [row for row in report(slug)["runs"] if row["slug"] == NEGATED]

    assert not negated["constant"]
    assert Decimal(negated["score"]) <= Decimal(negated["max_score"]) / 4, negated


# --- Hand-written non-solutions: a sum where the mean belongs ---------------------------

BCE_WITH_A_SUM = """
import numpy as np

def binary_cross_entropy(y_true, y_pred, eps=1e-7):
    y = np.asarray(y_true, dtype=float)
    p = np.clip(np.asarray(y_pred, dtype=float), eps, 1.0 - eps)
    return float(-np.sum(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)))
"""

MSE_MAE_WITH_SUMS = """
import numpy as np

def mse(y_true, y_pred):
    e = np.asarray(y_pred, dtype=float) - np.asarray(y_true, dtype=float)
    return float(np.sum(e ** 2))

def mae(y_true, y_pred):
    e = np.asarray(y_pred, dtype=float) - np.asarray(y_true, dtype=float)
    return float(np.sum(np.abs(e)))

def mse_gradient(y_true, y_pred):
    e = np.asarray(y_pred, dtype=float) - np.asarray(y_true, dtype=float)
    return 2.0 * e

def mae_gradient(y_true, y_pred):
    e = np.asarray(y_pred, dtype=float) - np.asarray(y_true, dtype=float)
    return np.sign(e)
"""

# The sum in mse only; mae and both gradients right.
MSE_WITH_A_SUM = """
import numpy as np

def _errors(y_true, y_pred):
    return np.asarray(y_pred, dtype=float) - np.asarray(y_true, dtype=float)

def mse(y_true, y_pred):
    return float(np.sum(_errors(y_true, y_pred) ** 2))

def mae(y_true, y_pred):
    return float(np.mean(np.abs(_errors(y_true, y_pred))))

def mse_gradient(y_true, y_pred):
    e = _errors(y_true, y_pred)
    return 2.0 * e / e.size

def mae_gradient(y_true, y_pred):
    e = _errors(y_true, y_pred)
    return np.sign(e) / e.size
"""


@pytest.mark.parametrize(
    ("slug", "code"),
    [
        pytest.param("binary-cross-entropy", BCE_WITH_A_SUM, id="binary-cross-entropy"),
        pytest.param("mse-versus-mae", MSE_MAE_WITH_SUMS, id="mse-and-mae"),
    ],
)
def test_a_sum_instead_of_the_mean_scores_at_most_a_quarter(slug: str, code: str):
    verdict = grade(slug, code)

    assert verdict.score <= verdict.max_score / 4, [(c.name, c.message) for c in verdict.checks if c.passed]


def test_a_sum_in_mse_alone_loses_the_mse_checks_and_only_those():
    """The other three functions are right and keep their points; the scalar property of
    mse waits for its values."""
    verdict = grade("mse-versus-mae", MSE_WITH_A_SUM)

    assert passed(verdict) == {check.name for check in key("mse-versus-mae").checks} - {
        "mse-values",
        "mse-returns-a-scalar",
    }
    scalar = next(check for check in verdict.checks if check.name == "mse-returns-a-scalar")
    assert scalar.message == "not scored until mse-values passes (this check on its own: passed)"


# --- A weak key gets a flag -------------------------------------------------------------

REFERENCE = "import numpy as np\n\ndef mean(x):\n    return float(np.mean(x))\n"
STARTER_CODE = "def mean(x):\n    raise NotImplementedError\n"
VALUES = CheckSpec(
    name="values", kind="close", call="mean(x)", setup="x = rng.normal(size=10)\n", seed=1, points=Decimal(2)
)
FINITE = CheckSpec(name="finite", kind="finite", call="mean(x)", setup="x = rng.normal(size=10)\n", seed=2)
WEAK_LIMITS = limits_for(time_limit_seconds=5, memory_limit_mb=512)


def _report_for(checks: list[CheckSpec], *, starter: str = STARTER_CODE, run: Any = runner) -> dict[str, Any]:
    runs = run_checks(
        runner=runner, code=REFERENCE, checks=checks, entry_points=["mean"], limits=WEAK_LIMITS, reference=True
    )
    expected = expected_from_reference(checks=checks, runs=runs)
    assert judge_every_variant(checks=checks, expected=expected, runs=runs, limits=WEAK_LIMITS).score == 3
    return strength_report(
        runner=run,
        checks=checks,
        expected=expected,
        entry_points=["mean"],
        limits=WEAK_LIMITS,
        reference=REFERENCE,
        starter=starter,
    )


def test_a_finite_check_without_requires_is_flagged():
    made = _report_for([VALUES, FINITE])

    assert made["flag"] == "checks give 1 of 3 points to code that returns 0.0"
    assert "code that returns 0.0" in made["checks"]["finite"]
    assert "code that returns NaN" not in made["checks"]["finite"]
    assert made["checks"]["values"] == []


def test_the_same_check_requiring_the_values_is_not_flagged():
    made = _report_for([VALUES, replace(FINITE, requires=("values",))])

    assert made["flag"] == ""
    assert made["checks"] == {"values": [], "finite": []}


def test_a_starter_that_scores_is_flagged_first():
    made = _report_for([VALUES, FINITE], starter="def mean(x):\n    return 0.5\n")

    assert made["runs"][0]["slug"] == STARTER
    assert made["flag"] == "checks give 1 of 3 points to the starter code"


def test_without_starter_code_the_report_runs_the_non_solutions_only():
    made = _report_for([VALUES, FINITE], starter="  \n")

    assert STARTER not in [row["slug"] for row in made["runs"]]


def test_a_report_that_cannot_be_made_says_so_and_flags_nothing():
    def unavailable(job: SandboxJob) -> SandboxRun:
        raise SandboxUnavailable("the zygote is gone")

    made = _report_for([VALUES, FINITE], run=unavailable)

    assert made == {
        "error": "the report could not be made: the zygote is gone",
        "runs": [],
        "checks": {},
        "flag": "",
    }


# --- The pieces -------------------------------------------------------------------------


def _row(label: str, score: str, max_score: str = "10", *, constant: bool = True) -> dict[str, Any]:
    return {"slug": label, "label": label, "constant": constant, "score": score, "max_score": max_score}


def test_the_flag_names_the_constant_that_scores_most():
    rows = [
        _row("code that returns 0.0", "1"),
        _row("code that returns 1.0", "2.50"),
        _row("code that returns NaN", "2.5"),
        _row("the reference with its results negated", "9", constant=False),
    ]

    assert strength_flag(rows=rows) == "checks give 2.5 of 10 points to code that returns 1.0"


@pytest.mark.parametrize(
    ("score", "max_score", "flag"),
    [("1.00", "10.0", "checks give 1 of 10 points to x"), ("0.5", "3.50", "checks give 0.5 of 3.5 points to x")],
)
def test_the_flag_writes_points_plainly(score: str, max_score: str, flag: str):
    assert strength_flag(rows=[_row("x", score, max_score)]) == flag


def test_no_flag_when_only_non_constants_score():
    assert strength_flag(rows=[]) == ""
    assert strength_flag(rows=[_row("a", "0"), _row("b", "0.00")]) == ""
    assert strength_flag(rows=[_row("negated", "5", constant=False)]) == ""


def test_every_candidate_defines_every_entry_point_and_compiles() -> None:
    candidates = strength_candidates(reference=REFERENCE, starter=STARTER_CODE, entry_points=["mean", "other"])

    assert [slug for slug, *_rest in candidates] == [STARTER, *(item.slug for item in NON_SOLUTIONS), NEGATED]
    for slug, label, _constant, code in candidates:
        namespace: dict[str, Any] = {}
        exec(compile(code, slug, "exec"), namespace)  # noqa: S102 - the generated code, run to inspect it
        if slug != STARTER:
            assert callable(namespace["mean"]), label
            assert callable(namespace["other"]), label


def test_the_negated_reference_negates_only_what_a_caller_receives() -> None:
    """Its functions keep calling each other unnegated: only the results change sign."""
    reference = (
        "import numpy as np\ndef base(x):\n    return np.asarray(x) * 2.0\ndef twice(x):\n    return base(x) + 1\n"
    )
    namespace: dict[str, Any] = {}
    exec(negated_reference_code(reference=reference, entry_points=["base", "twice"]), namespace)  # noqa: S102

    assert namespace["twice"](1.0) == -3.0  # -(2 + 1), not -2 + 1
    assert namespace["base"]([1.0, 2.0]).tolist() == [-2.0, -4.0]


def test_a_non_solutions_functions_take_any_arguments() -> None:
    namespace: dict[str, Any] = {}
    exec(non_solution_code(body="return args[0] if args else None", entry_points=["f"]), namespace)  # noqa: S102

    assert namespace["f"](3, y=4) == 3
    assert namespace["f"](y=4) is None
