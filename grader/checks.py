"""Judging a sandbox run against an answer key: pure functions, no I/O.

The sandbox returns decoded, plain numeric data; this module compares it with the
reference's results (which never entered the sandbox) and words each verdict for a
student. The same code validates a reference solution: its own run provides the
expected values, then is judged against them like any submission.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import numpy as np

from questions.exercises import CheckSpec
from questions.models import CheckKind
from workers.sandbox.protocol import (
    CallOutcome,
    Limits,
    NotNumeric,
    SandboxCall,
    SandboxJob,
    SandboxRun,
    StudentError,
    Termination,
    Value,
)

MIB = 1024 * 1024
NAME_ERROR = re.compile(r"^name '([^']+)' is not defined")
# An expected array is stored in the key as JSON; bigger results are compared by kinds
# that need no stored copy (finite, shape, range, time) or reduced in the call itself.
MAX_EXPECTED_ELEMENTS = 10_000


@dataclass(frozen=True, kw_only=True)
class CheckVerdict:
    name: str
    passed: bool
    score: Decimal
    max_score: Decimal
    message: str

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "score": str(self.score),
            "max_score": str(self.max_score),
            "message": self.message,
        }


@dataclass(frozen=True, kw_only=True)
class Verdict:
    checks: tuple[CheckVerdict, ...]
    summary: str

    @property
    def score(self) -> Decimal:
        return sum((check.score for check in self.checks), Decimal(0))

    @property
    def max_score(self) -> Decimal:
        return sum((check.max_score for check in self.checks), Decimal(0))


class ExpectedProblem(Exception):
    """The reference's results cannot serve as an answer key (an authoring problem)."""


def sandbox_job(
    *,
    code: str,
    checks: Sequence[CheckSpec],
    entry_points: Sequence[str],
    limits: Limits,
    reference: bool = False,
) -> SandboxJob:
    """The calls for these checks. Only the reference's run evaluates gradient checks'
    perturbed function values: everything a child sends is its own report, so the
    finite differences a student's gradient is judged against come from the key."""
    return SandboxJob(
        code=code,
        entry_points=tuple(entry_points),
        calls=tuple(_sandbox_call(check, reference=reference) for check in checks),
        limits=limits,
    )


@dataclass(frozen=True, kw_only=True)
class Runs:
    """A submission's sandbox runs. `main` answers every check, time checks last. A time
    check is judged on the whole of the run that answered it, measured outside, so that
    nothing computed earlier (at import, in other calls) can hide its cost: `main` when
    that was within the check's seconds, else a run of its own (`alone`), so that a
    student is not failed for the cost of the other checks."""

    main: SandboxRun
    alone: dict[str, SandboxRun]


def run_checks(
    *,
    runner: Callable[[SandboxJob], SandboxRun],
    code: str,
    checks: Sequence[CheckSpec],
    entry_points: Sequence[str],
    limits: Limits,
    reference: bool = False,
) -> Runs:
    timed = [check for check in checks if check.kind == CheckKind.TIME]
    others = [check for check in checks if check.kind != CheckKind.TIME]

    def run(these: Sequence[CheckSpec]) -> SandboxRun:
        job = sandbox_job(code=code, checks=these, entry_points=entry_points, limits=limits, reference=reference)
        return runner(job)

    main = run([*others, *timed])  # a slow time check then cannot stop the others' calls
    if main.module_error is not None:
        return Runs(main=main, alone={})  # the module fails the same way every time
    alone = {}
    for check in timed:
        outcome = main.calls.get(check.name)
        if outcome is not None and outcome.error is None and _fast_enough(check=check, seconds=main.run_seconds):
            continue
        # Slow, failed or unfinished within the others' run (whose inputs, memory and
        # time it shared): judged on a run of its own instead.
        alone[check.name] = run([check])
    return Runs(main=main, alone=alone)


