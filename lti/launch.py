"""LTI 1.3 login and launch: pylti1p3 does the OIDC and JWT work; this module adds what
it leaves out and turns every failure into a refusal an instructor can act on.

Added to pylti1p3's checks (each has a test in tests/lti/test_launch.py):
* the platform's key set is fetched with a deadline and kept (lti.platform_keys), not
  with pylti1p3's unbounded request;
* the checks run in an order that spends nothing before the signature and claims hold:
  the nonce is consumed, and the claims stored, only for a launch that is accepted;
* a nonce is good for one launch (DatabaseLaunchDataStorage.check_value), and only with
  the state it was issued with (a token taken from one browser's login is refused in
  another's), for LOGIN_LIFETIME_SECONDS;
* `aud` must hold our client id, and `azp` must name it when present or when `aud`
  lists several audiences;
* `exp` and `iat` are required and checked with a small leeway (pylti1p3 leaves them to
  PyJWT, which has none and accepts an `iat` in the future);
* only resource-link and deep-linking launches are accepted, from a course context;
* identifiers must fit the database (no NUL, at most 255 characters).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from pylti1p3.contrib.django.cookie import DjangoCookieService
from pylti1p3.contrib.django.message_launch import DjangoMessageLaunch
from pylti1p3.contrib.django.oidc_login import DjangoOIDCLogin
from pylti1p3.contrib.django.request import DjangoRequest
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
# A sub-role names its principal role: membership/Instructor#TeachingAssistant is an Instructor.
MEMBERSHIP_SUB_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership/"
INSTRUCTOR_ROLES = frozenset({"Instructor", "ContentDeveloper", "Administrator"})
STUDENT_ROLES = frozenset({"Learner"})
# A login's state and nonce are good for this long (the OIDC round trip takes seconds).
LOGIN_LIFETIME_SECONDS = 600
STATE_NONCE_KEY = "lti1p3-state-nonce-{state}"
MAX_IDENTIFIER_CHARS = 255


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
    given_name: str
    family_name: str
    email: str
    claims: dict[str, Any] = field(repr=False)


class _StateCookies(DjangoCookieService):
    """pylti1p3 marks its state cookie `SameSite=None; Secure` only over https; the
    launch that reads it is a cross-site POST into the LMS iframe, which gets no
    other cookie (browsers accept Secure cookies over http on loopback)."""

    def update_response(self, response: HttpResponse) -> None:
        cookies: dict[str, dict[str, Any]] = self._cookie_data_to_set or {}
        for key, data in cookies.items():
            response.set_cookie(
                key, data["value"], max_age=data["exp"], secure=True, httponly=True, samesite="None", path="/"
            )


class _OIDCLogin(DjangoOIDCLogin):
    """pylti1p3's login with our own cookie check page. Theirs sets a Lax test cookie
    over http (never settable in a cross-site iframe) and a partitioned one over https
    (settable where our unpartitioned session cookie is blocked), so it misjudges both."""

    def get_cookies_allowed_js_check(self) -> HttpResponse:
        _, params = self.get_cookies_allowed_js_check_params()
        request = self._request.request
        continue_url = request.path + "?" + urlencode(params)
        # For the script: JSON, with "<" escaped so that nothing can close the script tag.
        as_json = json.dumps(continue_url).replace("<", "\\u003c")
        return render(request, "lti/cookie_check.html", {"continue_url": continue_url, "continue_url_json": as_json})


def login_redirect(*, request: HttpRequest) -> HttpResponse:
    """Answer a third-party initiated login: redirect to the platform's OIDC endpoint with
    a fresh state (in a cookie bound to this browser) and nonce (kept for the launch)."""
    try:
        return _login_redirect(request=request)
    except LaunchRefused as refused:
        logger.warning("LTI login refused (%s) for iss=%r: %s", refused.status, _param(request, "iss"), refused)
        raise


def _param(request: HttpRequest, name: str) -> str:
    return str(request.GET.get(name) or request.POST.get(name) or "")[:200]


def _login_redirect(*, request: HttpRequest) -> HttpResponse:
    target = request.GET.get("target_link_uri") or request.POST.get("target_link_uri") or ""
    if not target.startswith(settings.LTI_TOOL_BASE_URL + "/"):
        raise LaunchRefused(
            f"The login asked to launch {target or 'nothing'!r}, which is not this tool "
            f"(its address is {settings.LTI_TOOL_BASE_URL}). Check the launch URL registered in the LMS."
        )
    if any("\x00" in value for value in [*request.GET.values(), *request.POST.values()]):
        raise LaunchRefused("The login request holds a NUL character.")
    # Before the cookie check page, so that an unknown LMS is refused at once.
    issuer, client_id = (request.GET.get(name) or request.POST.get(name) or "" for name in ("iss", "client_id"))
    if PlatformToolConf().find_registration_by_params(issuer, client_id) is None:
        message, status = _login_problem("registration not found")
        raise LaunchRefused(message, status=status)
    storage = DatabaseLaunchDataStorage()
    # pylti1p3 types the tool config as its own Django one; any ToolConfAbstract works.
    login = _OIDCLogin(
        request,
        PlatformToolConf(),  # type: ignore[arg-type]
        cookie_service=_StateCookies(DjangoRequest(request)),  # type: ignore[no-untyped-call]
        launch_data_storage=storage,
    )
    login.set_launch_data_storage(storage).set_launch_data_lifetime(LOGIN_LIFETIME_SECONDS)
    # First a page checks that this browser keeps our cookies in the LMS's iframe, and
    # offers a new window where it does not (Safari, private windows); it comes back
    # here with lti1p3_new_window=1 to go on.
    login.enable_check_cookies()
    try:
        response = login.redirect(target)
    except (OIDCException, LtiException) as exc:
        message, status = _login_problem(str(exc))
        raise LaunchRefused(message, status=status) from exc
    except Exception as exc:  # never a 500 for what a platform (or anyone) sends
        logger.warning("LTI login refused: unreadable (%s: %s)", type(exc).__name__, exc)
        raise LaunchRefused("The login request could not be read.") from exc
    if response.status_code != 302:
        return response  # the cookie check page
    # Bind the nonce to the state (whose cookie is this browser's): a token issued for
    # one login is accepted only by the launch that completes that login.
    params = {name: values[0] for name, values in parse_qs(urlsplit(response["Location"]).query).items()}
    storage.set_value(STATE_NONCE_KEY.format(state=params["state"]), params["nonce"], exp=LOGIN_LIFETIME_SECONDS)
    return response


def _login_problem(detail: str) -> tuple[str, int]:
    if "registration" in detail.lower():
        return (
            "This LMS (issuer and client id) is not registered with the tool, or is inactive. "
            "An administrator registers it in the admin or with manage.py lti_register_platform.",
            403,
        )
    return (f"The login request is incomplete: {detail}.", 400)


class _MessageLaunch(DjangoMessageLaunch):
    """pylti1p3's launch, with the platform's keys fetched through lti.platform_keys and
    the checks reordered: pylti1p3 consumes the nonce before it verifies the signature
    and stores the claims before anything of ours ran."""

    def __init__(self, request: HttpRequest, storage: DatabaseLaunchDataStorage) -> None:
        super().__init__(request, PlatformToolConf(), launch_data_storage=storage)
        self.storage = storage
        self.request_state = request.POST.get("state", "")

    def validate(self) -> _MessageLaunch:
        if self._restored:
            raise LtiException("A restored launch can't be validated.")
        self._validated = True
        try:
            self.validate_state().validate_jwt_format().validate_registration().validate_jwt_signature()
            self.validate_deployment().validate_message()
            registration = self._registration
            assert isinstance(registration, PlatformRegistration)
            body = dict(self._jwt["body"])
            _check_claims(claims=body, client_id=registration.platform.client_id)
            self._check_nonce_state(nonce=body.get("nonce"))
            self.validate_nonce()
            self.save_launch_data()
        except BaseException:
            self._validated = False
            raise
        return self

    def _check_nonce_state(self, *, nonce: object) -> None:
        state = self.request_state
        issued = self.storage.get_value(STATE_NONCE_KEY.format(state=state))
        if not isinstance(nonce, str) or issued != nonce:
            raise LtiException("Invalid Nonce: not the one issued with this state.")

    def get_public_key(self) -> tuple[str, str]:
        registration = self._registration
        assert isinstance(registration, PlatformRegistration)
        kid = str(self._jwt.get("header", {}).get("kid") or "")
        registration.set_key_set(cast("TKeySet", platform_key_set(platform=registration.platform, kid=kid)))
        return super().get_public_key()


def launch_validate(*, request: HttpRequest) -> Launch:
    """The validated launch, or LaunchRefused (logged, with the reason an admin acts on)."""
    try:
        return _launch_validate(request=request)
    except LaunchRefused as refused:
        logger.warning("LTI launch refused (%s): %s", refused.status, refused)
        raise


def _launch_validate(*, request: HttpRequest) -> Launch:
    if any("\x00" in value for value in request.POST.values()):
        raise LaunchRefused("The launch request holds a NUL character.")
    message_launch = _MessageLaunch(request, DatabaseLaunchDataStorage())
    # exp, iat and nbf are checked in _check_claims, with leeway; aud there too.
    message_launch.set_jwt_verify_options(
        {"verify_aud": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False}
    )
    try:
        claims = dict(message_launch.get_launch_data())
    except LaunchRefused:
        raise
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
    if "public key" in lowered or "signature" in lowered or "kid" in lowered:
        return ("The launch's signature does not verify against the platform's published keys.", 401)
    return (f"The launch message is not valid LTI 1.3: {detail}.", 400)


def _check_claims(*, claims: dict[str, Any], client_id: str) -> None:
    """Ours, run after pylti1p3 verified the signature and before anything is spent."""
    if "\\u0000" in json.dumps(claims):  # PostgreSQL stores no NUL, and no platform sends one
        raise LaunchRefused("The launch message holds a NUL character.")
    _check_audience(claims=claims, client_id=client_id)
    _check_times(claims=claims)
    message_type = claims.get(CLAIM + "message_type")
    if message_type not in (RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST):
        raise LaunchRefused(f"This tool does not handle {message_type!r} launches.")
    if claims.get(CLAIM + "version") != "1.3.0":
        raise LaunchRefused("The launch is not LTI version 1.3.0.")
    context = claims.get(CLAIM + "context")
    if not isinstance(context, dict) or not _identifier(context.get("id")):
        raise LaunchRefused("Launch this tool from a course: the launch names no course (context).")
    for name, value in (("sub", claims.get("sub")), ("deployment_id", claims.get(CLAIM + "deployment_id"))):
        if not _identifier(value):
            raise LaunchRefused(f"The launch's {name} is missing, or not an identifier of at most 255 characters.")
    _course_role(claims.get(CLAIM + "roles"))


def _identifier(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_IDENTIFIER_CHARS and "\x00" not in value


def _launch_from_claims(*, claims: dict[str, Any], platform: Platform) -> Launch:
    context = claims[CLAIM + "context"]
    resource_link = claims.get(CLAIM + "resource_link")
    custom = claims.get(CLAIM + "custom")
    return Launch(
        platform=platform,
        deployment_id=claims[CLAIM + "deployment_id"],
        message_type=claims[CLAIM + "message_type"],
        sub=claims["sub"],
        role=_course_role(claims.get(CLAIM + "roles")),
        context_id=context["id"],
        context_title=_text(context.get("title")),
        context_label=_text(context.get("label")),
        resource_link_id=_text(resource_link.get("id")) if isinstance(resource_link, dict) else "",
        custom={str(k): _text(v) for k, v in custom.items()} if isinstance(custom, dict) else {},
        name=_text(claims.get("name")),
        given_name=_text(claims.get("given_name"), limit=150),
        family_name=_text(claims.get("family_name"), limit=150),
        email=_text(claims.get("email"), limit=254),
        claims=claims,
    )


def _text(value: object, *, limit: int = 255) -> str:
    """A claim's text cut to fit its column (NUL was refused in _check_claims)."""
    return value[:limit] if isinstance(value, str) else ""


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
    exp, iat = _instant(claims.get("exp")), _instant(claims.get("iat"))
    if exp is None or iat is None:
        raise LaunchRefused("The launch message lacks its issue or expiry time (iat, exp).")
    if exp < now - leeway:
        raise LaunchRefused("The launch has expired. Open the link in the LMS again.", status=401)
    if iat > now + leeway:
        raise LaunchRefused(
            "The launch was issued in the future: the LMS's clock and this server's disagree.", status=401
        )
    nbf = _instant(claims.get("nbf"))
    if nbf is not None and nbf > now + leeway:
        raise LaunchRefused("The launch is not valid yet: the LMS's clock and this server's disagree.", status=401)


