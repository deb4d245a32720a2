"""Database constraints: each one refuses a bad row even when the services are bypassed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from questions.models import Choice, Question, QuestionType, Quiz, QuizQuestion, Reading, RevealPolicy
from tests.factories import QuestionFactory, QuizFactory

pytestmark = pytest.mark.django_db

NUMERIC = {"type": QuestionType.NUMERIC, "numeric_answer": 0.952, "abs_tolerance": 0.0005}


def _question(**fields: Any) -> Question:
    return Question.objects.create(slug=fields.pop("slug", "q"), title="Q", prompt="Why?", **fields)


def _refused(create: Any, **fields: Any) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        create(**fields)


def test_it_saves_a_valid_numeric_question():
    assert _question(**NUMERIC).pk is not None


def test_it_saves_a_numeric_question_with_only_a_relative_tolerance():
    assert _question(**{**NUMERIC, "abs_tolerance": None, "rel_tolerance": 0.01}).pk is not None


def test_it_refuses_a_numeric_question_without_answer():
    _refused(_question, **{**NUMERIC, "numeric_answer": None})

    assert not Question.objects.exists()


def test_it_refuses_a_numeric_question_without_tolerance():
    _refused(_question, **{**NUMERIC, "abs_tolerance": None})


def test_it_refuses_negative_points():
    _refused(_question, points=Decimal("-0.5"))

    assert _question(points=Decimal(0)).points == 0


def test_it_refuses_a_negative_absolute_tolerance():
    _refused(_question, **{**NUMERIC, "abs_tolerance": -0.1})


def test_it_refuses_a_negative_relative_tolerance():
    _refused(_question, **{**NUMERIC, "rel_tolerance": -0.1})


def test_it_refuses_a_duplicate_question_slug():
    _question(slug="same")

    _refused(_question, slug="same")


def _quiz(**fields: Any) -> Quiz:
    return Quiz.objects.create(slug=fields.pop("slug", "quiz"), title="Quiz", **fields)


def test_it_refuses_a_quiz_that_closes_before_it_opens():
    now = timezone.now()

    _refused(_quiz, opens_at=now, closes_at=now - timedelta(minutes=1))
    _refused(_quiz, opens_at=now, closes_at=now)
    assert _quiz(opens_at=now, closes_at=now + timedelta(minutes=1)).pk is not None


def test_it_refuses_a_zero_time_limit():
    _refused(_quiz, time_limit_minutes=0)


def test_it_refuses_zero_max_attempts():
    _refused(_quiz, max_attempts=0)


def test_it_refuses_reveal_after_due_without_closes_at():
    _refused(_quiz, reveal=RevealPolicy.AFTER_DUE)

    assert _quiz(reveal=RevealPolicy.AFTER_DUE, closes_at=timezone.now()).pk is not None


def test_it_refuses_a_duplicate_choice_position():
    question = QuestionFactory()

    _refused(Choice.objects.create, question=question, position=0, text="Again")

    assert question.choices.count() == 3


def test_it_refuses_a_duplicate_reading_position():
    question = QuestionFactory()
    Reading.objects.create(question=question, position=0, title="A", url="https://example.org/a")

    _refused(Reading.objects.create, question=question, position=0, title="B", url="https://example.org/b")


def test_it_refuses_a_question_twice_in_a_quiz():
    question = QuestionFactory()
    quiz = QuizFactory(questions=[question])

    _refused(QuizQuestion.objects.create, quiz=quiz, question=question, position=1)


def test_it_refuses_two_questions_at_one_quiz_position():
    quiz = QuizFactory(questions=[QuestionFactory()])

    _refused(QuizQuestion.objects.create, quiz=quiz, question=QuestionFactory(), position=0)
