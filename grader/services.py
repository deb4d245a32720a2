"""Writes for quiz attempts: start, submit, expire.

Each write is a single conditional statement or one short transaction, so two requests
racing on the same attempt cannot both win: the loser gets a 409, never a half-written
attempt.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.roles import user_pk
from config.errors import Refusal, ServiceError
from grader.models import Attempt, AttemptAnswer, AttemptState
from grader.scoring import Answer, AnswerKey, score_answer
from grader.selectors import PresentedQuestion, attempt_count_for_user, attempt_presented_questions
from lti.passback import passbacks_record_for_attempt
from questions.models import QuestionType, Quiz
from questions.selectors import quiz_has_closed, quiz_has_opened, quiz_questions_with_choices


@dataclass(frozen=True)
class SubmittedAnswer:
    """One entry of a submit request, before it is checked against the attempt."""

    question_id: int
    choice_ids: list[int] | None = None
    value: float | None = None


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _attempt_deadline(*, quiz: Quiz, started_at: datetime) -> datetime | None:
    deadlines = []
    if quiz.time_limit_minutes:
        deadlines.append(started_at + timedelta(minutes=quiz.time_limit_minutes))
    if quiz.closes_at is not None:
        deadlines.append(quiz.closes_at)
    return min(deadlines) if deadlines else None


def _submit_cutoff(*, attempt: Attempt) -> datetime | None:
    if attempt.deadline_at is None:
        return None
    return attempt.deadline_at + timedelta(seconds=settings.QUIZ_SUBMIT_GRACE_SECONDS)


def _attempt_layout(*, quiz: Quiz) -> list[dict[str, Any]]:
    """The quiz as this attempt will show it, shuffled when the quiz asks for it."""
    shuffler = secrets.SystemRandom()
    quiz_questions = quiz_questions_with_choices(quiz=quiz)
    if quiz.shuffle_questions:
        shuffler.shuffle(quiz_questions)
    layout = []
    for quiz_question in quiz_questions:
        choice_ids = [choice.id for choice in quiz_question.question.choices.all()]
        if quiz.shuffle_choices:
            shuffler.shuffle(choice_ids)
        layout.append(
            {
                "question": quiz_question.question_id,
                "points": str(quiz_question.effective_points),
                "choices": choice_ids,
            }
        )
    return layout


def attempts_expire_overdue(*, now: datetime, user_id: int | None = None, quiz: Quiz | None = None) -> int:
    """End every in-progress attempt whose submit cutoff has passed, scoring it zero.

    One UPDATE with the state in its WHERE clause: safe to run from several workers at
    once and to repeat.
    """
    cutoff = now - timedelta(seconds=settings.QUIZ_SUBMIT_GRACE_SECONDS)
    overdue = Attempt.objects.filter(state=AttemptState.IN_PROGRESS, deadline_at__lt=cutoff)
    if user_id is not None:
        overdue = overdue.filter(user_id=user_id)
    if quiz is not None:
        overdue = overdue.filter(quiz=quiz)
    return overdue.update(state=AttemptState.EXPIRED, ended_at=now, score=Decimal(0))


def _refuse_if_unavailable(*, quiz: Quiz, now: datetime) -> None:
    if not quiz_has_opened(quiz=quiz, now=now):
        assert quiz.opens_at is not None
        raise ServiceError(
            kind=Refusal.FORBIDDEN, code="quiz_not_open", message=f"This quiz opens at {_iso(quiz.opens_at)}."
        )
    if quiz_has_closed(quiz=quiz, now=now):
        assert quiz.closes_at is not None
        raise ServiceError(
            kind=Refusal.FORBIDDEN, code="quiz_closed", message=f"This quiz closed at {_iso(quiz.closes_at)}."
        )


def _attempt_in_progress_error(*, quiz: Quiz, user_id: int) -> ServiceError:
    open_attempt = Attempt.objects.filter(quiz=quiz, user_id=user_id, state=AttemptState.IN_PROGRESS).first()
    if open_attempt is None:
        return ServiceError(
            kind=Refusal.CONFLICT,
            code="attempt_conflict",
            message="Another attempt at this quiz was started or ended at the same moment; please try again.",
        )
    return ServiceError(
        kind=Refusal.CONFLICT,
        code="attempt_in_progress",
        message=f"You already have attempt {open_attempt.id} in progress; submit it before starting another.",
        extra={"attempt": open_attempt.id},
    )


def attempt_start(*, quiz: Quiz, user: AbstractBaseUser | AnonymousUser) -> Attempt:
    now = timezone.now()
    user_id = user_pk(user=user)
    _refuse_if_unavailable(quiz=quiz, now=now)
    # An attempt whose time ran out must not block a new one just because no sweep ran yet.
    attempts_expire_overdue(now=now, user_id=user_id, quiz=quiz)
    if Attempt.objects.filter(quiz=quiz, user_id=user_id, state=AttemptState.IN_PROGRESS).exists():
        raise _attempt_in_progress_error(quiz=quiz, user_id=user_id)
    used = attempt_count_for_user(quiz=quiz, user=user)
    if quiz.max_attempts is not None and used >= quiz.max_attempts:
        raise ServiceError(
            kind=Refusal.FORBIDDEN,
            code="max_attempts_reached",
            message=f"You have used all {quiz.max_attempts} attempt(s) allowed for this quiz.",
        )
    layout = _attempt_layout(quiz=quiz)
    try:
        with transaction.atomic():
            return Attempt.objects.create(
                quiz=quiz,
                user_id=user_id,
                number=used + 1,
                layout=layout,
                started_at=now,
                deadline_at=_attempt_deadline(quiz=quiz, started_at=now),
                max_score=sum((Decimal(entry["points"]) for entry in layout), Decimal(0)),
            )
    except IntegrityError:
        # The unique constraints caught a concurrent start by the same student.
        raise _attempt_in_progress_error(quiz=quiz, user_id=user_id) from None


def _answer_key(*, presented: PresentedQuestion) -> AnswerKey:
    question = presented.question
    return AnswerKey(
        type=question.type,
        points=presented.points,
        scoring=question.scoring,
        correct_choice_ids=frozenset(c.id for c in presented.choices if c.is_correct),
        choice_ids=frozenset(c.id for c in presented.choices),
        numeric_answer=question.numeric_answer,
        abs_tolerance=question.abs_tolerance,
        rel_tolerance=question.rel_tolerance,
    )


def _answer_problem(*, presented: PresentedQuestion, submitted: SubmittedAnswer) -> tuple[str, str] | None:
    """(field, message) describing why this answer does not fit its question, or None."""
    question = presented.question
    if question.type == QuestionType.NUMERIC:
        if submitted.choice_ids is not None:
            return "choices", f'Question {question.id} is numeric; send "value", not "choices".'
        if submitted.value is not None and not math.isfinite(submitted.value):
            return "value", "The value must be a finite number."
        return None
    if submitted.value is not None:
        return "value", f'Question {question.id} is multiple choice; send "choices", not "value".'
    chosen = submitted.choice_ids or []
    offered = {choice.id for choice in presented.choices}
    foreign = [choice_id for choice_id in chosen if choice_id not in offered]
    if foreign:
        return "choices", f"Choice {foreign[0]} is not one of question {question.id}'s choices."
    if len(set(chosen)) != len(chosen):
        return "choices", "A choice is listed twice."
    if question.type == QuestionType.SINGLE and len(chosen) > 1:
        return "choices", f"Question {question.id} takes a single choice; {len(chosen)} were sent."
    return None


def _validated_answers(*, presented: list[PresentedQuestion], submitted: list[SubmittedAnswer]) -> dict[int, Answer]:
    by_question = {p.question.id: p for p in presented}
    answers: dict[int, Answer] = {}
    errors: dict[str, list[str]] = {}
    for index, entry in enumerate(submitted):
        path = f"answers[{index}]"
        target = by_question.get(entry.question_id)
        if target is None:
            errors[f"{path}.question"] = [f"Question {entry.question_id} is not part of this quiz."]
            continue
        if entry.question_id in answers:
            errors[f"{path}.question"] = [f"Question {entry.question_id} is answered more than once."]
            continue
        problem = _answer_problem(presented=target, submitted=entry)
        if problem is not None:
            errors[f"{path}.{problem[0]}"] = [problem[1]]
            continue
        choices = frozenset(entry.choice_ids) if entry.choice_ids else None
        answers[entry.question_id] = Answer(choice_ids=choices, value=entry.value)
    if errors:
        raise ServiceError.invalid(errors)
    return answers


def _answer_row(
    *, attempt: Attempt, position: int, presented: PresentedQuestion, answer: Answer | None
) -> AttemptAnswer:
    key = _answer_key(presented=presented)
    scored = score_answer(key=key, answer=answer)
    return AttemptAnswer(
        attempt_id=attempt.id,
        question_id=presented.question.id,
        position=position,
        selected_choice_ids=sorted(answer.choice_ids) if answer and answer.choice_ids else [],
        numeric_value=answer.value if answer else None,
        correct_choice_ids=sorted(key.correct_choice_ids),
        correct_value=key.numeric_answer,
        answered=scored.answered,
        is_correct=scored.correct,
        score=scored.score,
        max_score=scored.max_score,
    )


def _time_is_up_error(*, attempt: Attempt) -> ServiceError:
    assert attempt.deadline_at is not None
    return ServiceError(
        kind=Refusal.CONFLICT,
        code="time_limit_exceeded",
        message=f"The time for this attempt ended at {_iso(attempt.deadline_at)}; it can no longer be submitted.",
    )


def _already_submitted_error() -> ServiceError:
    return ServiceError(kind=Refusal.CONFLICT, code="already_submitted", message="This attempt was already submitted.")


def attempt_submit(*, attempt: Attempt, answers: list[SubmittedAnswer]) -> Attempt:
    """Score the answers and end the attempt; a second submit, or a late one, is refused."""
    now = timezone.now()
    if attempt.state == AttemptState.SUBMITTED:
        raise _already_submitted_error()
    cutoff = _submit_cutoff(attempt=attempt)
    if attempt.state == AttemptState.EXPIRED or (cutoff is not None and now > cutoff):
        raise _time_is_up_error(attempt=attempt)
    presented = attempt_presented_questions(attempt=attempt)
    validated = _validated_answers(presented=presented, submitted=answers)
    rows = [
        _answer_row(attempt=attempt, position=position, presented=p, answer=validated.get(p.question.id))
        for position, p in enumerate(presented)
    ]
    total = sum((row.score for row in rows), Decimal(0))
    max_total = sum((row.max_score for row in rows), Decimal(0))
    with transaction.atomic():
        claimed = Attempt.objects.filter(id=attempt.id, state=AttemptState.IN_PROGRESS).update(
            state=AttemptState.SUBMITTED, submitted_at=now, ended_at=now, score=total, max_score=max_total
        )
        if claimed != 1:
            # Another request, or the expiry sweep, ended the attempt first: say which.
            attempt.refresh_from_db(fields=["state"])
            if attempt.state == AttemptState.EXPIRED:
                raise _time_is_up_error(attempt=attempt)
            raise _already_submitted_error()
        passbacks_record_for_attempt(attempt=attempt)
        AttemptAnswer.objects.bulk_create(rows)
    attempt.refresh_from_db()
    return attempt
