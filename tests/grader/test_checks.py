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
    VARIANT_CYCLE,
    CheckVerdict,
    ExpectedProblem,
    Runs,
    Verdict,
    error_message,
    expected_from_reference,
    judge,
    judge_every_variant,
    limits_for,
    module_error_message,
    sandbox_job,
)
from questions.exercises import (
    DEFAULT_STEP,
    MAX_VARIANTS,
    CheckSpec,
    call_problem,
    checks_problems,
    requires_cycle,
)
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


def _runs(
    *outcomes: CallOutcome,
    alone: dict[str, SandboxRun] | None = None,
    metrics: dict[str, CallOutcome | None] | None = None,
    **fields: Any,
) -> Runs:
    """A submission's runs: `main` holding these outcomes, and what was run apart from it."""
    return Runs(main=_run(*outcomes, **fields), alone=alone or {}, metrics=metrics or {})


def _verdict(
    check: CheckSpec, value: Value | None = None, expected: dict[str, Any] | None = None, **outcome: Any
) -> CheckVerdict:
    """Judge one check whose call returned `value` (or raised `error=`).

    For a gradient check, `fd_values=` are what the *reference's* run sent for `of`:
    they become the key's finite differences, and the student's run carries none."""
    fd_values = outcome.pop("fd_values", None)
    if fd_values is not None and expected is None:
        reference_runs = _runs(CallOutcome(id=check.name, value=0.0, fd_values=fd_values))
        try:
            expected = expected_from_reference(checks=[check], runs=reference_runs)[check.name]
        except ExpectedProblem:
            expected = None
    # A time check is judged on the whole run that answered it.
    timing = {"run_seconds": outcome["seconds"]} if check.kind == "time" and "seconds" in outcome else {}
    runs = _runs(CallOutcome(id=check.name, value=value, **outcome), **timing)
    verdict = judge(
        checks=[check], expected={} if expected is None else {check.name: expected}, runs=runs, limits=LIMITS
    )
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
    return expected_from_reference(checks=[check], runs=_runs(CallOutcome(id=check.name, value=value)))[check.name]


# --- close ------------------------------------------------------------------------------


def test_close_passes_a_scalar_within_tolerance():
    result = _verdict(_check(points=Decimal(2)), 0.5 + 1e-9, _scalar(0.5))

    assert (result.passed, result.score, result.max_score, result.message) == (True, 2, 2, "passed")


def test_close_fails_a_scalar_without_showing_the_references_value():
    """Replaying the numbers of one verdict must not be a way to pass: by default only the
    student's own value is shown."""
    result = _verdict(_check(points=Decimal(2)), 0.625, _scalar(0.5))

    assert (result.passed, result.score, result.max_score) == (False, 0, 2)
    assert result.message == "got 0.625, not within the tolerance of the reference's value"


def test_close_fails_a_scalar_with_both_values_when_the_check_shows_expected():
    result = _verdict(_check(points=Decimal(2), show_expected=True), 0.625, _scalar(0.5))

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

    assert message == "2 of 4 elements differ; at index (1,): got 2.5"


def test_close_names_the_first_differing_element_with_its_expected_value_when_shown():
    message = _message(_check(show_expected=True), np.array([1.0, 2.5, 3.0, 9.0]), _array([1.0, 2.0, 3.0, 4.0]))

    assert message == "2 of 4 elements differ; at index (1,): expected 2, got 2.5"


def test_close_names_the_index_in_every_dimension():
    message = _message(_check(), np.array([[1.0, 2.0], [0.0, 4.0]]), _array([[1.0, 2.0], [3.0, 4.0]]))

    assert message == "1 of 4 elements differ; at index (1, 0): got 0"
    assert _message(
        _check(show_expected=True), np.array([[1.0, 2.0], [0.0, 4.0]]), _array([[1.0, 2.0], [3.0, 4.0]])
    ) == ("1 of 4 elements differ; at index (1, 0): expected 3, got 0")


def test_a_hidden_close_check_never_shows_the_expected_number():
    message = _message(_check(hidden=True), 0.25, _scalar(0.123456))

    assert message == "wrong result on a hidden case (returned 0.25)"
    assert "0.123456" not in message


def test_a_hidden_close_check_never_shows_expected_elements():
    message = _message(_check(hidden=True), np.array([1.0, 2.5, 3.0]), _array([1.0, 7.654321, 3.0]))

    assert message.startswith("wrong result on a hidden case")
    assert "7.65432" not in message


@pytest.mark.parametrize(
    ("value", "stored"), [(0.25, _scalar(0.123456)), (np.array([1.0, 2.5, 3.0]), _array([1.0, 7.654321, 3.0]))]
)
def test_a_hidden_check_never_shows_the_expected_value_even_when_asked_to(value: Value, stored: dict[str, Any]):
    """show_expected applies to visible checks only: a hidden case stays hidden."""
    message = _message(_check(hidden=True, show_expected=True), value, stored)

    assert message.startswith("wrong result on a hidden case (returned ")
    assert "0.123456" not in message
    assert "7.65432" not in message
    assert "expected" not in message


@pytest.mark.parametrize("got", [math.nan, math.inf, -math.inf])
def test_close_never_passes_a_non_finite_scalar(got: float):
    result = _verdict(_check(atol=1e300, rtol=1e300), got, _scalar(1.0))

    assert (result.passed, result.score) == (False, 0)


