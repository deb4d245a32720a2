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
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, cast

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Count, Q, Subquery
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
from grader.models import GradingJob, GradingResult, JobState, Submission, SubmissionStatus
from grader.selectors import submission_result
from grader.strength import strength_report
from lti.passback import passbacks_record_for_result
from questions.exercises import CheckSpec, grading_spec_checks, grading_spec_max_score
from questions.models import Exercise, ExerciseKey, KeyStatus
from questions.selectors import exercise_serving_key_state
from workers.dispatch import GRADE_TASK, VALIDATE_TASK, enqueue, enqueue_on_commit, queue_length
from workers.queues import Queue
from workers.sandbox.protocol import Limits, SandboxJob, SandboxRun, SandboxUnavailable

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

SandboxRunner = Callable[[SandboxJob], SandboxRun]


def _default_runner(job: SandboxJob) -> SandboxRun:
    from workers.sandbox import sandbox_run  # the sandbox machinery loads only where grading runs

    return sandbox_run(job=job)


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- Accepting -------------------------------------------------------------------------


def code_problems(*, code: str) -> list[str]:
    problems = []
    if not code.strip():
        problems.append("The code is empty.")
    if "\x00" in code:
        problems.append("The code contains a NUL character.")
    try:
        size = len(code.encode("utf-8"))
    except UnicodeEncodeError:
        problems.append("The code is not valid UTF-8 (it contains a lone surrogate).")
    else:
        if size > settings.SUBMISSION_MAX_CODE_BYTES:
            problems.append(f"The code is {size} bytes; at most {settings.SUBMISSION_MAX_CODE_BYTES} are accepted.")
    return problems


def submission_create(*, user: AbstractBaseUser | AnonymousUser, exercise: Exercise, code: str) -> Submission:
    if problems := code_problems(code=code):
        raise ServiceError.invalid({"code": problems})
    # The last valid key: an edit that is validating (or failed) does not close submissions.
    key = exercise_serving_key_state(exercise=exercise)
    if key is None or key.status != KeyStatus.VALID:
        raise ServiceError(
            kind=Refusal.CONFLICT,
            code="exercise_not_validated",
            message="This exercise's checks have not been validated yet; submissions open once they are.",
        )
    user_pk(user=user)  # signed in, or PermissionError
    owner = cast("User", user)  # an authenticated request's user is the user model's instance
    now = timezone.now()
    with transaction.atomic():
        # The student's n-th submission gets variant n of every check's inputs, so two in a
        # row never see the same numbers (see ExerciseCheck.variants).
        # Counted inside the INSERT: no extra round trip on the student's request.
        earlier = Submission.objects.filter(user=owner, exercise=exercise).values("exercise")
        variant = Coalesce(Subquery(earlier.annotate(n=Count("pk")).values("n")), 0) % VARIANT_CYCLE
        submission = Submission.objects.create(
            user=owner, exercise=exercise, key=key, code=code, created_at=now, variant=variant
        )
        del submission.variant  # the expression, not its value: read from the row if ever needed
        job = GradingJob.objects.create(
            submission=submission, attempt=1, created_at=now, available_at=now, enqueued_at=now
        )
        enqueue_on_commit(task=GRADE_TASK, args=[job.pk])
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
        "worker": _worker_name(),
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


