"""LTI Dynamic Registration (IMS LTI Dynamic Registration 1.0): an LMS registers the tool
by itself, as Moodle 4.x and Canvas can.

The LMS admin pastes our registration URL into the LMS, which opens it with
`openid_configuration` (the URL where the platform describes itself) and usually a
`registration_token`. The tool then
1. fetches that configuration (total deadline, no redirects, size cap, https unless
   LTI_ALLOW_HTTP) and checks that its URL starts with the issuer it names: the spec's
   guard against one platform passing itself off as another (section 3.5.1);
2. posts its client metadata to the platform's registration endpoint, with the
   registration token as a bearer token;
3. registers the platform (its issuer, endpoints, the client id it returned and the
   deployment id, if it gave one) through lti.services.platform_register.

Anyone can open that URL, so it acts only for a signed-in administrator (checked by the
view) or with a one-time invitation (RegistrationInvite) an administrator made. Nothing
is fetched before that is settled: the URL cannot make this server call addresses of a
stranger's choosing. Each failure is a RegistrationFailed whose message an LMS admin can
act on; none leaves a platform half-registered here.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings

from config.errors import ServiceError
from lti.http import HttpTimeout, HttpTooLarge, HttpUnreachable, bounded_request, json_document
from lti.keys import tool_key_current
from lti.models import Platform, RegistrationInvite
from lti.services import PlatformRegistration, platform_register
from lti.tool_urls import TOOL_DESCRIPTION, TOOL_SCOPES, TOOL_TITLE, tool_endpoints
from lti.validation import frame_origins_parse, plain_http_refused, web_origin

logger = logging.getLogger(__name__)

PLATFORM_CONFIGURATION_CLAIM = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION_CLAIM = "https://purl.imsglobal.org/spec/lti-tool-configuration"
CANVAS_PRIVACY_LEVEL = "https://canvas.instructure.com/lti/privacy_level"
CANVAS_ACCOUNT_NAME = "https://canvas.instructure.com/lti/account_name"
REQUIRED_FIELDS = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint")
TOOL_CLAIMS = ("iss", "sub", "name", "given_name", "family_name", "email")

MAX_DOCUMENT_BYTES = 256 * 1024
MAX_URL_LENGTH = 2000
MAX_REGISTRATION_TOKEN_LENGTH = 8192
MAX_DETAIL_CHARS = 300
INVITE_DAYS = 7
MAX_INVITE_DAYS = 90


NO_INVITATION = (
    "This registration link has no invitation in it. Ask the tool's administrator for a registration link "
    "(it ends in ?invite=…) and paste that one into the LMS."
)


class RegistrationFailed(Exception):
    """A registration that did not happen; the message says what an LMS admin can do."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, kw_only=True)