def test_close_never_passes_nan_in_an_array():
    check = _check(atol=1e300, rtol=1.0)

    assert _message(check, np.array([1.0, np.nan]), _array([1.0, 2.0])) == (
        "1 of 2 elements differ; at index (1,): got nan"
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

    assert _message(check, 3.0, _scalar(1.5)) == (
        "Take the mean, not the sum. (got 3, not within the tolerance of the reference's value)"
    )
    shown = _check(message="Take the mean, not the sum.", show_expected=True)
    assert _message(shown, 3.0, _scalar(1.5)) == "Take the mean, not the sum. (expected 1.5, got 3)"


def test_a_hidden_check_shows_its_message_alone():
    check = _check(hidden=True, message="Your loss differs on soft labels.")

    assert _message(check, 3.0, _scalar(1.5)) == "Your loss differs on soft labels."


def test_a_passing_check_says_passed_whatever_its_message():
    assert _message(_check(message="Take the mean."), 1.5, _scalar(1.5)) == "passed"


def test_close_without_a_stored_value_fails():
    assert _message(_check(), 1.0, None) == "no reference value to compare with"


def test_a_failure_message_tells_the_two_numbers_apart():
    message = _message(_check(rtol=1e-9, atol=0.0, show_expected=True), 1.0000001, _scalar(1.0))

    expected, got = message.removeprefix("expected ").split(", got ")
    assert expected != got


# --- finite, scalar, shape --------------------------------------------------------------


@pytest.mark.parametrize("value", [1.5, np.array([1.0, -2.0]), np.array([1, 2], dtype=np.int64)])
def test_finite_passes_finite_values(value: Value):
    assert _message(_check("finite"), value) == "passed"
    assert _message(_check("finite"), value, _reference(_check("finite"), np.ones(2))) == "passed"


@pytest.mark.parametrize("reference", [np.ones(3), np.zeros((0,))], ids=["numbers", "empty"])
def test_finite_fails_an_empty_array_unless_the_references_was_empty(reference: np.ndarray):
    """There is nothing to be finite in an empty array: code that returns np.array([])
    must not pass a finite check whose reference returned numbers."""
    check = _check("finite")
    stored = _reference(check, reference)
    empty = np.zeros((0,))

    if reference.size:
        assert stored == {"shape": [3], "values": None}
        assert _message(check, empty, stored) == "returned an empty array; there is nothing to be finite"
    else:
        assert stored == {"shape": [0], "values": None}
        assert _message(check, empty, stored) == "passed"


def test_finite_fails_an_empty_array_without_a_key():
    assert _message(_check("finite"), np.zeros((0, 3))) == "returned an empty array; there is nothing to be finite"


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

Y_TRUE = np.array([1.0, 0.0, 1.0])
Y_PRED = np.array([0.0, 1.0, 0.5])
TRACKED: dict[str, Value] = {"y_true": Y_TRUE, "y_pred": Y_PRED}


def _key_inputs(check: CheckSpec, **inputs: Value) -> dict[str, Any]:
    """What the key stores for an unchanged check: the inputs as the reference's run
    received them (its `inputs_before`), round-tripped through JSON like a stored key."""
    reference = _runs(CallOutcome(id=check.name, value=0.5, inputs_before=inputs, inputs_after=inputs))
    stored = expected_from_reference(checks=[check], runs=reference)[check.name]
    decoded: dict[str, Any] = json.loads(json.dumps(stored))
    return decoded


def _unchanged(
    check: CheckSpec,
    key: dict[str, Any] | None,
    *,
    after: dict[str, Value],
    before: dict[str, Value] | None = None,
    value: Value = 0.5,
) -> str:
    """The message for a student's call whose tracked inputs were `after` once it returned
    (and, as the student's process claims, `before` when it was called)."""
    return _message(check, value, key, inputs_before=TRACKED if before is None else before, inputs_after=after)


def test_unchanged_passes_when_the_inputs_after_the_call_are_the_references():
    check = _check("unchanged", track=("y_true", "y_pred"))
    key = _key_inputs(check, **TRACKED)

    assert _unchanged(check, key, after={"y_true": Y_TRUE.copy(), "y_pred": Y_PRED.copy()}) == "passed"


def test_unchanged_names_the_modified_argument():
    check = _check("unchanged", track=("y_true", "y_pred"))
    key = _key_inputs(check, **TRACKED)

    message = _unchanged(check, key, after={**TRACKED, "y_pred": np.clip(Y_PRED, 0.25, 0.75)})

    assert message == "modified its argument y_pred"


def test_unchanged_names_every_modified_argument():
    check = _check("unchanged", track=("y_true", "y_pred"))
    key = _key_inputs(check, **TRACKED)

    message = _unchanged(check, key, after={"y_true": Y_TRUE + 1, "y_pred": Y_PRED * 2})

    assert message == "modified its arguments y_true, y_pred"


def test_unchanged_ignores_what_the_students_process_says_the_inputs_were():
    """A student who modifies an input and reports the modified value as "before" too
    (before == after, as a forged frame may) still fails: the key holds the inputs."""
    check = _check("unchanged", track=("y_true", "y_pred"))
    key = _key_inputs(check, **TRACKED)
    modified = {**TRACKED, "y_pred": np.clip(Y_PRED, 0.25, 0.75)}

    assert _unchanged(check, key, before=modified, after=modified) == "modified its argument y_pred"
    # And a "before" that differs from the key (claiming a change that was undone) is
    # not believed either: only the inputs after the call are compared with the key's.
    assert _unchanged(check, key, before={"y_true": Y_TRUE, "y_pred": Y_PRED + 9}, after=dict(TRACKED)) == "passed"
    assert _unchanged(check, key, before={}, after=dict(TRACKED)) == "passed"


@pytest.mark.parametrize(
    ("after", "why"),
    [
        (Y_PRED.astype(np.float32), "same values, another dtype"),
        (Y_PRED.reshape(3, 1), "same values, another shape"),
        (Y_PRED[:2], "fewer values"),
        (np.array([0.0, 1.0, 0.5 + 1e-16 * 10]), "a value changed in its 15th digit"),
        (NotNumeric(type_name="list"), "not numeric any more"),
        (0.5, "a number instead of an array"),
    ],
)
def test_unchanged_wants_exactly_the_values_shape_and_dtype_the_reference_received(after: Value, why: str):
    check = _check("unchanged", track=("y_pred",))
    key = _key_inputs(check, y_pred=Y_PRED)

    assert _unchanged(check, key, after={"y_pred": after}) == "modified its argument y_pred", why


def test_unchanged_counts_a_tracked_input_missing_after_the_call_as_modified():
    check = _check("unchanged", track=("y_true", "y_pred"))
    key = _key_inputs(check, **TRACKED)

    assert _unchanged(check, key, after={"y_true": Y_TRUE}) == "modified its argument y_pred"


def test_unchanged_compares_nan_with_nan_and_numbers_exactly():
    check = _check("unchanged", track=("w", "lr"))
    w = np.array([np.nan, -0.0, np.inf, 1e-300])
    key = _key_inputs(check, w=w, lr=0.1)

    assert _unchanged(check, key, after={"w": w.copy(), "lr": 0.1}) == "passed"
    assert _unchanged(check, key, after={"w": w.copy(), "lr": 0.1 + 2**-56}) == "modified its argument lr"
    assert _unchanged(check, key, after={"w": np.array([np.nan, -0.0, np.inf, 0.0]), "lr": 0.1}) == (
        "modified its argument w"
    )


def test_unchanged_keeps_integer_inputs_as_integers():
    """A list of ints arrives as an int64 array; the key keeps its dtype."""
    check = _check("unchanged", track=("labels",))
    labels = np.array([1, 0, 3], dtype=np.int64)
    key = _key_inputs(check, labels=labels)

    assert key["inputs"]["labels"]["dtype"] == "<i8"
    assert _unchanged(check, key, after={"labels": labels.copy()}) == "passed"
    assert _unchanged(check, key, after={"labels": labels.astype(np.float64)}) == "modified its argument labels"


def test_unchanged_does_not_care_what_the_call_returns():
    check = _check("unchanged", track=("w",))
    key = _key_inputs(check, w=np.ones(2))

    assert _unchanged(check, key, value=NotNumeric(type_name="NoneType"), after={"w": np.ones(2)}) == "passed"


def test_unchanged_without_a_key_fails():
    check = _check("unchanged", track=("w",))

    assert _unchanged(check, None, after={"w": np.ones(2)}) == "no reference value to compare with"


def test_the_key_of_an_unchanged_check_holds_the_references_inputs_exactly():
    check = _check("unchanged", track=("X", "lr"))
    X = np.array([[0.1, 0.2], [np.nan, -3.0]])
    reference = _runs(
        CallOutcome(
            id="c",
            value=1.0,
            inputs_before={"X": X, "lr": 0.1},
            # What the reference did to them does not matter: the key is what it received.
            inputs_after={"X": X * 0, "lr": 0.2},
        )
    )

    stored = expected_from_reference(checks=[check], runs=reference)["c"]

    assert stored == {
        "inputs": {
            "X": {"dtype": "<f8", "shape": [2, 2], "hex": [(0.1).hex(), (0.2).hex(), "nan", (-3.0).hex()]},
            "lr": {"dtype": None, "shape": None, "hex": [(0.1).hex()]},
        }
    }
    assert json.loads(json.dumps(stored)) == stored


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (NotNumeric(type_name="dict"), "is not a number, list or numpy array"),
        (np.zeros(MAX_EXPECTED_ELEMENTS + 1), f"has {MAX_EXPECTED_ELEMENTS + 1} numbers"),
    ],
)
def test_an_input_that_cannot_be_stored_makes_an_unchanged_key_invalid(value: Value, problem: str):
    check = _check("unchanged", track=("w",))
    reference = _runs(CallOutcome(id="c", value=1.0, inputs_before={"w": value}, inputs_after={"w": value}))

    with pytest.raises(ExpectedProblem, match=rf"^c: the tracked input w {problem}"):
        expected_from_reference(checks=[check], runs=reference)


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
    assert _verdict(_check("time", seconds=0.5), 1.0, _scalar(1.0), seconds=seconds).passed is passed


