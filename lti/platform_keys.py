"""A platform's public keys (its JWKS), with which launches from it are verified.

Fetched with a timeout and a size cap, cached for LTI_KEYSET_CACHE_SECONDS, and fetched
again when a launch names a key id the cached set lacks (the platform rotated its key)
- at most once per LTI_KEYSET_REFRESH_SECONDS per platform, so a stream of forged
launches with made-up key ids cannot turn the tool into a flood against the platform.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import requests
from django.conf import settings
from django.core.cache import cache

from lti.models import Platform

MAX_KEYSET_BYTES = 256 * 1024


class KeySetUnavailable(Exception):
    """The platform's key set could not be had; the message says what an admin can check."""


def _cache_key(*, platform: Platform) -> str:
    url_hash = hashlib.sha256(platform.keyset_url.encode()).hexdigest()[:16]
    return f"lti:keyset:{platform.pk}:{url_hash}"


def has_key(*, key_set: dict[str, Any], kid: str) -> bool:
    return any(isinstance(key, dict) and key.get("kid") == kid for key in key_set.get("keys", []))


def platform_key_set(*, platform: Platform, kid: str) -> dict[str, Any]:
    """The platform's key set, holding `kid` if the platform publishes it."""
    cache_key = _cache_key(platform=platform)
    cached = cache.get(cache_key)
    if cached is not None and (
        has_key(key_set=cached, kid=kid)
        or not cache.add(f"{cache_key}:refreshed", True, settings.LTI_KEYSET_REFRESH_SECONDS)
    ):
        return dict(cached)
    key_set = fetch_key_set(url=platform.keyset_url)
    cache.set(cache_key, key_set, settings.LTI_KEYSET_CACHE_SECONDS)
    return key_set


def fetch_key_set(*, url: str) -> dict[str, Any]:
    where = f"the platform's key set at {url}"
    try:
        with requests.get(url, timeout=settings.LTI_HTTP_TIMEOUT_SECONDS, stream=True) as response:
            if response.status_code != 200:
                raise KeySetUnavailable(f"{where} answered HTTP {response.status_code}")
            body = response.raw.read(MAX_KEYSET_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise KeySetUnavailable(f"{where} could not be fetched: {type(exc).__name__}") from exc
    if len(body) > MAX_KEYSET_BYTES:
        raise KeySetUnavailable(f"{where} is larger than {MAX_KEYSET_BYTES // 1024} KB")
    try:
        key_set = json.loads(body)
    except ValueError as exc:
        raise KeySetUnavailable(f"{where} is not JSON") from exc
    if not isinstance(key_set, dict) or not isinstance(key_set.get("keys"), list):
        raise KeySetUnavailable(f'{where} has no "keys" list')
    return key_set
