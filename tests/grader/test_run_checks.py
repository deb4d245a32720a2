"""run_checks and judge with the real sandbox: what a student's process cannot fake."""

from __future__ import annotations

from decimal import Decimal

from grader.checks import expected_from_reference, judge, limits_for, run_checks
from questions.exercises import CheckSpec
from workers.sandbox import sandbox_run
from workers.sandbox.protocol import SandboxJob, SandboxRun

LIMITS = limits_for(time_limit_seconds=5, memory_limit_mb=512)
TIMED = CheckSpec(name="fast", kind="time", call="f(x)", setup="x = 3.0\n", seconds=0.4, points=Decimal(1))
VALUE = CheckSpec(name="value", kind="close", call="f(x)", setup="x = 3.0\n", points=Decimal(1))


def runner(job: SandboxJob) -> SandboxRun:
    return sandbox_run(job=job)


def _grade(code: str, checks: list[CheckSpec], expected: dict[str, object] | None = None) -> dict[str, str]:
    runs = run_checks(runner=runner, code=code, checks=checks, entry_points=["f"], limits=LIMITS)
    verdict = judge(checks=checks, expected=expected or {}, run=runs.main, limits=LIMITS, alone=runs.alone)
    return {check.name: check.message for check in verdict.checks}


def test_a_time_check_counts_work_done_at_import():
    """Precomputing at import (or while answering other calls) does not hide a slow call."""
    precomputing = "import time\ntime.sleep(0.8)\nANSWER = 9.0\ndef f(x):\n    return ANSWER\n"
    message = _grade(precomputing, [VALUE, TIMED])["fast"]
    assert message.endswith("more than the 0.4 s allowed")


def test_a_fast_solution_passes_its_time_check():
    assert _grade("def f(x):\n    return x * x\n", [VALUE, TIMED])["fast"] == "passed"


class CountingRunner:
    def __init__(self) -> None:
        self.jobs: list[SandboxJob] = []

    def __call__(self, job: SandboxJob) -> SandboxRun:
        self.jobs.append(job)
        return sandbox_run(job=job)


def test_a_fast_solution_is_timed_within_its_one_run():
    counting = CountingRunner()
    checks = [TIMED, VALUE]
    runs = run_checks(runner=counting, code="def f(x):\n    return x * x\n", checks=checks, entry_points=["f"],
                      limits=LIMITS)  # fmt: skip
    verdict = judge(checks=checks, expected={}, run=runs.main, limits=LIMITS, alone=runs.alone)
    assert [[call.id for call in job.calls] for job in counting.jobs] == [["value", "fast"]]  # time checks last
    assert verdict.checks[0].message == "passed"
    assert runs.alone == {}


def test_a_time_check_gets_a_run_of_its_own_when_the_others_made_the_run_slow():
    """The whole run counts against a time check only while that is within its seconds."""
    counting = CountingRunner()
    slow_other = CheckSpec(name="slow", kind="close", call="g(x)", setup="x = 3.0\n", points=Decimal(1))
    code = "import time\ndef f(x):\n    return x * x\ndef g(x):\n    time.sleep(0.6)\n    return x\n"
    checks = [slow_other, TIMED]
    runs = run_checks(runner=counting, code=code, checks=checks, entry_points=["f", "g"], limits=LIMITS)
    verdict = judge(checks=checks, expected={"slow": {"shape": None, "values": 3.0}}, run=runs.main, limits=LIMITS,
                    alone=runs.alone)  # fmt: skip
    assert [[call.id for call in job.calls] for job in counting.jobs] == [["slow", "fast"], ["fast"]]
    assert [check.message for check in verdict.checks] == ["passed", "passed"]


def test_a_time_check_past_the_wall_clock_leaves_the_other_checks_answered():
    code = "def f(x):\n    while True:\n        pass\ndef g(x):\n    return x\n"
    value = CheckSpec(name="value", kind="close", call="g(x)", setup="x = 3.0\n", points=Decimal(1))
    limits = limits_for(time_limit_seconds=1, memory_limit_mb=512)
    checks = [TIMED, value]
    runs = run_checks(runner=runner, code=code, checks=checks, entry_points=["f", "g"], limits=limits)
    verdict = judge(checks=checks, expected={"value": {"shape": None, "values": 3.0}}, run=runs.main, limits=limits,
                    alone=runs.alone)  # fmt: skip
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
    runs = run_checks(runner=counting, code=code, checks=checks, entry_points=["f", "g"], limits=LIMITS)
    verdict = judge(checks=checks, expected={"value": {"shape": None, "values": 3.0}}, run=runs.main, limits=LIMITS,
                    alone=runs.alone)  # fmt: skip
    assert len(counting.jobs) == 2
    assert [check.message for check in verdict.checks] == ["passed", "passed"]


def test_a_time_check_that_never_returns_reports_the_limit():
    spinning = "def f(x):\n    while True:\n        pass\n"
    limits = limits_for(time_limit_seconds=1, memory_limit_mb=512)
    runs = run_checks(runner=runner, code=spinning, checks=[TIMED], entry_points=["f"], limits=limits)
    verdict = judge(checks=[TIMED], expected={}, run=runs.main, limits=limits, alone=runs.alone)
    assert verdict.checks[0].message == "time limit of 1 s exceeded"


def test_a_gradient_is_judged_against_the_references_differences():
    check = CheckSpec(
        name="grad", kind="gradient", call="grad(w)", of="float(np.sum(w ** 2))", wrt="w",
        setup="w = np.array([1.0, -2.0, 0.5])\n", points=Decimal(1),
    )  # fmt: skip
    reference = "import numpy as np\ndef grad(w):\n    return 2 * w\n"
    runs = run_checks(runner=runner, code=reference, checks=[check], entry_points=["grad"], limits=LIMITS,
                      reference=True)  # fmt: skip
    expected = expected_from_reference(checks=[check], run=runs.main)
    assert expected["grad"]["values"] == [2.0, -4.0, 1.0] or all(
        abs(a - b) < 1e-6 for a, b in zip(expected["grad"]["values"], [2.0, -4.0, 1.0], strict=True)
    )
    wrong = "import numpy as np\ndef grad(w):\n    return np.zeros_like(w)\n"
    runs = run_checks(runner=runner, code=wrong, checks=[check], entry_points=["grad"], limits=LIMITS)
    verdict = judge(checks=[check], expected=expected, run=runs.main, limits=LIMITS)
    assert not verdict.checks[0].passed