def test_time_says_how_long_it_took():
    message = _message(_check("time", seconds=0.5), 1.0, _scalar(1.0), seconds=0.75)

    assert message == "took 0.75 s, more than the 0.5 s allowed"


def test_a_fast_wrong_answer_fails_a_time_check():
    check = _check("time", seconds=0.5)

    result = _verdict(check, 2.0, _scalar(1.0), seconds=0.001)

    assert (result.passed, result.score) == (False, 0)
    assert result.message == (
        "the timed call's result differs from the reference's (got 2, not within the tolerance of the "
        "reference's value); a fast wrong answer does not count"
    )


def test_a_time_check_compares_arrays_with_the_reference_too():
    check = _check("time", seconds=0.5)
    stored = _reference(check, np.array([1.0, 2.0]))

    assert stored == {"shape": [2], "values": [1.0, 2.0]}
    assert _message(check, np.array([1.0, 2.0]), stored, seconds=0.01) == "passed"
    assert _message(check, np.zeros(2), stored, seconds=0.01).startswith("the timed call's result differs")
    assert _message(check, NotNumeric(type_name="NoneType"), stored, seconds=0.01) == (
        "returned a NoneType, expected a number or a numpy array"
    )


def test_a_time_check_without_a_reference_value_fails():
    assert _message(_check("time", seconds=0.5), 1.0, None, seconds=0.01) == (
        "the timed call's result differs from the reference's (no reference value to compare with); "
        "a fast wrong answer does not count"
    )


def test_a_time_check_defaults_to_rtol_1e_6():
    check = _check("time", seconds=0.5)

    assert (check.effective_rtol, check.effective_atol) == (1e-6, 1e-9)
    assert _verdict(check, 1.0 + 0.5e-6, _scalar(1.0), seconds=0.01).passed
    assert not _verdict(check, 1.0 + 2e-6, _scalar(1.0), seconds=0.01).passed
    assert _verdict(_check("time", seconds=0.5, rtol=1e-3), 1.0005, _scalar(1.0), seconds=0.01).passed


def test_a_time_check_is_judged_on_the_whole_run_that_answered_it():
    """Not the call's own seconds: work done at import or in other calls counts."""
    check = _check("time", seconds=0.5)
    runs = _runs(CallOutcome(id="c", value=1.0, seconds=0.001), run_seconds=0.9)

    verdict = judge(checks=[check], expected={"c": _scalar(1.0)}, runs=runs, limits=LIMITS)

    assert verdict.checks[0].message == "took 0.9 s, more than the 0.5 s allowed"


