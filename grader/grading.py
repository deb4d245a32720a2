"""Code submissions: accept, grade in the sandbox, record the verdict exactly once.

The pipeline is append-only (see grader.models): submission -> grading job(s) -> one
result. Every step that changes state is a conditional UPDATE or an insert guarded by a
unique constraint, so a job delivered twice, a worker killed mid-grade or a sweeper
racing a slow worker all end in one verdict. No transaction is held while the sandbox
runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Count, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.roles import user_pk
from config.errors import Refusal, ServiceError
from grader.checks import (
    VARIANT_CYCLE,
    ExpectedProblem,
    expected_from_reference,
    judge,
    judge_every_variant,
    limits_for,
    run_checks,
)
from grader.data_files import data_set_prepare
from grader.models import CheckRun, CheckRunStatus, GradingJob, GradingResult, JobState, Submission, SubmissionStatus
from grader.notebooks import Source, notebook_layout, notebook_verdict, source_read
from grader.selectors import submission_result
from grader.strength import strength_report
from lti.passback import passbacks_record_for_result
from questions.exercises import CheckSpec, grading_spec_checks, grading_spec_data, grading_spec_max_score
from questions.models import Exercise, ExerciseKey, KeyStatus
from questions.selectors import exercise_serving_key_state
from workers.dispatch import GRADE_TASK, VALIDATE_TASK, enqueue, enqueue_on_commit, queue_length
from workers.environments import UnknownEnvironment, environment_get, environment_problem
from workers.queues import grading_queue
from workers.sandbox.protocol import Limits, SandboxData, SandboxJob, SandboxRun, SandboxUnavailable

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

SandboxRunner = Callable[[SandboxJob], SandboxRun]


def sandbox_runner(*, environment: str, data: SandboxData | None = None) -> SandboxRunner:
    """Jobs run on this process's zygote for the environment, with the key's data files."""

    def run(job: SandboxJob) -> SandboxRun:
        from workers.sandbox import sandbox_run  # the sandbox machinery loads only where grading runs

        return sandbox_run(job=replace(job, data=data) if data else job, environment=environment)

    return run


def key_runner(*, key: ExerciseKey) -> SandboxRunner:
    """The sandbox an answer key's jobs run in: its environment, its data files."""
    return sandbox_runner(environment=key.environment, data=data_set_prepare(files=grading_spec_data(spec=key.spec)))


def _not_here(*, environment: str, arrived_on: str | None) -> str | None:
    """Why this machine cannot run the environment's jobs, when the job belongs on
    another queue; None to run it here. A job that arrived on its environment's own queue
    is run (and fails as a grader error, retried) rather than sent round in a circle."""
    if arrived_on == grading_queue(environment):
        return None
    try:
        return environment_problem(environment_get(environment))
    except UnknownEnvironment as exc:
        return str(exc)


def _reroute(*, job_id: int, now: datetime, arrived_on: str | None) -> bool:
    """A job for an environment this worker lacks goes to that environment's queue, still
    queued (not failed: the grader was misrouted, not the student wrong), and the job's
    error says why. True when it was sent on."""
    job = GradingJob.objects.filter(pk=job_id, state=JobState.QUEUED).select_related("submission__key").first()
    if job is None:
        return False
    environment = job.submission.key.environment
    problem = _not_here(environment=environment, arrived_on=arrived_on)
    if problem is None:
        return False
    queue = grading_queue(environment)
    note = f"{worker_name()} (from queue {arrived_on or '?'}) cannot grade it: {problem}; sent to {queue}"
    if GradingJob.objects.filter(pk=job_id, state=JobState.QUEUED).update(error=note[:2000], enqueued_at=now) != 1:
        return False
    logger.warning("grading job %s: %s", job_id, note)
    enqueue(task=GRADE_TASK, args=[job_id], queue=queue)
    return True


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- Accepting -------------------------------------------------------------------------


