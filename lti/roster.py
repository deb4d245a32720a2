"""Roster sync over LTI Names and Role Provisioning Services (NRPS 2.0): the course's
members and their roles as the platform lists them, so that the gradebook shows the
students who have not launched or submitted yet, and members who left are marked so."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from lti.ags import PlatformUnavailable, access_token
from lti.http import HttpTimeout, HttpTooLarge, HttpUnreachable, bounded_request, json_document
from lti.launch import course_role_of
from lti.models import Course, CourseMembership
from lti.services import identity_user_ensure
from lti.validation import plain_http_refused, web_origin

NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
MAX_PAGE_BYTES = 4 * 1024 * 1024
MAX_PAGES = 200
# The sync runs while the instructor waits for the page: the whole roster, every page,
# is read within this, and a roster larger than MAX_MEMBERS is refused, not half-synced.
ROSTER_DEADLINE_SECONDS = 60
MAX_MEMBERS = 20_000
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
        answer = bounded_request(method="GET", url=url, headers=headers, max_bytes=MAX_PAGE_BYTES)
    except HttpTooLarge as exc:
        raise RosterUnavailable(f"The LMS's roster page is too large ({exc}).") from exc
    except (HttpTimeout, HttpUnreachable) as exc:
        raise RosterUnavailable(f"The LMS did not answer the roster request ({exc}).") from exc
    if answer.status != 200:
        raise RosterUnavailable(f"The LMS answered the roster request with HTTP {answer.status}.")
    try:
        page = json_document(answer.body)
    except ValueError as exc:
        raise RosterUnavailable("The LMS's roster is not JSON.") from exc
    if not isinstance(page, dict) or not isinstance(page.get("members"), list):
        raise RosterUnavailable("The LMS's roster lists no members.")
    found = _NEXT.search(answer.headers.get("Link", ""))
    return page, found.group(1).strip() if found else ""


def _text(value: object, limit: int) -> str:
    return value[:limit] if isinstance(value, str) and "\x00" not in value else ""


def _require_roster_url(*, url: str, first: str) -> None:
    """The roster's address comes from a signed launch; its next pages come from a
    response header, so they must stay on the roster's own origin (and our bearer token
    with them), over https."""
    origin = web_origin(url)
    if origin is None:
        raise RosterUnavailable(f"The LMS's roster address is not a web address ({url[:200]!r}).")
    if plain_http_refused(origin):
        raise RosterUnavailable(f"The LMS's roster address is not https ({url[:200]}); no token is sent to it.")
    if origin != web_origin(first):
        raise RosterUnavailable(f"The LMS's roster sent the next page at another address ({url[:200]}).")


def course_roster_fetch(*, course: Course, now: datetime) -> list[dict[str, Any]]:
    """Every member the platform lists for the course, following `Link: rel=next` pages."""
    if not course.memberships_url:
        raise RosterUnavailable("The LMS offers no roster for this course (no NRPS claim in its launches).")
    if not course.platform.is_active:
        raise RosterUnavailable("The LMS is marked inactive here; an administrator can make it active again.")
    first = course.memberships_url
    _require_roster_url(url=first, first=first)
    try:
        token = access_token(platform=course.platform, scopes=[NRPS_SCOPE], now=now)
    except PlatformUnavailable as exc:
        raise RosterUnavailable(str(exc)) from exc
    deadline = time.monotonic() + ROSTER_DEADLINE_SECONDS
    members: list[dict[str, Any]] = []
    url = first
    for _ in range(MAX_PAGES):
        page, url = _page(url=url, token=token)
        members.extend(member for member in page["members"] if isinstance(member, dict))
        if len(members) > MAX_MEMBERS:
            raise RosterUnavailable(f"The LMS's roster lists more than {MAX_MEMBERS} members.")
        if not url:
            return members
        _require_roster_url(url=url, first=first)
        if time.monotonic() > deadline:
            raise RosterUnavailable(f"The LMS's roster could not be read within {ROSTER_DEADLINE_SECONDS} s.")
    raise RosterUnavailable(f"The LMS's roster runs over {MAX_PAGES} pages.")


def course_roster_sync(*, course: Course, now: datetime, synced_by_id: int | None = None) -> RosterReport:
    """Bring the course's memberships in line with the platform's roster: members are
    added (a local user per `user_id`, as launches make them) with their course role;
    those the roster marks Inactive or no longer lists are marked inactive, not deleted
    (their grades stay). Members with no course role we serve are left out. The
    instructor who asked is not marked as left for being missing (an LMS administrator
    acting in a course may not be on its roster): their next launch says their role."""
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
        gone = CourseMembership.objects.filter(course=course, is_active=True).exclude(user_id__in=seen)
        if synced_by_id is not None:
            gone = gone.exclude(user_id=synced_by_id)
        left = gone.update(is_active=False)
        course.roster_synced_at = now
        course.save(update_fields=["roster_synced_at", "updated_at"])
    return RosterReport(members=len(seen), added=added, left=left)
