"""One JSON error shape for the whole API.

    {"detail": "<a sentence a person can act on>", "code": "<stable machine code>",
     "errors": {"<field path>": ["<message>", ...]}}   # "errors" only for invalid input

DRF's defaults differ per error kind ({"detail"}, {"field": [...]}, {"non_field_errors"}),
which every client then has to special-case.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.html import escape
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.errors import ServiceError, summarize_errors


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error structure into {"answers[0].question": ["..."]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int) or str(key).isdigit():
                path = f"{prefix}[{key}]"  # ListField reports its items' errors by index
            else:
                name = "" if key in ("non_field_errors", "__all__") else str(key)
                path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            for inner_path, messages in flatten_errors(value, path).items():
                flat.setdefault(inner_path, []).extend(messages)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            flat.setdefault(prefix, []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                if item:
                    for inner_path, messages in flatten_errors(item, f"{prefix}[{index}]").items():
                        flat.setdefault(inner_path, []).extend(messages)
    else:
        flat.setdefault(prefix, []).append(str(detail))
    return flat


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        body: dict[str, Any] = {"detail": exc.message, "code": exc.code, **exc.extra}
        if exc.errors:
            body["errors"] = exc.errors
        return Response(body, status=int(exc.kind))
    if isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError("The request body is too large or malformed.")
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail) or {"": ["Invalid input."]}
        response.data = {"detail": summarize_errors(errors), "code": "invalid", "errors": errors}
        return response
    detail = exc.detail
    message = str(detail) if not isinstance(detail, (dict, list)) else summarize_errors(flatten_errors(detail))
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    response.data = {"detail": message, "code": code}
    return response


def json_error(*, message: str, code: str, status_code: int) -> JsonResponse:
    return JsonResponse({"detail": message, "code": code}, status=status_code)


def api_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not request.path.startswith("/api/"):
        return defaults.page_not_found(request, exception or Http404())
    return json_error(message="Not found.", code="not_found", status_code=status.HTTP_404_NOT_FOUND)


def api_server_error(request: HttpRequest) -> HttpResponse:
    if not request.path.startswith("/api/"):
        return defaults.server_error(request)
    return json_error(
        message="Something went wrong on our side; it has been logged. Please try again.",
        code="server_error",
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def api_bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not request.path.startswith("/api/"):
        return defaults.bad_request(request, exception or SuspiciousOperation())
    return json_error(message="Bad request.", code="bad_request", status_code=status.HTTP_400_BAD_REQUEST)


# No template: rendering one could reach for the database (context processors, the
# user), which is what is missing. Plain words, no links that need the database either.
_UNAVAILABLE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Back in a moment</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem">
<h1>Back in a moment</h1>
<p>{message}</p>
<p>Please try again in {retry_after} seconds.</p>
</body></html>
"""


def api_service_unavailable(request: HttpRequest, *, message: str, retry_after: int) -> HttpResponse:
    """503 with Retry-After: JSON for the API, a short "try again" page for people."""
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = json_error(
            message=f"{message} Please try again in {retry_after} seconds.",
            code="service_unavailable",
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    else:
        page = _UNAVAILABLE_PAGE.format(message=escape(message), retry_after=retry_after)
        response = HttpResponse(page, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    return response
