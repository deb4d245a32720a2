"""Judging a sandbox run against an answer key: pure functions, no I/O.

The sandbox returns decoded, plain numeric data; this module compares it with the
reference's results (which never entered the sandbox) and words each verdict for a
student. The same code validates a reference solution: its own run provides the
expected values, then is judged against them like any submission.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
    SandboxUnavailable,
    StudentError,
    Termination,
    Value,
)

MIB = 1024 * 1024
NAME_ERROR = re.compile(r"^name '([^']+)' is not defined")
# An expected array is stored in the key as JSON; bigger results are compared by kinds
# that need no stored copy (finite, shape, range) or reduced by a metric.
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
    variant: int = 0,
    seeds: Mapping[str, int] | None = None,
    cell_starts: Sequence[int] = (),
) -> SandboxJob:
    """The calls for these checks: every variant of each for the reference, the
    submission's variant otherwise (`seeds` overrides a check's seed, by name). Only the
    reference's run evaluates gradient checks' perturbed function values: everything a
    child sends is its own report, so the finite differences a student's gradient is
    judged against come from the key."""
    return SandboxJob(
        code=code.removeprefix(BYTE_ORDER_MARK),  # editors on Windows save one; Python's compile() refuses it
        entry_points=tuple(entry_points),
        calls=tuple(
            _sandbox_call(check, variant=k, reference=reference, seed=(seeds or {}).get(check.name))
            for check in checks
            for k in _variants(check=check, reference=reference, variant=variant)
        ),
        limits=limits,
        cell_starts=tuple(cell_starts),
    )


def _variants(*, check: CheckSpec, reference: bool, variant: int) -> Sequence[int]:
    """The variants a run asks for: every one of the check's for the reference (its
    answers become the key), the submission's own otherwise."""
    return range(check.variants) if reference else (variant,)


BYTE_ORDER_MARK = "\ufeff"


@dataclass(frozen=True, kw_only=True)
class Runs:
    """A submission's sandbox runs. `main` answers every check, time checks last. A time
    check is judged on the whole of the run that answered it, measured outside, so that
    nothing computed earlier (at import, in other calls) can hide its cost: `main` when
    that was within the check's seconds, else a run of its own (`alone`), so that a
    student is not failed for the cost of the other checks. `metrics` holds, by call id,
    the metric of a check computed on what the student's call returned, in a run that
    holds no student code."""

    main: SandboxRun
    alone: dict[str, SandboxRun]
    metrics: dict[str, CallOutcome | None] = field(default_factory=dict)
    # Time checks graded on inputs drawn for this submission alone: the reference's value
    # on them, by call id, in place of the key's.
    timed_expected: dict[str, Any] = field(default_factory=dict)

    def source(self, call_id: str) -> SandboxRun:
        return self.alone.get(call_id, self.main)

    def outcome(self, call_id: str) -> CallOutcome | None:
        return self.source(call_id).calls.get(call_id)


