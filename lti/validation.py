"""Rules a platform registration must meet, shared by the admin form and the services."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

ENDPOINT_FIELDS = ("auth_login_url", "auth_token_url", "keyset_url")


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
        if urlsplit(url).scheme != "https" and not settings.LTI_ALLOW_HTTP:
            problems[field] = ["Use https (plain http is accepted only with LTI_ALLOW_HTTP=true, for local tests)."]
    return problems
