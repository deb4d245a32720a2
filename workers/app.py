from __future__ import annotations

import logging
import os
from typing import Any

import kombu
from celery import Celery
from celery.app.amqp import AMQP
from celery.signals import task_prerun, worker_init, worker_process_init, worker_process_shutdown

from workers.queues import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# How often a worker (or beat) that lost the broker tries it again.
BROKER_RECONNECT_SECONDS = 2


class _BrokerConnection(kombu.Connection):
    """kombu's connection, retrying a lost broker every BROKER_RECONNECT_SECONDS rather than
    backing off 2, 4, 6 ... 30 s: after a longer outage the worker would otherwise come
    back up to 30 s after the broker did, and the messages the broker lost are resent
    only once a worker takes the sweeper's task."""

    def ensure_connection(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("interval_start", 1)
        kwargs.setdefault("interval_step", 1)
        kwargs.setdefault("interval_max", BROKER_RECONNECT_SECONDS)
        return super().ensure_connection(*args, **kwargs)


class _Amqp(AMQP):
    Connection = _BrokerConnection


app = Celery("grader", amqp=_Amqp)
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