def run_checks(
    *,
    runner: Callable[[SandboxJob], SandboxRun],
    code: str,
    checks: Sequence[CheckSpec],
    entry_points: Sequence[str],
    limits: Limits,
    reference: bool = False,
    variant: int = 0,
    reference_code: str | None = None,
    cell_starts: Sequence[int] = (),
) -> Runs:
    """With `reference_code`, each time check (without a metric) runs on inputs drawn from
    a seed secret to this submission, and the reference answers them in a run of its own:
    a value seen in one verdict's output is worth nothing on the next submission's.
    `cell_starts`: `code` is a notebook's code cells, run one by one (see SandboxJob)."""
    timed = [check for check in checks if check.kind == CheckKind.TIME]
    others = [check for check in checks if check.kind != CheckKind.TIME]
    fresh = {} if reference or reference_code is None else _fresh_seeds(checks=timed)

    def run(these: Sequence[CheckSpec]) -> SandboxRun:
        job = sandbox_job(
            code=code,
            checks=these,
            entry_points=entry_points,
            limits=limits,
            reference=reference,
            variant=variant,
            seeds=fresh,
            cell_starts=cell_starts,
        )
        return runner(job)

    main = run([*others, *timed])  # a slow time check then cannot stop the others' calls
    if main.module_error is not None:
        return Runs(main=main, alone={})  # the module fails the same way every time
    alone: dict[str, SandboxRun] = {}
    for check in timed:
        ids = [check.call_id(k) for k in _variants(check=check, reference=reference, variant=variant)]
        outcomes = [main.calls.get(call_id) for call_id in ids]
        if (
            all(o is not None and o.error is None for o in outcomes)
            and _fast_enough(check=check, seconds=main.run_seconds)
            and main.termination == Termination.COMPLETED
        ):
            continue
        # Slow, failed or unfinished within the others' run (whose inputs, memory and
        # time it shared): judged on a run of its own instead.
        separate = run([check])
        alone.update(dict.fromkeys(ids, separate))
    runs = Runs(main=main, alone=alone)
    metrics = _measure(runner=runner, checks=checks, runs=runs, limits=limits, reference=reference, variant=variant)
    timed_expected = {}
    if fresh and reference_code is not None:
        # Only where the answer decides something: a slow or failed timed call fails anyway.
        answered = [
            check
            for check in timed
            if check.name in fresh
            and _answered(runs=runs, call_id=check.call_id(variant))
            and _fast_enough(check=check, seconds=runs.source(check.call_id(variant)).run_seconds)
        ]
        timed_expected = _reference_answers(
            runner=runner,
            code=reference_code,
            checks=answered,
            entry_points=entry_points,
            limits=limits,
            variant=variant,
            seeds=fresh,
        )
    return replace(runs, metrics=metrics, timed_expected=timed_expected)


def _fresh_seeds(*, checks: Sequence[CheckSpec]) -> dict[str, int]:
    return {check.name: secrets.randbelow(1 << 62) for check in checks if not check.metric}


def _answered(*, runs: Runs, call_id: str) -> bool:
    outcome = runs.outcome(call_id)
    return outcome is not None and outcome.error is None and not isinstance(outcome.value, NotNumeric)


def _reference_answers(
    *,
    runner: Callable[[SandboxJob], SandboxRun],
    code: str,
    checks: Sequence[CheckSpec],
    entry_points: Sequence[str],
    limits: Limits,
    variant: int,
    seeds: Mapping[str, int],
) -> dict[str, Any]:
    """The reference's values on the submission's fresh timed inputs, in a child of its
    own. The reference validated, so a failure here is the grader's, never the student's."""
    if not checks:
        return {}
    job = sandbox_job(code=code, checks=checks, entry_points=entry_points, limits=limits, variant=variant, seeds=seeds)
    answer = runner(job)
    answers = {}
    for check in checks:
        call_id = check.call_id(variant)
        outcome = answer.calls.get(call_id)
        if (
            outcome is None
            or outcome.error is not None
            or outcome.value is None
            or isinstance(outcome.value, NotNumeric)
        ):
            raise SandboxUnavailable(f"the reference could not answer time check {check.name} on fresh inputs")
        try:
            answers[call_id] = _encode_expected(check=check, value=outcome.value)
        except ExpectedProblem as exc:
            raise SandboxUnavailable(str(exc)) from exc
    return answers


def _measure(
    *,
    runner: Callable[[SandboxJob], SandboxRun],
    checks: Sequence[CheckSpec],
    runs: Runs,
    limits: Limits,
    reference: bool,
    variant: int,
) -> dict[str, CallOutcome | None]:
    """Metrics computed from the plain data the student's calls returned, in a child that
    never loads the student's code: the same set-up (same seed, so the same inputs), the
    result bound as `result`. Nothing the student's code did can reach this process."""
    calls = []
    for check in checks:
        if not check.metric:
            continue
        for k in _variants(check=check, reference=reference, variant=variant):
            call_id = check.call_id(k)
            if not _answered(runs=runs, call_id=call_id):
                continue
            outcome = runs.outcome(call_id)
            assert outcome is not None
            assert isinstance(outcome.value, float | np.ndarray)  # what _answered means
            calls.append(
                SandboxCall(
                    id=call_id,
                    expr=check.metric.strip(),
                    setup=check.setup,
                    seed=check.variant_seed(k),
                    bind={"result": outcome.value},
                )
            )
    if not calls:
        return {}
    measured = runner(SandboxJob(code="", entry_points=(), calls=tuple(calls), limits=limits))
    return {call.id: measured.calls.get(call.id) for call in calls}


