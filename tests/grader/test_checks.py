"""Judging a sandbox run against an answer key (grader.checks): pure logic.

Runs are built by hand from the protocol's dataclasses: no sandbox, no database.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.checks import (
    MAX_EXPECTED_ELEMENTS,
    CheckVerdict,
    ExpectedProblem,
    Verdict,
    error_message,
    expected_from_reference,
    judge,
    limits_for,
    module_error_message,
    sandbox_job,
)
from questions.exercises import DEFAULT_STEP, CheckSpec
from workers.sandbox.protocol import (
    CallOutcome,
    Limits,
    NotNumeric,
    SandboxCall,
    SandboxRun,
    StudentError,
    Termination,
    Value,
)

LIMITS = Limits()  # 5 s, 512 MB, 1 MB of output, 8 MB of results


def _check(kind: str = "close", name: str = "c", **fields: Any) -> CheckSpec:
    return CheckSpec(name=name, kind=kind, call="f(x)", setup="x = 1.0\n", **fields)


def _scalar(value: float) -> dict[str, Any]:
    return {"shape": None, "values": value}


def _array(values: Any) -> dict[str, Any]:
    array = np.asarray(values, dtype=np.float64)
    return {"shape": list(array.shape), "values": array.ravel().tolist()}


def _run(*outcomes: CallOutcome, **fields: Any) -> SandboxRun:
    return SandboxRun(calls={outcome.id: outcome for outcome in outcomes}, **fields)


def _verdict(
    check: CheckSpec, value: Value | None = None, expected: dict[str, Any] | None = None, **outcome: Any
) -> CheckVerdict:
    """Judge one check whose call returned `value` (or raised `error=`).

    For a gradient check, `fd_values=` are what the *reference's* run sent for `of`:
    they become the key's finite differences, and the student's run carries none."""
    fd_values = outcome.pop("fd_values", None)
    if fd_values is not None and expected is None:
        reference_run = _run(CallOutcome(id=check.name, value=0.0, fd_values=fd_values))
        try:
            expected = expected_from_reference(checks=[check], run=reference_run)[check.name]
        except ExpectedProblem:
            expected = None
    # A time check is judged on the whole run that answered it.
    timing = {"run_seconds": outcome["seconds"]} if check.kind == "time" and "seconds" in outcome else {}
    run = _run(CallOutcome(id=check.name, value=value, **outcome), **timing)
    verdict = judge(checks=[check], expected={} if expected is None else {check.name: expected}, run=run, limits=LIMITS)
    assert len(verdict.checks) == 1
    return verdict.checks[0]


def _message(
    check: CheckSpec, value: Value | None = None, expected: dict[str, Any] | None = None, **outcome: Any
) -> str:
    result = _verdict(check, value, expected, **outcome)
    assert result.passed is (result.message == "passed")
    return result.message


def _reference(check: CheckSpec, value: Value) -> dict[str, Any]:
    """What an answer key stores for `check` when the reference returned `value`."""
    return expected_from_reference(checks=[check], run=_run(CallOutcome(id=check.name, value=value)))[check.name]


# --- close ------------------------------------------------------------------------------


def test_close_passes_a_scalar_within_tolerance():
    result = _verdict(_check(points=Decimal(2)), 0.5 + 1e-9, _scalar(0.5))

    assert (result.passed, result.score, result.max_score, result.message) == (True, 2, 2, "passed")


def test_close_fails_a_scalar_with_both_values():
    result = _verdict(_check(points=Decimal(2)), 0.625, _scalar(0.5))

    assert (result.passed, result.score, result.max_score) == (False, 0, 2)
    assert result.message == "expected 0.5, got 0.625"


def test_close_wants_a_single_number_when_the_reference_gave_one():
    message = _message(_check(), np.array([1.0, 2.0, 3.0]), _scalar(2.0))

    assert message == "returned an array of shape (3,): [1., 2., 3.], expected a single number"


def test_close_wants_an_array_when_the_reference_gave_one():
    assert _message(_check(), 1.0, _array([1.0, 2.0, 3.0])) == "returned 1, expected an array of shape (3,)"


def test_close_refuses_an_array_of_another_shape():
    message = _message(_check(), np.ones(6).reshape(3, 2), _array(np.ones((2, 3))))

    assert message.startswith("returned an array of shape (3, 2): ")
    assert message.endswith(", expected an array of shape (2, 3)")


def test_close_passes_an_equal_array():
    assert _message(_check(), np.array([1.0, 2.0, 3.0]), _array([1.0, 2.0, 3.0])) == "passed"


def test_close_compares_integer_arrays_as_numbers():
    assert _message(_check(), np.array([1, 0, 1]), _array([1.0, 0.0, 1.0])) == "passed"


def test_close_names_the_first_differing_element():
    message = _message(_check(), np.array([1.0, 2.5, 3.0, 9.0]), _array([1.0, 2.0, 3.0, 4.0]))

    assert message == "2 of 4 elements differ; at index (1,): expected 2, got 2.5"


def test_close_names_the_index_in_every_dimension():
    message = _message(_check(), np.array([[1.0, 2.0], [0.0, 4.0]]), _array([[1.0, 2.0], [3.0, 4.0]]))

    assert message == "1 of 4 elements differ; at index (1, 0): expected 3, got 0"


def test_a_hidden_close_check_never_shows_the_expected_number():
    message = _message(_check(hidden=True), 0.25, _scalar(0.123456))

    assert message == "wrong result on a hidden case (returned 0.25)"
    assert "0.123456" not in message


def test_a_hidden_close_check_never_shows_expected_elements():
    message = _message(_check(hidden=True), np.array([1.0, 2.5, 3.0]), _array([1.0, 7.654321, 3.0]))

    assert message.startswith("wrong result on a hidden case")
    assert "7.65432" not in message


@pytest.mark.parametrize("got", [math.nan, math.inf, -math.inf])
def test_close_never_passes_a_non_finite_scalar(got: float):
    result = _verdict(_check(atol=1e300, rtol=1e300), got, _scalar(1.0))

    assert (result.passed, result.score) == (False, 0)


def test_close_never_passes_nan_in_an_array():
    check = _check(atol=1e300, rtol=1.0)

    assert _message(check, np.array([1.0, np.nan]), _array([1.0, 2.0])) == (
        "1 of 2 elements differ; at index (1,): expected 2, got nan"
    )


@pytest.mark.parametrize(
    ("want", "got", "passed"),
    [
        (100.0, 101.5, True),  # |got - want| = atol + rtol * |want| = 0.5 + 1.0 exactly: inclusive
        (100.0, 98.5, True),
        (100.0, 101.5000001, False),
        (-100.0, -98.5, True),  # the tolerance scales with |want|
        (-100.0, -101.6, False),
        (0.0, 0.5, True),  # at zero only atol remains
        (0.0, 0.5000001, False),
    ],
)
def test_close_accepts_atol_plus_rtol_times_the_expected_value(want: float, got: float, passed: bool):
    check = _check(rtol=0.01, atol=0.5)

    assert _verdict(check, got, _scalar(want)).passed is passed
    assert _verdict(check, np.array([got]), _array([want])).passed is passed


def test_close_tolerance_is_relative_to_the_expected_value_not_the_result():
    check = _check(rtol=0.5, atol=0.0)

    assert _verdict(check, 2.0, _scalar(4.0)).passed  # |2 - 4| <= 0.5 * 4
    assert not _verdict(check, 4.0, _scalar(2.0)).passed  # |4 - 2| > 0.5 * 2


def test_close_defaults_to_rtol_1e_7_and_atol_1e_9():
    check = _check()

    assert (check.effective_rtol, check.effective_atol) == (1e-7, 1e-9)
    assert _verdict(check, 1.0 + 0.5e-7, _scalar(1.0)).passed
    assert not _verdict(check, 1.0 + 2e-7, _scalar(1.0)).passed
    assert _verdict(check, 0.5e-9, _scalar(0.0)).passed
    assert not _verdict(check, 2e-9, _scalar(0.0)).passed


def test_a_visible_check_adds_its_message_to_the_automatic_one():
    check = _check(message="Take the mean, not the sum.")

    assert _message(check, 3.0, _scalar(1.5)) == "Take the mean, not the sum. (expected 1.5, got 3)"


def test_a_hidden_check_shows_its_message_alone():
    check = _check(hidden=True, message="Your loss differs on soft labels.")

    assert _message(check, 3.0, _scalar(1.5)) == "Your loss differs on soft labels."


def test_a_passing_check_says_passed_whatever_its_message():
    assert _message(_check(message="Take the mean."), 1.5, _scalar(1.5)) == "passed"


def test_close_without_a_stored_value_fails():
    assert _message(_check(), 1.0, None) == "no reference value to compare with"


def test_a_failure_message_tells_the_two_numbers_apart():
    message = _message(_check(rtol=1e-9, atol=0.0), 1.0000001, _scalar(1.0))

    expected, got = message.removeprefix("expected ").split(", got ")
    assert expected != got


# --- finite, scalar, shape --------------------------------------------------------------


@pytest.mark.parametrize("value", [1.5, np.array([1.0, -2.0]), np.array([1, 2], dtype=np.int64), np.zeros((0,))])
def test_finite_passes_finite_values(value: Value):
    assert _message(_check("finite"), value) == "passed"


def test_finite_fails_an_infinite_element():
    assert _message(_check("finite"), np.array([1.0, np.inf])) == (
        "returned non-finite values: an array of shape (2,): [ 1., inf]"
    )


def test_finite_fails_nan():
    assert _message(_check("finite"), math.nan) == "returned non-finite values: nan"


def test_scalar_passes_a_number():
    assert _message(_check("scalar"), 0.25) == "passed"


def test_scalar_fails_an_array():
    assert _message(_check("scalar"), np.array([1.0, 2.0])) == (
        "returned an array of shape (2,): [1., 2.], expected a single number"
    )


def test_shape_passes_the_reference_shape_whatever_the_values():
    check = _check("shape")

    assert _message(check, np.ones((2, 3)), _reference(check, np.zeros((2, 3)))) == "passed"


def test_shape_fails_another_shape():
    check = _check("shape")

    assert _message(check, np.arange(3), _reference(check, np.zeros((2, 2)))) == (
        "returned an array of shape (3,): [0, 1, 2], expected an array of shape (2, 2)"
    )


def test_shape_of_a_scalar_reference_wants_a_single_number():
    check = _check("shape")

    assert _message(check, 2.0, _reference(check, 1.0)) == "passed"
    assert _message(check, np.array([2.0]), _reference(check, 1.0)) == (
        "returned an array of shape (1,): [2.], expected a single number"
    )


# --- unchanged --------------------------------------------------------------------------

TRACKED = {"y_true": "aa", "y_pred": "bb"}


def test_unchanged_passes_when_the_digests_match():
    check = _check("unchanged", track=("y_true", "y_pred"))

    assert _message(check, 0.5, digests_before=TRACKED, digests_after=dict(TRACKED)) == "passed"


def test_unchanged_names_the_modified_argument():
    check = _check("unchanged", track=("y_true", "y_pred"))

    message = _message(check, 0.5, digests_before=TRACKED, digests_after={**TRACKED, "y_pred": "cc"})

    assert message == "modified its argument y_pred"


def test_unchanged_names_every_modified_argument():
    check = _check("unchanged", track=("y_true", "y_pred"))

    message = _message(check, 0.5, digests_before=TRACKED, digests_after={"y_true": "xx", "y_pred": "yy"})

    assert message == "modified its arguments y_true, y_pred"


def test_unchanged_does_not_care_what_the_call_returns():
    check = _check("unchanged", track=("w",))

    assert _message(check, NotNumeric(type_name="NoneType"), digests_before={"w": "a"}, digests_after={"w": "a"}) == (
        "passed"
    )


# --- gradient ---------------------------------------------------------------------------


def _fd_values(f: Any, w: np.ndarray, step: float) -> tuple[float, ...]:
    """What the sandbox reports: [f(w + h e0), f(w - h e0), f(w + h e1), ...]."""
    values = []
    for i in range(w.size):
        for sign in (1.0, -1.0):
            moved = w.astype(np.float64).copy()
            moved.flat[i] += sign * step
            values.append(float(f(moved)))
    return tuple(values)


W = np.array([0.5, -1.0, 2.0])


def _sum_of_squares(v: np.ndarray) -> float:
    return float(np.sum(v**2))


def test_gradient_passes_the_true_gradient():
    check = _check("gradient", of="f(w)", wrt="w")

    assert _message(check, 2 * W, fd_values=_fd_values(_sum_of_squares, W, DEFAULT_STEP)) == "passed"


def test_gradient_differences_with_the_checks_step():
    fd = _fd_values(_sum_of_squares, W, 0.1)  # exact for a quadratic with any step

    assert _message(_check("gradient", of="f(w)", wrt="w", step=0.1), 2 * W, fd_values=fd) == "passed"
    assert _message(_check("gradient", of="f(w)", wrt="w"), 2 * W, fd_values=fd).startswith(
        "differs from finite differences in 3 of 3 coordinates"
    )


def test_gradient_names_the_first_wrong_coordinate():
    check = _check("gradient", of="f(w)", wrt="w", step=0.1)

    message = _message(check, np.array([1.0, -2.0, 5.0]), fd_values=_fd_values(_sum_of_squares, W, 0.1))

    assert (
        message
        == "differs from finite differences in 1 of 3 coordinates; at coordinate 2: finite differences 4, yours 5"
    )


def test_gradient_follows_the_coordinates_of_a_matrix():
    w = np.array([[1.0, 2.0], [3.0, 4.0]])
    check = _check("gradient", of="f(w)", wrt="w", step=0.1)

    assert _message(check, 2 * w, fd_values=_fd_values(_sum_of_squares, w, 0.1)) == "passed"
    assert _message(check, 2 * w.T, fd_values=_fd_values(_sum_of_squares, w, 0.1)).startswith(
        "differs from finite differences in 2 of 4 coordinates; at coordinate 1:"
    )


def test_gradient_of_the_wrong_length_says_how_many_coordinates():
    check = _check("gradient", of="f(w)", wrt="w")

    message = _message(check, np.array([1.0, 2.0]), fd_values=_fd_values(_sum_of_squares, W, DEFAULT_STEP))

    assert message == "returned an array of shape (2,): [1., 2.], expected a gradient with one entry per coordinate (3)"


def test_gradient_uses_its_own_default_tolerances():
    check = _check("gradient", of="f(w)", wrt="w")

    assert (check.effective_rtol, check.effective_atol, check.effective_step) == (1e-4, 1e-6, 1e-5)


def test_gradient_never_passes_nan():
    check = _check("gradient", of="f(w)", wrt="w", atol=1e300)

    assert not _verdict(check, np.array([np.nan, 2.0, 4.0]), fd_values=_fd_values(_sum_of_squares, W, 0.1)).passed


# --- range and time ---------------------------------------------------------------------


@pytest.mark.parametrize(("value", "passed"), [(0.85, True), (0.9, True), (0.849, False)])
def test_range_lower_bound_is_inclusive(value: float, passed: bool):
    assert _verdict(_check("range", lower=0.85), value).passed is passed


def test_range_below_the_lower_bound_says_at_least():
    assert _message(_check("range", lower=0.85), 0.5) == "got 0.5, expected at least 0.85"


def test_range_above_the_upper_bound_says_at_most():
    assert _message(_check("range", upper=0.3), 0.69) == "got 0.69, expected at most 0.3"


@pytest.mark.parametrize(("value", "passed"), [(0.0, True), (1.0, True), (2.0, True), (-0.1, False), (2.1, False)])
def test_range_with_both_bounds_is_inclusive(value: float, passed: bool):
    assert _verdict(_check("range", lower=0.0, upper=2.0), value).passed is passed


def test_range_with_both_bounds_says_between():
    assert _message(_check("range", lower=0.0, upper=2.0), 3.0) == "got 3, expected between 0 and 2"


def test_range_never_passes_nan():
    assert _message(_check("range", lower=-1e300, upper=1e300), math.nan) == (
        "got nan, expected between -1e+300 and 1e+300"
    )


def test_range_wants_a_single_number():
    assert _message(_check("range", lower=0.0), np.array([1.0])) == (
        "returned an array of shape (1,): [1.], expected a single number"
    )


@pytest.mark.parametrize(("seconds", "passed"), [(0.1, True), (0.5, True), (0.5001, False)])
def test_time_compares_the_measured_seconds(seconds: float, passed: bool):
    assert _verdict(_check("time", seconds=0.5), 1.0, seconds=seconds).passed is passed


def test_time_says_how_long_it_took():
    assert _message(_check("time", seconds=0.5), 1.0, seconds=0.75) == "took 0.75 s, more than the 0.5 s allowed"


# --- What the student's code did instead of returning a number --------------------------


@pytest.mark.parametrize("kind", ["close", "finite", "scalar", "shape", "range"])
def test_a_non_numeric_result_fails_with_its_type(kind: str):
    check = _check(kind, lower=0.0) if kind == "range" else _check(kind)

    message = _message(check, NotNumeric(type_name="str"), _scalar(1.0))

    assert message == "returned a str, expected a number or a numpy array"


def test_an_exception_is_reported_with_its_line():
    error = StudentError(type="ZeroDivisionError", message="division by zero", line=3)

    result = _verdict(_check(message="Not used for errors."), error=error)

    assert (result.passed, result.score) == (False, 0)
    assert result.message == "raised ZeroDivisionError: division by zero (line 3)"


def test_an_exception_without_a_line_or_message():
    assert error_message(StudentError(type="StopIteration", message=""), limits=LIMITS) == "raised StopIteration"


def test_a_name_error_names_the_missing_function():
    error = StudentError(type="NameError", message="name 'binary_cross_entropy' is not defined", line=1)

    assert _message(_check(), error=error) == "binary_cross_entropy is not defined"


def test_a_memory_error_names_the_limit():
    error = StudentError(type="MemoryError", message="", line=4)

    assert _message(_check(), error=error) == "memory limit of 512 MB exceeded"
    assert error_message(error, limits=Limits(memory_bytes=64 * 1024 * 1024)) == "memory limit of 64 MB exceeded"


# --- The whole run ----------------------------------------------------------------------


def test_a_module_error_fails_every_check():
    checks = [_check(name="a"), _check("finite", name="b")]
    syntax = StudentError(type="SyntaxError", message="invalid syntax", line=3)

    verdict = judge(checks=checks, expected={"a": _scalar(1.0)}, run=SandboxRun(module_error=syntax), limits=LIMITS)

    assert verdict.summary == "SyntaxError on line 3: invalid syntax"
    assert [c.message for c in verdict.checks] == ["not run: SyntaxError on line 3: invalid syntax"] * 2
    assert (verdict.score, verdict.max_score) == (0, 2)


def test_a_module_memory_error_names_the_limit():
    error = StudentError(type="MemoryError", message="", line=1)

    assert module_error_message(error, limits=LIMITS) == "memory limit of 512 MB exceeded"


def test_a_module_error_without_a_line():
    error = StudentError(type="ImportError", message="No module named 'torch'")

    assert module_error_message(error, limits=LIMITS) == "ImportError: No module named 'torch'"


@pytest.mark.parametrize(
    ("termination", "detail", "message"),
    [
        (Termination.TIME_LIMIT, "", "time limit of 5 s exceeded"),
        (Termination.MEMORY_LIMIT, "", "memory limit of 512 MB exceeded"),
        (Termination.OUTPUT_LIMIT, "", "output limit exceeded: more than 1024 KB printed"),
        (Termination.RESULT_LIMIT, "", "your functions returned more than 8 MB of data"),
        (Termination.CRASHED, "SIGSEGV", "your code crashed (SIGSEGV)"),
        (Termination.CRASHED, "", "your code crashed"),
        (Termination.PROTOCOL, "", "your code interfered with the grader's results"),
    ],
)
def test_an_unfinished_run_keeps_the_finished_calls(termination: Termination, detail: str, message: str):
    checks = [_check(name="first", points=Decimal(2)), _check(name="second"), _check(name="third")]
    run = _run(CallOutcome(id="first", value=1.0), termination=termination, termination_detail=detail)

    verdict = judge(checks=checks, expected={"first": _scalar(1.0), "second": _scalar(1.0)}, run=run, limits=LIMITS)

    assert [(c.passed, c.message) for c in verdict.checks] == [(True, "passed"), (False, message), (False, message)]
    assert (verdict.score, verdict.max_score) == (2, 4)
    assert verdict.summary == message


def test_the_time_limit_message_uses_the_exercises_limit():
    run = _run(termination=Termination.TIME_LIMIT)
    limits = limits_for(time_limit_seconds=12, memory_limit_mb=256)

    assert judge(checks=[_check()], expected={}, run=run, limits=limits).summary == "time limit of 12 s exceeded"


def test_scores_add_up_as_decimals():
    checks = [
        _check(name="a", points=Decimal("0.5")),
        _check(name="b", points=Decimal("1.25")),
        _check(name="c", points=Decimal("2")),
        _check(name="d", points=Decimal("0.1")),
    ]
    run = _run(*(CallOutcome(id=name, value=1.0) for name in "abcd"))
    expected = {"a": _scalar(1.0), "b": _scalar(1.0), "c": _scalar(2.0), "d": _scalar(1.0)}

    verdict = judge(checks=checks, expected=expected, run=run, limits=LIMITS)

    assert verdict.score == Decimal("1.85")
    assert verdict.max_score == Decimal("3.85")
    assert isinstance(verdict.score, Decimal)
    assert verdict.summary == "3 of 4 checks passed"
    assert verdict.checks[2].as_json() == {
        "name": "c",
        "passed": False,
        "score": "0",
        "max_score": "2",
        "message": "expected 2, got 1",
    }


def test_the_summary_names_missing_entry_points_first():
    checks = [_check(name="a"), _check(name="b")]
    error = StudentError(type="NameError", message="name 'mse' is not defined", line=None)
    run = _run(CallOutcome(id="a", error=error), CallOutcome(id="b", error=error), missing=("mse", "mae"))

    verdict = judge(checks=checks, expected={}, run=run, limits=LIMITS)

    assert verdict.summary == "mse is not defined; mae is not defined; 0 of 2 checks passed"
    assert [c.message for c in verdict.checks] == ["mse is not defined"] * 2


def test_an_empty_verdict_scores_nothing():
    verdict = Verdict(checks=(), summary="")

    assert (verdict.score, verdict.max_score) == (0, 0)


# --- Expected values from the reference -------------------------------------------------


def test_expected_values_of_close_and_shape_checks():
    checks = [
        _check(name="scalar"),
        _check(name="matrix"),
        _check("shape", name="shape"),
        _check("shape", name="shape-of-a-number"),
        _check("finite", name="finite"),
        _check("range", name="range", lower=0.0),
    ]
    values: dict[str, Value] = {
        "scalar": 0.5,
        "matrix": np.array([[1, 2], [3, 4]], dtype=np.int32),
        "shape": np.zeros((2, 3, 4)),
        "shape-of-a-number": 1.0,
        "finite": 1.0,
        "range": 1.0,
    }
    run = _run(*(CallOutcome(id=name, value=value) for name, value in values.items()))

    expected = expected_from_reference(checks=checks, run=run)

    assert expected == {
        "scalar": {"shape": None, "values": 0.5},
        "matrix": {"shape": [2, 2], "values": [1.0, 2.0, 3.0, 4.0]},
        "shape": {"shape": [2, 3, 4], "values": None},
        "shape-of-a-number": {"shape": None, "values": None},
    }
    assert json.loads(json.dumps(expected)) == expected
    assert all(isinstance(v, float) for v in expected["matrix"]["values"])


def test_expected_values_skip_calls_that_failed():
    run = _run(CallOutcome(id="c", error=StudentError(type="ValueError", message="no")))

    assert expected_from_reference(checks=[_check()], run=run) == {}
    assert expected_from_reference(checks=[_check()], run=_run()) == {}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_reference_cannot_be_a_close_key(value: float):
    with pytest.raises(ExpectedProblem, match=r"^c: the reference returned .*; a close check needs a finite value\.$"):
        _reference(_check(), value)


def test_a_reference_array_with_nan_cannot_be_a_close_key():
    with pytest.raises(ExpectedProblem, match=r"^c: the reference returned non-finite values"):
        _reference(_check(), np.array([1.0, np.nan]))


def test_a_non_finite_reference_can_have_a_shape():
    check = _check("shape")

    assert _reference(check, np.array([np.nan, np.inf])) == {"shape": [2], "values": None}


def test_a_non_numeric_reference_cannot_be_a_key():
    with pytest.raises(ExpectedProblem, match=r"^c: the reference returned a NoneType, not a number or array\.$"):
        _reference(_check(), NotNumeric(type_name="NoneType"))


def test_a_reference_array_too_big_to_store_is_refused():
    with pytest.raises(ExpectedProblem, match=f"returned {MAX_EXPECTED_ELEMENTS + 1} numbers; a close check compares"):
        _reference(_check(), np.zeros(MAX_EXPECTED_ELEMENTS + 1))


def test_the_biggest_storable_array_and_any_big_shape():
    assert len(_reference(_check(), np.zeros(MAX_EXPECTED_ELEMENTS))["values"]) == MAX_EXPECTED_ELEMENTS
    assert _reference(_check("shape"), np.zeros((1000, 1000)))["shape"] == [1000, 1000]


def test_a_student_is_judged_against_the_stored_reference():
    check = _check(rtol=1e-9, atol=0.0)
    stored = json.loads(json.dumps(_reference(check, np.array([[0.1, 0.2], [0.3, 0.4]]))))

    assert _message(check, np.array([[0.1, 0.2], [0.3, 0.4]]), stored) == "passed"
    assert _message(check, np.array([[0.1, 0.2], [0.3, 0.5]]), stored) == (
        "1 of 4 elements differ; at index (1, 1): expected 0.4, got 0.5"
    )


# --- The sandbox job ---------------------------------------------------------------------


def test_sandbox_job_carries_the_code_entry_points_and_limits():
    limits = limits_for(time_limit_seconds=7, memory_limit_mb=256)

    job = sandbox_job(code="def f(x): return x\n", checks=[_check()], entry_points=["f"], limits=limits)

    assert (job.code, job.entry_points, job.limits) == ("def f(x): return x\n", ("f",), limits)
    assert (limits.wall_seconds, limits.cpu_seconds, limits.memory_bytes) == (7.0, 7, 256 * 1024 * 1024)


def test_sandbox_job_maps_every_kind_to_a_call():
    checks = [
        _check("close", name="close", seed=3, rtol=0.1),
        _check("unchanged", name="unchanged", track=("x", "y")),
        _check("gradient", name="gradient", of="g(x)", wrt="x", step=0.01),
        _check("gradient", name="default-step", of="g(x)", wrt="x"),
        _check("time", name="time", seconds=0.5),
    ]

    job = sandbox_job(code="", checks=checks, entry_points=["f"], limits=LIMITS, reference=True)

    assert job.calls == (
        SandboxCall(id="close", expr="f(x)", setup="x = 1.0\n", seed=3),
        SandboxCall(id="unchanged", expr="f(x)", setup="x = 1.0\n", track=("x", "y")),
        SandboxCall(id="gradient", expr="f(x)", setup="x = 1.0\n", fd_of="g(x)", fd_wrt="x", fd_step=0.01),
        SandboxCall(id="default-step", expr="f(x)", setup="x = 1.0\n", fd_of="g(x)", fd_wrt="x", fd_step=1e-5),
        SandboxCall(id="time", expr="f(x)", setup="x = 1.0\n"),
    )


def test_a_students_run_never_evaluates_the_function_of_a_gradient_check():
    """Whatever a student's process reports is the student's to forge: the differences
    a gradient is judged against come from the reference's run, stored in the key."""
    check = _check("gradient", of="g(x)", wrt="x")
    (call,) = sandbox_job(code="", checks=[check], entry_points=[], limits=LIMITS).calls
    assert (call.fd_of, call.fd_wrt) == (None, None)
    # Values a student's run might send for `of` are ignored: the key decides.
    key = {"shape": [3], "values": [2.0, 4.0, 6.0]}
    forged = _run(CallOutcome(id=check.name, value=np.zeros(3), fd_values=(0.0,) * 6))
    verdict = judge(checks=[check], expected={check.name: key}, run=forged, limits=LIMITS)
    assert not verdict.checks[0].passed


