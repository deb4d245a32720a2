"""Celery tasks: thin wrappers that call services. Ids in, nothing out (results are ignored:
the database holds the truth). Names are explicit and stable: messages outlive deploys."""

from __future__ import annotations

from celery import Task, shared_task
from django.utils import timezone

from grader.grading import exercise_key_validate, grading_job_run, grading_jobs_sweep
from grader.services import attempts_expire_overdue
from workers.dispatch import GRADE_TASK, VALIDATE_TASK
from workers.sandbox.protocol import SandboxUnavailable


@shared_task(name="grader.expire_overdue_attempts", ignore_result=True)
def expire_overdue_attempts() -> int:
    return attempts_expire_overdue(now=timezone.now())


@shared_task(name=GRADE_TASK, ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def grade_submission(job_id: int) -> None:
    # Grader-side failures are retried by the service as new job rows (with backoff), so
    # history shows every attempt; nothing is retried at the Celery level.
    grading_job_run(job_id=job_id)


@shared_task(
    bind=True,
    name=VALIDATE_TASK,
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=5,
)
def validate_exercise_key(self: Task[..., None], key_id: int) -> None:
    try:
        exercise_key_validate(key_id=key_id)
    except SandboxUnavailable as exc:
        raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc


@shared_task(name="grader.sweep_grading_jobs", ignore_result=True)
def sweep_grading_jobs() -> None:
    grading_jobs_sweep(now=timezone.now())
