"""Reads for LTI pages: who may see which course, and the course's gradebook."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from grader.models import Attempt, AttemptState, GradingResult
from lti.models import CourseMembership, CourseRole, Passback, ResourceLink
from questions.models import GradePolicy

Grade = tuple[datetime, Decimal, Decimal]  # (when, score, max_score)


def best_grade(grades: list[Grade]) -> Grade:
    """The grade with the highest share of its maximum: a quiz whose points were changed
    between attempts gives 8/10 and 9/20, and 8/10 is the better one. The earliest wins
    a tie, whatever order the grades come in, so the passback and the gradebook agree."""
    oldest_first = sorted(grades, key=lambda grade: grade[0])
    return max(oldest_first, key=lambda grade: grade[1] / grade[2] if grade[2] > 0 else Decimal(0))


def course_membership(*, user: AbstractBaseUser | AnonymousUser, course_id: int) -> CourseMembership | None:
    if not user.is_authenticated:
        return None
    return CourseMembership.objects.filter(course_id=course_id, user_id=user.pk, is_active=True).first()


def user_teaches_course(*, user: AbstractBaseUser | AnonymousUser, course_id: int) -> bool:
    membership = course_membership(user=user, course_id=course_id)
    return membership is not None and membership.role == CourseRole.INSTRUCTOR


def resource_link_get(*, link_id: int) -> ResourceLink:
    """The link with its course, quiz and exercise, or ResourceLink.DoesNotExist."""
    return ResourceLink.objects.select_related("course", "course__platform", "quiz", "exercise").get(pk=link_id)


def course_links(*, course_id: int) -> QuerySet[ResourceLink]:
    return ResourceLink.objects.filter(course_id=course_id).select_related("quiz", "exercise").order_by("title", "id")


@dataclass(frozen=True, kw_only=True)
class LinkGradeRow:
    """One student of the course, for one resource link: the grade that counts (by the
    content's policy), how many tries, and what the LMS was last sent."""

    name: str
    username: str
    score: Decimal | None
    max_score: Decimal | None
    tries: int
    graded_at: datetime | None
    passback_state: str
    passback_error: str


def _grades(*, link: ResourceLink, user_ids: list[int]) -> dict[int, list[Grade]]:
    grades: dict[int, list[Grade]] = {}
    if link.quiz_id is not None:
        attempts = Attempt.objects.filter(
            quiz_id=link.quiz_id, user_id__in=user_ids, state=AttemptState.SUBMITTED, score__isnull=False
        ).values_list("user_id", "submitted_at", "score", "max_score")
        for user_id, when, score, maximum in attempts:
            if when is not None and score is not None:  # true of submitted attempts
                grades.setdefault(user_id, []).append((when, score, maximum))
    elif link.exercise_id is not None:
        results = GradingResult.objects.filter(
            submission__exercise_id=link.exercise_id, submission__user_id__in=user_ids
        ).values_list("submission__user_id", "created_at", "score", "max_score")
        for user_id, when, score, maximum in results:
            grades.setdefault(user_id, []).append((when, score, maximum))
    return grades


def link_gradebook(*, link: ResourceLink) -> list[LinkGradeRow]:
    """Every active student of the link's course, those who have not submitted included."""
    members = list(
        CourseMembership.objects.filter(course_id=link.course_id, role=CourseRole.STUDENT, is_active=True)
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "user__username")
    )
    user_ids = [member.user_id for member in members]
    grades = _grades(link=link, user_ids=user_ids)
    passbacks: dict[int, Passback] = {}
    for passback in Passback.objects.filter(resource_link=link, user_id__in=user_ids).order_by("graded_at", "id"):
        passbacks[passback.user_id] = passback  # the newest grade's passback wins
    content = link.quiz or link.exercise
    policy = getattr(content, "grade_policy", GradePolicy.BEST)
    rows = []
    for member in members:
        user = member.user
        mine = sorted(grades.get(user.pk, []), key=lambda grade: grade[0])
        counted = (best_grade(mine) if policy == GradePolicy.BEST else mine[-1]) if mine else None
        last_passback = passbacks.get(user.pk)
        rows.append(
            LinkGradeRow(
                name=user.get_full_name() or user.username,
                username=user.username,
                score=counted[1] if counted else None,
                max_score=counted[2] if counted else None,
                tries=len(mine),
                graded_at=counted[0] if counted else None,
                passback_state=last_passback.get_state_display() if last_passback else "",
                passback_error=last_passback.last_error if last_passback else "",
            )
        )
    return rows
