from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from config.api_errors import json_error


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
            limit = settings.API_MAX_BODY_BYTES
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