def test_a_time_check_run_alone_is_judged_on_that_run():
    check = _check("time", seconds=0.5)
    value = _check(name="value")
    alone = _run(CallOutcome(id="c", value=1.0), run_seconds=0.2)
    runs = _runs(
        CallOutcome(id="value", value=1.0), CallOutcome(id="c", value=1.0), run_seconds=3.0, alone={"c": alone}
    )

    verdict = judge(
        checks=[value, check], expected={"c": _scalar(1.0), "value": _scalar(1.0)}, runs=runs, limits=LIMITS
    )

    assert [c.message for c in verdict.checks] == ["passed", "passed"]


@pytest.mark.parametrize("where", ["main", "alone"])
@pytest.mark.parametrize(
    ("termination", "message"),
    [
        (Termination.PROTOCOL, "your code interfered with the grader's results"),
        (Termination.CRASHED, "your code crashed"),
        (Termination.OUTPUT_LIMIT, "output limit exceeded: more than 1024 KB printed"),
    ],
)
def test_a_time_check_fails_when_the_run_that_answered_it_did_not_end_normally(
    where: str, termination: Termination, message: str
):
    """Its frame arrived, fast and right, but the run then broke down (e.g. a forged
    frame): frames sent before that prove nothing about its speed."""
    check = _check("time", seconds=0.5)
    answered = CallOutcome(id="c", value=1.0, seconds=0.001)
    if where == "main":
        runs = _runs(answered, termination=termination, run_seconds=0.01)
    else:
        runs = _runs(alone={"c": _run(answered, termination=termination, run_seconds=0.01)}, run_seconds=9.0)

    result = judge(checks=[check], expected={"c": _scalar(1.0)}, runs=runs, limits=LIMITS).checks[0]

    assert (result.passed, result.message) == (False, f"the timed run did not end normally: {message}")


def test_only_a_time_check_needs_its_run_to_end_normally():
    checks = [_check(name="value"), _check("time", name="fast", seconds=0.5)]
    runs = _runs(
        CallOutcome(id="value", value=1.0), CallOutcome(id="fast", value=1.0), termination=Termination.PROTOCOL
    )

    verdict = judge(checks=checks, expected={"value": _scalar(1.0), "fast": _scalar(1.0)}, runs=runs, limits=LIMITS)

    assert [c.passed for c in verdict.checks] == [True, False]


def test_a_hidden_time_check_that_is_too_slow_says_so_only():
    check = _check("time", seconds=0.5, hidden=True)

    assert _message(check, 1.0, _scalar(1.0), seconds=0.75) == "too slow on a hidden case"


def test_a_hidden_time_check_with_a_fast_wrong_answer_does_not_say_too_slow():
    check = _check("time", seconds=0.5, hidden=True)

    message = _message(check, 2.0, _scalar(1.0), seconds=0.001)

    assert message == "wrong result on a hidden case (returned 2)"


# --- What the student's code did instead of returning a number --------------------------


@pytest.mark.parametrize("kind", ["close", "finite", "scalar", "shape", "range"])
def test_a_non_numeric_result_fails_with_its_type(kind: str):
    check = _check(kind, lower=0.0) if kind == "range" else _check(kind)

    message = _message(check, NotNumeric(type_name="str"), _scalar(1.0))

    assert message == "returned a str, expected a number or a numpy array"


def test_an_exception_is_reported_with_its_line():
    error = StudentError(type="ZeroDivisionError", message="division by zero", line=3)

    result = _verdict(_check(), error=error)

    assert (result.passed, result.score) == (False, 0)
    assert result.message == "raised ZeroDivisionError: division by zero (line 3)"


def test_a_visible_check_shows_its_message_and_the_error():
    error = StudentError(type="ValueError", message="operands could not be broadcast together", line=7)

    result = _verdict(_check(message="Your loss fails on 2-D input."), error=error)

    assert (result.passed, result.score) == (False, 0)
    assert result.message == (
        "Your loss fails on 2-D input. (raised ValueError: operands could not be broadcast together (line 7))"
    )


def test_a_hidden_check_shows_only_the_type_of_an_error():
    """The error's message could name the hidden call's arguments (their shapes, values)."""
    error = StudentError(type="ValueError", message="shapes (500,) and (7,) not aligned: 0.123456", line=4)

    assert _message(_check(hidden=True), error=error) == "raised ValueError on a hidden case"
    assert _message(_check(hidden=True, message="Fails on soft labels."), error=error) == (
        "Fails on soft labels. (raised ValueError)"
    )


def test_a_hidden_check_names_the_memory_limit():
    error = StudentError(type="MemoryError", message="", line=4)

    assert _message(_check(hidden=True), error=error) == "memory limit of 512 MB exceeded on a hidden case"
    assert _message(_check(hidden=True, message="Too big."), error=error) == (
        "Too big. (memory limit of 512 MB exceeded)"
    )


@pytest.mark.parametrize("hidden", [False, True])
def test_an_error_in_the_checks_setup_is_not_the_students(hidden: bool):
    error = StudentError(type="ValueError", message="setup detail", line=None, in_setup=True)

    message = _message(_check(hidden=hidden, message="Not shown for a broken set-up."), error=error)

    assert message == "this check could not prepare its inputs (ValueError); it is not your code's fault"


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


def test_a_module_error_fails_every_check_and_is_stated_once():
    checks = [_check(name="a"), _check("finite", name="b"), _check(name="c", requires=("a",), hidden=True)]
    syntax = StudentError(type="SyntaxError", message="invalid syntax", line=3)
    runs = Runs(main=SandboxRun(module_error=syntax), alone={})

    verdict = judge(checks=checks, expected={"a": _scalar(1.0)}, runs=runs, limits=LIMITS)

    assert verdict.summary == "SyntaxError on line 3: invalid syntax"
    assert [c.message for c in verdict.checks] == ["not run"] * 3
    assert (verdict.score, verdict.max_score) == (0, 3)