class PlatformConfiguration:
    """What the tool needs from a platform's OpenID configuration."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    name: str


@dataclass(frozen=True, kw_only=True)
class ClientRegistration:
    client_id: str
    deployment_id: str  # "" when the platform gave none (Canvas deploys later, on install)


@dataclass(frozen=True, kw_only=True)
class RegistrationDone:
    platform: Platform
    created: bool
    deployment_id: str


# --- invitations ------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite_create(
    *, created_by_id: int | None, now: datetime, note: str = "", lms_origin: str = "", days: int = INVITE_DAYS
) -> tuple[RegistrationInvite, str]:
    """A new invitation and its token. The token is returned once and only its hash is
    stored, so a leaked database (or admin page) gives no usable registration link."""
    origins, problems = frame_origins_parse(text=lms_origin.strip())
    if problems:
        raise ServiceError.invalid({"lms_origin": problems})
    if not 1 <= days <= MAX_INVITE_DAYS:
        raise ServiceError.invalid({"days": [f"An invitation lasts from 1 to {MAX_INVITE_DAYS} days."]})
    token = secrets.token_urlsafe(32)
    invite = RegistrationInvite.objects.create(
        token_hash=_token_hash(token),
        note=note.strip()[:200],
        lms_origin=origins[0] if origins else "",
        created_by_id=created_by_id,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    return invite, token


def invite_url(*, token: str) -> str:
    """The link an LMS admin pastes as the tool's registration URL; the LMS appends its
    own parameters to it, and ours survives."""
    return f"{tool_endpoints().dynamic_registration}?{urlencode({'invite': token})}"


def invite_lookup(*, token: str) -> RegistrationInvite | None:
    """The invitation a token names, in whatever state (for framing its pages)."""
    return RegistrationInvite.objects.filter(token_hash=_token_hash(token)).first() if token else None


def invite_claim(*, token: str, now: datetime) -> RegistrationInvite:
    """Take the invitation for one registration: a conditional UPDATE, so that two uses at
    once cannot both register."""
    if not token:
        raise RegistrationFailed(NO_INVITATION, status=403)
    digest = _token_hash(token)
    claimed = RegistrationInvite.objects.filter(token_hash=digest, used_at__isnull=True, expires_at__gt=now).update(
        used_at=now
    )
    invite = RegistrationInvite.objects.filter(token_hash=digest).first()
    if claimed == 1 and invite is not None:
        return invite
    if invite is None:
        raise RegistrationFailed(
            "This registration link's invitation is not known to the tool (it may have been withdrawn, or the link "
            "was cut short). Ask the tool's administrator for a new registration link.",
            status=403,
        )
    if invite.used_at is not None:
        raise RegistrationFailed(
            "This registration link has been used already, or is in use right now (each one registers one "
            "platform). Ask the tool's administrator for a new registration link.",
            status=410,
        )
    raise RegistrationFailed(
        f"This registration link expired on {invite.expires_at:%Y-%m-%d %H:%M} UTC. Ask the tool's administrator "
        "for a new registration link.",
        status=410,
    )


def invite_release(*, invite: RegistrationInvite) -> None:
    """Give an invitation back after a failed registration, so that the LMS admin can try
    again once the problem is fixed. One that registered a platform stays used."""
    RegistrationInvite.objects.filter(pk=invite.pk, platform__isnull=True).update(used_at=None)


# --- talking to the platform ------------------------------------------------------------


def _require_web_url(*, url: str, what: str) -> None:
    if len(url) > MAX_URL_LENGTH or web_origin(url) is None:
        raise RegistrationFailed(f"{what} ({url[:200]!r}) is not a web address.")
    if plain_http_refused(url):
        raise RegistrationFailed(f"{what} ({url}) must use https: the tool will trust what it says.")


def _exchange(*, method: str, url: str, where: str, headers: dict[str, str], body: Any = None) -> tuple[int, bytes]:
    try:
        answer = bounded_request(
            method=method,
            url=url,
            headers={**headers, "Accept": "application/json"},
            max_bytes=MAX_DOCUMENT_BYTES,
            json=body,
        )
    except HttpTooLarge as exc:
        raise RegistrationFailed(f"{where} sent {exc}.") from exc
    except HttpTimeout as exc:
        raise RegistrationFailed(f"{where} did not answer within {settings.LTI_HTTP_TIMEOUT_SECONDS} s.") from exc
    except HttpUnreachable as exc:
        raise RegistrationFailed(f"{where} could not be reached ({exc}).") from exc
    return answer.status, answer.body


def _json_object(*, body: bytes, where: str) -> dict[str, Any]:
    try:
        document = json_document(body)
    except ValueError as exc:
        raise RegistrationFailed(f"{where} did not send JSON.") from exc
    if not isinstance(document, dict):
        raise RegistrationFailed(f"{where} did not send a JSON object.")
    return document


def _starts_with_issuer(*, url: str, issuer: str) -> bool:
    """The configuration URL is the issuer itself or lies below it: a path boundary, so
    that https://lms.example.edu.evil.test is not taken for https://lms.example.edu."""
    parts = urlsplit(issuer)
    if web_origin(issuer) is None or parts.query or parts.fragment:
        return False
    return url == issuer or url.startswith(issuer if issuer.endswith("/") else issuer + "/")


