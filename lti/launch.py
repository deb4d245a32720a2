"""LTI 1.3 login and launch: pylti1p3 does the OIDC and JWT work; this module adds what
it leaves out and turns every failure into a refusal an instructor can act on.

Added to pylti1p3's checks (each has a test in tests/lti/test_launch.py):
* the platform's key set is fetched with a timeout and cached (lti.platform_keys), not
  with pylti1p3's unbounded request;
* a nonce is good for one launch (DatabaseLaunchDataStorage.check_value);
* `aud` must hold our client id, and `azp` must name it when present or when `aud`
  lists several audiences;
* `exp` and `iat` are required and checked with a small leeway (pylti1p3 leaves them to
  PyJWT, which has none and accepts an `iat` in the future);
* only resource-link and deep-linking launches are accepted, from a course context.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from pylti1p3.contrib.django.message_launch import DjangoMessageLaunch
from pylti1p3.contrib.django.oidc_login import DjangoOIDCLogin
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.registration import TKeySet

from lti.models import CourseRole, Platform
from lti.platform_keys import KeySetUnavailable, platform_key_set
from lti.tool_conf import DatabaseLaunchDataStorage, PlatformRegistration, PlatformToolConf

logger = logging.getLogger(__name__)

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
MEMBERSHIP_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
INSTRUCTOR_ROLES = frozenset({"Instructor", "ContentDeveloper", "Administrator"})
STUDENT_ROLES = frozenset({"Learner"})


class LaunchRefused(Exception):
    """A login or launch that cannot go on; `message` is for the person who saw it."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, kw_only=True)
class Launch:
    platform: Platform
    deployment_id: str
    message_type: str
    sub: str
    role: str  # CourseRole
    context_id: str
    context_title: str
    context_label: str
    resource_link_id: str  # empty for deep linking
    custom: dict[str, str]
    name: str
    email: str
    claims: dict[str, Any] = field(repr=False)


def login_redirect(*, request: HttpRequest) -> HttpResponse:
    """Answer a third-party initiated login: redirect to the platform's OIDC endpoint with
    a fresh state (in a cookie bound to this browser) and nonce (kept for the launch)."""
    target = request.GET.get("target_link_uri") or request.POST.get("target_link_uri") or ""
    if not target.startswith(settings.LTI_TOOL_BASE_URL + "/"):
        raise LaunchRefused(
            f"The login asked to launch {target or 'nothing'!r}, which is not this tool "
            f"(its address is {settings.LTI_TOOL_BASE_URL}). Check the launch URL registered in the LMS."
        )
    # Typed for pylti1p3's own Django tool config; any ToolConfAbstract works.
    login = DjangoOIDCLogin(request, PlatformToolConf(), launch_data_storage=DatabaseLaunchDataStorage())  # type: ignore[arg-type]
    try:
        return login.redirect(target)
    except (OIDCException, LtiException) as exc:
        raise LaunchRefused(_login_problem(str(exc)), status=_login_status(str(exc))) from exc


def _login_problem(detail: str) -> str:
    if "registration" in detail.lower():
        return (
            "This LMS (issuer and client id) is not registered with the tool, or is inactive. "
            "An administrator registers it in the admin or with manage.py lti_register_platform."
        )
    return f"The login request is incomplete: {detail}."


def _login_status(detail: str) -> int:
    return 403 if "registration" in detail.lower() else 400


class _MessageLaunch(DjangoMessageLaunch):
    """Fetches the platform's keys through lti.platform_keys (timeout, cache, one refresh
    on an unknown kid) instead of pylti1p3's own unbounded request."""

    def get_public_key(self) -> tuple[str, str]:
        registration = self._registration
        assert isinstance(registration, PlatformRegistration)
        kid = str(self._jwt.get("header", {}).get("kid") or "")
        registration.set_key_set(cast("TKeySet", platform_key_set(platform=registration.platform, kid=kid)))
        return super().get_public_key()


def launch_validate(*, request: HttpRequest) -> Launch:
    message_launch = _MessageLaunch(request, PlatformToolConf(), launch_data_storage=DatabaseLaunchDataStorage())
    # exp, iat and nbf are checked below, with leeway; aud by pylti1p3 and below.
    message_launch.set_jwt_verify_options(
        {"verify_aud": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False}
    )
    try:
        claims = dict(message_launch.get_launch_data())
    except KeySetUnavailable as exc:
        raise LaunchRefused(f"The launch could not be verified: {exc}. Try again in a moment.") from exc
    except LtiException as exc:
        message, status = _launch_problem(str(exc))
        raise LaunchRefused(message, status=status) from exc
    except Exception as exc:  # pylti1p3 raises bare errors on malformed input: never a 500
        logger.warning("LTI launch refused: unreadable (%s: %s)", type(exc).__name__, exc)
        raise LaunchRefused("The launch message could not be read.") from exc
    registration = message_launch._registration  # set by the validation just above
    assert isinstance(registration, PlatformRegistration)
    return _launch_from_claims(claims=claims, platform=registration.platform)


