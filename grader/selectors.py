from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Max, Prefetch, Q, QuerySet

from accounts.roles import user_is_instructor, user_pk
from grader.models import Attempt, AttemptAnswer, AttemptState, GradingResult, Submission
from questions.models import Choice, Exercise, Question, Quiz, Reading, RevealPolicy
from questions.selectors import quiz_reveal_waits_for_last_attempt


@dataclass(frozen=True)
class PresentedQuestion:
    """A question as one attempt shows it: with the attempt's points and choice order."""

    question: Question
    points: Decimal
    choices: list[Choice]


def attempt_get_visible(*, attempt_id: int, user: AbstractBaseUser | AnonymousUser) -> Attempt:
    """The attempt for its owner or an instructor; Attempt.DoesNotExist for anyone else,
    so that a stranger cannot even learn that the id exists."""
    attempts = Attempt.objects.select_related("quiz", "user")
    if not user_is_instructor(user=user):
        attempts = attempts.filter(user_id=user_pk(user=user))
    return attempts.get(id=attempt_id)


def attempt_get_own(*, attempt_id: int, user: AbstractBaseUser | AnonymousUser) -> Attempt:
    """The caller's own attempt: instructors may read a student's attempt, never answer it."""
    return Attempt.objects.select_related("quiz").get(id=attempt_id, user_id=user_pk(user=user))


def attempt_list_for_quiz(*, quiz: Quiz, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Attempt]:
    """Instructors see every attempt at the quiz; students see their own."""
    attempts = Attempt.objects.filter(quiz=quiz).select_related("quiz", "user").order_by("-started_at", "-id")
    if user_is_instructor(user=user):
        return attempts
    return attempts.filter(user_id=user_pk(user=user))


def attempt_count_for_user(*, quiz: Quiz, user: AbstractBaseUser | AnonymousUser) -> int:
    return Attempt.objects.filter(quiz=quiz, user_id=user_pk(user=user)).count()


def attempt_presented_questions(*, attempt: Attempt) -> list[PresentedQuestion]:
    """The questions of the attempt's layout, in its order, with its points and choice order.

    A question or choice deleted since the attempt started is left out rather than shown
    half-broken.
    """
    question_ids = [entry["question"] for entry in attempt.layout]
    questions = Question.objects.prefetch_related("choices").in_bulk(question_ids)
    presented = []
    for entry in attempt.layout:
        question = questions.get(entry["question"])
        if question is None:
            continue
        choices = {choice.id: choice for choice in question.choices.all()}
        presented.append(
            PresentedQuestion(
                question=question,
                points=Decimal(entry["points"]),
                choices=[choices[choice_id] for choice_id in entry["choices"] if choice_id in choices],
            )
        )
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


def attempt_reveal_time(*, attempt: Attempt) -> datetime | None:
    """When a student may see correctness and explanations; None for never.

    After the due date means after the last moment a submit is still accepted: otherwise a
    student who submitted could pass the answers to one still inside the grace period.
    After submit, on a quiz with retries, means once the student can start no other
    attempt that could copy them: their last allowed attempt has ended, or the due date
    has passed (never, with unlimited attempts and no due date).
    """
    quiz = attempt.quiz
    if quiz.reveal == RevealPolicy.AFTER_SUBMIT and not quiz_reveal_waits_for_last_attempt(quiz=quiz):
        return attempt.ended_at
    if quiz.reveal == RevealPolicy.AFTER_SUBMIT:
        moments = (_attempts_used_up_at(quiz=quiz, user_id=attempt.user_id), _due_date_passed_at(quiz=quiz))
        return min((moment for moment in moments if moment is not None), default=None)
    if quiz.reveal == RevealPolicy.AFTER_DUE:
        return _due_date_passed_at(quiz=quiz)
    return None


def _due_date_passed_at(*, quiz: Quiz) -> datetime | None:
    if quiz.closes_at is None:
        return None
    return quiz.closes_at + timedelta(seconds=settings.QUIZ_SUBMIT_GRACE_SECONDS)


def _attempts_used_up_at(*, quiz: Quiz, user_id: int) -> datetime | None:
    """When the student's last allowed attempt ended; None while they may start another."""
    if quiz.max_attempts is None:
        return None
    used = Attempt.objects.filter(quiz=quiz, user_id=user_id).aggregate(
        count=Count("id"), open=Count("id", filter=Q(state=AttemptState.IN_PROGRESS)), last=Max("ended_at")
    )
    if used["count"] < quiz.max_attempts or used["open"]:
        return None
    last: datetime | None = used["last"]
    return last


def attempt_reveals_answers(*, attempt: Attempt, user: AbstractBaseUser | AnonymousUser, now: datetime) -> bool:
    if attempt.state == AttemptState.IN_PROGRESS:
        return False
    if user_is_instructor(user=user):
        return True
    reveal_at = attempt_reveal_time(attempt=attempt)
    return reveal_at is not None and reveal_at <= now


# What a submission's API view reads: not its code or notebook, nor the key's spec,
# expected values and report, nor the exercise's texts (large, and each JSON field
# decoded per row).
SUBMISSION_VIEW_DEFERRED = (
    "code",
    "notebook",
    "key__spec",
    "key__expected",
    "key__report",
    "key__summary",
    "exercise__prompt",
    "exercise__functions",
    "exercise__starter_code",
    "exercise__reference_solution",
)


def _submissions_for_view() -> QuerySet[Submission]:
    return Submission.objects.select_related("exercise", "user", "key", "result").defer(*SUBMISSION_VIEW_DEFERRED)


def submission_get_visible(*, submission_id: int, user: AbstractBaseUser | AnonymousUser) -> Submission:
    """The submission for its owner or an instructor; Submission.DoesNotExist otherwise."""
    submissions = _submissions_for_view()
    if not user_is_instructor(user=user):
        submissions = submissions.filter(user_id=user_pk(user=user))
    return submissions.get(id=submission_id)


def submission_list_for_exercise(*, exercise: Exercise, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Submission]:
    """Instructors see every submission to the exercise; students their own."""
    submissions = _submissions_for_view().filter(exercise=exercise).order_by("-created_at", "-id")
    if user_is_instructor(user=user):
        return submissions
    return submissions.filter(user_id=user_pk(user=user))


def submission_result(*, submission: Submission) -> GradingResult | None:
    try:
        return submission.result
    except GradingResult.DoesNotExist:
        return None
