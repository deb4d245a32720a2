from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Prefetch, QuerySet

from accounts.roles import user_is_instructor, user_pk
from grader.models import Attempt, AttemptAnswer, AttemptState
from questions.models import Choice, Quiz, QuizQuestion, Reading, RevealPolicy
from questions.selectors import quiz_questions_with_choices


@dataclass(frozen=True)
class PresentedQuestion:
    """A quiz question as one attempt shows it: its place and its choice order."""

    quiz_question: QuizQuestion
    choices: list[Choice]


def attempt_get_visible(*, attempt_id: int, user: AbstractBaseUser | AnonymousUser) -> Attempt:
    """The attempt for its owner or an instructor; Attempt.DoesNotExist for anyone else,
    so that a stranger cannot even learn that the id exists."""
    attempts = Attempt.objects.select_related("quiz", "user")
    if not user_is_instructor(user=user):
        attempts = attempts.filter(user_id=user_pk(user=user))
    return attempts.get(id=attempt_id)


def attempt_list_for_quiz(*, quiz: Quiz, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Attempt]:
    """Instructors see every attempt at the quiz; students see their own."""
    attempts = Attempt.objects.filter(quiz=quiz).select_related("quiz", "user").order_by("-started_at", "-id")
    if user_is_instructor(user=user):
        return attempts
    return attempts.filter(user_id=user_pk(user=user))


def attempt_count_for_user(*, quiz: Quiz, user: AbstractBaseUser | AnonymousUser) -> int:
    return Attempt.objects.filter(quiz=quiz, user_id=user_pk(user=user)).count()


def attempt_presented_questions(*, attempt: Attempt) -> list[PresentedQuestion]:
    """The quiz's questions in this attempt's order.

    Shuffling is derived from the attempt's stored seed, so the order is the same on every
    request and in every process, and differs between attempts.
    """
    quiz = attempt.quiz
    quiz_questions = quiz_questions_with_choices(quiz=quiz)
    if quiz.shuffle_questions:
        # Presentation order, not a secret: a seeded, reproducible generator is the point.
        random.Random(f"{attempt.shuffle_seed}:questions").shuffle(quiz_questions)  # noqa: S311
    presented = []
    for quiz_question in quiz_questions:
        choices = list(quiz_question.question.choices.all())
        if quiz.shuffle_choices:
            seed = f"{attempt.shuffle_seed}:choices:{quiz_question.question_id}"
            random.Random(seed).shuffle(choices)  # noqa: S311
        presented.append(PresentedQuestion(quiz_question=quiz_question, choices=choices))
    return presented


def attempt_answers(*, attempt: Attempt) -> list[AttemptAnswer]:
    return list(
        attempt.answers.select_related("question")
        .prefetch_related(
            Prefetch("question__choices", queryset=Choice.objects.order_by("position", "id")),
            Prefetch("question__readings", queryset=Reading.objects.order_by("position", "id")),
        )
        .order_by("position")
    )


def attempt_reveals_answers(*, attempt: Attempt, user: AbstractBaseUser | AnonymousUser, now: datetime) -> bool:
    """Whether correctness, explanations and feedback may be shown for this attempt."""
    if attempt.state == AttemptState.IN_PROGRESS:
        return False
    if user_is_instructor(user=user):
        return True
    policy = attempt.quiz.reveal
    if policy == RevealPolicy.AFTER_SUBMIT:
        return True
    if policy == RevealPolicy.AFTER_DUE:
        return attempt.quiz.closes_at is not None and attempt.quiz.closes_at <= now
    return False
