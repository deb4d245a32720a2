"""Calls to a platform's LTI Advantage services: an OAuth2 access token, and scores
posted to gradebook columns (Assignment and Grade Services 2.0).

The token comes from the platform's token endpoint by the client-credentials grant with
a JWT the tool signs (RFC 7523), and is kept in the Django cache until shortly before it
expires, so a burst of grades costs one token request. Every call has a deadline
(LTI_HTTP_TIMEOUT_SECONDS), follows no redirect (a token must not be sent anywhere the
platform's registration does not name) and reads at most MAX_RESPONSE_BYTES.

Failures are PlatformUnavailable: PlatformBusy when trying again later may work (no
answer, a timeout, 408, 429, 5xx, an answer that makes no sense), PlatformRefused when
it will not (any other 4xx, a redirect, a non-https URL): the message says what an
admin can check, with the platform's own words when it gave some.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.cache import cache
from jwcrypto import jwk, jwt

from lti.http import Answer, HttpFailure, HttpTimeout, bounded_request, json_document
from lti.keys import ALGORITHM, tool_key_current
from lti.models import Platform
from lti.validation import plain_http_refused

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCORE_MEDIA_TYPE = "application/vnd.ims.lis.v1.score+json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_SECONDS = 300
# A cached token is dropped this long before the platform said it expires, so that a
# token is never sent just as it runs out (clocks differ; requests take time).
TOKEN_EXPIRY_MARGIN_SECONDS = 60
DEFAULT_TOKEN_SECONDS = 3600
MAX_TOKEN_SECONDS = 86400
MAX_RESPONSE_BYTES = 64 * 1024
RETRYABLE_STATUSES = {408, 429}


class PlatformUnavailable(Exception):
    """A call to the platform failed; the message says what an admin can check."""

    permanent = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PlatformBusy(PlatformUnavailable):
    """Trying again later may work."""


class PlatformRefused(PlatformUnavailable):
    """Trying again will not help until someone changes something."""

    permanent = True


@dataclass(frozen=True, kw_only=True)
class Score:
    user_id: str  # the platform's `sub` for the student
    score_given: Decimal
    score_maximum: Decimal
    timestamp: datetime  # timezone-aware: the platform keeps the newest score by it

    def as_json(self) -> dict[str, Any]:
        return {
            "userId": self.user_id,
            "scoreGiven": float(self.score_given),
            "scoreMaximum": float(self.score_maximum),
            "activityProgress": "Completed",
            "gradingProgress": "FullyGraded",
            "timestamp": self.timestamp.isoformat(),
        }


# --- HTTP ------------------------------------------------------------------------------


def _post(*, url: str, what: str, headers: dict[str, str], **payload: Any) -> Answer:
    try:
        return bounded_request(
            method="POST",
            url=url,
            headers=headers,
            max_bytes=MAX_RESPONSE_BYTES,
            keep_head_of_large_body=True,  # enough to tell what it says; the rest is not needed
            **payload,
        )
    except HttpTimeout as exc:
        raise PlatformBusy(f"{what} did not answer within {settings.LTI_HTTP_TIMEOUT_SECONDS} s") from exc
    except HttpFailure as exc:
        raise PlatformBusy(f"{what} could not be reached ({exc})") from exc


def _platform_says(body: bytes) -> str:
    """The platform's own explanation, short and printable, for the admin."""
    text = body[:2000].decode("utf-8", "replace")
    try:
        parsed = json_document(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        parts = [parsed.get(name) for name in ("error", "error_description", "message", "detail", "reason")]
        text = ": ".join(part for part in parts if isinstance(part, str) and part) or text
    printable = "".join(char if char.isprintable() else " " for char in text)
    return " ".join(printable.split())[:300]


def _check(answer: Answer, *, what: str) -> None:
    """Nothing for a 2xx; otherwise the failure, retryable or not."""
    status = answer.status
    if 200 <= status < 300:
        return
    says = _platform_says(answer.body)
    detail = f"{what} answered HTTP {status}" + (f": {says}" if says else "")
    if status in RETRYABLE_STATUSES or status >= 500:
        raise PlatformBusy(detail, status=status)
    if 300 <= status < 400:
        location = answer.headers.get("Location", "")[:300] or "elsewhere"
        raise PlatformRefused(f"{what} redirects to {location}; check the URL", status=status)
    raise PlatformRefused(detail, status=status)


def _require_https(url: str, *, what: str) -> None:
    if plain_http_refused(url):
        raise PlatformRefused(f"{what} is not an https URL ({url}); the tool sends no token over plain http")


# --- Access tokens -----------------------------------------------------------------------


def client_assertion(*, platform: Platform, now: datetime) -> str:
    """The JWT that authenticates the tool at the platform's token endpoint, signed with
    the tool's current key (which the platform finds in the tool's key set by `kid`)."""
    key = tool_key_current(now=now)
    signer = jwk.JWK.from_pem(key.private_key_pem.encode())
    issued = int(now.timestamp())
    claims = {
        "iss": platform.client_id,
        "sub": platform.client_id,
        "aud": platform.auth_audience or platform.auth_token_url,
        "iat": issued,
        "exp": issued + ASSERTION_SECONDS,
        "jti": secrets.token_urlsafe(24),
    }
    token = jwt.JWT(header={"alg": ALGORITHM, "typ": "JWT", "kid": key.kid}, claims=claims)
    token.make_signed_token(signer)
    return str(token.serialize())


def _token_cache_key(*, platform: Platform, scopes: list[str]) -> str:
    # The registration's fields are part of the key: a token for an edited registration
    # (another client id or token URL) is not this one's.
    parts = [platform.client_id, platform.auth_token_url, platform.auth_audience, *sorted(set(scopes))]
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]
    return f"lti:access-token:{platform.pk}:{digest}"


