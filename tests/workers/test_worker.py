"""The Celery app as operators run it: a separate worker process, the configured broker
(Redis in CI, the filesystem transport on the embedded defaults) and the real database."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from grader.models import Attempt, AttemptState
from grader.services import attempt_start
from grader.tasks import expire_overdue_attempts
from tests.factories import UserFactory
from workers import app
from workers.queues import Queue

pytestmark = pytest.mark.worker


def wait_for(condition, *, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_it_is_the_app_that_celery_dash_a_workers_loads():
    assert app.main == "grader"
    assert "grader.expire_overdue_attempts" in app.tasks
    assert {q.value for q in Queue} == {"default"}
    assert app.conf.task_default_queue == Queue.DEFAULT


def test_it_expires_overdue_attempts_in_a_worker_process(celery_worker, make_quiz, settings):
    settings.QUIZ_SUBMIT_GRACE_SECONDS = 0
    quiz = make_quiz(time_limit_minutes=1)
    overdue = attempt_start(quiz=quiz, user=UserFactory())
    current = attempt_start(quiz=quiz, user=UserFactory())
    Attempt.objects.filter(id=overdue.id).update(deadline_at=timezone.now() - timedelta(minutes=5))

    expire_overdue_attempts.delay()

    assert wait_for(lambda: Attempt.objects.get(id=overdue.id).state == AttemptState.EXPIRED), celery_worker.output()
    assert "grader.expire_overdue_attempts" in celery_worker.output()
    assert Attempt.objects.get(id=current.id).state == AttemptState.IN_PROGRESS
