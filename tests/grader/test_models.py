"""The attempt invariants hold in the database itself, not only in the services."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from grader.models import Attempt, AttemptAnswer, AttemptState
from grader.services import attempt_start


def test_it_allows_one_open_attempt_per_student_and_quiz(student, quiz):
    attempt_start(quiz=quiz, user=student)
    with pytest.raises(IntegrityError), transaction.atomic():
        Attempt.objects.create(user=student, quiz=quiz, number=2, started_at=timezone.now(), max_score=Decimal(1))


@pytest.mark.parametrize(
    "changes",
    [
        {"state": AttemptState.SUBMITTED},  # submitted without time or score
        {"state": AttemptState.SUBMITTED, "submitted_at": timezone.now(), "score": Decimal(1)},  # no ended_at
        {"score": Decimal(1)},  # in progress with a score
        {"state": AttemptState.EXPIRED, "ended_at": timezone.now(), "score": Decimal(2)},  # expired scores zero
        {
            "state": AttemptState.SUBMITTED,
            "submitted_at": timezone.now(),
            "ended_at": timezone.now(),
            "score": Decimal(99),
        },
        {"number": 0},
    ],
)
def test_it_refuses_inconsistent_attempt_states(student, quiz, changes):
    attempt = attempt_start(quiz=quiz, user=student)
    with pytest.raises(IntegrityError), transaction.atomic():
        Attempt.objects.filter(id=attempt.id).update(**changes)


def test_it_refuses_answer_scores_above_their_maximum(student, quiz):
    attempt = attempt_start(quiz=quiz, user=student)
    question = quiz.quiz_questions.first().question
    with pytest.raises(IntegrityError), transaction.atomic():
        AttemptAnswer.objects.create(
            attempt=attempt,
            question=question,
            position=0,
            answered=True,
            is_correct=True,
            score=Decimal(2),
            max_score=Decimal(1),
        )