def _fast_enough(*, check: CheckSpec, seconds: float) -> bool:
    assert check.seconds is not None
    return seconds <= check.seconds


def limits_for(*, time_limit_seconds: int, memory_limit_mb: int) -> Limits:
    return Limits(
        wall_seconds=float(time_limit_seconds),
        cpu_seconds=time_limit_seconds,
        memory_bytes=memory_limit_mb * MIB,
    )


def _sandbox_call(check: CheckSpec, *, reference: bool) -> SandboxCall:
    if check.kind == CheckKind.UNCHANGED:
        return SandboxCall(id=check.name, expr=check.call, setup=check.setup, seed=check.seed, track=check.track)
    if check.kind == CheckKind.GRADIENT and reference:
        return SandboxCall(
            id=check.name,
            expr=check.call,
            setup=check.setup,
            seed=check.seed,
            fd_of=check.of,
            fd_wrt=check.wrt,
            fd_step=check.effective_step,
        )
    return SandboxCall(id=check.name, expr=check.call, setup=check.setup, seed=check.seed)


# --- Expected values -------------------------------------------------------------------


def expected_from_reference(*, checks: Sequence[CheckSpec], run: SandboxRun) -> dict[str, Any]:
    """The answer key's stored values, from the reference solution's run."""
    expected: dict[str, Any] = {}
    for check in checks:
        if check.kind not in (CheckKind.CLOSE, CheckKind.SHAPE, CheckKind.GRADIENT):
            continue
        outcome = run.calls.get(check.name)
        if outcome is None or outcome.error is not None or outcome.value is None:
            continue  # judged as a failure below; the reference then does not validate
        value = outcome.value
        if isinstance(value, NotNumeric):
            raise ExpectedProblem(f"{check.name}: the reference returned a {value.type_name}, not a number or array.")
        if check.kind == CheckKind.GRADIENT:
            expected[check.name] = _encode_differences(check=check, outcome=outcome)
        else:
            expected[check.name] = _encode_expected(check=check, value=value)
    return expected


def _encode_differences(*, check: CheckSpec, outcome: CallOutcome) -> dict[str, Any]:
    """Central differences of the reference's `of`, shaped like `wrt` (a gradient)."""
    values = np.asarray(outcome.fd_values, dtype=np.float64)
    if values.size == 0 or values.size % 2:
        raise ExpectedProblem(f"{check.name}: no finite differences came back for `of`.")
    numeric = (values[0::2] - values[1::2]) / (2 * check.effective_step)
    if not np.all(np.isfinite(numeric)):
        raise ExpectedProblem(f"{check.name}: the finite differences of `of` are not finite.")
    shape = None if isinstance(outcome.value, float) and numeric.size == 1 else [int(numeric.size)]
    return {"shape": shape, "values": numeric.tolist()}


def _encode_expected(*, check: CheckSpec, value: float | np.ndarray) -> dict[str, Any]:
    if isinstance(value, float):
        if check.kind == CheckKind.CLOSE and not math.isfinite(value):
            raise ExpectedProblem(f"{check.name}: the reference returned {value}; a close check needs a finite value.")
        return {"shape": None, "values": value if check.kind == CheckKind.CLOSE else None}
    if check.kind == CheckKind.SHAPE:
        return {"shape": list(value.shape), "values": None}
    if value.size > MAX_EXPECTED_ELEMENTS:
        raise ExpectedProblem(
            f"{check.name}: the reference returned {value.size} numbers; a close check compares at most "
            f"{MAX_EXPECTED_ELEMENTS}. Reduce the result in the call (e.g. a sum) or use smaller inputs."
        )
    as_float = value.astype(np.float64)
    if not np.all(np.isfinite(as_float)):
        raise ExpectedProblem(
            f"{check.name}: the reference returned non-finite values; a close check needs finite ones."
        )
    return {"shape": list(value.shape), "values": as_float.ravel().tolist()}


