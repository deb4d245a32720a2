from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from config.api_errors import api_service_unavailable, json_error

logger = logging.getLogger(__name__)

# A WSGI environ key (request.META): the database error that an inner layer turned into
# Django's 500 or debug page, for DatabaseUnavailableMiddleware to answer instead.
_OUTAGE_KEY = "grader.database_outage"


def is_database_outage(exc: BaseException | None) -> bool:
    """The database could not be reached or the connection broke: temporary, retry later.

    OperationalError covers refused, timed-out and dropped connections (and, on SQLite, a
    lock held too long); InterfaceError a connection already closed under us. Both are
    the server's trouble, never the request's. SQLite also raises OperationalError for
    a query that names a missing table or column: a bug, which must stay a loud 500
    rather than pass for an outage.
    """
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return False
    return not str(exc).startswith(SQLITE_SCHEMA_ERRORS)


# SQLite's messages for a query the schema cannot answer (not a reachability problem).
SQLITE_SCHEMA_ERRORS = ("no such table", "no such column", "no such function", "near ", "table ")


def _remember_database_outage(sender: object, request: HttpRequest | None = None, **kwargs: Any) -> None:
    # Sent by Django while it handles the exception, so sys.exc_info() is that exception.
    exc = sys.exc_info()[1]
    if request is not None and is_database_outage(exc):
        request.META[_OUTAGE_KEY] = exc


got_request_exception.connect(_remember_database_outage, dispatch_uid="config.middleware.database_outage")


class DatabaseUnavailableMiddleware:
    """While the database is unreachable, answer 503 with Retry-After, never a 500.

    The API gets its JSON error shape, people a short "try again shortly" page; Django's
    HTML error and debug pages never show. A view's database error arrives here through
    process_exception. One raised in a middleware further in (LtiCookiesMiddleware looks
    into the session on the way out) has already become a 500 page when the response
    comes back through __call__: got_request_exception noted it on the request, and the
    page is replaced. Nothing is half-written: each service writes in one transaction,
    which PostgreSQL rolls back when its connection breaks (only a connection lost during
    COMMIT itself leaves a write that landed behind a 503).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        exc = request.META.pop(_OUTAGE_KEY, None)
        if exc is not None and response.status_code >= 500:
            return self._unavailable(request, exc)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_database_outage(exception):
            return None
        return self._unavailable(request, exception)

    def _unavailable(self, request: HttpRequest, exc: BaseException) -> HttpResponse:
        first_line = (str(exc).strip().splitlines() or [""])[0]
        logger.warning("database unavailable for %s %s: %s: %s", request.method, request.path,
                       exc.__class__.__name__, first_line)  # fmt: skip
        return api_service_unavailable(
            request,
            message="The service cannot reach its database at the moment.",
            retry_after=settings.OUTAGE_RETRY_AFTER_SECONDS,
        )


# The endpoints that take a Jupyter notebook, which may be larger than other API bodies;
# the margin covers the multipart envelope or the JSON around the notebook.
_NOTEBOOK_BODY_PATHS = re.compile(r"^/api/v1/exercises/[^/]+/(submissions|checks)/$")
_NOTEBOOK_BODY_MARGIN = 64 * 1024


def api_body_limit(*, path: str) -> int:
    """The largest body the API reads at `path`."""
    limit: int = settings.API_MAX_BODY_BYTES
    if _NOTEBOOK_BODY_PATHS.match(path):
        limit = max(limit, settings.SUBMISSION_MAX_NOTEBOOK_BYTES + _NOTEBOOK_BODY_MARGIN)
    return limit


class ApiBodySizeLimitMiddleware:
    """Refuse oversized API bodies with 413 before anything reads them.

    Django would raise RequestDataTooBig only once a view touches request.body, and only
    for form data; a declared Content-Length is enough to answer early and cheaply.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return json_error(message="Content-Length is not a number.", code="bad_request", status_code=400)
            limit = api_body_limit(path=request.path)
            if length > limit:
                return json_error(
                    message=f"The request body is {length} bytes; the limit is {limit} bytes.",
                    code="request_too_large",
                    status_code=413,
                )
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code == 404
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            # URL resolution failed before any API view ran (Django's own 404 page, HTML
            # in debug mode): API clients still get the JSON error shape.
            return json_error(message="Not found.", code="not_found", status_code=404)
        return response
