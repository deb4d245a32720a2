""" "Check my work": an exercise's visible checks run on a student's code, for feedback.

A check run is a short-lived job beside the grading pipeline, never part of it: it
records no Submission, no GradingResult and no passback, and it runs only the checks a
student can see. Hidden checks are left out of the plan itself, so their set-ups and
calls never reach the sandbox (the SandboxJob holds the visible checks alone). Like a
grading job it is claimed with a conditional UPDATE and completed once; unlike one it is
not retried: a run the grader failed or lost ends as `error` and the student checks
again. The grading sweeper (grader.grading.grading_jobs_sweep) ends lost runs and deletes
runs an hour old.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.roles import user_pk
from grader.checks import VARIANT_CYCLE, Verdict, judge, limits_for, run_checks
from grader.grading import SandboxRunner, code_accept, key_runner, storable, worker_name
from grader.models import CheckRun, CheckRunStatus
from grader.notebooks import notebook_layout, notebook_verdict
from questions.exercises import CheckSpec, grading_spec_checks
from questions.models import Exercise, ExerciseKey
from workers.dispatch import enqueue_on_commit
from workers.queues import grading_queue
from workers.sandbox.protocol import Limits, SandboxUnavailable

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

CHECK_RUN_TASK = "grader.run_checks_for_student"
# Runs older than this are deleted: they answered a question of the moment.
CHECK_RUN_MAX_AGE = timedelta(hours=1)
# A run still queued this long (its message lost, or a long backlog) or running this long
# after its claim (its worker gone: a run takes at most a few time limits of 60 s) is
# ended as a grader error; the student checks again.
CHECK_RUN_QUEUED_LIMIT = timedelta(minutes=10)
CHECK_RUN_LEASE = timedelta(minutes=10)
GRADER_FAILED = "The grader could not run your code just now; this says nothing about it. Please check again."

# --- Asking -----------------------------------------------------------------------------


def check_run_create(
    *,
    user: AbstractBaseUser | AnonymousUser,
    exercise: Exercise,
    code: str | None = None,
    notebook: dict[str, Any] | None = None,
) -> CheckRun:
    """Code or a notebook, as for a submission; queued for a worker of the exercise's
    environment once committed."""
    source, key, owner = code_accept(
        user=user, exercise=exercise, code=code, notebook=notebook, opens="checking opens once they are"
    )
    with transaction.atomic():
        run = CheckRun.objects.create(
            user=owner,
            exercise=exercise,
            key=key,
            code=source.code,
            notebook=source.notebook,
            cell_starts=list(source.cell_starts),
            # Each run on inputs of its own (as each submission): a verdict's numbers are
            # worth nothing in the next.
            variant=secrets.randbelow(VARIANT_CYCLE),
            created_at=timezone.now(),
        )
        enqueue_on_commit(task=CHECK_RUN_TASK, args=[run.pk], queue=grading_queue(key.environment))
    return run


def check_run_get_own(*, check_run_id: int, user: AbstractBaseUser | AnonymousUser) -> CheckRun:
    """The caller's own run; CheckRun.DoesNotExist for anyone else, instructors included:
    a check run is the student's scratch work."""
    return CheckRun.objects.select_related("exercise").get(pk=check_run_id, user_id=user_pk(user=user))


# --- Running ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CheckPlan:
    checks: list[CheckSpec]  # the visible checks, in the exercise's order
    limits: Limits
    entry_points: list[str]


def check_run_plan(*, key: ExerciseKey) -> CheckPlan:
    """What a check run asks of the sandbox: the key's visible checks and its limits.
    A visible check that `requires` a hidden one is judged on its own here."""
    spec = key.spec
    return CheckPlan(
        checks=[check for check in grading_spec_checks(spec=spec) if not check.hidden],
        limits=limits_for(time_limit_seconds=spec["time_limit_seconds"], memory_limit_mb=spec["memory_limit_mb"]),
        entry_points=list(spec["entry_points"]),
    )


