"""The tool's signing keys: created on first use, rotated on request, published as a JWKS."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from jwcrypto import jwk

from lti.models import ToolKey

ALGORITHM = "RS256"
KEY_BITS = 2048


def _new_key(*, now: datetime) -> ToolKey:
    pair = jwk.JWK.generate(kty="RSA", size=KEY_BITS)
    kid = pair.thumbprint()
    public = {**pair.export_public(as_dict=True), "kid": kid, "alg": ALGORITHM, "use": "sig"}
    pem = pair.export_to_pem(private_key=True, password=None).decode()
    return ToolKey(kid=kid, private_key_pem=pem, public_jwk=public, created_at=now, is_current=True)


def tool_key_current(*, now: datetime) -> ToolKey:
    """The key the tool signs with now; the first call creates it."""
    key = ToolKey.objects.filter(is_current=True).first()
    if key is not None:
        return key
    try:
        with transaction.atomic():
            key = _new_key(now=now)
            key.save()
            return key
    except IntegrityError:  # another process created it first: use theirs
        return ToolKey.objects.get(is_current=True)


def tool_key_rotate(*, now: datetime) -> ToolKey:
    """Make a new current key; the old one stays published for LTI_RETIRED_KEY_DAYS, so
    platforms that cached the key set still accept what it signed."""
    grace = timedelta(days=settings.LTI_RETIRED_KEY_DAYS)
    with transaction.atomic():
        ToolKey.objects.select_for_update().filter(is_current=True).update(
            is_current=False, retired_at=now, expires_at=now + grace
        )
        key = _new_key(now=now)
        key.save()
    return key


def tool_jwks(*, now: datetime) -> dict[str, Any]:
    """The public keys platforms verify the tool's signatures with: the current key and
    retired keys that have not expired, newest first."""
    current = tool_key_current(now=now)
    retired = ToolKey.objects.filter(is_current=False, expires_at__gt=now)
    return {"keys": [current.public_jwk, *(key.public_jwk for key in retired)]}
