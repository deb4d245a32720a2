"""The Django session an LTI launch opens, and the cookies it needs inside an LMS iframe.

A launch signs the platform's user in with an ordinary session, remembering which
course and link it came through. Inside the LMS the tool is a third-party iframe, where
browsers send only `SameSite=None; Secure` cookies: the session and CSRF cookies of an
LTI session get those attributes (browsers accept Secure cookies over http only on
loopback, so an LTI deployment is served over https). Sessions from the login page keep
Django's `SameSite=Lax`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.models import AbstractUser
from django.http import HttpRequest, HttpResponse

LTI_SESSION_KEY = "lti"


@dataclass(frozen=True, kw_only=True)
class LtiContext:
    """Where the session's launch came from."""

    platform_id: int
    course_id: int
    role: str  # CourseRole
    resource_link_id: int | None = None  # our ResourceLink's pk; None for deep linking
    deep_link_return_url: str = ""
    deep_link_data: str = ""
    deep_link_accept_multiple: bool = False
    deployment_id: str = ""


def lti_session_start(*, request: HttpRequest, user: AbstractUser, context: LtiContext) -> None:
    # django-stubs types login() for the default User; any AUTH_USER_MODEL works.
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")  # type: ignore[arg-type]
    request.session[LTI_SESSION_KEY] = asdict(context)


def lti_session_context(*, request: HttpRequest) -> LtiContext | None:
    value = request.session.get(LTI_SESSION_KEY)
    if not isinstance(value, dict):
        return None
    try:
        return LtiContext(**value)
    except TypeError:  # a session written by an older version: no LTI context
        return None


def lti_session_deep_link_answered(*, request: HttpRequest) -> None:
    """A deep-linking request is answered once: a second reply (a reload, a second tab)
    would add the content to the course twice."""
    context = lti_session_context(request=request)
    if context is not None:
        request.session[LTI_SESSION_KEY] = asdict(replace(context, deep_link_return_url="", deep_link_data=""))


class LtiCookiesMiddleware:
    """Give the cookies of LTI sessions the attributes a third-party iframe needs.
    Placed before SessionMiddleware, so it sees the cookies that one and CSRF set."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and LTI_SESSION_KEY in session:
            for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME):
                if name in response.cookies and response.cookies[name].value:
                    response.cookies[name]["samesite"] = "None"
                    response.cookies[name]["secure"] = True
        return response