def _token_from(answer: Answer, *, what: str) -> tuple[str, int]:
    try:
        parsed = json_document(answer.body)
    except ValueError:
        parsed = None
    token = parsed.get("access_token") if isinstance(parsed, dict) else None
    if not isinstance(token, str) or not token or len(token) > 4096 or not token.isascii() or not token.isprintable():
        raise PlatformBusy(f"{what} answered without a usable access_token")
    lifetime = parsed.get("expires_in") if isinstance(parsed, dict) else None
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or not 0 < lifetime < math.inf:
        return token, DEFAULT_TOKEN_SECONDS
    # A lifetime beyond a day is not believed: a revoked token would be sent for that long.
    return token, max(1, min(int(lifetime), MAX_TOKEN_SECONDS))


def access_token(*, platform: Platform, scopes: list[str], now: datetime) -> str:
    """A bearer token for `scopes` at the platform: the cached one while it is good, else a
    new one from the token endpoint."""
    key = _token_cache_key(platform=platform, scopes=scopes)
    cached = cache.get(key)
    if isinstance(cached, str):
        return cached
    what = f"The LMS's token endpoint ({platform.auth_token_url})"
    _require_https(platform.auth_token_url, what=what)
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(platform=platform, now=now),
        "scope": " ".join(scopes),
    }
    answer = _post(url=platform.auth_token_url, what=what, headers={"Accept": "application/json"}, data=form)
    _check(answer, what=what)
    token, seconds = _token_from(answer, what=what)
    keep = seconds - min(TOKEN_EXPIRY_MARGIN_SECONDS, seconds // 2)
    if keep > 0:
        cache.set(key, token, timeout=keep)
    return token


def access_token_forget(*, platform: Platform, scopes: list[str]) -> None:
    """Drop the cached token (the platform no longer takes it: revoked, or its clock)."""
    cache.delete(_token_cache_key(platform=platform, scopes=scopes))


# --- Scores --------------------------------------------------------------------------------


def scores_url(*, lineitem_url: str) -> str:
    """The line item's scores endpoint: `/scores` added to its path. Line item URLs may
    carry a query (e.g. Moodle's `?type_id=`), which stays after it."""
    parts = urlsplit(lineitem_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/scores", parts.query, ""))


def score_post(*, platform: Platform, lineitem_url: str, score: Score, now: datetime) -> None:
    """Post a score to a gradebook column. A token the platform no longer accepts (401)
    is replaced once; any other failure is raised."""
    url = scores_url(lineitem_url=lineitem_url)
    what = f"The LMS's scores endpoint ({url})"
    _require_https(url, what=what)
    body = json.dumps(score.as_json())
    for attempt in (1, 2):
        token = access_token(platform=platform, scopes=[SCORE_SCOPE], now=now)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": SCORE_MEDIA_TYPE}
        answer = _post(url=url, what=what, headers=headers, data=body.encode())
        if answer.status == 401 and attempt == 1:
            access_token_forget(platform=platform, scopes=[SCORE_SCOPE])
            continue
        _check(answer, what=what)
        return
