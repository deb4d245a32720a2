"""Roster sync over LTI Names and Role Provisioning Services (NRPS 2.0): the course's
members and their roles as the platform lists them, so that the gradebook shows the
students who have not launched or submitted yet, and members who left are marked so."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from django.conf import settings
from django.db import transaction

from lti.ags import PlatformUnavailable, access_token
from lti.launch import course_role_of
from lti.models import Course, CourseMembership
from lti.services import identity_user_ensure

NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
MAX_PAGE_BYTES = 4 * 1024 * 1024
MAX_PAGES = 200
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class RosterUnavailable(Exception):
    """The roster could not be read; the message says what to check."""


@dataclass(frozen=True, kw_only=True)
class RosterReport:
    members: int
    added: int
    left: int


def _page(*, url: str, token: str) -> tuple[dict[str, Any], str]:
    headers = {"Authorization": f"Bearer {token}", "Accept": MEDIA_TYPE}
    try:
        with requests.get(
            url, headers=headers, timeout=settings.LTI_HTTP_TIMEOUT_SECONDS, stream=True, allow_redirects=False
        ) as response:
            if response.status_code != 200:
                raise RosterUnavailable(f"The LMS answered the roster request with HTTP {response.status_code}.")
            body = b""
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) > MAX_PAGE_BYTES:
                    raise RosterUnavailable("The LMS's roster page is too large.")
            link = response.headers.get("Link", "")
    except requests.RequestException as exc:
        raise RosterUnavailable(f"The LMS did not answer the roster request ({type(exc).__name__}).") from exc
    try:
        page = json.loads(body)
    except ValueError as exc:
        raise RosterUnavailable("The LMS's roster is not JSON.") from exc
    if not isinstance(page, dict) or not isinstance(page.get("members"), list):
        raise RosterUnavailable("The LMS's roster lists no members.")
    found = _NEXT.search(link)
    return page, found.group(1) if found else ""


def _text(value: object, limit: int) -> str:
    return value[:limit] if isinstance(value, str) and "\x00" not in value else ""


def course_roster_fetch(*, course: Course, now: datetime) -> list[dict[str, Any]]:
    """Every member the platform lists for the course, following `Link: rel=next` pages."""
    if not course.memberships_url:
        raise RosterUnavailable("The LMS offers no roster for this course (no NRPS claim in its launches).")
    try:
        token = access_token(platform=course.platform, scopes=[NRPS_SCOPE], now=now)
    except PlatformUnavailable as exc:
        raise RosterUnavailable(str(exc)) from exc
    members: list[dict[str, Any]] = []
    url = course.memberships_url
    for _ in range(MAX_PAGES):
        page, url = _page(url=url, token=token)
        members.extend(member for member in page["members"] if isinstance(member, dict))
        if not url:
            return members
    raise RosterUnavailable(f"The LMS's roster runs over {MAX_PAGES} pages.")


def course_roster_sync(*, course: Course, now: datetime) -> RosterReport:
    """Bring the course's memberships in line with the platform's roster: members are
    added (a local user per `user_id`, as launches make them) with their course role;
    those the roster marks Inactive or no longer lists are marked inactive, not deleted
    (their grades stay). Members with no course role we serve are left out."""
    listed = course_roster_fetch(course=course, now=now)
    seen: set[int] = set()
    added = 0
    with transaction.atomic():
        for member in listed:
            sub = _text(member.get("user_id"), 255)
            role = course_role_of(member.get("roles"))
            if not sub or role is None:
                continue
            user = identity_user_ensure(
                platform=course.platform,
                sub=sub,
                given_name=_text(member.get("given_name"), 150),
                family_name=_text(member.get("family_name"), 150),
                email=_text(member.get("email"), 254),
            )
            active = member.get("status", "Active") == "Active"
            _, created = CourseMembership.objects.update_or_create(
                course=course, user=user, defaults={"role": role, "is_active": active}
            )
            added += created
            seen.add(user.pk)
        left = (
            CourseMembership.objects.filter(course=course, is_active=True)
            .exclude(user_id__in=seen)
            .update(is_active=False)
        )
        course.roster_synced_at = now
        course.save(update_fields=["roster_synced_at", "updated_at"])
    return RosterReport(members=len(seen), added=added, left=left)