def code_problems(*, code: str, notebook: bool = False) -> list[str]:
    """`notebook`: `code` is a notebook's code cells joined, and is worded so."""
    subject = "The notebook's code" if notebook else "The code"
    problems = []
    if not code.strip():
        problems.append(f"{subject} is empty.")
    if "\x00" in code:
        problems.append(f"{subject} contains a NUL character.")
    try:
        size = len(code.encode("utf-8"))
    except UnicodeEncodeError:
        problems.append(f"{subject} is not valid UTF-8 (it contains a lone surrogate).")
    else:
        if size > settings.SUBMISSION_MAX_CODE_BYTES:
            problems.append(f"{subject} is {size} bytes; at most {settings.SUBMISSION_MAX_CODE_BYTES} are accepted.")
    return problems


def code_accept(
    *,
    user: AbstractBaseUser | AnonymousUser,
    exercise: Exercise,
    code: str | None,
    notebook: dict[str, Any] | None,
    opens: str,
) -> tuple[Source, ExerciseKey, User]:
    """What a submission and a check run both start from: the code (or the notebook and
    its code cells) checked, the exercise's serving key (the last valid one: an edit
    that is validating, or failed, closes nothing), and the signed-in user. Raises
    ServiceError for bad code and for an exercise not validated yet (`opens` says what
    then becomes possible), PermissionError for an anonymous user."""
    source = source_read(code=code, notebook=notebook, max_notebook_bytes=settings.SUBMISSION_MAX_NOTEBOOK_BYTES)
    if problems := code_problems(code=source.code, notebook=source.notebook is not None):
        raise ServiceError.invalid({source.field: problems})
    key = exercise_serving_key_state(exercise=exercise)
    if key is None or key.status != KeyStatus.VALID:
        raise ServiceError(
            kind=Refusal.CONFLICT,
            code="exercise_not_validated",
            message=f"This exercise's checks have not been validated yet; {opens}.",
        )
    user_pk(user=user)  # signed in, or PermissionError
    return source, key, cast("User", user)  # an authenticated request's user is the user model's instance


def submission_create(
    *,
    user: AbstractBaseUser | AnonymousUser,
    exercise: Exercise,
    code: str | None = None,
    notebook: dict[str, Any] | None = None,
) -> Submission:
    """Code, or a Jupyter notebook (its JSON object, kept as sent; its code cells run)."""
    source, key, owner = code_accept(
        user=user, exercise=exercise, code=code, notebook=notebook, opens="submissions open once they are"
    )
    now = timezone.now()
    with transaction.atomic():
        # The student's n-th submission gets variant n of every check's inputs, so two in a
        # row never see the same numbers (see ExerciseCheck.variants).
        # Counted inside the INSERT: no extra round trip on the student's request.
        earlier = Submission.objects.filter(user=owner, exercise=exercise).values("exercise")
        variant = Coalesce(Subquery(earlier.annotate(n=Count("pk")).values("n")), 0) % VARIANT_CYCLE
        submission = Submission.objects.create(
            user=owner,
            exercise=exercise,
            key=key,
            code=source.code,
            notebook=source.notebook,
            cell_starts=list(source.cell_starts),
            created_at=now,
            variant=variant,
        )
        del submission.variant  # the expression, not its value: read from the row if ever needed
        job = GradingJob.objects.create(
            submission=submission, attempt=1, created_at=now, available_at=now, enqueued_at=now
        )
        enqueue_on_commit(task=GRADE_TASK, args=[job.pk], queue=grading_queue(key.environment))
    return submission


# --- Grading ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class JobOutcome:
    job_id: int
    ran: bool  # False: the claim failed (already taken, finished, or not yet due)
    status: str = ""


def _grading_plan(*, key: ExerciseKey) -> tuple[list[CheckSpec], Limits]:
    """The checks and limits an answer key grades with."""
    spec = key.spec
    limits = limits_for(time_limit_seconds=spec["time_limit_seconds"], memory_limit_mb=spec["memory_limit_mb"])
    return grading_spec_checks(spec=spec), limits


def _lease(*, now: datetime) -> datetime:
    """Until when a running job is its worker's without another heartbeat."""
    return now + timedelta(seconds=settings.GRADING_LEASE_SECONDS)


