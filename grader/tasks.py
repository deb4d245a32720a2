"""Celery tasks: thin wrappers that call services. Ids in, nothing out (results are ignored:
the database holds the truth). Names are explicit and stable: messages outlive deploys."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from celery import Task, shared_task
from celery.exceptions import Reject
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from grader.check_runs import CHECK_RUN_TASK, check_run_execute
from grader.grading import exercise_key_validate, grading_job_run, grading_jobs_sweep
from grader.services import attempts_expire_overdue
from workers.database import database_reachable, database_wait
from workers.dispatch import GRADE_TASK, VALIDATE_TASK
from workers.sandbox.protocol import SandboxUnavailable

logger = logging.getLogger(__name__)


@shared_task(name="grader.expire_overdue_attempts", ignore_result=True)
def expire_overdue_attempts() -> int:
    return attempts_expire_overdue(now=timezone.now())


def _holding_the_message_while_the_database_is_unreachable(work: Callable[[bool], object]) -> None:
    """Run `work(False)`; if it fails because the database cannot be reached, keep this
    message (unacknowledged, so the worker takes no other) and run `work(True)` once the
    database answers, or hand the message back to the broker after
    GRADING_DATABASE_WAIT_SECONDS. Safe because every step of the work is a conditional
    claim: running it again after a failure half-way changes nothing the first run did."""
    deadline = time.monotonic() + settings.GRADING_DATABASE_WAIT_SECONDS
    again = False
    while True:
        try:
            work(again)
            return
        except (OperationalError, InterfaceError):
            if database_reachable():
                raise  # the database answers: a real failure, not an outage
            logger.warning("the database is unreachable; keeping this message until it answers")
            if not database_wait(seconds=deadline - time.monotonic()):
                raise Reject("the database is still unreachable; message handed back", requeue=True) from None
            logger.warning("the database answers again; running the task")
            again = True


def _arrived_on(task: Task[..., None]) -> str | None:
    """The queue this message was taken from."""
    info = task.request.delivery_info or {}
    queue = info.get("routing_key") or info.get("queue")
    return str(queue) if queue else None


@shared_task(bind=True, name=GRADE_TASK, ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def grade_submission(self: Task[..., None], job_id: int) -> None:
    # Grader-side failures are retried by the service as new job rows (with backoff), so
    # history shows every attempt; nothing is retried at the Celery level.
    # Run again after an outage, it resumes its job if the outage cut the first run short.
    queue = _arrived_on(self)
    _holding_the_message_while_the_database_is_unreachable(
        lambda again: grading_job_run(job_id=job_id, resume=again, arrived_on=queue)
    )


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
        queue = _arrived_on(self)
        _holding_the_message_while_the_database_is_unreachable(
            lambda _: exercise_key_validate(key_id=key_id, arrived_on=queue)
        )
    except SandboxUnavailable as exc:
        raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc


@shared_task(name=CHECK_RUN_TASK, ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def run_checks_for_student(check_run_id: int) -> None:
    # "Check my work": never retried (the student checks again); after a database outage
    # it resumes its own run, like grading.
    _holding_the_message_while_the_database_is_unreachable(
        lambda again: check_run_execute(check_run_id=check_run_id, resume=again)
    )


@shared_task(name="grader.sweep_grading_jobs", ignore_result=True)
def sweep_grading_jobs() -> None:
    grading_jobs_sweep(now=timezone.now())