def _fast_enough(*, check: CheckSpec, seconds: float) -> bool:
    assert check.seconds is not None
    return seconds <= check.seconds


def limits_for(*, time_limit_seconds: int, memory_limit_mb: int) -> Limits:
    return Limits(
        wall_seconds=float(time_limit_seconds),
        cpu_seconds=time_limit_seconds,
        memory_bytes=memory_limit_mb * MIB,
    )


def _sandbox_call(check: CheckSpec, *, variant: int, reference: bool, seed: int | None = None) -> SandboxCall:
    seed = check.variant_seed(variant) if seed is None else seed
    call = SandboxCall(id=check.call_id(variant), expr=check.call, setup=check.setup, seed=seed)
    if check.kind == CheckKind.UNCHANGED:
        return replace(call, track=check.track)
    if check.kind == CheckKind.GRADIENT and reference:
        return replace(call, fd_of=check.of, fd_wrt=check.wrt, fd_step=check.effective_step)
    return call


# --- Expected values -------------------------------------------------------------------

# Kinds whose key stores the reference's value (or its shape, or its inputs).
KEYED_KINDS = (
    CheckKind.CLOSE,
    CheckKind.SHAPE,
    CheckKind.GRADIENT,
    CheckKind.FINITE,
    CheckKind.TIME,
    CheckKind.UNCHANGED,
)


def expected_from_reference(*, checks: Sequence[CheckSpec], runs: Runs) -> dict[str, Any]:
    """The answer key's stored values, from the reference solution's runs, by call id.
    A check with a metric also stores the shape of the reference's call result."""
    expected: dict[str, Any] = {}
    for check in checks:
        for k in range(check.variants):
            call_id = check.call_id(k)
            entry = _expected_entry(check=check, call_id=call_id, runs=runs)
            call = runs.outcome(call_id)
            if check.metric and call is not None and _answered(runs=runs, call_id=call_id):
                entry = {**(entry or {}), "result_shape": _result_shape(call.value)}
            if entry is not None:
                expected[call_id] = entry
    return expected


def _expected_entry(*, check: CheckSpec, call_id: str, runs: Runs) -> dict[str, Any] | None:
    if check.kind not in KEYED_KINDS:
        return None
    outcome = _judged_outcome(check=check, call_id=call_id, runs=runs)
    if outcome is None or outcome.error is not None or outcome.value is None:
        return None  # judged as a failure below; the reference then does not validate
    if check.kind == CheckKind.UNCHANGED:
        return _encode_inputs(check=check, outcome=outcome)
    value = outcome.value
    if isinstance(value, NotNumeric):
        raise ExpectedProblem(f"{check.name}: the reference returned a {value.type_name}, not a number or array.")
    if check.kind == CheckKind.GRADIENT:
        return _encode_differences(check=check, outcome=outcome)
    return _encode_expected(check=check, value=value)


def _judged_outcome(*, check: CheckSpec, call_id: str, runs: Runs) -> CallOutcome | None:
    """What a check judges: its metric's outcome when it has one, else the call's."""
    if check.metric:
        return runs.metrics.get(call_id)
    return runs.outcome(call_id)


def _encode_inputs(*, check: CheckSpec, outcome: CallOutcome) -> dict[str, Any]:
    """The tracked inputs as the reference received them: what "unchanged" compares with."""
    inputs = {}
    for name in check.track:
        value = outcome.inputs_before.get(name)
        if not isinstance(value, np.ndarray | float):
            raise ExpectedProblem(f"{check.name}: the tracked input {name} is not a number, list or numpy array.")
        if isinstance(value, np.ndarray) and value.size > MAX_EXPECTED_ELEMENTS:
            raise ExpectedProblem(
                f"{check.name}: the tracked input {name} has {value.size} numbers; track inputs of at most "
                f"{MAX_EXPECTED_ELEMENTS}."
            )
        inputs[name] = _encode_exact(value)
    return {"inputs": inputs}


