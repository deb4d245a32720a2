"""Registering LMS platforms, and the users and courses their launches bring."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.db import IntegrityError, transaction

from config.errors import ServiceError
from lti.models import Course, CourseMembership, Deployment, LtiIdentity, Platform, ResourceLink
from lti.validation import ENDPOINT_FIELDS, frame_origins_parse, platform_problems
from questions.models import Exercise, Quiz
from questions.selectors import exercise_get_visible, quiz_get_visible

if TYPE_CHECKING:
    from lti.launch import Launch

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"


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
    frame_origins: Sequence[str] = ()


def _registration_problems(*, registration: PlatformRegistration, require_deployment: bool) -> dict[str, list[str]]:
    problems = platform_problems(
        issuer=registration.issuer,
        urls={field: getattr(registration, field) for field in ENDPOINT_FIELDS},
        frame_origins="\n".join(registration.frame_origins),
    )
    for field in ("issuer", "client_id"):
        if not getattr(registration, field).strip():
            problems[field] = ["This is required."]
    if require_deployment and not [value for value in registration.deployment_ids if value.strip()]:
        problems["deployment_ids"] = ["At least one deployment id is required."]
    return problems


def platform_register(*, registration: PlatformRegistration, require_deployment: bool = True) -> tuple[Platform, bool]:
    """Create or update the platform with this issuer and client id, and add the
    deployment ids and frame origins it does not have yet (none is removed). Returns
    (platform, created). Dynamic registration may not require a deployment: Canvas
    gives one only when the tool is installed, and launches are refused until then."""
    if problems := _registration_problems(registration=registration, require_deployment=require_deployment):
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
        # Added to those it has, in order, each once.
        origins = frame_origins_parse(text="\n".join([platform.frame_origins, *registration.frame_origins]))[0]
        fields["frame_origins"] = "\n".join(origins)
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


def identity_user_ensure(
    *, platform: Platform, sub: str, given_name: str = "", family_name: str = "", email: str = ""
) -> AbstractUser:
    """The local user for the platform's `sub` (made on first sight). Name and email are
    stored only when the platform sends them (it may not, by privacy setting)."""
    user_model: type[AbstractUser] = get_user_model()
    identity = LtiIdentity.objects.select_related("user").filter(platform=platform, sub=sub).first()
    if identity is None:
        try:
            with transaction.atomic():
                user = user_model(username=_username_for(platform=platform, sub=sub))
                user.set_unusable_password()
                user.save()
                identity = LtiIdentity.objects.create(platform=platform, sub=sub, user_id=user.pk)
        except IntegrityError:  # a simultaneous first launch created it
            identity = LtiIdentity.objects.select_related("user").get(platform=platform, sub=sub)
    user = identity.user
    sent = {"first_name": given_name, "last_name": family_name, "email": email}
    changed = [name for name, value in sent.items() if value and getattr(user, name) != value]
    for name in changed:
        setattr(user, name, sent[name])
    if changed:
        user.save(update_fields=changed)
    return user


def launch_identity_ensure(*, launch: Launch) -> tuple[AbstractUser, Course, CourseMembership]:
    """The local user for the platform's `sub`, the course for the launch's context, and
    the user's role there as this launch says; nothing else of the user is kept."""
    with transaction.atomic():
        user = identity_user_ensure(
            platform=launch.platform,
            sub=launch.sub,
            given_name=launch.given_name,
            family_name=launch.family_name,
            email=launch.email,
        )
        course, _ = Course.objects.get_or_create(platform=launch.platform, context_id=launch.context_id)
        titles = {"title": launch.context_title, "label": launch.context_label}
        if renamed := [name for name, value in titles.items() if value and getattr(course, name) != value]:
            for name in renamed:
                setattr(course, name, titles[name])
            course.save(update_fields=[*renamed, "updated_at"])
        membership, _ = CourseMembership.objects.update_or_create(
            course=course, user=user, defaults={"role": launch.role, "is_active": True}
        )
    return user, course, membership


AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
RESOURCE_KINDS = ("quiz", "exercise")


@dataclass(frozen=True, kw_only=True)
class ResourceRef:
    """What a resource link shows: `quiz:<slug>` or `exercise:<slug>`."""

    kind: str
    slug: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.slug}"


def resource_ref_parse(*, value: str) -> ResourceRef | None:
    """`quiz:<slug>` or `exercise:<slug>` as a ResourceRef; None for anything else."""
    kind, _, slug = value.strip().partition(":")
    if (
        kind not in RESOURCE_KINDS
        or not slug
        or len(slug) > 100
        or not slug.replace("-", "").replace("_", "").isalnum()
    ):
        return None
    return ResourceRef(kind=kind, slug=slug)


def resource_target(*, ref: ResourceRef) -> Quiz | Exercise | None:
    """The published quiz or exercise a reference names, or None."""
    user = AnonymousUser()  # the catalogue as a student sees it: published content only
    try:
        if ref.kind == "quiz":
            return quiz_get_visible(slug=ref.slug, user=user)
        return exercise_get_visible(slug=ref.slug, user=user)
    except (Quiz.DoesNotExist, Exercise.DoesNotExist):
        return None


def _claim_object(claims: dict[str, Any], name: str) -> dict[str, Any]:
    value = claims.get(name)
    return value if isinstance(value, dict) else {}


def _url_claim(value: object) -> str:
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) <= 500 else ""


def course_services_record(*, course: Course, claims: dict[str, Any]) -> None:
    """Keep the course's AGS line-items URL and scopes and its NRPS roster URL as the
    latest launch gives them (platforms may move them)."""
    ags, nrps = _claim_object(claims, AGS_CLAIM), _claim_object(claims, NRPS_CLAIM)
    scopes = ags.get("scope")
    fields = {
        "lineitems_url": _url_claim(ags.get("lineitems")),
        "ags_scopes": sorted({s for s in scopes if isinstance(s, str)})[:20] if isinstance(scopes, list) else [],
        "memberships_url": _url_claim(nrps.get("context_memberships_url")),
    }
    changed = [name for name, value in fields.items() if value and getattr(course, name) != value]
    for name in changed:
        setattr(course, name, fields[name])
    if changed:
        course.save(update_fields=[*changed, "updated_at"])


def resource_link_record(*, launch: Launch, course: Course) -> ResourceLink:
    """The resource link this launch came through, with its title, gradebook column and,
    when the launch's custom parameter `resource` names published content, its target.
    A link an instructor pointed at content here keeps it when the parameter is absent."""
    ags = _claim_object(launch.claims, AGS_CLAIM)
    link, _ = ResourceLink.objects.get_or_create(course=course, resource_link_id=launch.resource_link_id)
    title = _claim_object(launch.claims, CLAIM + "resource_link").get("title")
    fields: dict[str, object] = {
        "title": title[:255] if isinstance(title, str) and title else link.title,
        "lineitem_url": _url_claim(ags.get("lineitem")) or link.lineitem_url,
    }
    ref = resource_ref_parse(value=launch.custom.get("resource", ""))
    target = resource_target(ref=ref) if ref else None
    if target is not None:
        fields["quiz"] = target if isinstance(target, Quiz) else None
        fields["exercise"] = target if isinstance(target, Exercise) else None
    changed = [name for name, value in fields.items() if getattr(link, name) != value]
    for name in changed:
        setattr(link, name, fields[name])
    if changed:
        link.save(update_fields=[*changed, "updated_at"])
    return link


def resource_link_point(*, link: ResourceLink, ref: ResourceRef) -> ResourceLink:
    """An instructor's choice of what a link shows (for links the LMS gave no `resource`)."""
    target = resource_target(ref=ref)
    if target is None:
        raise ServiceError.invalid({"resource": [f"{ref} is not published content of this tool."]})
    link.quiz = target if isinstance(target, Quiz) else None
    link.exercise = target if isinstance(target, Exercise) else None
    link.save(update_fields=["quiz", "exercise", "updated_at"])
    return link