def test_a_syntax_error_is_said_once():
    """The harness sends the SyntaxError's msg, not its str() (which repeats the file and
    line): the summary names the line once."""
    syntax = StudentError(type="SyntaxError", message="'(' was never closed", line=2)
    runs = Runs(main=SandboxRun(module_error=syntax), alone={})

    summary = judge(checks=[_check()], expected={}, runs=runs, limits=LIMITS).summary

    assert summary == "SyntaxError on line 2: '(' was never closed"
    assert summary.count("line") == 1


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
    runs = _runs(CallOutcome(id="first", value=1.0), termination=termination, termination_detail=detail)

    verdict = judge(checks=checks, expected={"first": _scalar(1.0), "second": _scalar(1.0)}, runs=runs, limits=LIMITS)

    assert [(c.passed, c.message) for c in verdict.checks] == [(True, "passed"), (False, message), (False, message)]
    assert (verdict.score, verdict.max_score) == (2, 4)
    assert verdict.summary == message


def test_the_time_limit_message_uses_the_exercises_limit():
    runs = _runs(termination=Termination.TIME_LIMIT)
    limits = limits_for(time_limit_seconds=12, memory_limit_mb=256)

    assert judge(checks=[_check()], expected={}, runs=runs, limits=limits).summary == "time limit of 12 s exceeded"


def test_scores_add_up_as_decimals():
    checks = [
        _check(name="a", points=Decimal("0.5")),
        _check(name="b", points=Decimal("1.25")),
        _check(name="c", points=Decimal("2"), show_expected=True),
        _check(name="d", points=Decimal("0.1")),
    ]
    runs = _runs(*(CallOutcome(id=name, value=1.0) for name in "abcd"))
    expected = {"a": _scalar(1.0), "b": _scalar(1.0), "c": _scalar(2.0), "d": _scalar(1.0)}

    verdict = judge(checks=checks, expected=expected, runs=runs, limits=LIMITS)

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
    runs = _runs(CallOutcome(id="a", error=error), CallOutcome(id="b", error=error), missing=("mse", "mae"))

    verdict = judge(checks=checks, expected={}, runs=runs, limits=LIMITS)

    assert verdict.summary == "mse is not defined; mae is not defined; 0 of 2 checks passed"
    assert [c.message for c in verdict.checks] == ["mse is not defined"] * 2


def test_an_empty_verdict_scores_nothing():
    verdict = Verdict(checks=(), summary="")

    assert (verdict.score, verdict.max_score) == (0, 0)


# --- Expected values from the reference -------------------------------------------------


def test_expected_values_of_close_and_shape_checks() -> None:
    checks = [
        _check(name="scalar"),
        _check(name="matrix"),
        _check("shape", name="shape"),
        _check("shape", name="shape-of-a-number"),
        _check("finite", name="finite"),
        _check("finite", name="finite-array"),
        _check("time", name="time", seconds=1.0),
        _check("range", name="range", lower=0.0),
        _check("scalar", name="scalar-kind"),
    ]
    values: dict[str, Value] = {
        "scalar": 0.5,
        "matrix": np.array([[1, 2], [3, 4]], dtype=np.int32),
        "shape": np.zeros((2, 3, 4)),
        "shape-of-a-number": 1.0,
        "finite": 1.0,
        "finite-array": np.ones((4, 2)),
        "time": 2.5,
        "range": 1.0,
        "scalar-kind": 1.0,
    }
    runs = _runs(*(CallOutcome(id=name, value=value) for name, value in values.items()))

    expected = expected_from_reference(checks=checks, runs=runs)

    assert expected == {
        "scalar": {"shape": None, "values": 0.5},
        "matrix": {"shape": [2, 2], "values": [1.0, 2.0, 3.0, 4.0]},
        "shape": {"shape": [2, 3, 4], "values": None},
        "shape-of-a-number": {"shape": None, "values": None},
        # Finite checks keep the reference's shape (an empty result then fails), time
        # checks its value (a fast wrong answer fails); range and scalar keep nothing.
        "finite": {"shape": None, "values": None},
        "finite-array": {"shape": [4, 2], "values": None},
        "time": {"shape": None, "values": 2.5},
    }
    assert json.loads(json.dumps(expected)) == expected
    assert all(isinstance(v, float) for v in expected["matrix"]["values"])


def test_expected_values_skip_calls_that_failed():
    runs = _runs(CallOutcome(id="c", error=StudentError(type="ValueError", message="no")))

    assert expected_from_reference(checks=[_check()], runs=runs) == {}
    assert expected_from_reference(checks=[_check()], runs=_runs()) == {}


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
        "1 of 4 elements differ; at index (1, 1): got 0.5"
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
    forged = _runs(CallOutcome(id=check.name, value=np.zeros(3), fd_values=(0.0,) * 6))
    verdict = judge(checks=[check], expected={check.name: key}, runs=forged, limits=LIMITS)
    assert not verdict.checks[0].passed


@pytest.mark.parametrize("kind", ["close", "finite", "scalar", "shape", "range", "time"])
def test_only_unchanged_tracks_and_only_gradient_differences(kind: str):
    (call,) = sandbox_job(code="", checks=[_check(kind)], entry_points=[], limits=LIMITS).calls

    assert (call.track, call.fd_of, call.fd_wrt) == ((), None, None)


# --- requires ---------------------------------------------------------------------------


def _judge_own(results: dict[str, bool], checks: list[CheckSpec]) -> dict[str, tuple[bool, str]]:
    """Judge `checks` on a run where check c's call returned the key's value exactly when
    results[c] (else a wrong one): (passed, message) by check name."""
    runs = _runs(*(CallOutcome(id=c.name, value=1.0 if results[c.name] else 2.0) for c in checks))
    verdict = judge(checks=checks, expected={c.name: _scalar(1.0) for c in checks}, runs=runs, limits=LIMITS)
    return {c.name: (c.passed, c.message) for c in verdict.checks}


