from __future__ import annotations

import logging
import os
from typing import Any

import kombu
from celery import Celery
from celery.app.amqp import AMQP
from celery.signals import task_prerun, worker_init, worker_process_init, worker_process_shutdown

from workers.environments import DEFAULT_ENVIRONMENT
from workers.queues import grading_environment, grading_queue

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


# The environments this worker grades (from the grading queues it consumes), set at its
# start and inherited by its pool processes.
served_environments: list[str] = []


def _grading_queues(worker: Any) -> list[str]:
    queues = getattr(getattr(getattr(worker, "app", None), "amqp", None), "queues", None)
    consumed = queues.consume_from if queues is not None else None
    if consumed is None:
        return [grading_queue(DEFAULT_ENVIRONMENT)]  # no -Q given: treat it as a grading worker
    return [name for name in consumed if grading_environment(name) is not None]


@worker_init.connect
def refuse_to_grade_without_a_sandbox(sender: Any = None, **_: Any) -> None:
    """A worker that would run student code checks, before taking any job, that it can
    build the sandbox of every environment it consumes a queue of; if not, it stops and
    says why (and how to install what is missing) instead of failing every job."""
    from workers.sandbox import sandbox_check, sandbox_shutdown
    from workers.sandbox.protocol import SandboxUnavailable

    served_environments.clear()
    try:
        for queue in _grading_queues(sender):
            environment = grading_environment(queue) or DEFAULT_ENVIRONMENT
            try:
                info = sandbox_check(environment=environment)
            except SandboxUnavailable as exc:
                raise SystemExit(
                    f"This worker consumes the '{queue}' queue but cannot build its sandbox: {exc}"
                ) from None
            served_environments.append(environment)
            logger.info("sandbox for %s ready: %s", environment, info)
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
    """Build this pool process's sandboxes now, so the first submission does not wait
    (for the heavy environments, seconds of imports)."""
    from workers.sandbox import sandbox_run
    from workers.sandbox.protocol import SandboxJob

    for environment in served_environments:
        try:
            sandbox_run(job=SandboxJob(code="", entry_points=(), calls=()), environment=environment)
        except Exception:  # the first job will try again and report properly
            logger.warning("could not start the %s sandbox in this worker process", environment, exc_info=True)


@worker_process_shutdown.connect
def stop_sandbox(**_: Any) -> None:
    from workers.sandbox import sandbox_shutdown

    sandbox_shutdown()