def _decode_expected(stored: dict[str, Any]) -> float | np.ndarray | tuple[int, ...] | None:
    if stored["shape"] is None:
        return None if stored["values"] is None else float(stored["values"])
    shape = tuple(int(n) for n in stored["shape"])
    if stored["values"] is None:
        return shape
    return np.asarray(stored["values"], dtype=np.float64).reshape(shape)


# --- Judging ---------------------------------------------------------------------------


def judge(
    *,
    checks: Sequence[CheckSpec],
    expected: dict[str, Any],
    run: SandboxRun,
    limits: Limits,
    alone: Mapping[str, SandboxRun] | None = None,
) -> Verdict:
    """`run` answers every check, except those in `alone` (time checks run by
    themselves). A time check is judged on the whole run that answered it (see Runs)."""
    verdicts = []
    for check in checks:
        source = (alone or {}).get(check.name, run)
        outcome = source.calls.get(check.name)
        if outcome is not None and check.kind == CheckKind.TIME:
            outcome = replace(outcome, seconds=source.run_seconds)
        if outcome is None:
            passed, message = False, _unfinished_message(run=source, limits=limits)
        elif outcome.error is not None:
            passed, message = False, error_message(outcome.error, limits=limits)
        else:
            passed, message = _judge_outcome(check=check, outcome=outcome, expected=expected.get(check.name))
            if not passed and check.hidden:
                # Shapes, bounds and values of a hidden check stay hidden: only the
                # student's own result may be described.
                message = check.message or _hidden_failure(check=check, value=outcome.value)
            elif not passed and check.message:
                message = f"{check.message} ({message})"
        verdicts.append(
            CheckVerdict(
                name=check.name,
                passed=passed,
                score=check.points if passed else Decimal(0),
                max_score=check.points,
                message="passed" if passed else message,
            )
        )
    # A run stopped only in calls that were run again alone did its part.
    complete = all(check.name in run.calls or check.name in (alone or {}) for check in checks)
    return Verdict(
        checks=tuple(verdicts), summary=_summary(run=run, verdicts=verdicts, limits=limits, complete=complete)
    )


def _hidden_failure(*, check: CheckSpec, value: Value | None) -> str:
    if check.kind == CheckKind.TIME:
        return "too slow on a hidden case"
    got = f" (returned {describe(value)})" if value is not None else ""
    return f"wrong result on a hidden case{got}"


def _summary(*, run: SandboxRun, verdicts: list[CheckVerdict], limits: Limits, complete: bool) -> str:
    if run.module_error is not None:
        return module_error_message(run.module_error, limits=limits)
    if run.termination != Termination.COMPLETED and not complete:
        return _unfinished_message(run=run, limits=limits)
    passed = sum(1 for verdict in verdicts if verdict.passed)
    missing = "; ".join(f"{name} is not defined" for name in run.missing)
    counts = f"{passed} of {len(verdicts)} checks passed"
    return f"{missing}; {counts}" if missing else counts


def _unfinished_message(*, run: SandboxRun, limits: Limits) -> str:
    if run.module_error is not None:
        return f"not run: {module_error_message(run.module_error, limits=limits)}"
    match run.termination:
        case Termination.TIME_LIMIT:
            return f"time limit of {_number(limits.wall_seconds)} s exceeded"
        case Termination.MEMORY_LIMIT:
            return f"memory limit of {limits.memory_bytes // MIB} MB exceeded"
        case Termination.OUTPUT_LIMIT:
            return f"output limit exceeded: more than {limits.output_bytes // 1024} KB printed"
        case Termination.RESULT_LIMIT:
            return f"your functions returned more than {limits.result_bytes // MIB} MB of data"
        case Termination.CRASHED:
            detail = f" ({run.termination_detail})" if run.termination_detail else ""
            return f"your code crashed{detail}"
        case Termination.PROTOCOL:
            return "your code interfered with the grader's results"
    return "not run"


