"""Queue names, in one place: settings route tasks by these names and every worker
command line (scripts/run-dev.sh, docker-compose.yml, the worker tests) consumes them."""

from __future__ import annotations

import enum


class Queue(enum.StrEnum):
    DEFAULT = "default"
    # Code grading and exercise validation: long, CPU-bound and sandboxed, so kept apart
    # from quick housekeeping and consumed one message at a time (prefetch 1).
    GRADING = "grading"