def _encode_exact(value: float | np.ndarray) -> dict[str, Any]:
    if isinstance(value, float):
        return {"dtype": None, "shape": None, "hex": [value.hex()]}
    return {
        "dtype": value.dtype.str,
        "shape": list(value.shape),
        "hex": [float(x).hex() for x in value.astype(np.float64).ravel()],
    }


def _same_input(stored: dict[str, Any], value: Value | None) -> bool:
    """Exactly the values (NaN equal to NaN, -0.0 to 0.0 as numpy compares), shape and
    dtype the reference received."""
    if value is None or isinstance(value, NotNumeric):
        return False
    want = np.array([float.fromhex(x) for x in stored["hex"]], dtype=np.float64)
    if stored["shape"] is None:
        return isinstance(value, float) and bool(np.array_equal([value], want, equal_nan=True))
    if not isinstance(value, np.ndarray) or list(value.shape) != stored["shape"] or value.dtype.str != stored["dtype"]:
        return False
    return bool(np.array_equal(value.astype(np.float64).ravel(), want, equal_nan=True))


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
        compared = check.kind in (CheckKind.CLOSE, CheckKind.TIME)
        if compared and not math.isfinite(value):
            raise ExpectedProblem(
                f"{check.name}: the reference returned {value}; a {check.kind} check needs a finite value."
            )
        return {"shape": None, "values": value if compared else None}
    if check.kind in (CheckKind.SHAPE, CheckKind.FINITE):
        return {"shape": list(value.shape), "values": None}
    if value.size > MAX_EXPECTED_ELEMENTS:
        raise ExpectedProblem(
            f"{check.name}: the reference returned {value.size} numbers; a {check.kind} check compares at most "
            f"{MAX_EXPECTED_ELEMENTS}. Reduce the result in the call (e.g. a sum) or use smaller inputs."
        )
    as_float = value.astype(np.float64)
    if not np.all(np.isfinite(as_float)):
        raise ExpectedProblem(
            f"{check.name}: the reference returned non-finite values; a {check.kind} check needs finite ones."
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
    runs: Runs,
    limits: Limits,
    variant: int = 0,
) -> Verdict:
    """Each check on its own, then `requires`: a check scores only when every check it
    requires passes. A time check is judged on the whole run that answered it (see Runs)."""
    run = runs.main
    if run.module_error is not None:
        # Said once, in the summary: no check ran.
        own = {check.name: (False, "not run") for check in checks}
    else:
        own = {
            check.name: _judge_check(check=check, expected=expected, runs=runs, limits=limits, variant=variant)
            for check in checks
        }
        own = _with_requirements(checks=checks, own=own)
    verdicts = [
        CheckVerdict(
            name=check.name,
            passed=own[check.name][0],
            score=check.points if own[check.name][0] else Decimal(0),
            max_score=check.points,
            message="passed" if own[check.name][0] else own[check.name][1],
        )
        for check in checks
    ]
    # A run stopped only in calls that were run again alone did its part.
    complete = all(check.call_id(variant) in run.calls or check.call_id(variant) in runs.alone for check in checks)
    return Verdict(
        checks=tuple(verdicts), summary=_summary(run=run, verdicts=verdicts, limits=limits, complete=complete)
    )


def _judge_check(
    *, check: CheckSpec, expected: dict[str, Any], runs: Runs, limits: Limits, variant: int
) -> tuple[bool, str]:
    call_id = check.call_id(variant)
    source = runs.source(call_id)
    outcome = source.calls.get(call_id)
    if outcome is None:
        return False, _unfinished_message(run=source, limits=limits)
    if outcome.error is not None:
        return False, _call_error_message(check=check, error=outcome.error, limits=limits)
    if check.kind == CheckKind.TIME:
        if source.termination != Termination.COMPLETED:
            # Frames sent before the run broke down prove nothing about its speed.
            return False, f"the timed run did not end normally: {_unfinished_message(run=source, limits=limits)}"
        outcome = replace(outcome, seconds=source.run_seconds)
    judged = outcome
    if check.metric:
        if isinstance(outcome.value, NotNumeric):
            return False, f"returned a {outcome.value.type_name}, expected a number or a numpy array"
        if problem := _result_shape_problem(check=check, value=outcome.value, expected=expected.get(call_id)):
            return False, problem
        measured = runs.metrics.get(call_id)
        if measured is None or measured.error is not None:
            return False, _unmeasured_message(check=check, measured=measured)
        judged = replace(measured, seconds=outcome.seconds)
    passed, message = _judge_outcome(
        check=check, outcome=judged, expected=runs.timed_expected.get(call_id, expected.get(call_id))
    )
    slow = check.kind == CheckKind.TIME and not _fast_enough(check=check, seconds=judged.seconds)
    wrong_value = check.kind == CheckKind.TIME and not slow
    if not passed and not check.hidden and wrong_value:
        # A wrong value on the timed input: the author's hint is about speed, which is
        # not what went wrong.
        return passed, message
    if not passed and check.hidden:
        # Shapes, bounds and values of a hidden check stay hidden: only the
        # student's own result may be described.
        message = check.message or _hidden_failure(value=outcome.value, too_slow=slow)
    elif not passed and check.message:
        message = f"{check.message} ({message})"
    return passed, message


