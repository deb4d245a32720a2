"""grader.check_runs: "Check my work" as a service, through a stand-in sandbox that
records every SandboxJob it is given (the seam that shows hidden checks never reach it)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from grader.check_runs import (
    CHECK_RUN_LEASE,
    CHECK_RUN_MAX_AGE,
    CHECK_RUN_QUEUED_LIMIT,
    GRADER_FAILED,
    check_run_create,
    check_run_execute,
    check_run_plan,
    check_runs_sweep,
)
from grader.grading import grading_jobs_sweep, worker_name
from grader.models import CheckRun, CheckRunStatus, GradingJob, GradingResult, Submission
from lti.models import Passback
from questions.models import Exercise, ExerciseKey
from tests.exercises import SQUARE_REFERENCE
from tests.factories import make_notebook, notebook_cell
from tests.pages.helpers import square_exercise
from workers.sandbox.protocol import CallOutcome, SandboxJob, SandboxRun, SandboxUnavailable

HIDDEN_SETUP = "x = -1.5"


class RecordingSandbox:
    """Answers 9.0 to every call, and keeps the jobs it was asked to run."""

    def __init__(self, *, defined_at: dict[str, int] | None = None) -> None:
        self.jobs: list[SandboxJob] = []
        self.defined_at = defined_at or {}

    def __call__(self, job: SandboxJob) -> SandboxRun:
        self.jobs.append(job)
        calls = {call.id: CallOutcome(id=call.id, value=9.0) for call in job.calls}
        return SandboxRun(calls=calls, output="printed\n", defined_at=self.defined_at)


@pytest.fixture
def exercise(db: None) -> Exercise:
    return square_exercise()


def test_the_plan_holds_the_visible_checks_only(exercise):
    key = ExerciseKey.objects.get(exercise=exercise)
    plan = check_run_plan(key=key)
    assert [check.name for check in plan.checks] == ["three", "scalar", "vector"]
    assert all(not check.hidden for check in plan.checks)
    assert plan.entry_points == ["square"]


def test_hidden_checks_are_never_sent_to_the_sandbox(student, exercise):
    run = check_run_create(user=student, exercise=exercise, code=SQUARE_REFERENCE)
    sandbox = RecordingSandbox()

    assert check_run_execute(check_run_id=run.pk, runner=sandbox) == CheckRunStatus.DONE

    assert sandbox.jobs  # the run did ask the sandbox
    for job in sandbox.jobs:
        assert all(call.id.split("@")[0] in {"three", "scalar", "vector"} for call in job.calls), job.calls
        assert all(HIDDEN_SETUP not in call.setup for call in job.calls)
        assert "hidden-negative" not in repr(job)
    run.refresh_from_db()
    assert [check["name"] for check in run.result["checks"]] == ["three", "scalar", "vector"]
    assert run.result["summary"] == "3 of 3 checks passed"
    assert run.result["output"] == "printed\n"
    assert run.finished_at is not None


def test_a_check_run_records_no_grade(student, exercise):
    run = check_run_create(user=student, exercise=exercise, code=SQUARE_REFERENCE)
    check_run_execute(check_run_id=run.pk, runner=RecordingSandbox())
    assert not Submission.objects.exists()
    assert not GradingJob.objects.exists()
    assert not GradingResult.objects.exists()
    assert not Passback.objects.exists()


def test_a_run_is_claimed_once_and_completed_once(student, exercise):
    run = check_run_create(user=student, exercise=exercise, code=SQUARE_REFERENCE)
    assert check_run_execute(check_run_id=run.pk, runner=RecordingSandbox()) == CheckRunStatus.DONE
    again = RecordingSandbox()
    assert check_run_execute(check_run_id=run.pk, runner=again) is None  # a duplicate message
    assert again.jobs == []
    assert check_run_execute(check_run_id=run.pk, runner=again, resume=True) is None  # done: not resumed


def test_a_run_cut_short_by_an_outage_is_resumed_by_its_worker_only(student, exercise):
    run = check_run_create(user=student, exercise=exercise, code=SQUARE_REFERENCE)
    CheckRun.objects.filter(pk=run.pk).update(status=CheckRunStatus.RUNNING, started_at=timezone.now(), worker="other")
    assert check_run_execute(check_run_id=run.pk, runner=RecordingSandbox(), resume=True) is None
    CheckRun.objects.filter(pk=run.pk).update(worker=worker_name())
    assert check_run_execute(check_run_id=run.pk, runner=RecordingSandbox(), resume=True) == CheckRunStatus.DONE


@pytest.mark.parametrize("failure", [SandboxUnavailable("zygote died"), RuntimeError("a bug")])
def test_a_grader_failure_ends_the_run_as_an_error_that_says_nothing_about_the_code(student, exercise, failure):
    run = check_run_create(user=student, exercise=exercise, code=SQUARE_REFERENCE)

    def broken(job: SandboxJob) -> SandboxRun:
        raise failure

    assert check_run_execute(check_run_id=run.pk, runner=broken) == CheckRunStatus.ERROR
    run.refresh_from_db()
    assert run.result == {"error": GRADER_FAILED}
    assert run.finished_at is not None


def test_a_notebook_check_run_is_worded_by_cell(student, exercise):
    notebook = make_notebook(notebook_cell("# Mine", cell_type="markdown"), "!ls\n", SQUARE_REFERENCE)
    run = check_run_create(user=student, exercise=exercise, notebook=notebook)
    assert (run.notebook, run.cell_starts) == (notebook, [1, 2])
    sandbox = RecordingSandbox(defined_at={"square": 2})
    check_run_execute(check_run_id=run.pk, runner=sandbox)
    assert sandbox.jobs[0].cell_starts == (1, 2)
    run.refresh_from_db()
    assert run.result["checks"][0]["message"] == "passed (`square` is defined in cell 3)"
    assert run.result["summary"].endswith("not run, as IPython syntax: cell 2 line 1 (shell command)")


def test_the_sweeper_ends_lost_runs_and_deletes_old_ones(student, exercise):
    now = timezone.now()

    def made(*, status: str, age: timedelta, started: timedelta | None = None) -> CheckRun:
        run = check_run_create(user=student, exercise=exercise, code=SQUARE_REFERENCE)
        fields: dict[str, object] = {"status": status, "created_at": now - age}
        if started is not None:
            fields["started_at"] = now - started
        if status in (CheckRunStatus.DONE, CheckRunStatus.ERROR):
            fields["finished_at"] = now - age
        CheckRun.objects.filter(pk=run.pk).update(**fields)
        return run

    fresh = made(status=CheckRunStatus.QUEUED, age=timedelta(seconds=5))
    stuck = made(status=CheckRunStatus.QUEUED, age=CHECK_RUN_QUEUED_LIMIT + timedelta(seconds=1))
    running = made(status=CheckRunStatus.RUNNING, age=timedelta(minutes=1), started=timedelta(minutes=1))
    lost = made(status=CheckRunStatus.RUNNING, age=CHECK_RUN_LEASE * 2, started=CHECK_RUN_LEASE * 2)
    old = made(status=CheckRunStatus.DONE, age=CHECK_RUN_MAX_AGE + timedelta(seconds=1))

    report = check_runs_sweep(now=now)

    assert (report.ended, report.deleted) == (2, 1)
    statuses = dict(CheckRun.objects.values_list("pk", "status"))
    assert statuses == {
        fresh.pk: CheckRunStatus.QUEUED,
        stuck.pk: CheckRunStatus.ERROR,
        running.pk: CheckRunStatus.RUNNING,
        lost.pk: CheckRunStatus.ERROR,
    }
    assert CheckRun.objects.get(pk=lost.pk).result == {"error": GRADER_FAILED}
    # A lost run's worker that comes back late cannot overwrite the sweeper's ending.
    assert check_run_execute(check_run_id=stuck.pk, runner=RecordingSandbox()) is None
    assert old.pk not in statuses


def test_the_grading_sweeper_sweeps_check_runs_too(student, exercise):
    run = check_run_create(user=student, exercise=exercise, code=SQUARE_REFERENCE)
    CheckRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - CHECK_RUN_MAX_AGE * 2)
    grading_jobs_sweep(now=timezone.now())
    assert not CheckRun.objects.filter(pk=run.pk).exists()