def module_error_message(error: StudentError, *, limits: Limits) -> str:
    if error.type == "MemoryError":
        return f"memory limit of {limits.memory_bytes // MIB} MB exceeded"
    where = f" on line {error.line}" if error.line else ""
    message = f": {error.message}" if error.message else ""
    return f"{error.type}{where}{message}"


def error_message(error: StudentError, *, limits: Limits) -> str:
    if error.in_setup:
        # The check's own inputs could not be built: the instructor's code, not the student's.
        return f"this check could not prepare its inputs ({error.type}); it is not your code's fault"
    if error.type == "MemoryError":
        return f"memory limit of {limits.memory_bytes // MIB} MB exceeded"
    if error.type == "NameError" and (undefined := NAME_ERROR.match(error.message)):
        return f"{undefined.group(1)} is not defined"
    where = f" (line {error.line})" if error.line else ""
    message = f": {error.message}" if error.message else ""
    return f"raised {error.type}{message}{where}"


def _judge_outcome(*, check: CheckSpec, outcome: CallOutcome, expected: dict[str, Any] | None) -> tuple[bool, str]:
    value = outcome.value
    assert value is not None  # an outcome without an error carries a value
    kind = CheckKind(check.kind)
    if kind == CheckKind.UNCHANGED:
        return _judge_unchanged(check=check, outcome=outcome)
    if isinstance(value, NotNumeric):
        return False, f"returned a {value.type_name}, expected a number or a numpy array"
    match kind:
        case CheckKind.CLOSE:
            return _judge_close(check=check, value=value, expected=expected)
        case CheckKind.FINITE:
            finite = math.isfinite(value) if isinstance(value, float) else bool(np.all(np.isfinite(value)))
            return finite, "passed" if finite else f"returned non-finite values: {describe(value)}"
        case CheckKind.SCALAR:
            scalar = isinstance(value, float)
            return scalar, "passed" if scalar else f"returned {describe(value)}, expected a single number"
        case CheckKind.SHAPE:
            return _judge_shape(value=value, expected=expected)
        case CheckKind.GRADIENT:
            return _judge_gradient(check=check, value=value, expected=expected)
        case CheckKind.RANGE:
            return _judge_range(check=check, value=value)
        case CheckKind.TIME:
            assert check.seconds is not None
            fast = _fast_enough(check=check, seconds=outcome.seconds)
            took = f"took {_number(outcome.seconds)} s"
            return fast, took if fast else f"{took}, more than the {_number(check.seconds)} s allowed"
    raise AssertionError(kind)  # pragma: no cover


def _judge_close(*, check: CheckSpec, value: float | np.ndarray, expected: dict[str, Any] | None) -> tuple[bool, str]:
    if expected is None:
        return False, "no reference value to compare with"
    want = _decode_expected(expected)
    if isinstance(want, float):
        if not isinstance(value, float):
            return False, f"returned {describe(value)}, expected a single number"
        ok = _close(value, want, rtol=check.effective_rtol, atol=check.effective_atol)
        if ok:
            return True, "passed"
        if check.hidden:
            return False, f"got {_number(value)}"
        shown_want, shown_got = _distinct(want, value)
        return False, f"expected {shown_want}, got {shown_got}"
    assert isinstance(want, np.ndarray)
    if not isinstance(value, np.ndarray) or value.shape != want.shape:
        return False, f"returned {describe(value)}, expected an array of shape {_shape(want.shape)}"
    got = value.astype(np.float64)
    bad = ~_close_array(got, want, rtol=check.effective_rtol, atol=check.effective_atol)
    if not bad.any():
        return True, "passed"
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    where = f"{sum(bad.ravel())} of {want.size} elements differ"
    if check.hidden:
        return False, where
    shown_want, shown_got = _distinct(float(want[index]), float(got[index]))
    return False, f"{where}; at index {index}: expected {shown_want}, got {shown_got}"


