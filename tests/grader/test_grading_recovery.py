"""Recovering in seconds: heartbeats that keep a running job's lease, the sweeper retrying a
job whose lease passed at once, resending only what the broker lost, and grading tasks
that keep their message while the database is away. The real processes (a worker killed
with SIGKILL, Redis restarted, the database cut off) are in tests/workers/test_recovery.py."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from celery.exceptions import Reject
from django.db import OperationalError
from django.test import override_settings
from django.utils import timezone

import grader.tasks
from grader.grading import grading_job_claim, grading_job_run, grading_jobs_sweep, submission_create
from grader.models import GradingJob, GradingResult, JobState, Submission, SubmissionStatus
from tests.exercises import make_exercise
from workers.sandbox.protocol import CallOutcome, SandboxJob, SandboxRun

NINE = {"shape": None, "values": 9.0}


def perfect_run(job: SandboxJob) -> SandboxRun:
    return SandboxRun(calls={call.id: CallOutcome(id=call.id, value=9.0) for call in job.calls})


def new_submission(user) -> Submission:
    exercise = make_exercise(expected={"three": NINE, "hidden-negative": NINE, "vector": NINE})
    return submission_create(user=user, exercise=exercise, code="def square(x):\n    return 9.0\n")


@pytest.fixture
def submission(student) -> Submission:
    return new_submission(student)


def job_of(submission: Submission, attempt: int = 1) -> GradingJob:
    return GradingJob.objects.get(submission=submission, attempt=attempt)


@pytest.fixture
def broker_holds(monkeypatch):
    """broker_holds(n): the grading queue holds n messages, as far as the sweeper asks."""

    def hold(waiting: int | None) -> None:
        monkeypatch.setattr("grader.grading.queue_length", lambda queue: waiting)

    return hold


# --- Leases and heartbeats ---------------------------------------------------------------


@override_settings(GRADING_LEASE_SECONDS=10)
def test_a_claim_takes_a_lease_of_seconds_not_of_the_time_limit(submission):
    now = timezone.now()
    grading_job_claim(job_id=job_of(submission).pk, now=now)
    assert job_of(submission).lease_expires_at == now + timedelta(seconds=10)


@pytest.mark.django_db(transaction=True)  # the heartbeat thread has a connection of its own
@override_settings(GRADING_HEARTBEAT_SECONDS=1, GRADING_LEASE_SECONDS=2)
def test_heartbeats_keep_a_long_job_from_passing_for_lost(student):
    submission = new_submission(student)
    swept = []

    def slow_run(job: SandboxJob) -> SandboxRun:
        time.sleep(3.5)  # well past the first lease of 2 s
        swept.append(grading_jobs_sweep(now=timezone.now()).lost)
        return perfect_run(job)

    assert grading_job_run(job_id=job_of(submission).pk, runner=slow_run).status == SubmissionStatus.GRADED
    assert swept == [0]
    job = job_of(submission)
    assert job.state == JobState.SUCCEEDED
    assert job.heartbeat_at is not None
    assert job.heartbeat_at > job.started_at + timedelta(seconds=2)
    assert not GradingJob.objects.filter(submission=submission, attempt=2).exists()


@override_settings(GRADING_HEARTBEAT_SECONDS=1, GRADING_LEASE_SECONDS=2)
def test_a_heartbeat_that_cannot_reach_the_database_keeps_trying(monkeypatch):
    import grader.grading

    renewals = []

    def renew(*, job_id: int, now: object) -> bool:
        renewals.append(job_id)
        if len(renewals) == 1:
            raise OperationalError("connection refused")
        return len(renewals) < 3  # then the job is found finished: the thread ends

    monkeypatch.setattr(grader.grading, "_lease_renew", renew)
    stop = threading.Event()
    beating = threading.Thread(target=grader.grading._heartbeats, kwargs={"job_id": 5, "stop": stop})
    beating.start()
    beating.join(timeout=10)
    assert not beating.is_alive()
    assert renewals == [5, 5, 5]


@override_settings(GRADING_LEASE_SECONDS=10, GRADING_RETRY_BACKOFF_SECONDS=300)
def test_a_job_whose_heartbeats_stopped_is_retried_at_once_when_its_lease_passes(submission):
    claimed = timezone.now()
    grading_job_claim(job_id=job_of(submission).pk, now=claimed)  # and then its worker is killed
    assert grading_jobs_sweep(now=claimed + timedelta(seconds=9)).lost == 0
    swept = claimed + timedelta(seconds=11)
    assert grading_jobs_sweep(now=swept).lost == 1
    lost, retry = job_of(submission), job_of(submission, 2)
    assert lost.state == JobState.FAILED
    assert "lease expired" in lost.error
    # A lost worker is not a grader error: no backoff (the lease was the wait).
    assert retry.state == JobState.QUEUED
    assert retry.available_at == swept


def test_a_sweeper_that_finds_the_lease_renewed_meanwhile_leaves_the_job_alone(submission):
    """The sweeper lists expired leases, then fails each: a heartbeat in between wins."""
    from grader.grading import grading_job_fail

    claimed = timezone.now()
    grading_job_claim(job_id=job_of(submission).pk, now=claimed)  # its lease runs past `claimed`
    status = grading_job_fail(job_id=job_of(submission).pk, error="lost?", now=claimed, lost=True)
    assert status == SubmissionStatus.RUNNING
    assert job_of(submission).state == JobState.RUNNING
    assert not GradingJob.objects.filter(submission=submission, attempt=2).exists()


def test_a_run_cut_short_by_a_database_outage_resumes_its_own_job_only(submission):
    now = timezone.now()
    job = grading_job_claim(job_id=job_of(submission).pk, now=now)
    assert job is not None  # ... and the database went away before the verdict was stored
    assert grading_job_claim(job_id=job.pk, now=now) is None  # a duplicate message: not ours to run
    assert grading_job_claim(job_id=job.pk, now=now, resume=True) is not None  # this task, run again
    GradingJob.objects.filter(pk=job.pk).update(worker="elsewhere:1")
    assert grading_job_claim(job_id=job.pk, now=now, resume=True) is None  # another process's job
    outcome = grading_job_run(job_id=job.pk, runner=perfect_run, resume=True)
    assert outcome.ran is False


# --- Resending what the broker lost -----------------------------------------------------


def queued_jobs(student, count: int, *, sent_ago: timedelta) -> list[GradingJob]:
    jobs = []
    for n in range(count):
        job = job_of(new_submission(student))
        # Oldest first: the first job's message went out first.
        GradingJob.objects.filter(pk=job.pk).update(
            enqueued_at=timezone.now() - sent_ago - timedelta(seconds=count - n)
        )
        jobs.append(job)
    return jobs


@override_settings(GRADING_REDELIVER_AFTER_SECONDS=10)
def test_a_backlog_still_in_the_broker_is_not_resent_however_old(student, broker_holds):
    """In a burst every job's message is older than the redeliver interval, but it is
    waiting in the queue: resending it would only make the burst longer."""
    queued_jobs(student, 5, sent_ago=timedelta(minutes=5))
    broker_holds(5)
    assert grading_jobs_sweep(now=timezone.now()).resent == 0


@override_settings(GRADING_REDELIVER_AFTER_SECONDS=10)
def test_what_the_broker_lost_is_resent_oldest_first(student, broker_holds):
    jobs = queued_jobs(student, 5, sent_ago=timedelta(seconds=30))
    broker_holds(2)  # a restart lost three messages: the oldest, since the queue is first in, first out
    now = timezone.now()
    assert grading_jobs_sweep(now=now).resent == 3
    resent = {job.pk for job in GradingJob.objects.filter(enqueued_at=now)}
    assert resent == {job.pk for job in jobs[:3]}
    broker_holds(5)  # the resent messages are in the queue now
    assert grading_jobs_sweep(now=now + timedelta(seconds=30)).resent == 0


@override_settings(GRADING_REDELIVER_AFTER_SECONDS=10)
def test_a_message_sent_moments_ago_is_left_to_arrive(student, broker_holds):
    queued_jobs(student, 2, sent_ago=timedelta(seconds=1))
    broker_holds(0)  # not in the queue yet: published after the commit, or being taken
    assert grading_jobs_sweep(now=timezone.now()).resent == 0


@override_settings(GRADING_REDELIVER_AFTER_SECONDS=10)
def test_nothing_is_resent_while_the_broker_does_not_answer(student, broker_holds):
    queued_jobs(student, 2, sent_ago=timedelta(minutes=1))
    broker_holds(None)
    assert grading_jobs_sweep(now=timezone.now()).resent == 0


@pytest.mark.django_db(transaction=True)
def test_deliveries_racing_for_one_job_record_one_verdict(student):
    """What resending early costs: duplicates, which conditional claims make harmless."""
    submission = new_submission(student)
    job_id = job_of(submission).pk
    outcomes = []
    start = threading.Barrier(6)

    def deliver() -> None:
        from django.db import connection

        start.wait()
        try:
            outcomes.append(grading_job_run(job_id=job_id, runner=perfect_run).ran)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False] * 5 + [True]
    assert GradingResult.objects.filter(submission=submission).count() == 1
    assert list(GradingJob.objects.filter(submission=submission).values_list("state", flat=True)) == [
        JobState.SUCCEEDED
    ]


# --- The database away ---------------------------------------------------------------------


@pytest.fixture
def outage(monkeypatch):
    """The grading service fails as with the database gone until `back` runs out of probes."""
    calls = []

    def run(*, job_id: int, resume: bool, arrived_on: str | None = None) -> None:
        calls.append((job_id, resume))
        if len(calls) == 1:
            raise OperationalError("connection refused")

    monkeypatch.setattr(grader.tasks, "grading_job_run", run)
    return calls


def test_a_task_that_cannot_reach_the_database_waits_for_it_then_runs(outage, monkeypatch, settings):
    settings.GRADING_DATABASE_WAIT_SECONDS = 30
    monkeypatch.setattr(grader.tasks, "database_reachable", lambda: False)
    monkeypatch.setattr(grader.tasks, "database_wait", lambda seconds: True)
    grader.tasks.grade_submission(7)
    assert outage == [(7, False), (7, True)]  # the second run may resume what the first had claimed


def test_a_task_hands_its_message_back_when_the_database_stays_away(outage, monkeypatch):
    monkeypatch.setattr(grader.tasks, "database_reachable", lambda: False)
    monkeypatch.setattr(grader.tasks, "database_wait", lambda seconds: False)
    with pytest.raises(Reject) as rejected:
        grader.tasks.grade_submission(7)
    assert rejected.value.requeue is True  # back to the broker, not acknowledged and lost
    assert outage == [(7, False)]


def test_a_database_error_while_the_database_answers_is_an_ordinary_failure(outage, monkeypatch):
    monkeypatch.setattr(grader.tasks, "database_reachable", lambda: True)
    with pytest.raises(OperationalError):
        grader.tasks.grade_submission(7)
    assert outage == [(7, False)]