def _platform_name(*, issuer: str, claim: dict[str, Any]) -> str:
    account = claim.get(CANVAS_ACCOUNT_NAME)
    if isinstance(account, str) and account.strip():
        return account.strip()[:200]
    family = claim.get("product_family_code")
    family = family.strip().capitalize() if isinstance(family, str) and family.strip() else "LMS"
    return f"{family} at {urlsplit(issuer).netloc}"[:200]


def platform_configuration_read(*, url: str, document: dict[str, Any]) -> PlatformConfiguration:
    """The platform's configuration, checked as the spec asks before the tool trusts it."""
    where = f"The platform's configuration at {url}"
    missing = [field for field in REQUIRED_FIELDS if not isinstance(document.get(field), str) or not document[field]]
    claim = document.get(PLATFORM_CONFIGURATION_CLAIM)
    if not isinstance(claim, dict):
        missing.append(PLATFORM_CONFIGURATION_CLAIM)
    if missing:
        raise RegistrationFailed(
            f"{where} lacks {', '.join(missing)}. Is this an LTI 1.3 platform with dynamic registration turned on?"
        )
    assert isinstance(claim, dict)
    issuer = document["issuer"]
    if not _starts_with_issuer(url=url, issuer=issuer):
        raise RegistrationFailed(
            f"{where} names the issuer {issuer[:200]!r}, but its address does not start with that issuer. LTI Dynamic "
            "Registration requires it to (so that no platform can pass itself off as another); register this "
            "platform by hand instead."
        )
    for field in REQUIRED_FIELDS[1:]:
        _require_web_url(url=document[field], what=f"The platform's {field}")
    return PlatformConfiguration(
        issuer=issuer,
        authorization_endpoint=document["authorization_endpoint"],
        token_endpoint=document["token_endpoint"],
        jwks_uri=document["jwks_uri"],
        registration_endpoint=document["registration_endpoint"],
        name=_platform_name(issuer=issuer, claim=claim),
    )


def _bearer(registration_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {registration_token}"} if registration_token else {}


def platform_configuration_fetch(*, url: str, registration_token: str) -> PlatformConfiguration:
    # Canvas wants the registration token here too; other platforms ignore it.
    where = f"The platform's configuration at {url}"
    status, body = _exchange(method="GET", url=url, where=where, headers=_bearer(registration_token))
    if status != 200:
        redirect = " (redirects are not followed: give the configuration's own address)" if 300 <= status < 400 else ""
        raise RegistrationFailed(f"{where} answered HTTP {status}{redirect}.")
    return platform_configuration_read(url=url, document=_json_object(body=body, where=where))


def tool_registration_request() -> dict[str, Any]:
    """The tool's client metadata, as the spec's client registration request has it."""
    endpoints = tool_endpoints()
    launch = endpoints.launch

    def message(message_type: str, placements: list[str]) -> dict[str, Any]:
        return {"type": message_type, "target_link_uri": launch, "label": TOOL_TITLE, "placements": placements}

    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": endpoints.login,
        "redirect_uris": [launch],
        "client_name": TOOL_TITLE,
        "jwks_uri": endpoints.jwks,
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(TOOL_SCOPES),
        TOOL_CONFIGURATION_CLAIM: {
            "domain": endpoints.domain,
            "description": TOOL_DESCRIPTION,
            "target_link_uri": launch,
            "claims": list(TOOL_CLAIMS),
            # Placements are Canvas's names (others ignore them). A message without any
            # would land on Canvas's link_selection, where deep linking belongs.
            "messages": [
                message("LtiResourceLinkRequest", ["course_navigation"]),
                message("LtiDeepLinkingRequest", ["link_selection", "assignment_selection"]),
            ],
            CANVAS_PRIVACY_LEVEL: "public",
        },
    }