def _launch_problem(detail: str) -> tuple[str, int]:
    lowered = detail.lower()
    if "state" in lowered:
        return (
            "This launch did not start in this browser, or took too long (its state is unknown). "
            "Open the link in the LMS again; if it keeps failing, allow this site's cookies.",
            401,
        )
    if "nonce" in lowered:
        return ("This launch was already used (or never issued). Open the link in the LMS again.", 401)
    if "registration" in lowered or "client id" in lowered:
        return ("This LMS (issuer and client id) is not registered with the tool, or is inactive.", 403)
    if "deployment" in lowered:
        return (f"{detail} Add the deployment id to the platform's registration in the admin.", 403)
    if "public key" in lowered or "decode id_token" in lowered or "kid" in lowered:
        return ("The launch's signature does not verify against the platform's published keys.", 401)
    return (f"The launch message is not valid LTI 1.3: {detail}.", 400)


def _launch_from_claims(*, claims: dict[str, Any], platform: Platform) -> Launch:
    _check_audience(claims=claims, client_id=platform.client_id)
    _check_times(claims=claims)
    message_type = claims.get(CLAIM + "message_type")
    if message_type not in (RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST):
        raise LaunchRefused(f"This tool does not handle {message_type!r} launches.")
    if claims.get(CLAIM + "version") != "1.3.0":
        raise LaunchRefused("The launch is not LTI version 1.3.0.")
    context = claims.get(CLAIM + "context")
    if not isinstance(context, dict) or not isinstance(context.get("id"), str) or not context["id"]:
        raise LaunchRefused("Launch this tool from a course: the launch names no course (context).")
    role = _course_role(claims.get(CLAIM + "roles"))
    resource_link = claims.get(CLAIM + "resource_link")
    custom = claims.get(CLAIM + "custom")
    return Launch(
        platform=platform,
        deployment_id=str(claims[CLAIM + "deployment_id"]),
        message_type=message_type,
        sub=str(claims["sub"]),
        role=role,
        context_id=context["id"],
        context_title=_text(context.get("title")),
        context_label=_text(context.get("label")),
        resource_link_id=_text(resource_link.get("id")) if isinstance(resource_link, dict) else "",
        custom={str(k): _text(v) for k, v in custom.items()} if isinstance(custom, dict) else {},
        name=_text(claims.get("name")),
        email=_text(claims.get("email")),
        claims=claims,
    )


def _text(value: object) -> str:
    return value[:255] if isinstance(value, str) else ""


def _check_audience(*, claims: dict[str, Any], client_id: str) -> None:
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    azp = claims.get("azp")
    if client_id not in audiences:
        raise LaunchRefused("The launch was meant for another tool (its audience is not our client id).", status=401)
    if (azp is not None or len(audiences) > 1) and azp != client_id:
        raise LaunchRefused("The launch was meant for another tool (its azp is not our client id).", status=401)


def _check_times(*, claims: dict[str, Any]) -> None:
    now = timezone.now().timestamp()
    leeway = settings.LTI_CLOCK_LEEWAY_SECONDS
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or not isinstance(iat, int | float) or isinstance(exp, bool):
        raise LaunchRefused("The launch message lacks its issue or expiry time (iat, exp).")
    if exp < now - leeway:
        raise LaunchRefused("The launch has expired. Open the link in the LMS again.", status=401)
    if iat > now + leeway:
        raise LaunchRefused(
            "The launch was issued in the future: the LMS's clock and this server's disagree.", status=401
        )
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf > now + leeway:
        raise LaunchRefused("The launch is not valid yet: the LMS's clock and this server's disagree.", status=401)


def _course_role(roles: object) -> str:
    """Instructor, ContentDeveloper or Administrator of the course make an instructor;
    Learner a student. Institution and system roles say nothing about this course."""
    names = set()
    for role in roles if isinstance(roles, list) else []:
        if isinstance(role, str):
            names.add(role.removeprefix(MEMBERSHIP_ROLE) if role.startswith(MEMBERSHIP_ROLE) else role)
    if names & INSTRUCTOR_ROLES:
        return CourseRole.INSTRUCTOR
    if names & STUDENT_ROLES:
        return CourseRole.STUDENT
    raise LaunchRefused(
        "Your role in this course gives no access to this tool (only instructors and learners have one).",
        status=403,
    )
