"""run_checks and judge with the real sandbox: what a student's process cannot fake."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from grader.checks import Runs, Verdict, expected_from_reference, judge, judge_every_variant, limits_for, run_checks
from questions.exercises import CheckSpec
from workers.sandbox import sandbox_run
from workers.sandbox.protocol import CallOutcome, Limits, SandboxCall, SandboxJob, SandboxRun, Termination

LIMITS = limits_for(time_limit_seconds=5, memory_limit_mb=512)
TIMED = CheckSpec(name="fast", kind="time", call="f(x)", setup="x = 3.0\n", seconds=0.4, points=Decimal(1))
VALUE = CheckSpec(name="value", kind="close", call="f(x)", setup="x = 3.0\n", points=Decimal(1))
SQUARE = "def f(x):\n    return x * x\n"


def runner(job: SandboxJob) -> SandboxRun:
    return sandbox_run(job=job)


class CountingRunner:
    def __init__(self) -> None:
        self.jobs: list[SandboxJob] = []

    def __call__(self, job: SandboxJob) -> SandboxRun:
        self.jobs.append(job)
        return sandbox_run(job=job)

    @property
    def call_ids(self) -> list[list[str]]:
        return [[call.id for call in job.calls] for job in self.jobs]


def _key(
    reference: str, checks: list[CheckSpec], *, entry_points: tuple[str, ...] = ("f",), limits: Limits = LIMITS
) -> dict[str, Any]:
    """The answer key as validation builds it: the reference's runs (every variant)."""
    runs = run_checks(
        runner=runner, code=reference, checks=checks, entry_points=entry_points, limits=limits, reference=True
    )
    expected = expected_from_reference(checks=checks, runs=runs)
    verdict = judge_every_variant(checks=checks, expected=expected, runs=runs, limits=limits)
    assert verdict.score == verdict.max_score, verdict
    return expected


def _verdict(
    code: str,
    checks: list[CheckSpec],
    expected: dict[str, Any],
    *,
    entry_points: tuple[str, ...] = ("f",),
    limits: Limits = LIMITS,
    variant: int = 0,
    run: Any = runner,
) -> tuple[Runs, Verdict]:
    runs = run_checks(runner=run, code=code, checks=checks, entry_points=entry_points, limits=limits, variant=variant)
    return runs, judge(checks=checks, expected=expected, runs=runs, limits=limits, variant=variant)


def _grade(code: str, checks: list[CheckSpec], expected: dict[str, Any] | None = None) -> dict[str, str]:
    """Messages by check name; the key is the square function's unless given."""
    _runs, verdict = _verdict(code, checks, _key(SQUARE, checks) if expected is None else expected)
    return {check.name: check.message for check in verdict.checks}


# --- time checks ------------------------------------------------------------------------


def test_a_time_check_counts_work_done_at_import():
    """Precomputing at import (or while answering other calls) does not hide a slow call."""
    precomputing = "import time\ntime.sleep(0.8)\nANSWER = 9.0\ndef f(x):\n    return ANSWER\n"
    message = _grade(precomputing, [VALUE, TIMED])["fast"]
    assert message.endswith("more than the 0.4 s allowed")


def test_a_fast_solution_passes_its_time_check():
    assert _grade(SQUARE, [VALUE, TIMED])["fast"] == "passed"


def test_a_fast_wrong_answer_fails_its_time_check():
    messages = _grade("def f(x):\n    return 0.0\n", [VALUE, TIMED])

    assert messages["fast"] == (
        "the timed call's result differs from the reference's (got 0, not within the tolerance of the "
        "reference's value); a fast wrong answer does not count"
    )


def test_a_fast_solution_is_timed_within_its_one_run():
    counting = CountingRunner()
    checks = [TIMED, VALUE]
    runs, verdict = _verdict(SQUARE, checks, _key(SQUARE, checks), run=counting)
    assert counting.call_ids == [["value", "fast"]]  # time checks last; no metric, no metric run
    assert verdict.checks[0].message == "passed"
    assert runs.alone == {}
    assert runs.metrics == {}