def _refusal_detail(body: bytes) -> str:
    """The platform's own words on a refusal: RFC 7591's error and error_description, or
    Canvas's `errors`."""
    try:
        document = json_document(body)
    except ValueError:
        return ""
    if not isinstance(document, dict):
        return ""
    words = [str(document[key]) for key in ("error", "error_description", "errors") if document.get(key)]
    return ": " + "; ".join(words)[:MAX_DETAIL_CHARS] if words else ""


def _string_id(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    text = str(value).strip()
    return text if len(text) <= 255 else ""


def client_register(*, configuration: PlatformConfiguration, registration_token: str) -> ClientRegistration:
    where = f"The platform's registration endpoint {configuration.registration_endpoint}"
    status, body = _exchange(
        method="POST",
        url=configuration.registration_endpoint,
        where=where,
        headers=_bearer(registration_token),
        body=tool_registration_request(),
    )
    if status not in (200, 201):
        raise RegistrationFailed(
            f"{where} refused the registration (HTTP {status}{_refusal_detail(body)}). If the LMS's registration "
            "token has expired, start the registration again from the LMS."
        )
    document = _json_object(body=body, where=where)
    client_id = _string_id(document.get("client_id"))
    if not client_id:
        raise RegistrationFailed(f"{where} accepted the registration but gave no client_id.")
    tool_configuration = document.get(TOOL_CONFIGURATION_CLAIM)
    deployment = tool_configuration.get("deployment_id") if isinstance(tool_configuration, dict) else None
    return ClientRegistration(client_id=client_id, deployment_id=_string_id(deployment))


# --- registering ------------------------------------------------------------------------


def dynamic_registration_run(
    *, openid_configuration: str, registration_token: str, now: datetime, lms_origin: str = ""
) -> RegistrationDone:
    """Register with the platform that sent the administrator here. The caller has made
    sure they may (permission or invitation)."""
    if not openid_configuration:
        raise RegistrationFailed(
            "The LMS did not say where its configuration is (no openid_configuration parameter). Paste the "
            "registration link into the LMS's tool registration form rather than opening it in a browser."
        )
    _require_web_url(url=openid_configuration, what="The platform's configuration address (openid_configuration)")
    if len(registration_token) > MAX_REGISTRATION_TOKEN_LENGTH:
        raise RegistrationFailed("The LMS's registration token is implausibly long.")
    configuration = platform_configuration_fetch(url=openid_configuration, registration_token=registration_token)
    tool_key_current(now=now)  # the platform may fetch the tool's key set at once
    client = client_register(configuration=configuration, registration_token=registration_token)
    registration = PlatformRegistration(
        name=configuration.name,
        issuer=configuration.issuer,
        client_id=client.client_id,
        deployment_ids=[client.deployment_id] if client.deployment_id else [],
        auth_login_url=configuration.authorization_endpoint,
        auth_token_url=configuration.token_endpoint,
        keyset_url=configuration.jwks_uri,
        frame_origins=[lms_origin] if lms_origin else [],
    )
    try:
        platform, created = platform_register(registration=registration, require_deployment=False)
    except ServiceError as exc:
        raise RegistrationFailed(f"The platform's registration could not be stored: {exc.message}") from exc
    logger.info(
        "LTI dynamic registration: %s %s (client %s, deployment %r)",
        "registered" if created else "updated",
        platform.issuer,
        platform.client_id,
        client.deployment_id,
    )
    return RegistrationDone(platform=platform, created=created, deployment_id=client.deployment_id)


def dynamic_registration_invited(
    *, invite_token: str, openid_configuration: str, registration_token: str, now: datetime
) -> RegistrationDone:
    """Register with an invitation: used up by a registration that succeeds, given back
    by one that fails."""
    invite = invite_claim(token=invite_token, now=now)
    try:
        done = dynamic_registration_run(
            openid_configuration=openid_configuration,
            registration_token=registration_token,
            now=now,
            lms_origin=invite.lms_origin,
        )
    except BaseException:
        invite_release(invite=invite)
        raise
    RegistrationInvite.objects.filter(pk=invite.pk).update(platform=done.platform)
    return done
