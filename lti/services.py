"""Registering LMS platforms: one path for the admin's command line and for scripts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from config.errors import ServiceError
from lti.models import Deployment, Platform


@dataclass(frozen=True, kw_only=True)
class PlatformRegistration:
    name: str
    issuer: str
    client_id: str
    deployment_ids: Sequence[str]
    auth_login_url: str
    auth_token_url: str
    keyset_url: str
    auth_audience: str = ""


def _registration_problems(*, registration: PlatformRegistration) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for field in ("issuer", "client_id"):
        if not getattr(registration, field).strip():
            problems[field] = ["This is required."]
    if not [value for value in registration.deployment_ids if value.strip()]:
        problems["deployment_ids"] = ["At least one deployment id is required."]
    validate = URLValidator(schemes=["https", "http"])
    for field in ("auth_login_url", "auth_token_url", "keyset_url"):
        try:
            validate(getattr(registration, field))
        except ValidationError:
            problems[field] = ["Enter a full http(s) URL."]
    return problems


def platform_register(*, registration: PlatformRegistration) -> tuple[Platform, bool]:
    """Create or update the platform with this issuer and client id, and add the
    deployment ids it does not have yet (none is removed). Returns (platform, created)."""
    if problems := _registration_problems(registration=registration):
        raise ServiceError.invalid(problems)
    fields = {
        "name": registration.name.strip() or registration.issuer,
        "auth_login_url": registration.auth_login_url,
        "auth_token_url": registration.auth_token_url,
        "auth_audience": registration.auth_audience,
        "keyset_url": registration.keyset_url,
    }
    with transaction.atomic():
        platform, created = Platform.objects.select_for_update().get_or_create(
            issuer=registration.issuer.strip(), client_id=registration.client_id.strip(), defaults=fields
        )
        if not created:
            changed = [name for name, value in fields.items() if getattr(platform, name) != value]
            for name in changed:
                setattr(platform, name, fields[name])
            if changed:
                platform.save(update_fields=[*changed, "updated_at"])
        for deployment_id in {value.strip() for value in registration.deployment_ids if value.strip()}:
            Deployment.objects.get_or_create(platform=platform, deployment_id=deployment_id)
    return platform, created