def test_a_check_scores_when_the_check_it_requires_passes():
    checks = [_check(name="values", points=Decimal(2)), _check("finite", name="finite", requires=("values",))]
    runs = _runs(CallOutcome(id="values", value=1.0), CallOutcome(id="finite", value=1.0))

    verdict = judge(checks=checks, expected={"values": _scalar(1.0)}, runs=runs, limits=LIMITS)

    assert [(c.passed, c.score, c.message) for c in verdict.checks] == [(True, 2, "passed"), (True, 1, "passed")]
    assert verdict.summary == "2 of 2 checks passed"


def test_a_check_that_passed_on_its_own_waits_for_a_failed_requirement():
    """A property (finite, a scalar, inputs unchanged) pays only for real work: code
    that returns 0.0 is finite, but gets nothing for it."""
    checks = [_check(name="values", points=Decimal(2)), _check("finite", name="finite", requires=("values",))]
    runs = _runs(CallOutcome(id="values", value=0.0), CallOutcome(id="finite", value=0.0))

    verdict = judge(checks=checks, expected={"values": _scalar(1.0)}, runs=runs, limits=LIMITS)

    waiting = verdict.checks[1]
    assert (waiting.passed, waiting.score, waiting.max_score) == (False, 0, 1)
    assert waiting.message == "not scored until values passes (this check on its own: passed)"
    assert verdict.checks[0].message == "got 0, not within the tolerance of the reference's value"
    assert verdict.summary == "0 of 2 checks passed"


def test_a_check_that_failed_on_its_own_keeps_its_own_message():
    checks = [_check(name="values"), _check(name="other", requires=("values",), message="Mind the mean.")]

    own = _judge_own({"values": False, "other": False}, checks)

    assert own["other"] == (False, "Mind the mean. (got 2, not within the tolerance of the reference's value)")


def test_a_check_names_every_requirement_that_failed():
    checks = [
        _check(name="a"),
        _check(name="b"),
        _check(name="c"),
        _check(name="two", requires=("a", "b")),
        _check(name="three", requires=("a", "b", "c")),
        _check(name="one-of-two", requires=("a", "c")),
    ]

    own = _judge_own({"a": False, "b": False, "c": True, "two": True, "three": True, "one-of-two": True}, checks)

    assert own["two"] == (False, "not scored until a and b pass (this check on its own: passed)")
    assert own["three"] == (False, "not scored until a and b pass (this check on its own: passed)")
    assert own["one-of-two"] == (False, "not scored until a passes (this check on its own: passed)")
    own = _judge_own({"a": False, "b": False, "c": False, "two": True, "three": True, "one-of-two": True}, checks)
    assert own["three"] == (False, "not scored until a, b and c pass (this check on its own: passed)")


def test_requirements_chain():
    """c requires b requires a: when a fails, b waits for a and c for b, even though both
    passed on their own; listed in any order."""
    checks = [_check(name="c", requires=("b",)), _check(name="b", requires=("a",)), _check(name="a")]

    own = _judge_own({"a": False, "b": True, "c": True}, checks)

    assert own == {
        "a": (False, "got 2, not within the tolerance of the reference's value"),
        "b": (False, "not scored until a passes (this check on its own: passed)"),
        "c": (False, "not scored until b passes (this check on its own: passed)"),
    }
    assert _judge_own({"a": True, "b": True, "c": True}, checks) == dict.fromkeys("abc", (True, "passed"))


def test_a_circle_of_requirements_never_scores():
    """Refused when an exercise is saved (requires_cycle), but the judge must not loop or
    let a circle pay for itself if one ever reaches it."""
    checks = [
        _check(name="a", requires=("b",)),
        _check(name="b", requires=("a",)),
        _check(name="outside", requires=("a",)),
        _check(name="self", requires=("self",)),
        _check(name="free"),
    ]

    own = _judge_own(dict.fromkeys(["a", "b", "outside", "self", "free"], True), checks)

    assert own == {
        "a": (False, "not scored until b passes (this check on its own: passed)"),
        "b": (False, "not scored until a passes (this check on its own: passed)"),
        "outside": (False, "not scored until a passes (this check on its own: passed)"),
        "self": (False, "not scored until self passes (this check on its own: passed)"),
        "free": (True, "passed"),
    }


def test_a_requirement_that_names_no_check_is_ignored_by_the_judge():
    """Refused when the exercise is saved (checks_problems); a key already stored keeps grading."""
    checks = [_check(name="a", requires=("no-such-check",))]

    assert _judge_own({"a": True}, checks) == {"a": (True, "passed")}


def test_a_diamond_of_requirements_is_not_a_circle():
    checks = [
        _check(name="top", requires=("left", "right")),
        _check(name="left", requires=("base",)),
        _check(name="right", requires=("base",)),
        _check(name="base"),
    ]

    assert _judge_own(dict.fromkeys(["top", "left", "right", "base"], True), checks) == dict.fromkeys(
        ["top", "left", "right", "base"], (True, "passed")
    )


def test_a_hidden_check_waiting_for_a_requirement_names_only_the_requirement():
    checks = [_check(name="values"), _check(name="secret", hidden=True, requires=("values",))]

    own = _judge_own({"values": False, "secret": True}, checks)

    assert own["secret"] == (False, "not scored until values passes (this check on its own: passed)")


# --- Seeded variants --------------------------------------------------------------------


def test_a_checks_variants_have_their_own_call_ids_and_seeds():
    check = _check(name="cases", seed=7, variants=3)

    assert [check.call_id(k) for k in range(7)] == [
        "cases",
        "cases@1",
        "cases@2",
        "cases",
        "cases@1",
        "cases@2",
        "cases",
    ]
    assert [check.variant_seed(k) for k in range(4)] == [7, 1007, 2007, 7]
    single = _check(name="once", seed=7)
    assert {single.call_id(k) for k in range(5)} == {"once"}
    assert {single.variant_seed(k) for k in range(5)} == {7}