@pytest.mark.parametrize("kind", ["close", "finite", "scalar", "shape", "range", "time"])
def test_only_unchanged_tracks_and_only_gradient_differences(kind: str):
    (call,) = sandbox_job(code="", checks=[_check(kind)], entry_points=[], limits=LIMITS).calls

    assert (call.track, call.fd_of, call.fd_wrt) == ((), None, None)


# --- Properties -------------------------------------------------------------------------

finite_floats = st.floats(allow_nan=False, allow_infinity=False)
tolerances = st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=10.0), st.floats(min_value=0.0, max_value=1e-3))


@settings(max_examples=300, deadline=None)
@given(
    got=finite_floats,
    want=finite_floats,
    rtol=tolerances,
    atol=tolerances,
    hidden=st.booleans(),
    points=st.decimals(min_value=0, max_value=100, places=2),
)
def test_close_passes_exactly_within_atol_plus_rtol(
    got: float, want: float, rtol: float, atol: float, hidden: bool, points: Decimal
):
    check = _check(rtol=rtol, atol=atol, hidden=hidden, points=points)
    within = abs(got - want) <= atol + rtol * abs(want)

    for value, stored in ((got, _scalar(want)), (np.array([got, want]), _array([want, want]))):
        result = _verdict(check, value, stored)
        assert result.passed is within
        assert Decimal(0) <= result.score <= result.max_score == points
        assert result.score == (points if within else 0)


@settings(max_examples=100, deadline=None)
@given(got=finite_floats, lower=finite_floats, width=st.floats(min_value=0.0, max_value=1e300))
def test_range_passes_exactly_within_the_bounds(got: float, lower: float, width: float):
    upper = lower + width
    if not math.isfinite(upper):
        upper = lower

    result = _verdict(_check("range", lower=lower, upper=upper), got)

    assert result.passed is (lower <= got <= upper)


def test_a_big_array_is_described_by_its_shape_only():
    assert _message(_check("scalar"), np.arange(7.0)) == "returned an array of shape (7,), expected a single number"