def _result_shape(value: Value | None) -> list[int] | None:
    if isinstance(value, float):
        return []
    return list(value.shape) if isinstance(value, np.ndarray) else None


def _result_shape_problem(*, check: CheckSpec, value: Value | None, expected: dict[str, Any] | None) -> str:
    """A metric measures a result shaped like the reference's, nothing else: a result of
    another shape could game the metric's broadcasting (weights as a matrix, one column
    per training label, once drove a training loss to 0 without any training)."""
    want = (expected or {}).get("result_shape")
    if want is None or _result_shape(value) == want:
        return ""
    if check.hidden:
        return check.message or _hidden_failure(value=value, too_slow=False)
    shown = "a single number" if want == [] else f"an array of shape {_shape(tuple(want))}"
    assert value is not None
    why = f"returned {describe(value)}, expected {shown}"
    return f"{check.message} ({why})" if check.message else why


def _unmeasured_message(*, check: CheckSpec, measured: CallOutcome | None) -> str:
    """The metric (instructor code, run without the student's) failed on this result,
    typically one of the wrong shape; its error is shown for visible checks only."""
    error = measured.error if measured is not None else None
    detail = f": {error.type}: {error.message}" if error is not None and not check.hidden else ""
    unmeasured = f"your result could not be measured{detail}"
    return f"{check.message} ({unmeasured})" if check.message else unmeasured


def _call_error_message(*, check: CheckSpec, error: StudentError, limits: Limits) -> str:
    if error.in_setup:
        return error_message(error, limits=limits)
    if check.hidden:
        # The message could name the hidden call's arguments: the exception type only.
        raised = f"raised {error.type}" if error.type != "MemoryError" else error_message(error, limits=limits)
        return f"{check.message} ({raised})" if check.message else f"{raised} on a hidden case"
    described = error_message(error, limits=limits)
    return f"{check.message} ({described})" if check.message else described


def _with_requirements(*, checks: Sequence[CheckSpec], own: dict[str, tuple[bool, str]]) -> dict[str, tuple[bool, str]]:
    """A check that passed on its own still fails while a check it requires fails."""
    requires = {check.name: [name for name in check.requires if name in own] for check in checks}
    final: dict[str, tuple[bool, str]] = {}

    def settle(name: str, path: tuple[str, ...]) -> bool:
        if name not in final:
            passed, message = own[name]
            # A circle (refused when the exercise is saved) counts as not passing.
            waiting = [r for r in requires[name] if r in path or not settle(r, (*path, name))]
            if passed and waiting:
                verb = "passes" if len(waiting) == 1 else "pass"
                final[name] = (False, f"not scored until {_names(waiting)} {verb} (this check on its own: passed)")
            else:
                final[name] = (passed, message)
        return final[name][0]

    for check in checks:
        settle(check.name, ())
    return final


def _names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _hidden_failure(*, value: Value | None, too_slow: bool) -> str:
    if too_slow:
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
        return "not run"  # the summary says why, once
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
        return _judge_unchanged(check=check, outcome=outcome, expected=expected)
    if isinstance(value, NotNumeric):
        return False, f"returned a {value.type_name}, expected a number or a numpy array"
    match kind:
        case CheckKind.CLOSE:
            return _judge_close(check=check, value=value, expected=expected)
        case CheckKind.FINITE:
            return _judge_finite(value=value, expected=expected)
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
            return _judge_time(check=check, value=value, seconds=outcome.seconds, expected=expected)
    raise AssertionError(kind)  # pragma: no cover