def test_every_number_of_variants_divides_the_submission_cycle():
    """A student's n-th submission gets variant n % VARIANT_CYCLE: every check keeps
    rotating through all its variants across the wrap."""
    assert all(VARIANT_CYCLE % variants == 0 for variants in range(1, MAX_VARIANTS + 1))


def test_the_references_job_holds_every_variant_and_a_submissions_only_its_own():
    checks = [_check(name="cases", seed=7, variants=3), _check(name="once", seed=2)]

    reference = sandbox_job(code="", checks=checks, entry_points=["f"], limits=LIMITS, reference=True)
    submission = sandbox_job(code="", checks=checks, entry_points=["f"], limits=LIMITS, variant=5)

    assert [(call.id, call.seed) for call in reference.calls] == [
        ("cases", 7),
        ("cases@1", 1007),
        ("cases@2", 2007),
        ("once", 2),
    ]
    assert [(call.id, call.seed) for call in submission.calls] == [("cases@2", 2007), ("once", 2)]
    assert all(call.expr == "f(x)" and call.setup == "x = 1.0\n" for call in reference.calls)


def test_the_key_holds_every_variants_value_by_call_id():
    check = _check(name="cases", variants=3)
    runs = _runs(*(CallOutcome(id=check.call_id(k), value=float(k)) for k in range(3)))

    assert expected_from_reference(checks=[check], runs=runs) == {
        "cases": _scalar(0.0),
        "cases@1": _scalar(1.0),
        "cases@2": _scalar(2.0),
    }


def test_a_submission_is_judged_on_its_variant():
    check = _check(name="cases", variants=3, show_expected=True)
    expected = {"cases": _scalar(0.0), "cases@1": _scalar(1.0), "cases@2": _scalar(2.0)}
    runs = _runs(CallOutcome(id="cases@1", value=1.0))

    assert judge(checks=[check], expected=expected, runs=runs, limits=LIMITS, variant=1).checks[0].passed
    assert judge(checks=[check], expected=expected, runs=runs, limits=LIMITS, variant=4).checks[0].passed
    # Variant 0's answer is not variant 1's.
    wrong = _runs(CallOutcome(id="cases@1", value=0.0))
    assert judge(checks=[check], expected=expected, runs=wrong, limits=LIMITS, variant=1).checks[0].message == (
        "expected 1, got 0"
    )
    # A run that answered another variant leaves this one unanswered.
    other = judge(checks=[check], expected=expected, runs=_runs(CallOutcome(id="cases", value=0.0)), limits=LIMITS,
                  variant=1)  # fmt: skip
    assert not other.checks[0].passed


def _reference_runs(checks: list[CheckSpec], values: dict[str, float]) -> Runs:
    return _runs(*(CallOutcome(id=call_id, value=value) for call_id, value in values.items()))


def test_judge_every_variant_passes_a_reference_right_on_every_variant():
    checks = [_check(name="cases", variants=3), _check(name="once")]
    values = {"cases": 0.0, "cases@1": 1.0, "cases@2": 2.0, "once": 5.0}
    runs = _reference_runs(checks, values)
    expected = expected_from_reference(checks=checks, runs=runs)

    verdict = judge_every_variant(checks=checks, expected=expected, runs=runs, limits=LIMITS)

    assert [(c.name, c.passed, c.message) for c in verdict.checks] == [
        ("cases", True, "passed"),
        ("once", True, "passed"),
    ]
    assert (verdict.score, verdict.max_score, verdict.summary) == (2, 2, "2 of 2 checks passed")


def test_judge_every_variant_names_the_variant_that_failed():
    checks = [_check(name="cases", variants=3), _check(name="once")]
    runs = _reference_runs(checks, {"cases": 0.0, "cases@1": 1.0, "cases@2": 2.0, "once": 5.0})
    expected = {**expected_from_reference(checks=checks, runs=runs), "cases@1": _scalar(1.5)}

    verdict = judge_every_variant(checks=checks, expected=expected, runs=runs, limits=LIMITS)

    assert [(c.passed, c.score) for c in verdict.checks] == [(False, 0), (True, 1)]
    assert verdict.checks[0].message == ("got 1, not within the tolerance of the reference's value (variant 2 of 3)")


def test_judge_every_variant_counts_in_its_summary_a_check_that_failed_on_another_variant():
    checks = [_check(name="cases", variants=3), _check(name="once")]
    runs = _reference_runs(checks, {"cases": 0.0, "cases@1": 1.0, "cases@2": 2.0, "once": 5.0})
    expected = {**expected_from_reference(checks=checks, runs=runs), "cases@1": _scalar(1.5)}

    verdict = judge_every_variant(checks=checks, expected=expected, runs=runs, limits=LIMITS)

    assert verdict.summary == "1 of 2 checks passed"  # is "2 of 2 checks passed"


def test_judge_every_variant_names_a_missing_variant():
    """A reference whose run lost a variant's call does not validate, and says which."""
    check = _check(name="cases", variants=2)
    runs = _runs(CallOutcome(id="cases", value=0.0), termination=Termination.TIME_LIMIT)
    expected = expected_from_reference(checks=[check], runs=runs)

    verdict = judge_every_variant(checks=[check], expected=expected, runs=runs, limits=LIMITS)

    assert verdict.checks[0].message == "time limit of 5 s exceeded (variant 2 of 2)"


def test_judge_every_variant_of_a_single_variant_check_adds_nothing():
    check = _check(name="once", show_expected=True)
    runs = _runs(CallOutcome(id="once", value=2.0))

    verdict = judge_every_variant(checks=[check], expected={"once": _scalar(1.0)}, runs=runs, limits=LIMITS)

    assert verdict.checks[0].message == "expected 1, got 2"


# --- metric -----------------------------------------------------------------------------


def _metric_check(**fields: Any) -> CheckSpec:
    return _check("range", name="accuracy", lower=0.85, metric="float(np.mean((X @ result > 0) == y))", **fields)