def _lease_renew(*, job_id: int, now: datetime) -> bool:
    """False when the job is no longer running (finished, or failed by the sweeper)."""
    renewed = GradingJob.objects.filter(pk=job_id, state=JobState.RUNNING).update(
        lease_expires_at=_lease(now=now), heartbeat_at=now
    )
    return renewed == 1


def _heartbeats(*, job_id: int, stop: threading.Event) -> None:
    """Renew the job's lease every GRADING_HEARTBEAT_SECONDS until `stop`, on this
    thread's own connection (one UPDATE, no transaction held); after a failed renewal
    (the database away) try again sooner, so the lease is renewed as soon as it is back."""
    interval, failing = settings.GRADING_HEARTBEAT_SECONDS, False
    try:
        while not stop.wait(interval):
            try:
                if not _lease_renew(job_id=job_id, now=timezone.now()):
                    return
            except DatabaseError as exc:
                if not failing:
                    logger.warning("grading job %s: could not renew its lease (%s); trying every second", job_id, exc)
                with contextlib.suppress(DatabaseError):
                    connection.close()  # the next try connects afresh
                interval, failing = min(1, settings.GRADING_HEARTBEAT_SECONDS), True
            else:
                interval, failing = settings.GRADING_HEARTBEAT_SECONDS, False
    finally:
        with contextlib.suppress(DatabaseError):
            connection.close()


@contextlib.contextmanager
def _heartbeat(*, job: GradingJob) -> Iterator[None]:
    """Keep the job's lease while the block runs; a worker killed mid-job stops renewing
    it, and the sweeper retries the job once the lease has passed."""
    stop = threading.Event()
    beating = threading.Thread(
        target=_heartbeats, kwargs={"job_id": job.pk, "stop": stop}, name=f"heartbeat-job-{job.pk}", daemon=True
    )
    beating.start()
    try:
        yield
    finally:
        stop.set()
        # A renewal stuck on a hung database must not hold the worker up; the thread
        # ends when that renewal returns.
        beating.join(timeout=settings.GRADING_HEARTBEAT_SECONDS)


def grading_job_claim(*, job_id: int, now: datetime, resume: bool = False) -> GradingJob | None:
    """Take a queued, due job for this process; None when it is not ours to run. The job
    comes with its submission, answer key and (when one exists) verdict. With `resume`,
    also the job if it is running under this process's name: this task's earlier run of
    it ended half-way on a database outage (see grader.tasks), and nothing else runs it."""
    try:
        job = GradingJob.objects.select_related("submission__key", "submission__result").get(pk=job_id)
    except GradingJob.DoesNotExist:
        return None
    claim = {
        "state": JobState.RUNNING,
        "started_at": now,
        "lease_expires_at": _lease(now=now),
        "worker": worker_name(),
    }
    claimable = Q(state=JobState.QUEUED, available_at__lte=now)
    if resume:
        claimable |= Q(state=JobState.RUNNING, worker=claim["worker"])
    if GradingJob.objects.filter(claimable, pk=job_id).update(**claim) != 1:
        return None
    Submission.objects.filter(pk=job.submission_id, status=SubmissionStatus.QUEUED).update(
        status=SubmissionStatus.RUNNING
    )
    # What the UPDATE wrote, without reading the row (and its submission and key) again.
    for field, value in claim.items():
        setattr(job, field, value)
    return job


