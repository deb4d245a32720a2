"""Reads the student pages need beyond grader's and questions' selectors: the signed-in
user's *own* attempts and submissions. Those selectors give instructors everyone's rows,
which is right for the API's lists but not for "your attempts" on a page."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from accounts.roles import user_pk
from grader.models import Attempt, AttemptState, Submission
from grader.selectors import SUBMISSION_VIEW_DEFERRED, submission_list_for_exercise
from questions.models import Exercise, Quiz

User = AbstractBaseUser | AnonymousUser


def attempt_list_own(*, user: User) -> QuerySet[Attempt]:
    return Attempt.objects.filter(user_id=user_pk(user=user)).select_related("quiz").order_by("-started_at", "-id")


def attempt_list_own_for_quiz(*, quiz: Quiz, user: User) -> QuerySet[Attempt]:
    return attempt_list_own(user=user).filter(quiz=quiz)


def attempt_submit_cutoff(*, attempt: Attempt) -> datetime | None:
    """The last moment attempt_submit accepts this attempt (its deadline plus the grace
    period), or None when it has no deadline."""
    if attempt.deadline_at is None:
        return None
    return attempt.deadline_at + timedelta(seconds=settings.QUIZ_SUBMIT_GRACE_SECONDS)


def attempt_accepts_answers(*, attempt: Attempt, now: datetime) -> bool:
    """Whether a submit now could succeed: the page shows the form only then."""
    cutoff = attempt_submit_cutoff(attempt=attempt)
    return attempt.state == AttemptState.IN_PROGRESS and (cutoff is None or now <= cutoff)


def attempt_open_for_quiz(*, quiz: Quiz, user: User, now: datetime) -> Attempt | None:
    """The user's attempt at the quiz that can still be submitted. One whose time ran out
    but that no sweep has expired yet does not count: starting anew expires it."""
    grace = timedelta(seconds=settings.QUIZ_SUBMIT_GRACE_SECONDS)
    return (
        attempt_list_own_for_quiz(quiz=quiz, user=user)
        .filter(state=AttemptState.IN_PROGRESS)
        .filter(Q(deadline_at__isnull=True) | Q(deadline_at__gte=now - grace))
        .first()
    )


def submission_list_own(*, user: User) -> QuerySet[Submission]:
    """The user's submissions to every exercise, read as the API's views read them."""
    return (
        Submission.objects.filter(user_id=user_pk(user=user))
        .select_related("exercise", "user", "key", "result")
        .defer(*SUBMISSION_VIEW_DEFERRED)
        .order_by("-created_at", "-id")
    )


def submission_list_own_for_exercise(*, exercise: Exercise, user: User) -> QuerySet[Submission]:
    return submission_list_for_exercise(exercise=exercise, user=user).filter(user_id=user_pk(user=user))


def submission_latest_code(*, exercise: Exercise, user: User) -> str | None:
    """The code of the user's last submission to the exercise, to pick up where they left off."""
    return (
        Submission.objects.filter(exercise=exercise, user_id=user_pk(user=user))
        .order_by("-created_at", "-id")
        .values_list("code", flat=True)
        .first()
    )
