"""Which pages an LMS may show in its iframe, and which LMSs may.

Student and LTI pages are framed by the platform that launched them; everything else
(the admin above all) keeps Django's `X-Frame-Options: DENY`. A frameable response says
`Content-Security-Policy: frame-ancestors 'self' <origins of registered platforms>`, so
a page of ours cannot be framed by a site that is not a registered, active LMS.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponseBase

from lti.models import Platform
from lti.validation import web_origin

View = Callable[..., HttpResponseBase]


def platform_frame_origins() -> list[str]:
    """Origins of active platforms: their issuer, OIDC login URL and listed frame origins."""
    origins: set[str] = set()
    for issuer, login_url, extra in Platform.objects.filter(is_active=True).values_list(
        "issuer", "auth_login_url", "frame_origins"
    ):
        for url in (issuer, login_url, *extra.splitlines()):
            if origin := web_origin(url):
                origins.add(origin)
    return sorted(origins)


def frame_ancestors_policy() -> str:
    return " ".join(["frame-ancestors", "'self'", *platform_frame_origins()])


def frameable(view: View) -> View:
    """Let registered platforms (and only them) show this view's pages in a frame."""

    @wraps(view)
    def framed(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        response.xframe_options_exempt = True  # type: ignore[attr-defined]
        response["Content-Security-Policy"] = frame_ancestors_policy()
        return response

    return framed