def test_a_metric_check_judges_the_metric_not_the_calls_value():
    check = _metric_check()

    passing = _runs(
        CallOutcome(id="accuracy", value=np.ones(3)), metrics={"accuracy": CallOutcome(id="accuracy", value=0.9)}
    )
    failing = _runs(
        CallOutcome(id="accuracy", value=np.ones(3)), metrics={"accuracy": CallOutcome(id="accuracy", value=0.5)}
    )

    assert judge(checks=[check], expected={}, runs=passing, limits=LIMITS).checks[0].passed
    assert judge(checks=[check], expected={}, runs=failing, limits=LIMITS).checks[0].message == (
        "got 0.5, expected at least 0.85"
    )


def test_a_metric_check_without_a_measurement_fails():
    """The student's call returned something the metric could not be computed from."""
    check = _metric_check()
    error = StudentError(type="ValueError", message="matmul: dimension mismatch", line=1)
    runs = _runs(
        CallOutcome(id="accuracy", value=np.ones(7)), metrics={"accuracy": CallOutcome(id="accuracy", error=error)}
    )

    assert judge(checks=[check], expected={}, runs=runs, limits=LIMITS).checks[0].message == (
        "your result could not be measured: ValueError: matmul: dimension mismatch"
    )
    hidden = _metric_check(hidden=True, message="Your weights classify badly.")
    assert judge(checks=[hidden], expected={}, runs=runs, limits=LIMITS).checks[0].message == (
        "Your weights classify badly. (your result could not be measured)"
    )
    unmeasured = _runs(CallOutcome(id="accuracy", value=np.ones(3)))
    assert judge(checks=[check], expected={}, runs=unmeasured, limits=LIMITS).checks[0].message == (
        "your result could not be measured"
    )


def test_a_metric_check_fails_a_call_that_returned_no_number_or_raised():
    check = _metric_check()
    measured = {"accuracy": CallOutcome(id="accuracy", value=1.0)}
    none = _runs(CallOutcome(id="accuracy", value=NotNumeric(type_name="NoneType")), metrics=measured)
    error = StudentError(type="RuntimeError", message="diverged", line=9)
    raised = _runs(CallOutcome(id="accuracy", error=error), metrics=measured)

    assert judge(checks=[check], expected={}, runs=none, limits=LIMITS).checks[0].message == (
        "returned a NoneType, expected a number or a numpy array"
    )
    assert judge(checks=[check], expected={}, runs=raised, limits=LIMITS).checks[0].message == (
        "raised RuntimeError: diverged (line 9)"
    )


def test_a_close_metric_is_keyed_on_the_references_metric():
    check = _check(name="sums", metric="np.exp(result).sum(axis=1)", rtol=1e-12, atol=1e-12)
    reference = _runs(
        CallOutcome(id="sums", value=np.log(np.full((2, 4), 0.25))),
        metrics={"sums": CallOutcome(id="sums", value=np.array([1.0, 1.0]))},
    )
    expected = expected_from_reference(checks=[check], runs=reference)
    assert expected == {"sums": {**_array([1.0, 1.0]), "result_shape": [2, 4]}}  # the call result's shape too

    wrong = _runs(
        CallOutcome(id="sums", value=np.zeros((2, 4))),
        metrics={"sums": CallOutcome(id="sums", value=np.array([4.0, 4.0]))},
    )
    assert judge(checks=[check], expected=expected, runs=wrong, limits=LIMITS).checks[0].message == (
        "2 of 2 elements differ; at index (0,): got 4"
    )


# --- What the sandbox is given ----------------------------------------------------------


def test_a_leading_byte_order_mark_is_dropped_from_the_code():
    """Editors on Windows save one; compile() refuses it."""
    job = sandbox_job(code="\ufeffdef f(x):\n    return x\n", checks=[_check()], entry_points=["f"], limits=LIMITS)

    assert job.code == "def f(x):\n    return x\n"
    inner = sandbox_job(code="s = '\ufeff'\n", checks=[], entry_points=[], limits=LIMITS)
    assert inner.code == "s = '\ufeff'\n"


# --- Calls and requirements as an exercise is saved (questions.exercises) ---------------
# (How exercise files report these: tests/questions/test_exercise_files.py.)


def test_requires_cycle_names_the_circle_in_order():
    checks = [_check(name="a", requires=("c",)), _check(name="b", requires=("a",)), _check(name="c", requires=("b",))]

    assert requires_cycle(checks=checks) == ["a", "c", "b", "a"]
    chain = [_check(name="a", requires=("b",)), _check(name="b", requires=("c",)), _check(name="c")]
    assert requires_cycle(checks=chain) == []
    assert checks_problems(checks=chain) == []


@pytest.mark.parametrize("call", ["fit(X, y)", " fit(X, y, lr=0.5) ", "predict(fit(X, y), X)"])
def test_a_call_of_an_entry_point_is_accepted(call: str):
    assert call_problem(call=call, entry_points=["fit", "predict"]) is None


@pytest.mark.parametrize(
    "call",
    [
        "float(fit(X, y))",
        "np.mean(fit(X, y))",
        "fit(X, y) - 1",
        "fit(X, y)[0]",
        "fit",
        "np.fit(X)",
        "(lambda: fit(X))()",
    ],
)
def test_a_call_whose_outermost_expression_is_not_an_entry_point_call_is_refused(call: str):
    """Anything computed from the result inside the sandbox could be altered by the
    student's code (float, np.mean patched): it belongs in a metric."""
    problem = call_problem(call=call, entry_points=["fit", "predict"])

    assert problem is not None
    assert problem.startswith("the call must be a call of one of the student's functions (fit, predict)")
    checks = [CheckSpec(name="c", kind="close", call=call)]
    assert checks_problems(checks=checks, entry_points=["fit", "predict"]) == [f"Check 'c': {problem}"]


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


def test_a_visible_time_check_with_a_wrong_value_says_so_without_the_speed_hint():
    """The author's message is about speed; what went wrong is the value."""
    check = _check("time", seconds=0.5, message="Your function is too slow; vectorise it.")

    message = _message(check, 2.0, _scalar(1.0), seconds=0.001)

    assert message.startswith("the timed call's result differs from the reference's (got 2")
    assert "too slow" not in message
