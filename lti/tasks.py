"""Celery tasks of the LMS integration: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from lti.passback import SEND_PASSBACK_TASK, passback_send, passbacks_sweep
from lti.tool_conf import launch_data_purge


@shared_task(name="lti.purge_launch_data", ignore_result=True)
def purge_launch_data() -> int:
    return launch_data_purge(now=timezone.now())


@shared_task(name=SEND_PASSBACK_TASK, ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def send_passback(passback_id: int) -> None:
    # Failures are retried by the service (the row goes back to pending with backoff and
    # the sweep rings it when due), never at the Celery level.
    passback_send(passback_id=passback_id, now=timezone.now())


@shared_task(name="lti.sweep_passbacks", ignore_result=True)
def sweep_passbacks() -> None:
    passbacks_sweep(now=timezone.now())
