"""Rules a platform registration must meet, shared by the admin form and the services."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

ENDPOINT_FIELDS = ("auth_login_url", "auth_token_url", "keyset_url")
_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?")
_HTTP_ONLY_FOR_TESTS = "Use https (plain http is accepted only with LTI_ALLOW_HTTP=true, for local tests)."


def web_origin(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, rebuilt from its parts (so it is safe in a
    header such as CSP's frame-ancestors); None for anything else.

    The host must be the one the HTTP client would connect to: Python's urlsplit and
    urllib3 (under requests) read `https://evil.test\\@lms.edu/` differently (lms.edu
    versus evil.test), so a URL on which they disagree, or holding a backslash,
    whitespace or a control character, has no origin."""
    if not url.isprintable() or any(char.isspace() or char == "\\" for char in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a malformed port
        connected = parse_url(url)
    except (ValueError, LocationParseError):
        return None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not _HOST.fullmatch(host):
        return None
    if (connected.host or "").lower() != host or connected.port != port:
        return None
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def plain_http_refused(url: str) -> bool:
    """Whether this URL may not be used for not being https (LTI_ALLOW_HTTP is for local tests)."""
    return urlsplit(url).scheme != "https" and not settings.LTI_ALLOW_HTTP


def endpoint_problems(*, urls: dict[str, str]) -> dict[str, list[str]]:
    """Each URL must be a full URL, and https: the key set decides which launches are
    believed, so anyone able to alter a plain-http answer could sign launches."""
    validate = URLValidator(schemes=["https", "http"])
    problems: dict[str, list[str]] = {}
    for field, url in urls.items():
        try:
            validate(url)
        except ValidationError:
            problems[field] = ["Enter a full https URL."]
            continue
        if urlsplit(url).username is not None:
            problems[field] = ["Leave out any user name or password: the platform's address alone."]
        elif plain_http_refused(url):
            problems[field] = [_HTTP_ONLY_FOR_TESTS]
    return problems


def issuer_problems(*, issuer: str) -> list[str]:
    """LTI 1.3 (Core 5.1.2) makes `iss` an https URL with no query or fragment. Its origin
    is allowed to frame our pages, so an issuer that is not a plain URL is refused rather
    than trusted with a header."""
    if not issuer.strip():
        return ["This is required."]
    try:
        URLValidator(schemes=["https", "http"])(issuer)
    except ValidationError:
        return [
            "Enter the issuer exactly as the platform sends it: an https URL such as https://canvas.instructure.com."
        ]
    parts = urlsplit(issuer)
    if parts.username is not None:
        return ["An issuer has no user name or password."]
    if parts.query or parts.fragment or "?" in issuer or "#" in issuer:
        return ["An issuer has no query (?…) or fragment (#…)."]
    if web_origin(issuer) is None:
        return ["The issuer's host name may hold only letters, digits, dots and hyphens."]
    if plain_http_refused(issuer):
        return [_HTTP_ONLY_FOR_TESTS]
    return []


def frame_origins_parse(*, text: str) -> tuple[list[str], list[str]]:
    """The origins listed one per line, and the problems with the lines that are not
    exactly an origin (`https://host[:port]`, nothing after it: CSP would read a path as
    a narrower rule, and a wildcard would let every school on a shared host frame us)."""
    origins: list[str] = []
    problems: list[str] = []
    for line in (line.strip() for line in text.splitlines()):
        if not line:
            continue
        origin = web_origin(line)
        if origin is None or line.rstrip("/").lower() != origin:
            problems.append(f"{line[:100]!r} is not an origin like https://school.instructure.com (no path, no *).")
        elif plain_http_refused(origin):
            problems.append(f"{origin}: {_HTTP_ONLY_FOR_TESTS}")
        elif origin not in origins:
            origins.append(origin)
    return origins, problems


def platform_problems(*, issuer: str, urls: dict[str, str], frame_origins: str) -> dict[str, list[str]]:
    """What is wrong with a platform's issuer (when given: whether one is required is the
    caller's rule), endpoint URLs and frame origins, by field."""
    problems: dict[str, list[str]] = {}
    if issuer and (issuer_issues := issuer_problems(issuer=issuer)):
        problems["issuer"] = issuer_issues
    problems.update(endpoint_problems(urls=urls))
    if frame_issues := frame_origins_parse(text=frame_origins)[1]:
        problems["frame_origins"] = frame_issues
    return problems