def _instant(value: object) -> float | None:
    """A JWT time (seconds since the epoch), or None when absent or not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def course_role_of(roles: object) -> str | None:
    """Instructor, ContentDeveloper or Administrator of the course make an instructor;
    Learner a student; None for anyone else. Institution and system roles say nothing
    about this course. Roles come as full URIs or, from older platforms, short names;
    a sub-role (a teaching assistant is `membership/Instructor#TeachingAssistant`) counts
    as its principal role, since platforms may send it alone."""
    names = set()
    for role in roles if isinstance(roles, list) else []:
        if not isinstance(role, str):
            continue
        if role.startswith(MEMBERSHIP_ROLE):
            names.add(role.removeprefix(MEMBERSHIP_ROLE))
        elif role.startswith(MEMBERSHIP_SUB_ROLE):
            names.add(role.removeprefix(MEMBERSHIP_SUB_ROLE).partition("#")[0])
        else:
            names.add(role)
    if names & INSTRUCTOR_ROLES:
        return CourseRole.INSTRUCTOR
    if names & STUDENT_ROLES:
        return CourseRole.STUDENT
    return None


def _course_role(roles: object) -> str:
    role = course_role_of(roles)
    if role is None:
        raise LaunchRefused(
            "Your role in this course gives no access to this tool (only instructors and learners have one).",
            status=403,
        )
    return role