def grading_job_run(
    *, job_id: int, runner: SandboxRunner | None = None, resume: bool = False, arrived_on: str | None = None
) -> JobOutcome:
    """`arrived_on`: the queue the message came from; a job for an environment this
    machine lacks is sent to its own queue instead (when no `runner` is given)."""
    now = timezone.now()
    if runner is None and not resume and _reroute(job_id=job_id, now=now, arrived_on=arrived_on):
        return JobOutcome(job_id=job_id, ran=False, status=SubmissionStatus.QUEUED)
    job = grading_job_claim(job_id=job_id, now=now, resume=resume)
    if job is None:
        return JobOutcome(job_id=job_id, ran=False)
    if submission_result(submission=job.submission) is not None:
        # An earlier attempt stored the verdict after its lease had passed. (One storing
        # it from now on makes this attempt's insert fail: still one verdict.)
        _job_finish(job=job, state=JobState.SUCCEEDED, now=timezone.now())
        return JobOutcome(job_id=job_id, ran=False, status=SubmissionStatus.GRADED)
    try:
        # Inside: data files this worker cannot fetch are a grader failure, retried.
        runner = runner or key_runner(key=job.submission.key)
        with _heartbeat(job=job):
            _grade(job=job, claimed_at=now, runner=runner)
    except SandboxUnavailable as exc:
        logger.warning("grading job %s (submission %s) failed on the grader side: %s", job.pk, job.submission_id, exc)
        status = grading_job_fail(job_id=job.pk, error=str(exc), now=timezone.now())
        return JobOutcome(job_id=job_id, ran=True, status=status)
    except Exception as exc:
        # A bug on the grader's side must not leave the job running until its lease
        # passes: end this attempt now; the retry (or the final 'error') follows.
        logger.exception("grading job %s (submission %s) crashed", job.pk, job.submission_id)
        if isinstance(exc, DatabaseError) and not connection.in_atomic_block:
            # If the database restarted under the sandbox run, this connection is dead
            # and a new one may reach it (if not, the task waits for it: grader.tasks).
            connection.close_if_unusable_or_obsolete()
        status = grading_job_fail(job_id=job.pk, error=f"{type(exc).__name__}: {exc}", now=timezone.now())
        return JobOutcome(job_id=job_id, ran=True, status=status)
    return JobOutcome(job_id=job_id, ran=True, status=SubmissionStatus.GRADED)


def _grade(*, job: GradingJob, claimed_at: datetime, runner: SandboxRunner) -> None:
    submission = job.submission
    key = submission.key
    checks, limits = _grading_plan(key=key)
    started = time.perf_counter()
    runs = run_checks(
        runner=runner,
        code=submission.code,
        checks=checks,
        entry_points=key.spec["entry_points"],
        limits=limits,
        variant=submission.variant,
        reference_code=key.spec["reference_solution"],
        cell_starts=submission.cell_starts,
    )
    sandbox_seconds = time.perf_counter() - started
    verdict = judge(checks=checks, expected=key.expected, runs=runs, limits=limits, variant=submission.variant)
    if submission.notebook is not None:
        # Said in the notebook's terms: which cell raised, was skipped, defines a function.
        layout = notebook_layout(notebook=submission.notebook, code=submission.code, cell_starts=submission.cell_starts)
        verdict = notebook_verdict(
            verdict=verdict,
            checks=checks,
            runs=runs,
            layout=layout,
            entry_points=key.spec["entry_points"],
            variant=submission.variant,
        )
    checks_seconds = time.perf_counter() - started - sandbox_seconds
    timings = {
        "queue": (claimed_at - job.enqueued_at).total_seconds(),
        "sandbox": round(sandbox_seconds, 6),
        "fork": round(runs.main.fork_seconds, 6),
        "checks": round(checks_seconds, 6),
    }
    run = runs.main
    output = run.output + ("\n[output cut: too long]" if run.output_truncated else "")
    recorded = _record_result(
        job=job,
        score=verdict.score,
        max_score=verdict.max_score,
        checks=[{**check.as_json(), "message": storable(check.message)} for check in verdict.checks],
        summary=storable(verdict.summary),
        output=storable(output),
        timings=timings,
    )
    if recorded:
        logger.info(
            "graded submission %s (job %s): %s/%s, %s", submission.pk, job.pk, verdict.score, verdict.max_score, timings
        )


