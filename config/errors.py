"""The one error type services raise when they refuse a request.

Services know *why* they refuse (kind, code, message); the API layer turns the kind into
an HTTP status. Nothing is written when a ServiceError is raised: services raise before
their transaction or inside it, so it rolls back.
"""

from __future__ import annotations

import enum


class Refusal(enum.IntEnum):
    INVALID = 400
    FORBIDDEN = 403
    NOT_FOUND = 404
    CONFLICT = 409


def summarize_errors(errors: dict[str, list[str]]) -> str:
    """The first problem as one sentence: 'answers[0].question: Question 9 is not …'."""
    path, messages = next(iter(errors.items()))
    return f"{path}: {messages[0]}" if path else messages[0]


class ServiceError(Exception):
    def __init__(
        self,
        *,
        kind: Refusal,
        code: str,
        message: str,
        errors: dict[str, list[str]] | None = None,
        extra: dict[str, object] | None = None,
    ):
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.message = message
        self.errors = errors or {}
        self.extra = extra or {}

    @classmethod
    def invalid(cls, errors: dict[str, list[str]]) -> ServiceError:
        return cls(kind=Refusal.INVALID, code="invalid", message=summarize_errors(errors), errors=errors)
