from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Exists, OuterRef, Prefetch, QuerySet

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
    """Instructors see every exercise; students the published ones whose current answer
    key has validated (the reference solution scored full marks)."""
    exercises = Exercise.objects.order_by("title", "id")
    if user_is_instructor(user=user):
        return exercises
    valid_keys = ExerciseKey.objects.filter(
        exercise=OuterRef("pk"), fingerprint=OuterRef("spec_fingerprint"), status=KeyStatus.VALID
    )
    return exercises.filter(is_published=True).filter(Exists(valid_keys))


def exercise_current_key(*, exercise: Exercise) -> ExerciseKey | None:
    """The answer key for the exercise's grading spec as it is now (None before its first save)."""
    return ExerciseKey.objects.filter(exercise=exercise, fingerprint=exercise.spec_fingerprint).first()


def exercise_current_key_state(*, exercise: Exercise) -> ExerciseKey | None:
    """The current answer key's status and score, without its spec, expected values and
    report (what accepting a submission needs; those can be large JSON)."""
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