def grading_job_run(*, job_id: int, runner: SandboxRunner = _default_runner, resume: bool = False) -> JobOutcome:
    now = timezone.now()
    job = grading_job_claim(job_id=job_id, now=now, resume=resume)
    if job is None:
        return JobOutcome(job_id=job_id, ran=False)
    if submission_result(submission=job.submission) is not None:
        # An earlier attempt stored the verdict after its lease had passed. (One storing
        # it from now on makes this attempt's insert fail: still one verdict.)
        _job_finish(job=job, state=JobState.SUCCEEDED, now=timezone.now())
        return JobOutcome(job_id=job_id, ran=False, status=SubmissionStatus.GRADED)
    try:
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
    )
    sandbox_seconds = time.perf_counter() - started
    verdict = judge(checks=checks, expected=key.expected, runs=runs, limits=limits, variant=submission.variant)
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
        job = GradingJob.objects.select_related("submission").get(pk=job_id)
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
        enqueue_on_commit(task=GRADE_TASK, args=[retry.pk], countdown=delay.total_seconds())
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
    missing = _messages_missing(now=now)
    keys_resent = _exercise_keys_sweep(now=now, redeliver_before=redeliver_before, missing=missing)
    resent = _jobs_resend(now=now, redeliver_before=redeliver_before, missing=missing - keys_resent)
    if lost or resent or keys_resent:
        logger.warning("sweep: %s lost job(s) retried, %s job(s) and %s key(s) resent", lost, resent, keys_resent)
    return SweepReport(lost=lost, resent=resent, keys_resent=keys_resent)


def _messages_missing(*, now: datetime) -> int:
    """How many messages the grading queue lacks: one is owed per due queued job and per
    pending key, and those waiting in the queue are counted; a worker holds the others
    only for moments (one per free process: prefetch 1), so a shortfall is what the broker
    lost. Counting keeps a backlog from being resent: in a burst every job's message is
    old, but it is still in the queue. 0 when the broker cannot be asked."""
    waiting = queue_length(queue=Queue.GRADING)
    if waiting is None:
        return 0  # a broker that does not answer cannot take a resend either
    owed = GradingJob.objects.filter(state=JobState.QUEUED, available_at__lte=now).count()
    owed += ExerciseKey.objects.filter(status=KeyStatus.PENDING).count()
    return max(0, owed - waiting)


def _jobs_resend(*, now: datetime, redeliver_before: datetime, missing: int) -> int:
    """Send again, oldest first, up to `missing` queued jobs whose message went out before
    `redeliver_before` and is still unclaimed (the queue is first in, first out, so the
    oldest are those the broker lost)."""
    if missing <= 0:
        return 0
    stale = (
        GradingJob.objects.filter(state=JobState.QUEUED, enqueued_at__lt=redeliver_before, available_at__lte=now)
        .order_by("enqueued_at", "pk")
        .values_list("pk", flat=True)
    )
    resent = 0
    for job_id in list(stale[: min(missing, 1000)]):
        if GradingJob.objects.filter(pk=job_id, state=JobState.QUEUED).update(enqueued_at=now) == 1:
            resent += enqueue(task=GRADE_TASK, args=[job_id])
    return resent


# --- Validating exercises --------------------------------------------------------------


# A validation has no heartbeat: one claimed this long ago is presumed lost with its worker.
KEY_VALIDATION_LEASE = timedelta(minutes=2)


def _exercise_keys_sweep(*, now: datetime, redeliver_before: datetime, missing: int) -> int:
    ExerciseKey.objects.filter(status=KeyStatus.RUNNING, claimed_at__lt=now - KEY_VALIDATION_LEASE).update(
        status=KeyStatus.PENDING, claimed_at=None
    )
    if missing <= 0:
        return 0
    resent = 0
    for key_id in ExerciseKey.objects.filter(status=KeyStatus.PENDING, created_at__lt=redeliver_before).values_list(
        "pk", flat=True
    )[: min(missing, 100)]:
        resent += enqueue(task=VALIDATE_TASK, args=[key_id])
    return resent


def exercise_key_validate(*, key_id: int, runner: SandboxRunner = _default_runner) -> str | None:
    """Run the reference solution and make its results the key; None when not ours to run.

    Raises SandboxUnavailable (after putting the key back to pending) for the task to
    retry later.
    """
    now = timezone.now()
    if (
        ExerciseKey.objects.filter(pk=key_id, status=KeyStatus.PENDING).update(status=KeyStatus.RUNNING, claimed_at=now)
        != 1
    ):
        return None
    key = ExerciseKey.objects.get(pk=key_id)
    checks, limits = _grading_plan(key=key)
    try:
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