def check_run_claim(*, check_run_id: int, now: datetime, resume: bool = False) -> CheckRun | None:
    """Take a queued run for this process; None when it is not ours to run. With `resume`,
    also a run this process claimed before a database outage cut it short."""
    claimable = Q(status=CheckRunStatus.QUEUED)
    if resume:
        claimable |= Q(status=CheckRunStatus.RUNNING, worker=worker_name())
    claim = {"status": CheckRunStatus.RUNNING, "started_at": now, "worker": worker_name()}
    if CheckRun.objects.filter(claimable, pk=check_run_id).update(**claim) != 1:
        return None
    return CheckRun.objects.select_related("key").get(pk=check_run_id)


def check_run_execute(*, check_run_id: int, runner: SandboxRunner | None = None, resume: bool = False) -> str | None:
    """Run the visible checks and store their verdict; the run's status afterwards, or
    None when the claim failed (already taken, finished, or ended by the sweeper)."""
    run = check_run_claim(check_run_id=check_run_id, now=timezone.now(), resume=resume)
    if run is None:
        return None
    try:
        result = _checked(run=run, runner=runner or key_runner(key=run.key))  # its environment and data
    except SandboxUnavailable as exc:
        logger.warning("check run %s failed on the grader side: %s", run.pk, exc)
        return _finish(run=run, status=CheckRunStatus.ERROR, result={"error": GRADER_FAILED})
    except Exception:
        logger.exception("check run %s crashed", run.pk)
        return _finish(run=run, status=CheckRunStatus.ERROR, result={"error": GRADER_FAILED})
    return _finish(run=run, status=CheckRunStatus.DONE, result=result)


def _checked(*, run: CheckRun, runner: SandboxRunner) -> dict[str, Any]:
    key = run.key
    plan = check_run_plan(key=key)
    runs = run_checks(
        runner=runner,
        code=run.code,
        checks=plan.checks,
        entry_points=plan.entry_points,
        limits=plan.limits,
        variant=run.variant,
        reference_code=key.spec["reference_solution"],
        cell_starts=run.cell_starts,
    )
    verdict: Verdict = judge(
        checks=plan.checks, expected=key.expected, runs=runs, limits=plan.limits, variant=run.variant
    )
    if run.notebook is not None:
        layout = notebook_layout(notebook=run.notebook, code=run.code, cell_starts=run.cell_starts)
        verdict = notebook_verdict(
            verdict=verdict,
            checks=plan.checks,
            runs=runs,
            layout=layout,
            entry_points=plan.entry_points,
            variant=run.variant,
        )
    main = runs.main
    output = main.output + ("\n[output cut: too long]" if main.output_truncated else "")
    return {
        "summary": storable(verdict.summary),
        "checks": [
            {"name": check.name, "passed": check.passed, "message": storable(check.message)} for check in verdict.checks
        ],
        "output": storable(output),
    }


def _finish(*, run: CheckRun, status: str, result: dict[str, Any]) -> str:
    """Complete a running run, once: a run the sweeper ended meanwhile stays as it is."""
    CheckRun.objects.filter(pk=run.pk, status=CheckRunStatus.RUNNING).update(
        status=status, result=result, finished_at=timezone.now()
    )
    return status


# --- Sweeping ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CheckRunSweep:
    ended: int  # lost runs (queued or running too long) ended as grader errors
    deleted: int  # runs older than CHECK_RUN_MAX_AGE


def check_runs_sweep(*, now: datetime) -> CheckRunSweep:
    """End lost runs and delete old ones; safe to run anywhere, any time."""
    lost = Q(status=CheckRunStatus.QUEUED, created_at__lt=now - CHECK_RUN_QUEUED_LIMIT) | Q(
        status=CheckRunStatus.RUNNING, started_at__lt=now - CHECK_RUN_LEASE
    )
    ended = CheckRun.objects.filter(lost).update(
        status=CheckRunStatus.ERROR, result={"error": GRADER_FAILED}, finished_at=now
    )
    deleted, _ = CheckRun.objects.filter(created_at__lt=now - CHECK_RUN_MAX_AGE).delete()
    if ended:
        logger.warning("sweep: %s lost check run(s) ended", ended)
    return CheckRunSweep(ended=ended, deleted=deleted)
