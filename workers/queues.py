"""Queue names, in one place. Grading (long, sandboxed) gets its own queue so that it can
never starve the short housekeeping tasks, and vice versa."""

from __future__ import annotations

import enum


class Queue(enum.StrEnum):
    DEFAULT = "default"
    GRADING = "grading"