def _judge_finite(*, value: float | np.ndarray, expected: dict[str, Any] | None) -> tuple[bool, str]:
    if isinstance(value, float):
        finite = math.isfinite(value)
    else:
        reference_shape = expected["shape"] if expected else None
        if value.size == 0 and (reference_shape is None or math.prod(reference_shape) > 0):
            return False, "returned an empty array; there is nothing to be finite"
        finite = bool(np.all(np.isfinite(value)))
    return finite, "passed" if finite else f"returned non-finite values: {describe(value)}"


def _judge_time(
    *, check: CheckSpec, value: float | np.ndarray, seconds: float, expected: dict[str, Any] | None
) -> tuple[bool, str]:
    """Speed first (a slow call fails whatever it returned, and run_checks asks the
    reference for fresh inputs' answers only when the call was fast), then the value."""
    assert check.seconds is not None
    took = f"took {_number(seconds)} s"
    if not _fast_enough(check=check, seconds=seconds):
        return False, f"{took}, more than the {_number(check.seconds)} s allowed"
    correct, why = _judge_close(check=check, value=value, expected=expected)
    if not correct:
        return (
            False,
            f"the timed call's result differs from the reference's ({why}); a fast wrong answer does not count",
        )
    return True, took


def _judge_close(*, check: CheckSpec, value: float | np.ndarray, expected: dict[str, Any] | None) -> tuple[bool, str]:
    if expected is None:
        return False, "no reference value to compare with"
    want = _decode_expected(expected)
    # The reference's value is shown only where the instructor chose to: replaying the
    # numbers of one verdict must not be a way to pass.
    show = check.show_expected and not check.hidden
    if isinstance(want, float):
        if not isinstance(value, float):
            return False, f"returned {describe(value)}, expected a single number"
        ok = _close(value, want, rtol=check.effective_rtol, atol=check.effective_atol)
        if ok:
            return True, "passed"
        if not show:
            return False, f"got {_number(value)}, not within the tolerance of the reference's value"
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
    if not show:
        return False, f"{where}; at index {index}: got {_number(float(got[index]))}"
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


def _judge_unchanged(*, check: CheckSpec, outcome: CallOutcome, expected: dict[str, Any] | None) -> tuple[bool, str]:
    """The inputs as returned after the call against the inputs as the reference's run
    received them: the student's process reports only the first."""
    if expected is None:
        return False, "no reference value to compare with"
    stored = expected["inputs"]
    changed = [
        name
        for name in check.track
        if name not in stored or not _same_input(stored[name], outcome.inputs_after.get(name))
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


# Submissions count variants modulo this (every number of variants up to 10 divides it),
# so that variant n % check.variants keeps rotating for every check.
VARIANT_CYCLE = 2520


def judge_every_variant(
    *, checks: Sequence[CheckSpec], expected: dict[str, Any], runs: Runs, limits: Limits
) -> Verdict:
    """The reference's runs hold every variant: a check passes only when it passes on
    each, and says on which it failed."""
    count = max((check.variants for check in checks), default=1)
    verdicts = [judge(checks=checks, expected=expected, runs=runs, limits=limits, variant=k) for k in range(count)]
    merged = []
    for position, check in enumerate(checks):
        failed = [
            (k, v.checks[position]) for k, v in enumerate(verdicts[: check.variants]) if not v.checks[position].passed
        ]
        if not failed:
            merged.append(verdicts[0].checks[position])
            continue
        k, first = failed[0]
        where = f" (variant {k + 1} of {check.variants})" if check.variants > 1 else ""
        merged.append(replace(first, message=f"{first.message}{where}"))
    complete = all(
        check.call_id(k) in runs.main.calls or check.call_id(k) in runs.alone
        for check in checks
        for k in range(check.variants)
    )
    summary = _summary(run=runs.main, verdicts=merged, limits=limits, complete=complete)
    return Verdict(checks=tuple(merged), summary=summary)
