"""Queue names, in one place: grading work is routed by these names and every worker
command line (scripts/run-dev.sh, docker-compose.yml, the worker tests) consumes them."""

from __future__ import annotations

import enum

GRADING_PREFIX = "grading"


class Queue(enum.StrEnum):
    DEFAULT = "default"


def grading_queue(environment: str) -> str:
    """Code grading, exercise validation and check runs in one environment: long,
    CPU-bound and sandboxed, so kept apart from quick housekeeping and consumed one
    message at a time (prefetch 1); one queue per environment, so that heavy
    environments run on the machines that have them (workers.environments)."""
    return f"{GRADING_PREFIX}.{environment}"


def grading_environment(queue: str) -> str | None:
    """The environment a grading queue serves; None for any other queue."""
    prefix = GRADING_PREFIX + "."
    return queue.removeprefix(prefix) if queue.startswith(prefix) else None