def test_a_time_check_gets_a_run_of_its_own_when_the_others_made_the_run_slow():
    """The whole run counts against a time check only while that is within its seconds."""
    counting = CountingRunner()
    slow_other = CheckSpec(name="slow", kind="close", call="g(x)", setup="x = 3.0\n", points=Decimal(1))
    code = "import time\ndef f(x):\n    return x * x\ndef g(x):\n    time.sleep(0.6)\n    return x\n"
    checks = [slow_other, TIMED]
    expected = {"slow": {"shape": None, "values": 3.0}, "fast": {"shape": None, "values": 9.0}}
    _runs, verdict = _verdict(code, checks, expected, entry_points=("f", "g"), run=counting)
    assert counting.call_ids == [["slow", "fast"], ["fast"]]
    assert [check.message for check in verdict.checks] == ["passed", "passed"]


def test_a_time_check_past_the_wall_clock_leaves_the_other_checks_answered():
    code = "def f(x):\n    while True:\n        pass\ndef g(x):\n    return x\n"
    value = CheckSpec(name="value", kind="close", call="g(x)", setup="x = 3.0\n", points=Decimal(1))
    limits = limits_for(time_limit_seconds=1, memory_limit_mb=512)
    checks = [TIMED, value]
    expected = {"value": {"shape": None, "values": 3.0}, "fast": {"shape": None, "values": 9.0}}
    _runs, verdict = _verdict(code, checks, expected, entry_points=("f", "g"), limits=limits)
    assert [check.message for check in verdict.checks] == ["time limit of 1 s exceeded", "passed"]
    assert verdict.summary == "1 of 2 checks passed"  # not the main run's stop, which only hit the time check


def test_a_time_check_that_failed_among_the_others_is_tried_alone():
    """Whatever went wrong in the shared run (here: state left by another check) gets
    the time check a run of its own before it is judged."""
    code = (
        "SEEN = []\n"
        "def f(x):\n    assert not SEEN, 'confused by g'\n    return x\n"
        "def g(x):\n    SEEN.append(x)\n    return x\n"
    )
    value = CheckSpec(name="value", kind="close", call="g(x)", setup="x = 3.0\n", points=Decimal(1))
    counting = CountingRunner()
    checks = [TIMED, value]
    expected = {"value": {"shape": None, "values": 3.0}, "fast": {"shape": None, "values": 3.0}}
    _runs, verdict = _verdict(code, checks, expected, entry_points=("f", "g"), run=counting)
    assert len(counting.jobs) == 2
    assert [check.message for check in verdict.checks] == ["passed", "passed"]


def test_a_time_check_that_never_returns_reports_the_limit():
    spinning = "def f(x):\n    while True:\n        pass\n"
    limits = limits_for(time_limit_seconds=1, memory_limit_mb=512)
    _runs, verdict = _verdict(spinning, [TIMED], {"fast": {"shape": None, "values": 9.0}}, limits=limits)
    assert verdict.checks[0].message == "time limit of 1 s exceeded"


FORGED_TIME_FRAME = """
import json, os, struct, time

def _send(payload):
    os.write(4, struct.pack(">I", len(payload)) + payload)

def f(x):
    # The right answer, at once, as the harness would frame it; then the slow work, whose
    # own frame for the same call the host refuses: the run ends as "protocol".
    _send(json.dumps({"t": "call", "id": "fast", "v": {"k": "f", "v": (x * x).hex()}}).encode())
    time.sleep(0.6)
    return x * x
"""


def test_a_time_check_answered_by_a_run_that_ended_in_protocol_fails():
    counting = CountingRunner()
    runs, verdict = _verdict(FORGED_TIME_FRAME, [TIMED], _key(SQUARE, [TIMED]), run=counting)

    source = runs.source("fast")
    assert source.termination is Termination.PROTOCOL
    forged = source.calls["fast"]  # the forged frame was read, fast and right...
    assert (forged.value, forged.seconds < 0.4) == (9.0, True)
    timed = verdict.checks[0]  # ...and counts for nothing
    assert (timed.passed, timed.message) == (
        False,
        "the timed run did not end normally: your code interfered with the grader's results",
    )
    assert counting.call_ids == [["fast"], ["fast"]]  # broken in the shared run, so tried alone too