def storable(text: str) -> str:
    """Text from the student's side as the database can hold it: PostgreSQL refuses NUL
    in text and JSON, and lone surrogates cannot be encoded at all."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _record_result(
    *,
    job: GradingJob,
    score: Decimal,
    max_score: Decimal,
    checks: list[dict[str, object]],
    summary: str,
    output: str,
    timings: dict[str, float],
) -> bool:
    """Store the verdict unless one exists; True when this call stored it."""
    now = timezone.now()
    try:
        with transaction.atomic():
            result = GradingResult.objects.create(
                submission_id=job.submission_id,
                job=job,
                score=score,
                max_score=max_score,
                checks=checks,
                summary=summary,
                output=output,
                timings=timings,
                created_at=now,
            )
            passbacks_record_for_result(result=result)
            Submission.objects.filter(pk=job.submission_id).exclude(status=SubmissionStatus.GRADED).update(
                status=SubmissionStatus.GRADED, graded_at=now
            )
            _job_finish(job=job, state=JobState.SUCCEEDED, now=now)
    except IntegrityError:
        if not GradingResult.objects.filter(submission_id=job.submission_id).exists():
            raise  # not a verdict recorded first: a real failure, for the job's retry
        # Another attempt recorded the verdict first: the same code, the same key, so
        # the same verdict. Close this attempt without a second one.
        _job_finish(job=job, state=JobState.SUCCEEDED, now=now)
        return False
    return True


def _job_finish(*, job: GradingJob, state: str, now: datetime, error: str = "") -> int:
    return GradingJob.objects.filter(pk=job.pk, state=JobState.RUNNING).update(
        state=state, finished_at=now, error=error
    )


def retry_delay(*, attempt: int) -> timedelta:
    """Backoff before attempt `attempt + 1`: base, 2x base, 4x base, ... capped at 10 min."""
    return timedelta(seconds=min(settings.GRADING_RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1), 600))


def grading_job_fail(*, job_id: int, error: str, now: datetime, lost: bool = False) -> str:
    """End a running attempt without a verdict; queue the next or give up. Returns the
    submission's status afterwards. `lost`: its worker is presumed gone (the sweeper);
    then only if no heartbeat renewed the lease meanwhile, and the retry is due at once,
    since this was no grader error and the lease was the wait."""
    with transaction.atomic():
        job = GradingJob.objects.select_related("submission__key").get(pk=job_id)
        # Rows are locked submission first, then job, as _record_result does, so a
        # sweeper failing a slow job and that job storing its verdict cannot deadlock.
        list(Submission.objects.select_for_update().filter(pk=job.submission_id).values_list("pk", flat=True))
        running = GradingJob.objects.filter(pk=job.pk, state=JobState.RUNNING)
        if lost:
            running = running.filter(lease_expires_at__lt=now)
        if running.update(state=JobState.FAILED, finished_at=now, error=error[:2000]) != 1:
            return Submission.objects.values_list("status", flat=True).get(pk=job.submission_id)
        if GradingResult.objects.filter(submission_id=job.submission_id).exists():
            return SubmissionStatus.GRADED
        if job.attempt >= settings.GRADING_MAX_ATTEMPTS:
            Submission.objects.filter(pk=job.submission_id).exclude(status=SubmissionStatus.GRADED).update(
                status=SubmissionStatus.ERROR
            )
            logger.error("submission %s: grader failed %s times; giving up: %s", job.submission_id, job.attempt, error)
            return SubmissionStatus.ERROR
        delay = timedelta(0) if lost else retry_delay(attempt=job.attempt)
        retry = GradingJob.objects.create(
            submission_id=job.submission_id,
            attempt=job.attempt + 1,
            created_at=now,
            available_at=now + delay,
            enqueued_at=now,
        )
        Submission.objects.filter(pk=job.submission_id, status=SubmissionStatus.RUNNING).update(
            status=SubmissionStatus.QUEUED
        )
        enqueue_on_commit(
            task=GRADE_TASK,
            args=[retry.pk],
            countdown=delay.total_seconds(),
            queue=grading_queue(job.submission.key.environment),
        )
    return SubmissionStatus.QUEUED


@dataclass(frozen=True, kw_only=True)
class SweepReport:
    lost: int  # running jobs whose lease had passed, failed and retried
    resent: int  # queued jobs whose message was sent again
    keys_resent: int


def grading_jobs_sweep(*, now: datetime) -> SweepReport:
    """Recover from lost workers and lost messages; safe to run anywhere, any time."""
    lost = 0
    for job_id in GradingJob.objects.filter(state=JobState.RUNNING, lease_expires_at__lt=now).values_list(
        "pk", flat=True
    ):
        error = "the worker stopped renewing its lease before it finished (lease expired): presumed lost"
        grading_job_fail(job_id=job_id, error=error, now=now, lost=True)
        lost += 1
    redeliver_before = now - timedelta(seconds=settings.GRADING_REDELIVER_AFTER_SECONDS)
    ExerciseKey.objects.filter(status=KeyStatus.RUNNING, claimed_at__lt=now - KEY_VALIDATION_LEASE).update(
        status=KeyStatus.PENDING, claimed_at=None
    )
    resent = keys_resent = 0
    for environment in _environments_owed(now=now):
        missing = _messages_missing(now=now, environment=environment)
        sent_keys = _exercise_keys_resend(redeliver_before=redeliver_before, missing=missing, environment=environment)
        keys_resent += sent_keys
        resent += _jobs_resend(
            now=now, redeliver_before=redeliver_before, missing=missing - sent_keys, environment=environment
        )
    if lost or resent or keys_resent:
        logger.warning("sweep: %s lost job(s) retried, %s job(s) and %s key(s) resent", lost, resent, keys_resent)
    from grader.check_runs import check_runs_sweep  # here: grader.check_runs imports this module

    check_runs_sweep(now=now)  # "Check my work" runs: lost ones ended, those an hour old deleted
    return SweepReport(lost=lost, resent=resent, keys_resent=keys_resent)


def _queued_jobs(*, now: datetime, environment: str | None = None) -> QuerySet[GradingJob]:
    jobs = GradingJob.objects.filter(state=JobState.QUEUED, available_at__lte=now)
    return jobs if environment is None else jobs.filter(submission__key__environment=environment)


def _environments_owed(*, now: datetime) -> list[str]:
    """The environments with due queued jobs or pending keys: the queues to look at."""
    jobs = _queued_jobs(now=now).values_list("submission__key__environment", flat=True).distinct()
    keys = ExerciseKey.objects.filter(status=KeyStatus.PENDING).values_list("environment", flat=True).distinct()
    return sorted(set(jobs) | set(keys))


def _messages_missing(*, now: datetime, environment: str) -> int:
    """How many messages an environment's grading queue lacks: one is owed per due queued
    job and per pending key, and those waiting in the queue are counted; a worker holds
    the others only for moments (one per free process: prefetch 1), so a shortfall is what
    the broker lost. Counting keeps a backlog from being resent: in a burst every job's
    message is old, but it is still in the queue. 0 when the broker cannot be asked."""
    waiting = queue_length(queue=grading_queue(environment))
    if waiting is None:
        return 0  # a broker that does not answer cannot take a resend either
    owed = _queued_jobs(now=now, environment=environment).count()
    owed += ExerciseKey.objects.filter(status=KeyStatus.PENDING, environment=environment).count()
    # "Check my work" runs share the queue: their messages are waiting too.
    owed += CheckRun.objects.filter(status=CheckRunStatus.QUEUED, key__environment=environment).count()
    return max(0, owed - waiting)


def _jobs_resend(*, now: datetime, redeliver_before: datetime, missing: int, environment: str) -> int:
    """Send again, oldest first, up to `missing` queued jobs whose message went out before
    `redeliver_before` and is still unclaimed (the queue is first in, first out, so the
    oldest are those the broker lost)."""
    if missing <= 0:
        return 0
    stale = (
        _queued_jobs(now=now, environment=environment)
        .filter(enqueued_at__lt=redeliver_before)
        .order_by("enqueued_at", "pk")
        .values_list("pk", flat=True)
    )
    resent = 0
    for job_id in list(stale[: min(missing, 1000)]):
        if GradingJob.objects.filter(pk=job_id, state=JobState.QUEUED).update(enqueued_at=now) == 1:
            resent += enqueue(task=GRADE_TASK, args=[job_id], queue=grading_queue(environment))
    return resent


# --- Validating exercises --------------------------------------------------------------


# A validation has no heartbeat: one claimed this long ago is presumed lost with its worker.
KEY_VALIDATION_LEASE = timedelta(minutes=2)


def _exercise_keys_resend(*, redeliver_before: datetime, missing: int, environment: str) -> int:
    if missing <= 0:
        return 0
    pending = ExerciseKey.objects.filter(
        status=KeyStatus.PENDING, created_at__lt=redeliver_before, environment=environment
    ).values_list("pk", flat=True)
    resent = 0
    for key_id in pending[: min(missing, 100)]:
        resent += enqueue(task=VALIDATE_TASK, args=[key_id], queue=grading_queue(environment))
    return resent


def exercise_key_validate(
    *, key_id: int, runner: SandboxRunner | None = None, arrived_on: str | None = None
) -> str | None:
    """Run the reference solution and make its results the key; None when not ours to run
    (already taken, or sent on to its environment's queue: see _reroute).

    Raises SandboxUnavailable (after putting the key back to pending) for the task to
    retry later.
    """
    now = timezone.now()
    if runner is None:
        pending = ExerciseKey.objects.filter(pk=key_id, status=KeyStatus.PENDING).values_list("environment", flat=True)
        environment = pending.first()
        if environment is None:
            return None
        problem = _not_here(environment=environment, arrived_on=arrived_on)
        if problem is not None:
            logger.warning("exercise key %s: %s; sent to %s", key_id, problem, grading_queue(environment))
            enqueue(task=VALIDATE_TASK, args=[key_id], queue=grading_queue(environment))
            return None
    if (
        ExerciseKey.objects.filter(pk=key_id, status=KeyStatus.PENDING).update(status=KeyStatus.RUNNING, claimed_at=now)
        != 1
    ):
        return None
    key = ExerciseKey.objects.get(pk=key_id)
    checks, limits = _grading_plan(key=key)
    try:
        runner = runner or key_runner(key=key)
        runs = run_checks(
            runner=runner,
            code=key.spec["reference_solution"],
            checks=checks,
            entry_points=key.spec["entry_points"],
            limits=limits,
            reference=True,
        )
    except SandboxUnavailable:
        ExerciseKey.objects.filter(pk=key_id, status=KeyStatus.RUNNING).update(status=KeyStatus.PENDING)
        raise
    try:
        expected = expected_from_reference(checks=checks, runs=runs)
        verdict = judge_every_variant(checks=checks, expected=expected, runs=runs, limits=limits)
    except ExpectedProblem as exc:
        return _key_finish(key=key, status=KeyStatus.INVALID, expected={}, report=[], summary=str(exc), score=None)
    except Exception as exc:
        # Never leave a key running for the sweeper to retry forever: say what broke.
        logger.exception("exercise key %s: validation crashed", key_id)
        summary = f"validation failed on the grader's side ({type(exc).__name__}: {exc}); run Validate again"
        return _key_finish(key=key, status=KeyStatus.INVALID, expected={}, report=[], summary=summary, score=None)
    status = KeyStatus.VALID if verdict.max_score > 0 and verdict.score == verdict.max_score else KeyStatus.INVALID
    strength: dict[str, object] = {}
    if status == KeyStatus.VALID:
        strength = strength_report(
            runner=runner,
            checks=checks,
            expected=expected,
            entry_points=key.spec["entry_points"],
            limits=limits,
            reference=key.spec["reference_solution"],
            starter=key.exercise.starter_code,
        )
    return _key_finish(
        key=key,
        status=status,
        expected=expected,
        report=[check.as_json() for check in verdict.checks],
        summary=verdict.summary,
        score=verdict.score,
        strength=strength,
    )


def _key_finish(
    *,
    key: ExerciseKey,
    status: str,
    expected: dict[str, object],
    report: list[dict[str, object]],
    summary: str,
    score: Decimal | None,
    strength: dict[str, object] | None = None,
) -> str:
    spec_max = grading_spec_max_score(spec=key.spec)
    ExerciseKey.objects.filter(pk=key.pk, status=KeyStatus.RUNNING).update(
        status=status,
        expected=expected,
        strength=strength or {},
        report=[{**row, "message": storable(str(row["message"]))} for row in report],
        summary=storable(summary),
        reference_score=score,
        max_score=spec_max,
        validated_at=timezone.now(),
    )
    if status == KeyStatus.INVALID:
        logger.warning("exercise %s: the reference solution does not validate: %s", key.exercise_id, summary)
    return status
