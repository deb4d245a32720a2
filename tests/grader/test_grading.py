"""The grading pipeline's bookkeeping: claims, completion, retries and the sweeper.

The sandbox is replaced here by plain functions returning runs (or failing) so that each
path is exercised exactly; the real sandbox and real workers are in tests/workers/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from grader.grading import grading_job_claim, grading_job_run, grading_jobs_sweep, retry_delay, submission_create
from grader.models import GradingJob, GradingResult, JobState, Submission, SubmissionStatus
from grader.submission_apis import ERROR_SUMMARY
from tests.exercises import make_exercise
from workers.sandbox.protocol import CallOutcome, SandboxJob, SandboxRun, SandboxUnavailable, StudentError


def perfect_run(job: SandboxJob) -> SandboxRun:
    return SandboxRun(calls={call.id: CallOutcome(id=call.id, value=9.0) for call in job.calls})


def broken_sandbox(job: SandboxJob) -> SandboxRun:
    raise SandboxUnavailable("the zygote died")


@pytest.fixture
def submission(student) -> Submission:
    nine = {"shape": None, "values": 9.0}
    exercise = make_exercise(expected={"three": nine, "hidden-negative": nine, "vector": nine})
    return submission_create(user=student, exercise=exercise, code="def square(x):\n    return 9.0\n")


def job_of(submission: Submission, attempt: int = 1) -> GradingJob:
    return GradingJob.objects.get(submission=submission, attempt=attempt)


def test_a_job_is_claimed_once(submission):
    job = job_of(submission)
    now = timezone.now()
    assert grading_job_claim(job_id=job.pk, now=now) is not None
    assert grading_job_claim(job_id=job.pk, now=now) is None
    job.refresh_from_db()
    assert job.state == JobState.RUNNING
    assert job.lease_expires_at > now
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.RUNNING


def test_a_job_is_not_claimed_before_it_is_due(submission):
    job = job_of(submission)
    GradingJob.objects.filter(pk=job.pk).update(available_at=timezone.now() + timedelta(minutes=1))
    assert grading_job_run(job_id=job.pk, runner=perfect_run).ran is False


def test_an_unknown_job_is_ignored(db):
    assert grading_job_run(job_id=424242, runner=perfect_run).ran is False


def test_running_a_job_records_one_verdict(submission):
    outcome = grading_job_run(job_id=job_of(submission).pk, runner=perfect_run)
    assert outcome.ran
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.GRADED
    assert submission.graded_at is not None
    result = submission.result
    assert result.score == result.max_score
    assert [check["name"] for check in result.checks] == ["three", "hidden-negative", "scalar", "vector"]
    assert set(result.timings) >= {"queue", "sandbox", "checks"}
    assert job_of(submission).state == JobState.SUCCEEDED


def test_a_second_delivery_of_the_same_job_changes_nothing(submission):
    job = job_of(submission)
    grading_job_run(job_id=job.pk, runner=perfect_run)
    again = grading_job_run(job_id=job.pk, runner=broken_sandbox)
    assert again.ran is False
    assert GradingResult.objects.filter(submission=submission).count() == 1


def test_a_late_attempt_after_a_verdict_records_no_second_one(submission):
    """A worker lost past its lease may still finish: whichever stores first wins."""
    job = job_of(submission)
    grading_job_claim(job_id=job.pk, now=timezone.now())
    # The sweeper gives up on it (no heartbeat for 5 minutes) and queues attempt 2 ...
    grading_jobs_sweep(now=timezone.now() + timedelta(minutes=5))
    retry = job_of(submission, attempt=2)
    # ... which runs and stores the verdict.
    GradingJob.objects.filter(pk=retry.pk).update(available_at=timezone.now())
    assert grading_job_run(job_id=retry.pk, runner=perfect_run).ran
    # Attempt 3 (a duplicate) finds the verdict and closes without running.
    GradingJob.objects.create(
        submission=submission, attempt=3, created_at=timezone.now(), available_at=timezone.now(),
        enqueued_at=timezone.now(),
    )  # fmt: skip
    assert grading_job_run(job_id=job_of(submission, attempt=3).pk, runner=broken_sandbox).ran is False
    assert GradingResult.objects.filter(submission=submission).count() == 1
    assert job_of(submission, attempt=3).state == JobState.SUCCEEDED


@override_settings(GRADING_MAX_ATTEMPTS=3, GRADING_RETRY_BACKOFF_SECONDS=5)
def test_grader_failures_retry_with_backoff_then_end_as_error(submission, student_api):
    before = timezone.now()
    status = grading_job_run(job_id=job_of(submission).pk, runner=broken_sandbox).status
    assert status == SubmissionStatus.QUEUED
    first, second = job_of(submission, 1), job_of(submission, 2)
    assert first.state == JobState.FAILED
    assert "zygote died" in first.error
    assert second.state == JobState.QUEUED
    assert second.available_at >= before + timedelta(seconds=5)
    # Not due yet: a delivery now does nothing.
    assert grading_job_run(job_id=second.pk, runner=broken_sandbox).ran is False

    GradingJob.objects.filter(pk=second.pk).update(available_at=timezone.now())
    grading_job_run(job_id=second.pk, runner=broken_sandbox)
    third = job_of(submission, 3)
    assert third.available_at - third.created_at >= timedelta(seconds=10)
    GradingJob.objects.filter(pk=third.pk).update(available_at=timezone.now())
    assert grading_job_run(job_id=third.pk, runner=broken_sandbox).status == SubmissionStatus.ERROR

    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.ERROR
    assert not GradingJob.objects.filter(submission=submission, attempt=4).exists()
    body = student_api.get(f"/api/v1/submissions/{submission.pk}/").json()
    assert body["status"] == "error"
    assert body["score"] is None
    assert body["summary"] == ERROR_SUMMARY


def test_retry_delay_doubles_and_is_capped():
    with override_settings(GRADING_RETRY_BACKOFF_SECONDS=5):
        assert [retry_delay(attempt=n).total_seconds() for n in (1, 2, 3)] == [5, 10, 20]
        assert retry_delay(attempt=30).total_seconds() == 600


def test_the_sweeper_retries_a_job_whose_worker_vanished(submission):
    job = job_of(submission)
    grading_job_claim(job_id=job.pk, now=timezone.now())
    assert grading_jobs_sweep(now=timezone.now()).lost == 0  # the lease still holds
    report = grading_jobs_sweep(now=timezone.now() + timedelta(hours=1))
    assert report.lost == 1
    assert job_of(submission).state == JobState.FAILED
    assert job_of(submission, 2).state == JobState.QUEUED
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.QUEUED


def test_the_sweeper_resends_queued_jobs_whose_message_may_be_lost(submission, monkeypatch):
    monkeypatch.setattr("grader.grading.queue_length", lambda queue: 0)  # the broker lost the message
    job = job_of(submission)
    assert grading_jobs_sweep(now=timezone.now()).resent == 0
    later = timezone.now() + timedelta(minutes=5)
    assert grading_jobs_sweep(now=later).resent in (0, 1)  # 0 only if no broker answers
    job.refresh_from_db()
    assert job.enqueued_at == later
    # Resent once per interval, not at every sweep.
    assert grading_jobs_sweep(now=later + timedelta(seconds=1)).resent == 0


def test_text_from_the_sandbox_is_stored_even_with_nul_bytes(submission):
    """PostgreSQL refuses NUL in text and JSON; a student printing one must still get a verdict."""

    def noisy_run(job: SandboxJob) -> SandboxRun:
        calls = {call.id: CallOutcome(id=call.id, value=9.0) for call in job.calls}
        calls["three"] = CallOutcome(id="three", error=StudentError(type="ValueError", message="bad\x00byte"))
        return SandboxRun(calls=calls, output="\x00\x00\x00\x1a{fake frame}\ud800")

    assert grading_job_run(job_id=job_of(submission).pk, runner=noisy_run).status == SubmissionStatus.GRADED
    result = GradingResult.objects.get(submission=submission)
    assert "\x00" not in result.output
    assert "{fake frame}" in result.output
    three = next(check for check in result.checks if check["name"] == "three")
    assert three["message"] == "raised ValueError: bad\ufffdbyte"


@override_settings(GRADING_MAX_ATTEMPTS=2, GRADING_RETRY_BACKOFF_SECONDS=0)
def test_a_crash_in_the_grader_ends_the_attempt_at_once_and_retries(submission):
    def buggy_run(job: SandboxJob) -> SandboxRun:
        raise RuntimeError("a bug on our side")

    assert grading_job_run(job_id=job_of(submission).pk, runner=buggy_run).status == SubmissionStatus.QUEUED
    first = job_of(submission)
    assert first.state == JobState.FAILED
    assert first.error == "RuntimeError: a bug on our side"
    assert grading_job_run(job_id=job_of(submission, 2).pk, runner=perfect_run).status == SubmissionStatus.GRADED


@override_settings(GRADING_MAX_ATTEMPTS=2, GRADING_RETRY_BACKOFF_SECONDS=0)
def test_a_conflict_that_is_not_an_earlier_verdict_is_retried_not_taken_for_one(submission, monkeypatch):
    """The verdict's transaction also records passbacks; a constraint failing there must
    not pass for "another attempt stored the verdict" and leave the submission ungraded."""
    from django.db import IntegrityError

    def conflict(**kwargs: object) -> None:
        raise IntegrityError("a constraint of the passback's")

    import grader.grading

    record_passbacks = grader.grading.passbacks_record_for_result
    monkeypatch.setattr(grader.grading, "passbacks_record_for_result", conflict)
    assert grading_job_run(job_id=job_of(submission).pk, runner=perfect_run).status == SubmissionStatus.QUEUED
    assert job_of(submission).state == JobState.FAILED
    assert "IntegrityError" in job_of(submission).error
    monkeypatch.setattr(grader.grading, "passbacks_record_for_result", record_passbacks)
    assert grading_job_run(job_id=job_of(submission, 2).pk, runner=perfect_run).status == SubmissionStatus.GRADED


def test_a_reference_whose_messages_hold_nul_bytes_still_ends_its_validation(db):
    """PostgreSQL refuses NUL: the key must still end (invalid, with the message), not stay
    running for the sweeper to retry forever."""
    from grader.grading import exercise_key_validate
    from questions.models import ExerciseKey, KeyStatus
    from questions.services import exercise_key_ensure
    from tests.exercises import SQUARE

    exercise = make_exercise(SQUARE)
    ExerciseKey.objects.all().delete()
    key = exercise_key_ensure(exercise=exercise)

    def failing_reference(job: SandboxJob) -> SandboxRun:
        error = StudentError(type="ValueError", message="bad\x00value")
        return SandboxRun(calls={call.id: CallOutcome(id=call.id, error=error) for call in job.calls})

    assert exercise_key_validate(key_id=key.pk, runner=failing_reference) == KeyStatus.INVALID
    key.refresh_from_db()
    assert key.status == KeyStatus.INVALID
    assert "\x00" not in str(key.report)