# --- gradient ---------------------------------------------------------------------------


def test_a_gradient_is_judged_against_the_references_differences():
    check = CheckSpec(
        name="grad", kind="gradient", call="grad(w)", of="float(np.sum(w ** 2))", wrt="w",
        setup="w = np.array([1.0, -2.0, 0.5])\n", points=Decimal(1),
    )  # fmt: skip
    reference = "import numpy as np\ndef grad(w):\n    return 2 * w\n"
    runs = run_checks(runner=runner, code=reference, checks=[check], entry_points=["grad"], limits=LIMITS,
                      reference=True)  # fmt: skip
    expected = expected_from_reference(checks=[check], runs=runs)
    assert expected["grad"]["values"] == [2.0, -4.0, 1.0] or all(
        abs(a - b) < 1e-6 for a, b in zip(expected["grad"]["values"], [2.0, -4.0, 1.0], strict=True)
    )
    wrong = "import numpy as np\ndef grad(w):\n    return np.zeros_like(w)\n"
    runs = run_checks(runner=runner, code=wrong, checks=[check], entry_points=["grad"], limits=LIMITS)
    verdict = judge(checks=[check], expected=expected, runs=runs, limits=LIMITS)
    assert not verdict.checks[0].passed


# --- metrics: computed where the student's code never ran -------------------------------

MEAN = CheckSpec(
    name="mean",
    kind="range",
    call="f(x)",
    setup="x = rng.normal(size=50)\n",
    seed=11,
    metric="float(np.mean(result))",
    lower=0.8,
    upper=1.2,
)
HIJACKING = """
import builtins
import numpy as np

def float(x):
    return 1.0

builtins.float = float
np.mean = lambda *args, **kwargs: 1.0

def f(x):
    return np.zeros(50)
"""


def test_a_metric_is_computed_in_a_run_without_the_students_code():
    """A student's module that patches np.mean and builtins.float and defines its own
    float cannot move the metric: its result is plain data, bound as `result` in a child
    that runs the check's set-up and never loads the student's module."""
    counting = CountingRunner()

    runs, verdict = _verdict(HIJACKING, [MEAN], {}, run=counting)

    assert verdict.checks[0].message == "got 0, expected between 0.8 and 1.2"
    assert runs.metrics["mean"] is not None
    assert runs.metrics["mean"].value == 0.0  # the true mean of the zeros it returned
    student_job, metric_job = counting.jobs
    assert student_job.code == HIJACKING
    assert (metric_job.code, metric_job.entry_points) == ("", ())
    (call,) = metric_job.calls
    assert (call.id, call.expr, call.setup, call.seed) == ("mean", "float(np.mean(result))", MEAN.setup, 11)
    np.testing.assert_array_equal(call.bind["result"], np.zeros(50))
    # The hijack does work where the student's code runs: the very expression, evaluated
    # there, is 1.0, which the range check would have passed. (Without the builtins patch,
    # which also makes the harness's own `float` the student's: every float result of that
    # child then arrives as not numeric, to the student's loss only.)
    probe = SandboxCall(id="inside", expr="float(np.mean(f(x)))", setup=MEAN.setup, seed=11)
    numpy_only = HIJACKING.replace("builtins.float = float\n", "")
    inside = sandbox_run(job=SandboxJob(code=numpy_only, entry_points=("f",), calls=(probe,)))
    assert inside.calls["inside"].value == 1.0


def test_a_metric_sees_the_same_inputs_as_the_call():
    """Same set-up, same seed: the metric's inputs are the call's."""
    check = CheckSpec(
        name="residual", kind="close", call="f(x)", setup="x = rng.normal(size=5)\n", seed=4,
        metric="float(np.abs(result - 2 * x).max())", atol=0.0, rtol=0.0,
    )  # fmt: skip
    expected = _key("def f(x):\n    return 2 * x\n", [check])

    assert expected == {"residual": {"shape": None, "values": 0.0, "result_shape": [5]}}
    _runs, right = _verdict("def f(x):\n    return x + x\n", [check], expected)
    assert right.checks[0].passed
    _runs, wrong = _verdict("def f(x):\n    return 3 * x\n", [check], expected)
    assert not wrong.checks[0].passed


