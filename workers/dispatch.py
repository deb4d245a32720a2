"""Ringing the queue's doorbell once the database has the work.

Tasks are sent by name so that the apps which create work need not import the tasks
module (and its Celery machinery). A message that fails to send is not an error for the
request that caused it: the row is committed and the sweeper sends it again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from kombu.exceptions import ChannelError

from workers.app import app

logger = logging.getLogger(__name__)

# The tasks that are sent by name (grader.tasks defines them under these names).
GRADE_TASK = "grader.grade_submission"
VALIDATE_TASK = "grader.validate_exercise_key"


def enqueue(*, task: str, args: Sequence[object], countdown: float = 0, queue: str | None = None) -> bool:
    """Send now (to `queue`, else the task's route); False (and a log line) when the
    broker cannot be reached."""
    try:
        if queue:
            app.send_task(task, args=list(args), countdown=countdown or None, queue=queue)
        else:
            app.send_task(task, args=list(args), countdown=countdown or None)
    except Exception:  # the broker is down or unreachable: the sweeper will resend
        logger.warning("could not enqueue %s%s; the sweeper will retry", task, tuple(args), exc_info=True)
        return False
    return True


def enqueue_on_commit(*, task: str, args: Sequence[object], countdown: float = 0, queue: str | None = None) -> None:
    transaction.on_commit(lambda: enqueue(task=task, args=args, countdown=countdown, queue=queue))


def queue_length(*, queue: str) -> int | None:
    """Messages waiting in `queue` for a worker to take them (not those a worker holds);
    None when the broker cannot be asked (within the broker's connect timeout)."""
    try:
        with app.connection_for_read() as connection:  # its own: a pooled one may predate a restart
            channel: Any = connection.default_channel  # a kombu virtual channel (Redis, filesystem)
            return int(channel.queue_declare(queue=queue, passive=True).message_count)
    except ChannelError:
        return 0  # kombu's Redis transport: an empty queue is no queue
    except Exception:
        logger.warning("could not ask the broker how many messages %r holds", queue, exc_info=True)
        return None
