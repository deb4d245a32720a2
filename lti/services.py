"""Registering LMS platforms, and the users and courses their launches bring."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import IntegrityError, transaction

from config.errors import ServiceError
from lti.models import Course, CourseMembership, Deployment, LtiIdentity, Platform
from lti.validation import ENDPOINT_FIELDS, endpoint_problems

if TYPE_CHECKING:
    from lti.launch import Launch


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
    problems.update(endpoint_problems(urls={field: getattr(registration, field) for field in ENDPOINT_FIELDS}))
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


def _username_for(*, platform: Platform, sub: str) -> str:
    digest = hashlib.sha256(f"{platform.pk}:{sub}".encode()).hexdigest()[:24]
    return f"lti-{platform.pk}-{digest}"


def launch_identity_ensure(*, launch: Launch) -> tuple[AbstractUser, Course, CourseMembership]:
    """The local user for the platform's `sub`, the course for the launch's context, and
    the user's role there as this launch says. Name and email are stored only when the
    platform sends them (it may not, by privacy setting); nothing else is kept."""
    user_model: type[AbstractUser] = get_user_model()
    with transaction.atomic():
        identity = LtiIdentity.objects.select_related("user").filter(platform=launch.platform, sub=launch.sub).first()
        if identity is None:
            try:
                with transaction.atomic():
                    user = user_model(username=_username_for(platform=launch.platform, sub=launch.sub))
                    user.set_unusable_password()
                    user.save()
                    identity = LtiIdentity.objects.create(platform=launch.platform, sub=launch.sub, user_id=user.pk)
            except IntegrityError:  # a simultaneous first launch created it
                identity = LtiIdentity.objects.select_related("user").get(platform=launch.platform, sub=launch.sub)
        user = identity.user
        sent = {"first_name": launch.given_name, "last_name": launch.family_name, "email": launch.email}
        changed = [name for name, value in sent.items() if value and getattr(user, name) != value]
        for name in changed:
            setattr(user, name, sent[name])
        if changed:
            user.save(update_fields=changed)
        course, _ = Course.objects.get_or_create(platform=launch.platform, context_id=launch.context_id)
        titles = {"title": launch.context_title, "label": launch.context_label}
        if renamed := [name for name, value in titles.items() if value and getattr(course, name) != value]:
            for name in renamed:
                setattr(course, name, titles[name])
            course.save(update_fields=[*renamed, "updated_at"])
        membership, _ = CourseMembership.objects.update_or_create(
            course=course, user=user, defaults={"role": launch.role}
        )
    return user, course, membership