def test_no_metric_run_for_a_call_that_raised_or_returned_no_number():
    counting = CountingRunner()

    runs, verdict = _verdict("def f(x):\n    return None\n", [MEAN], {}, run=counting)

    assert len(counting.jobs) == 1
    assert runs.metrics == {}
    assert verdict.checks[0].message == "returned a NoneType, expected a number or a numpy array"
    _runs, raised = _verdict("def f(x):\n    raise ValueError('no')\n", [MEAN], {})
    assert raised.checks[0].message == "raised ValueError: no (line 2)"


def test_a_metric_that_fails_on_the_students_result_says_so():
    _runs, verdict = _verdict("import numpy as np\ndef f(x):\n    return np.zeros((2, 0))\n", [MEAN], {})

    # np.mean of an empty array is nan with a warning, not an error: the range fails.
    assert verdict.checks[0].message == "got nan, expected between 0.8 and 1.2"
    indexing = CheckSpec(name="first", kind="range", call="f(x)", setup="x = 1.0\n", metric="result[5]", lower=0.0)
    _runs, verdict = _verdict("import numpy as np\ndef f(x):\n    return np.zeros(2)\n", [indexing], {})
    assert verdict.checks[0].message == (
        "your result could not be measured: IndexError: index 5 is out of bounds for axis 0 with size 2"
    )


# --- seeded variants --------------------------------------------------------------------

VARIED = CheckSpec(name="cases", kind="close", call="f(x)", setup="x = rng.normal(size=4)\n", seed=21, variants=3)


def test_the_references_runs_hold_every_variant_and_a_submissions_only_its_own():
    counting = CountingRunner()
    reference_runs = run_checks(
        runner=counting, code="def f(x):\n    return 2 * x\n", checks=[VARIED, VALUE], entry_points=["f"],
        limits=LIMITS, reference=True,
    )  # fmt: skip
    run_checks(runner=counting, code="", checks=[VARIED, VALUE], entry_points=["f"], limits=LIMITS, variant=4)

    assert counting.call_ids == [["cases", "cases@1", "cases@2", "value"], ["cases@1", "value"]]
    values = [reference_runs.main.calls[VARIED.call_id(k)].value for k in range(3)]
    assert all(isinstance(value, np.ndarray) for value in values)
    for k, value in enumerate(values):
        x = np.random.default_rng(21 + 1000 * k).normal(size=4)
        np.testing.assert_array_equal(value, 2 * x)
    assert not np.array_equal(values[0], values[1])


def test_an_answer_replayed_from_one_variant_fails_the_next():
    expected = _key("def f(x):\n    return 2 * x\n", [VARIED])
    first = np.asarray(expected["cases"]["values"])
    replay = f"import numpy as np\ndef f(x):\n    return np.array({first.tolist()!r})\n"

    verdicts = [_verdict(replay, [VARIED], expected, variant=k)[1] for k in range(4)]

    assert [v.checks[0].passed for v in verdicts] == [True, False, False, True]  # variant 3 is variant 0 again
    assert verdicts[1].checks[0].message.startswith("4 of 4 elements differ; at index (0,): got ")


def test_judge_every_variant_names_the_variant_on_which_the_reference_fails():
    """A reference that breaks on one variant's inputs does not validate, and the report
    says which variant."""
    check = CheckSpec(name="root", kind="close", call="f(x)", setup="x = float(rng.normal())\n", seed=0, variants=3)
    xs = [float(np.random.default_rng(check.variant_seed(k)).normal()) for k in range(3)]
    negative = [k for k, x in enumerate(xs) if x < 0]
    assert len(negative) == 1, xs  # this seed gives one negative input among three
    reference = "import math\ndef f(x):\n    return math.sqrt(x)\n"
    runs = run_checks(runner=runner, code=reference, checks=[check], entry_points=["f"], limits=LIMITS,
                      reference=True)  # fmt: skip
    expected = expected_from_reference(checks=[check], runs=runs)

    verdict = judge_every_variant(checks=[check], expected=expected, runs=runs, limits=LIMITS)

    assert set(expected) == {check.call_id(k) for k in range(3) if k not in negative}
    assert verdict.checks[0].message == (
        f"raised ValueError: math domain error (line 3) (variant {negative[0] + 1} of 3)"
    )
    assert verdict.score == 0


