"""The API's rate limits, applied to the pages' equivalent forms.

Without them the login page would be an unthrottled way to guess passwords and the
exercise page an unthrottled way to fill the grading queue. The cache keys are the
API's own, so a page and the API draw on one budget per address, username or student.
"""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle
from rest_framework.views import APIView

from accounts.throttles import LoginUsernameThrottle
from grader.check_run_apis import CheckRunThrottle
from grader.submission_apis import SubmissionThrottle


class LoginAddressThrottle(SimpleRateThrottle):
    """Login attempts per client address: the key ScopedRateThrottle gives the token API."""

    scope = "login"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginFormUsernameThrottle(LoginUsernameThrottle):
    """Login attempts per username, read from the form instead of a JSON body."""

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        username = request.POST.get("username")
        if not isinstance(username, str) or not username:
            return None
        return self.cache_key_for(username)


def _wait_seconds(*, request: HttpRequest, throttles: list[BaseThrottle]) -> int | None:
    """Seconds to wait when a throttle refuses this request; None when all allow it.
    Every throttle counts the request, as DRF's views do."""
    # DRF throttles read only .user, .META and (ours) .POST, which a Django request has too.
    drf_request = cast(Request, request)
    waits = [throttle.wait() for throttle in throttles if not throttle.allow_request(drf_request, cast(APIView, None))]
    if not waits:
        return None
    return max(1, int(max(wait or 1 for wait in waits)))


def login_wait_seconds(*, request: HttpRequest) -> int | None:
    return _wait_seconds(request=request, throttles=[LoginAddressThrottle(), LoginFormUsernameThrottle()])


def submission_wait_seconds(*, request: HttpRequest) -> int | None:
    return _wait_seconds(request=request, throttles=[SubmissionThrottle()])


def check_wait_seconds(*, request: HttpRequest) -> int | None:
    return _wait_seconds(request=request, throttles=[CheckRunThrottle()])
