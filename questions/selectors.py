from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Case, Exists, OuterRef, Prefetch, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce

from accounts.roles import user_is_instructor
from questions.models import (
    Choice,
    Exercise,
    ExerciseCheck,
    ExerciseKey,
    KeyStatus,
    Question,
    Quiz,
    QuizQuestion,
    RevealPolicy,
)


def quiz_list_visible(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Quiz]:
    quizzes = Quiz.objects.order_by("title", "id")
    if user_is_instructor(user=user):
        return quizzes
    return quizzes.filter(is_published=True)


def quiz_get_visible(*, slug: str, user: AbstractBaseUser | AnonymousUser) -> Quiz:
    """The quiz, or Quiz.DoesNotExist when it is missing or not visible to this user."""
    return quiz_list_visible(user=user).get(slug=slug)


def quiz_has_opened(*, quiz: Quiz, now: datetime) -> bool:
    return quiz.opens_at is None or quiz.opens_at <= now


def quiz_has_closed(*, quiz: Quiz, now: datetime) -> bool:
    return quiz.closes_at is not None and quiz.closes_at <= now


def quiz_allows_retries(*, quiz: Quiz) -> bool:
    """More than one attempt per student (an empty max_attempts is unlimited)."""
    return quiz.max_attempts is None or quiz.max_attempts > 1


def quiz_reveal_waits_for_last_attempt(*, quiz: Quiz) -> bool:
    """An after-submit reveal on a quiz with retries: answers seen after one attempt could
    be copied into the next, so they wait until the student can start no other (their
    last allowed attempt has ended, or the due date has passed)."""
    return quiz.reveal == RevealPolicy.AFTER_SUBMIT and quiz_allows_retries(quiz=quiz)


def quiz_shows_questions(*, quiz: Quiz, user: AbstractBaseUser | AnonymousUser, now: datetime) -> bool:
    """Students see a quiz's questions once it has opened; instructors always do."""
    return user_is_instructor(user=user) or quiz_has_opened(quiz=quiz, now=now)


def quiz_max_score(*, quiz_questions: list[QuizQuestion]) -> Decimal:
    return sum((qq.effective_points for qq in quiz_questions), Decimal(0))


def quiz_questions_with_choices(*, quiz: Quiz) -> list[QuizQuestion]:
    """The quiz's questions in authored order, each with its choices, in two queries."""
    return list(
        QuizQuestion.objects.filter(quiz=quiz)
        .select_related("question")
        .prefetch_related(Prefetch("question__choices", queryset=Choice.objects.order_by("position", "id")))
        .order_by("position", "id")
    )


def question_list_for_export(*, quiz: Quiz | None = None) -> QuerySet[Question]:
    questions = Question.objects.prefetch_related("choices", "readings", "tags")
    if quiz is not None:
        return questions.filter(quiz_questions__quiz=quiz).order_by("quiz_questions__position")
    return questions.order_by("slug")


def exercise_list_visible(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Exercise]:
    """Instructors see every exercise; students the published ones with a validated answer
    key (the reference solution scored full marks). An edit never hides an exercise: while
    its new key validates, or when that key fails, students keep the last valid one.

    Each comes with `live_max_score`: what the key students are served grades out of
    (None while no key is valid)."""
    # The serving key as two subqueries (the current spec's valid key, else the newest
    # valid one): SQLite cannot order a correlated subquery by an outer column.
    valid = ExerciseKey.objects.filter(exercise=OuterRef("pk"), status=KeyStatus.VALID)
    current = valid.filter(fingerprint=OuterRef("spec_fingerprint")).values("max_score")[:1]
    newest = valid.order_by("-created_at", "-id").values("max_score")[:1]
    exercises = Exercise.objects.order_by("title", "id").annotate(
        live_max_score=Coalesce(Subquery(current), Subquery(newest))
    )
    if user_is_instructor(user=user):
        return exercises
    return exercises.filter(is_published=True).filter(Exists(valid))


def _serving_keys(*, exercise: Any, fingerprint: Any) -> QuerySet[ExerciseKey]:
    """The exercise's valid keys, the one students are served first: the current spec's
    key when it is valid, otherwise the newest valid one (see exercise_serving_key_in)."""
    return (
        ExerciseKey.objects.filter(exercise=exercise, status=KeyStatus.VALID)
        .annotate(is_current=Case(When(fingerprint=fingerprint, then=Value(1)), default=Value(0)))
        .order_by("-is_current", "-created_at", "-id")
    )


def exercise_serving_spec(*, exercise: Exercise) -> dict[str, Any] | None:
    """The grading spec of the key students are shown and graded with: the current spec's
    key when it has validated, otherwise the last one that did; None while none has."""
    spec: dict[str, Any] | None = (
        _serving_keys(exercise=exercise, fingerprint=exercise.spec_fingerprint).values_list("spec", flat=True).first()
    )
    return spec


def exercise_serving_key_state(*, exercise: Exercise) -> ExerciseKey | None:
    """The served key's (see exercise_serving_spec) status and score, without its spec,
    expected values and report (what accepting a submission needs; those can be large JSON)."""
    return (
        _serving_keys(exercise=exercise, fingerprint=exercise.spec_fingerprint)
        .only("id", "exercise_id", "fingerprint", "status", "max_score", "environment")
        .first()
    )


def exercise_weak_checks_warning(*, exercise: Exercise) -> str:
    """The check-strength report's flag of the key students are (or would be) served:
    e.g. "checks give 4 of 10 points to code that returns 0.0", or ""."""
    strength = (
        _serving_keys(exercise=exercise, fingerprint=exercise.spec_fingerprint)
        .values_list("strength", flat=True)
        .first()
    )
    return str((strength or {}).get("flag", ""))


def exercise_serving_key_in(*, keys: Iterable[ExerciseKey], fingerprint: str) -> ExerciseKey | None:
    """The served key (see exercise_serving_spec) among keys already loaded, e.g. prefetched."""
    valid = [key for key in keys if key.status == KeyStatus.VALID]
    return max(valid, key=lambda key: (key.fingerprint == fingerprint, key.created_at, key.id), default=None)


def exercise_current_key(*, exercise: Exercise) -> ExerciseKey | None:
    """The answer key for the exercise's grading spec as it is now, the newest one: what
    the admin shows being validated (None before its first save)."""
    return ExerciseKey.objects.filter(exercise=exercise, fingerprint=exercise.spec_fingerprint).first()


def exercise_current_key_state(*, exercise: Exercise) -> ExerciseKey | None:
    """The current answer key's status and score, without its spec, expected values and
    report. Students are served exercise_serving_key_state, which differs while an edit
    validates or after it failed."""
    return (
        ExerciseKey.objects.filter(exercise=exercise, fingerprint=exercise.spec_fingerprint)
        .only("id", "exercise_id", "fingerprint", "status", "max_score")
        .first()
    )


def exercise_get_visible(*, slug: str, user: AbstractBaseUser | AnonymousUser) -> Exercise:
    """The exercise, or Exercise.DoesNotExist when it is missing or not visible to this user."""
    return exercise_list_visible(user=user).get(slug=slug)


def exercise_visible_checks(*, exercise: Exercise) -> list[ExerciseCheck]:
    return list(exercise.checks.order_by("position", "id"))