# --- unchanged --------------------------------------------------------------------------

UNCHANGED = CheckSpec(
    name="unchanged", kind="unchanged", call="f(y)", setup="y = rng.uniform(size=6)\n", seed=3, track=("y",)
)
PURE = "import numpy as np\ndef f(y):\n    return float(np.sum(y))\n"


def test_unchanged_compares_the_inputs_after_the_call_with_the_references():
    expected = _key(PURE, [UNCHANGED])
    y = np.random.default_rng(3).uniform(size=6)
    assert expected["unchanged"]["inputs"]["y"]["hex"] == [float(v).hex() for v in y]

    assert _verdict(PURE, [UNCHANGED], expected)[1].checks[0].message == "passed"
    modifying = "import numpy as np\ndef f(y):\n    y *= 2\n    return float(np.sum(y))\n"
    assert _verdict(modifying, [UNCHANGED], expected)[1].checks[0].message == "modified its argument y"
    restoring = "import numpy as np\ndef f(y):\n    y *= 2\n    y /= 2\n    return float(np.sum(y))\n"
    assert _verdict(restoring, [UNCHANGED], expected)[1].checks[0].message == "passed"


def test_unchanged_ignores_the_inputs_as_the_students_process_saw_them():
    """A module that modifies the inputs before any call (the set-ups run first; their
    namespaces are on the stack at import) makes "before" and "after" agree: the old
    comparison of the two passed it. The key's inputs do not move."""
    expected = _key(PURE, [UNCHANGED])
    at_import = (
        "import sys\n"
        "import numpy as np\n"
        "frame = sys._getframe()\n"
        "while frame is not None:\n"
        "    for namespace in frame.f_locals.get('inputs', None) or ():\n"
        "        if isinstance(namespace, dict) and isinstance(namespace.get('y'), np.ndarray):\n"
        "            namespace['y'][:] = 0.5\n"
        "    frame = frame.f_back\n"
        "def f(y):\n"
        "    return float(np.sum(y))\n"
    )

    runs, verdict = _verdict(at_import, [UNCHANGED], expected)

    outcome = runs.outcome("unchanged")
    assert outcome is not None
    np.testing.assert_array_equal(outcome.inputs_before["y"], np.full(6, 0.5))  # the tampering happened...
    np.testing.assert_array_equal(outcome.inputs_after["y"], outcome.inputs_before["y"])
    assert verdict.checks[0].message == "modified its argument y"  # ...and is seen


# --- requires, messages, and the submission as a whole ----------------------------------


def test_a_property_of_code_that_does_no_work_waits_for_the_values():
    finite = CheckSpec(name="finite", kind="finite", call="f(x)", setup="x = 3.0\n", requires=("value",))
    checks = [VALUE, finite]
    expected = _key(SQUARE, checks)

    messages = _grade("def f(x):\n    return 0.0\n", checks, expected)

    assert messages["finite"] == "not scored until value passes (this check on its own: passed)"
    assert _grade(SQUARE, checks, expected) == {"value": "passed", "finite": "passed"}


def test_a_hidden_check_shows_only_the_type_of_an_error():
    """Its message would name the hidden call's keyword argument."""
    hidden = CheckSpec(name="hidden", kind="close", call="f(x, secret_scale=7.5)", setup="x = 3.0\n", hidden=True)
    expected = _key("def f(x, secret_scale=1.0):\n    return x * secret_scale\n", [hidden])

    _runs, verdict = _verdict(SQUARE, [hidden], expected)

    assert verdict.checks[0].message == "raised TypeError on a hidden case"
    assert "secret_scale" not in verdict.checks[0].message


