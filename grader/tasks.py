"""Celery tasks: thin wrappers that call services. Ids in, nothing out (results are ignored:
the database holds the truth)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from grader.services import attempts_expire_overdue


@shared_task(name="grader.expire_overdue_attempts", ignore_result=True)
def expire_overdue_attempts() -> int:
    return attempts_expire_overdue(now=timezone.now())
