"""Celery tasks of the LMS integration: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from lti.tool_conf import launch_data_purge


@shared_task(name="lti.purge_launch_data", ignore_result=True)
def purge_launch_data() -> int:
    return launch_data_purge(now=timezone.now())
