"""The page an LMS opens for LTI Dynamic Registration (lti.dynamic_registration does the work).

With `?invite=` a GET registers at once: the invitation is the authority, and the LMS
admin opening it has no account here. A signed-in administrator without an invitation
confirms first, by a POST the CSRF check covers: a GET that registered on a session alone
would let any page linking here register a platform of its choosing in the
administrator's name.

The LMS shows the page in a frame (Canvas) or a window it opened (Moodle), and closes
it when the page posts `org.imsglobal.lti.close`. The platform is not registered yet,
so lti.framing's list cannot name it: invitation pages may also be framed by the origin
of the `openid_configuration` URL, and by the LMS address the invitation names. Nothing
on them acts on a click, so a frame can show them but not use them. The administrator's
confirmation does act on a click, so no site may frame it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from lti.dynamic_registration import (
    MAX_URL_LENGTH,
    NO_INVITATION,
    RegistrationDone,
    RegistrationFailed,
    dynamic_registration_invited,
    dynamic_registration_run,
    invite_lookup,
)
from lti.framing import frameable
from lti.validation import plain_http_refused, web_origin

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponseBase]
FRAME_ORIGINS_ATTRIBUTE = "registering_lms_origins"


def frameable_by_the_registering_lms(view: View) -> View:
    """`frameable`, plus the origins a response lists in its `registering_lms_origins`."""
    framed = frameable(view)

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = framed(request, *args, **kwargs)
        if origins := getattr(response, FRAME_ORIGINS_ATTRIBUTE, ()):
            response["Content-Security-Policy"] = " ".join([response["Content-Security-Policy"], *origins])
        return response

    return wrapper


def _invitation_frame_origins(*, openid_configuration: str, invite_token: str) -> list[str]:
    origins: list[str] = []
    origin = web_origin(openid_configuration) if len(openid_configuration) <= MAX_URL_LENGTH else None
    if origin and not plain_http_refused(origin):
        origins.append(origin)
    invite = invite_lookup(token=invite_token)
    # Stored as an origin already; rebuilt anyway, since it goes into a header.
    lms_origin = web_origin(invite.lms_origin) if invite is not None else None
    if lms_origin and lms_origin not in origins:
        origins.append(lms_origin)
    return origins


def _failed(
    request: HttpRequest, *, failed: RegistrationFailed, openid_configuration: str, frame_origins: list[str]
) -> HttpResponse:
    logger.warning(
        "LTI dynamic registration refused (%s) for openid_configuration=%r: %s",
        failed.status,
        openid_configuration[:200],
        failed.message,
    )
    response = render(request, "lti/registration_failed.html", {"message": failed.message}, status=failed.status)
    setattr(response, FRAME_ORIGINS_ATTRIBUTE, frame_origins)
    return response


def _done(request: HttpRequest, *, done: RegistrationDone, frame_origins: list[str]) -> HttpResponse:
    response = render(request, "lti/registration_done.html", {"done": done, "platform": done.platform})
    setattr(response, FRAME_ORIGINS_ATTRIBUTE, frame_origins)
    return response


@require_http_methods(["GET", "POST"])
def dynamic_registration(request: HttpRequest) -> HttpResponseBase:
    invite_token = request.GET.get("invite", "").strip()
    if request.method == "GET" and invite_token:
        return _invited_registration(request, invite_token=invite_token)
    if not request.user.has_perm("lti.add_platform"):
        return _stranger(request)
    return _administrator_registration(request)


@frameable_by_the_registering_lms
def _invited_registration(request: HttpRequest, *, invite_token: str) -> HttpResponse:
    openid_configuration = request.GET.get("openid_configuration", "").strip()
    origins = _invitation_frame_origins(openid_configuration=openid_configuration, invite_token=invite_token)
    try:
        done = dynamic_registration_invited(
            invite_token=invite_token,
            openid_configuration=openid_configuration,
            registration_token=request.GET.get("registration_token", "").strip(),
            now=timezone.now(),
        )
    except RegistrationFailed as failed:
        return _failed(request, failed=failed, openid_configuration=openid_configuration, frame_origins=origins)
    return _done(request, done=done, frame_origins=origins)


@frameable
def _stranger(request: HttpRequest) -> HttpResponse:
    """In the LMS's frame, so the LMS admin who pasted the bare URL reads what to do."""
    openid_configuration = request.GET.get("openid_configuration", "").strip()
    stranger = RegistrationFailed(NO_INVITATION, status=403)
    return _failed(request, failed=stranger, openid_configuration=openid_configuration, frame_origins=[])


def _administrator_registration(request: HttpRequest) -> HttpResponse:
    """Never in a frame (Django's X-Frame-Options: DENY stays): a registered platform
    framing the confirmation could trick an administrator into registering another."""
    params = request.POST if request.method == "POST" else request.GET
    openid_configuration = params.get("openid_configuration", "").strip()
    registration_token = params.get("registration_token", "").strip()
    if request.method == "GET":
        context = {"openid_configuration": openid_configuration, "registration_token": registration_token}
        return render(request, "lti/registration_confirm.html", context)
    try:
        done = dynamic_registration_run(
            openid_configuration=openid_configuration, registration_token=registration_token, now=timezone.now()
        )
    except RegistrationFailed as failed:
        return _failed(request, failed=failed, openid_configuration=openid_configuration, frame_origins=[])
    return _done(request, done=done, frame_origins=[])
