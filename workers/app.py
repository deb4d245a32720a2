from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery
from celery.signals import task_prerun, worker_init, worker_process_init, worker_process_shutdown

from workers.queues import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("grader")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["grader", "lti"])

logger = logging.getLogger(__name__)


def _consumes_grading(worker: Any) -> bool:
    queues = getattr(getattr(getattr(worker, "app", None), "amqp", None), "queues", None)
    consumed = queues.consume_from if queues is not None else None
    return consumed is None or Queue.GRADING in consumed


@worker_init.connect
def refuse_to_grade_without_a_sandbox(sender: Any = None, **_: Any) -> None:
    """A worker that would run student code checks, before taking any job, that it can
    build the sandbox; if not, it stops and says why instead of failing every job."""
    if not _consumes_grading(sender):
        return
    from workers.sandbox import sandbox_check, sandbox_shutdown
    from workers.sandbox.protocol import SandboxUnavailable

    try:
        sandbox_check()
    except SandboxUnavailable as exc:
        message = f"This worker consumes the '{Queue.GRADING}' queue but cannot build its sandbox: {exc}"
        raise SystemExit(message) from None
    finally:
        sandbox_shutdown()  # the pool's processes build their own after forking


@task_prerun.connect
def reuse_or_renew_database_connections(**_: Any) -> None:
    """What Django does at the start of a request: drop connections that are too old or
    broken (CONN_MAX_AGE, CONN_HEALTH_CHECKS), keep the rest for this task."""
    from django.db import close_old_connections

    close_old_connections()


@worker_process_init.connect
def start_sandbox_early(**_: Any) -> None:
    """Build this pool process's sandbox now, so the first submission does not wait."""
    from workers.sandbox import sandbox_run
    from workers.sandbox.protocol import SandboxJob

    try:
        sandbox_run(job=SandboxJob(code="", entry_points=(), calls=()))
    except Exception:  # the first job will try again and report properly
        logger.warning("could not start the sandbox in this worker process", exc_info=True)


@worker_process_shutdown.connect
def stop_sandbox(**_: Any) -> None:
    from workers.sandbox import sandbox_shutdown

    sandbox_shutdown()
