"""The check-strength report: what code that does no real work would score.

When an answer key validates, the starter code and a set of generated non-solutions
(every function returning a constant, its first argument, zeros, None, raising, and the
reference with its results negated) go through the same pipeline as a submission: the
sandbox, the metric run, the judge. The report says, per check, which of them pass it,
and flags the key when the starter code or a constant scores anything: such checks pay
for work that was not done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from grader.checks import judge, run_checks
from questions.exercises import CheckSpec
from workers.sandbox.protocol import Limits, SandboxJob, SandboxRun, SandboxUnavailable

logger = logging.getLogger(__name__)

NEGATED = "negated"
STARTER = "starter"


@dataclass(frozen=True, kw_only=True)
class NonSolution:
    slug: str
    label: str  # completes "code that ..."
    body: str  # every entry point's body, `args` and `kwargs` in scope
    constant: bool = True


NON_SOLUTIONS = (
    NonSolution(slug="zero", label="returns 0.0", body="return 0.0"),
    NonSolution(slug="one", label="returns 1.0", body="return 1.0"),
    NonSolution(slug="nan", label="returns NaN", body="return float('nan')"),
    NonSolution(slug="none", label="returns None", body="return None"),
    NonSolution(slug="first-argument", label="returns its first argument", body="return args[0] if args else None"),
    NonSolution(
        slug="zeros",
        label="returns zeros shaped like its first array argument (a gradient of zeros)",
        body="return next((np.zeros_like(np.asarray(a, dtype=float)) for a in args "
        "if isinstance(a, (list, np.ndarray))), 0.0)",
    ),
    NonSolution(slug="raises", label="raises an exception", body="raise NotImplementedError('a non-solution')"),
)

# The reference runs in a namespace of its own, so that its functions keep calling each
# other unnegated: only what a caller receives has the wrong sign.
NEGATE = """

_reference = {{}}
exec(compile({source!r}, "reference.py", "exec"), _reference)


def _negated(value):
    if isinstance(value, (list, tuple, np.ndarray)):
        return -np.asarray(value, dtype=float)
    return -value
"""


def non_solution_code(*, body: str, entry_points: Sequence[str]) -> str:
    functions = "".join(f"\n\ndef {name}(*args, **kwargs):\n    {body}\n" for name in entry_points)
    return "import numpy as np\n" + functions


def negated_reference_code(*, reference: str, entry_points: Sequence[str]) -> str:
    """The reference solution with every function's result negated: a wrong sign."""
    functions = "".join(
        f"\n\ndef {name}(*args, **kwargs):\n    return _negated(_reference[{name!r}](*args, **kwargs))\n"
        for name in entry_points
    )
    return "import numpy as np\n" + NEGATE.format(source=reference) + functions


def strength_candidates(
    *, reference: str, starter: str, entry_points: Sequence[str]
) -> list[tuple[str, str, bool, str]]:
    """(slug, label, counts as a constant, code) for each run of the report."""
    candidates = [
        (
            item.slug,
            f"code that {item.label}",
            item.constant,
            non_solution_code(body=item.body, entry_points=entry_points),
        )
        for item in NON_SOLUTIONS
    ]
    candidates.append(
        (
            NEGATED,
            "the reference with its results negated",
            False,
            negated_reference_code(reference=reference, entry_points=entry_points),
        )
    )
    if starter.strip():
        candidates.insert(0, (STARTER, "the starter code", True, starter))
    return candidates


def strength_report(
    *,
    runner: Callable[[SandboxJob], SandboxRun],
    checks: Sequence[CheckSpec],
    expected: dict[str, Any],
    entry_points: Sequence[str],
    limits: Limits,
    reference: str,
    starter: str,
) -> dict[str, Any]:
    """Score every candidate as a submission (variant 0). Never raises for a grader
    failure: the report then says it could not be made, and the key stays valid."""
    rows = []
    try:
        for slug, label, constant, code in strength_candidates(
            reference=reference, starter=starter, entry_points=entry_points
        ):
            runs = run_checks(
                runner=runner,
                code=code,
                checks=checks,
                entry_points=entry_points,
                limits=limits,
                reference_code=reference,
            )
            verdict = judge(checks=checks, expected=expected, runs=runs, limits=limits)
            rows.append(
                {
                    "slug": slug,
                    "label": label,
                    "constant": constant,
                    "score": str(verdict.score),
                    "max_score": str(verdict.max_score),
                    "passing": [check.name for check in verdict.checks if check.passed],
                }
            )
    except SandboxUnavailable as exc:
        logger.warning("check-strength report not made: %s", exc)
        return {"error": f"the report could not be made: {exc}", "runs": rows, "checks": {}, "flag": ""}
    return {"runs": rows, "checks": _passing_by_check(checks=checks, rows=rows), "flag": strength_flag(rows=rows)}


def _passing_by_check(*, checks: Sequence[CheckSpec], rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {check.name: [row["label"] for row in rows if check.name in row["passing"]] for check in checks}


def strength_flag(*, rows: list[dict[str, Any]]) -> str:
    """The warning for the exercise page: the constant (or starter code) that scores most."""
    scoring = [row for row in rows if row["constant"] and Decimal(row["score"]) > 0]
    if not scoring:
        return ""
    worst = max(scoring, key=lambda row: Decimal(row["score"]))
    return f"checks give {_points(worst['score'])} of {_points(worst['max_score'])} points to {worst['label']}"


def _points(value: str) -> str:
    number = Decimal(value)
    return str(number.quantize(Decimal(1)) if number == number.to_integral_value() else number.normalize())