def _close(got: float, want: float, *, rtol: float, atol: float) -> bool:
    return math.isfinite(got) and abs(got - want) <= atol + rtol * abs(want)


def _close_array(got: np.ndarray, want: np.ndarray, *, rtol: float, atol: float) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        close: np.ndarray = np.isfinite(got) & (np.abs(got - want) <= atol + rtol * np.abs(want))
    return close


def _judge_shape(*, value: float | np.ndarray, expected: dict[str, Any] | None) -> tuple[bool, str]:
    if expected is None:
        return False, "no reference value to compare with"
    want = expected["shape"]
    if want is None:
        ok = isinstance(value, float)
        return ok, "passed" if ok else f"returned {describe(value)}, expected a single number"
    ok = isinstance(value, np.ndarray) and list(value.shape) == want
    return ok, "passed" if ok else f"returned {describe(value)}, expected an array of shape {_shape(tuple(want))}"


def _judge_unchanged(*, check: CheckSpec, outcome: CallOutcome) -> tuple[bool, str]:
    changed = [
        name
        for name in check.track
        if name not in outcome.digests_before or outcome.digests_before.get(name) != outcome.digests_after.get(name)
    ]
    if not changed:
        return True, "passed"
    return False, f"modified its argument{'s' if len(changed) > 1 else ''} {', '.join(changed)}"


def _judge_gradient(
    *, check: CheckSpec, value: float | np.ndarray, expected: dict[str, Any] | None
) -> tuple[bool, str]:
    if expected is None:
        return False, "no reference value to compare with"
    numeric = np.asarray(expected["values"], dtype=np.float64).ravel()
    coordinates = numeric.size
    gradient = np.asarray(value, dtype=np.float64)
    if coordinates != gradient.size or coordinates == 0:
        return False, f"returned {describe(value)}, expected a gradient with one entry per coordinate ({coordinates})"
    bad = ~_close_array(gradient.ravel(), numeric, rtol=check.effective_rtol, atol=check.effective_atol)
    if not bad.any():
        return True, "passed"
    i = int(np.argmax(bad))
    theirs, yours = _number(float(numeric[i])), _number(float(gradient.ravel()[i]))
    return False, (
        f"differs from finite differences in {int(bad.sum())} of {coordinates} coordinates; "
        f"at coordinate {i}: finite differences {theirs}, yours {yours}"
    )


def _judge_range(*, check: CheckSpec, value: float | np.ndarray) -> tuple[bool, str]:
    if not isinstance(value, float):
        return False, f"returned {describe(value)}, expected a single number"
    low_ok = check.lower is None or value >= check.lower
    high_ok = check.upper is None or value <= check.upper
    if math.isfinite(value) and low_ok and high_ok:
        return True, "passed"
    if check.lower is not None and check.upper is not None:
        bounds = f"between {_number(check.lower)} and {_number(check.upper)}"
    elif check.lower is not None:
        bounds = f"at least {_number(check.lower)}"
    else:
        bounds = f"at most {_number(check.upper or 0.0)}"
    return False, f"got {_number(value)}, expected {bounds}"


def describe(value: Value) -> str:
    if isinstance(value, NotNumeric):
        return f"a {value.type_name}"
    if isinstance(value, float):
        return _number(value)
    if value.size <= 6:
        text = np.array2string(value, precision=6, separator=", ", max_line_width=10_000)
        return f"an array of shape {_shape(value.shape)}: {' '.join(text.split())}"
    return f"an array of shape {_shape(value.shape)}"


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _number(value: float) -> str:
    return f"{value:.6g}"


def _distinct(want: float, got: float) -> tuple[str, str]:
    """Both numbers with enough digits to show that they differ ("expected 1, got 1" helps no one)."""
    for digits in (6, 9, 12, 17):
        shown = f"{want:.{digits}g}", f"{got:.{digits}g}"
        if shown[0] != shown[1]:
            return shown
    return repr(want), repr(got)
