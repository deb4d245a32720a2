"""Whether this worker process can reach the database, and waiting until it can.

A grading task that cannot reach the database must not take the message and fail: with
acks_late the message would be acknowledged and gone, and its job would wait for the
sweeper. Instead the pool process keeps the message unacknowledged and waits here, and
since each process is sent one message at a time (prefetch 1), the worker takes no other
until the database answers again.
"""

from __future__ import annotations

import contextlib
import logging
import time

from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)

PROBE_INTERVAL_SECONDS = 0.5


def database_reachable() -> bool:
    """A round trip on a new connection (this thread's old one may be broken)."""
    with contextlib.suppress(DatabaseError):
        connection.close()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        with contextlib.suppress(DatabaseError):
            connection.close()
        return False
    return True


def database_wait(*, seconds: float) -> bool:
    """Until the database answers (True) or `seconds` have passed (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(PROBE_INTERVAL_SECONDS)
        if database_reachable():
            return True
    return False
