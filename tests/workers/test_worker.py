"""The Celery app as operators run it: a separate worker process, the configured broker
(Redis in CI, the filesystem transport on the embedded defaults) and the real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from grader.models import Attempt, AttemptState
from grader.services import attempt_start
from grader.tasks import expire_overdue_attempts
from tests.factories import UserFactory
from tests.workers.conftest import wait_for
from workers import app
from workers.queues import Queue, grading_queue

NUMPY_QUEUE = grading_queue("numpy")

pytestmark = pytest.mark.worker


def test_it_is_the_app_that_celery_dash_a_workers_loads():
    assert app.main == "grader"
    assert "grader.expire_overdue_attempts" in app.tasks
    assert {q.value for q in Queue} == {"default"}
    assert grading_queue("torch") == "grading.torch"
    assert app.conf.task_routes["grader.grade_submission"] == {"queue": NUMPY_QUEUE}
    assert app.conf.task_acks_late
    assert app.conf.task_reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1
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
