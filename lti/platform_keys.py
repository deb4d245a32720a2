"""A platform's public keys (its JWKS), with which launches from it are verified.

Kept on the Platform row. Fetched again when older than LTI_KEYSET_CACHE_SECONDS, or when
a launch names a key id the stored set lacks (the platform rotated its key); either way
at most once per LTI_KEYSET_REFRESH_SECONDS per platform, claimed by a conditional
UPDATE, so that forged launches with made-up key ids (or a platform that is down) cannot
turn every launch into a request to the platform. A fetch has a total deadline, follows
no redirect and reads at most MAX_KEYSET_BYTES.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from lti.http import HttpTimeout, HttpTooLarge, HttpUnreachable, bounded_request, json_document
from lti.models import Platform

MAX_KEYSET_BYTES = 256 * 1024


class KeySetUnavailable(Exception):
    """The platform's key set could not be had; the message says what an admin can check."""


def has_key(*, key_set: dict[str, Any], kid: str) -> bool:
    keys = key_set.get("keys")
    return isinstance(keys, list) and any(isinstance(key, dict) and key.get("kid") == kid for key in keys)


def platform_key_set(*, platform: Platform, kid: str) -> dict[str, Any]:
    """The platform's key set, holding `kid` if the platform publishes it (as far as a
    fetch now may tell)."""
    now = timezone.now()
    fresh = platform.key_set_fetched_at is not None and now - platform.key_set_fetched_at < timedelta(
        seconds=settings.LTI_KEYSET_CACHE_SECONDS
    )
    stored = platform.key_set if isinstance(platform.key_set, dict) else {}
    if fresh and has_key(key_set=stored, kid=kid):
        return stored
    retry_before = now - timedelta(seconds=settings.LTI_KEYSET_REFRESH_SECONDS)
    claimed = Platform.objects.filter(
        Q(key_set_tried_at__isnull=True) | Q(key_set_tried_at__lt=retry_before), pk=platform.pk
    ).update(key_set_tried_at=now)
    if not claimed:
        if stored:
            return stored  # fetched moments ago: a kid it lacks is not the platform's
        raise KeySetUnavailable(
            f"the platform's key set at {platform.keyset_url} could not be fetched moments ago; "
            f"the next try is within {settings.LTI_KEYSET_REFRESH_SECONDS} s"
        )
    try:
        key_set = fetch_key_set(url=platform.keyset_url)
    except KeySetUnavailable:
        if stored and has_key(key_set=stored, kid=kid):
            return stored  # stale but holding the key: better than refusing the launch
        raise
    fetched_at = timezone.now()
    Platform.objects.filter(pk=platform.pk).update(key_set=key_set, key_set_fetched_at=fetched_at)
    platform.key_set, platform.key_set_fetched_at = key_set, fetched_at
    return key_set


def fetch_key_set(*, url: str) -> dict[str, Any]:
    where = f"the platform's key set at {url}"
    try:
        answer = bounded_request(
            method="GET", url=url, headers={"Accept": "application/json"}, max_bytes=MAX_KEYSET_BYTES
        )
    except HttpTooLarge as exc:
        raise KeySetUnavailable(f"{where} is larger than {MAX_KEYSET_BYTES // 1024} KB") from exc
    except HttpTimeout as exc:
        raise KeySetUnavailable(f"{where} could not be fetched within {settings.LTI_HTTP_TIMEOUT_SECONDS} s") from exc
    except HttpUnreachable as exc:
        raise KeySetUnavailable(f"{where} could not be fetched: {exc}") from exc
    if answer.status != 200:
        raise KeySetUnavailable(f"{where} answered HTTP {answer.status}")
    try:
        key_set = json_document(answer.body)
    except ValueError as exc:
        raise KeySetUnavailable(f"{where} is not JSON") from exc
    if not isinstance(key_set, dict) or not isinstance(key_set.get("keys"), list):
        raise KeySetUnavailable(f'{where} has no "keys" list')
    return key_set