def test_a_visible_check_shows_its_message_and_the_error():
    value = CheckSpec(name="value", kind="close", call="f(x)", setup="x = 3.0\n", message="Square x.")

    _runs, verdict = _verdict("def f(x):\n    return x / 0\n", [value], _key(SQUARE, [value]))

    assert verdict.checks[0].message == "Square x. (raised ZeroDivisionError: float division by zero (line 2))"


def test_a_syntax_error_is_stated_once_and_runs_nothing_else():
    counting = CountingRunner()
    checks = [VALUE, TIMED, MEAN]

    runs, verdict = _verdict("def f(x)\n    return x * x\n", checks, {}, run=counting)

    assert len(counting.jobs) == 1  # no time check alone, no metric run: the module never loaded
    assert (runs.alone, runs.metrics) == ({}, {})
    assert verdict.summary == "SyntaxError on line 1: expected ':'"
    assert [check.message for check in verdict.checks] == ["not run"] * 3


def test_a_submission_with_a_byte_order_mark_is_graded_like_one_without():
    checks = [VALUE, TIMED]
    expected = _key(SQUARE, checks)

    _runs, verdict = _verdict("\ufeff" + SQUARE, checks, expected)

    assert (verdict.score, verdict.summary) == (2, "2 of 2 checks passed")


def test_a_runs_outcome_is_the_alone_runs_for_a_check_run_alone():
    main = SandboxRun(calls={"fast": CallOutcome(id="fast", value=1.0)})
    alone = SandboxRun(calls={"fast": CallOutcome(id="fast", value=2.0)})
    runs = Runs(main=main, alone={"fast": alone})

    assert (runs.source("fast"), runs.source("value")) == (alone, main)
    assert runs.outcome("fast") == CallOutcome(id="fast", value=2.0)
    assert runs.outcome("value") is None


RANDOM_TIMED = CheckSpec(
    name="fast", kind="time", call="f(x)", setup="x = float(rng.uniform(1.0, 2.0))\n", seconds=1.0, points=Decimal(1)
)


def test_time_checks_run_on_inputs_drawn_for_each_submission_and_the_reference_answers_them():
    """A value one submission printed is worth nothing to the next: the timed inputs come
    from a seed secret to the submission, answered by the reference in a child of its own."""
    jobs: list[SandboxJob] = []

    def recording(job: SandboxJob) -> SandboxRun:
        jobs.append(job)
        return runner(job)

    seeds = []
    for _ in range(2):
        jobs.clear()
        runs = run_checks(
            runner=recording, code=SQUARE, checks=[RANDOM_TIMED], entry_points=["f"], limits=LIMITS,
            reference_code="def f(x):\n    return x ** 2\n",
        )  # fmt: skip
        verdict = judge(checks=[RANDOM_TIMED], expected={}, runs=runs, limits=LIMITS)
        assert verdict.checks[0].passed, verdict
        student, reference = jobs
        assert reference.code == "def f(x):\n    return x ** 2\n"
        assert student.calls[0].seed == reference.calls[0].seed != RANDOM_TIMED.seed
        seeds.append(student.calls[0].seed)
    assert seeds[0] != seeds[1]


def test_a_replay_of_a_timed_value_from_an_earlier_submission_fails():
    first = run_checks(
        runner=runner, code=SQUARE, checks=[RANDOM_TIMED], entry_points=["f"], limits=LIMITS, reference_code=SQUARE
    )
    seen = first.main.calls["fast"].value
    replay = f"def f(x):\n    return {seen!r}\n"

    runs = run_checks(
        runner=runner, code=replay, checks=[RANDOM_TIMED], entry_points=["f"], limits=LIMITS, reference_code=SQUARE
    )
    verdict = judge(checks=[RANDOM_TIMED], expected={}, runs=runs, limits=LIMITS)

    assert not verdict.checks[0].passed
    assert "a fast wrong answer does not count" in verdict.checks[0].message
