"""Scoring rules for quiz answers: pure functions over plain data, no database."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


@dataclass(frozen=True)
class AnswerKey:
    """What a question accepts, detached from the ORM."""

    type: str  # questions.models.QuestionType value
    points: Decimal
    scoring: str = "all-or-nothing"  # questions.models.MultipleScoring value
    correct_choice_ids: frozenset[int] = frozenset()
    choice_ids: frozenset[int] = frozenset()
    numeric_answer: float | None = None
    abs_tolerance: float | None = None
    rel_tolerance: float | None = None


@dataclass(frozen=True)
class Answer:
    choice_ids: frozenset[int] | None = None
    value: float | None = None


@dataclass(frozen=True)
class Scored:
    answered: bool
    correct: bool
    score: Decimal
    max_score: Decimal


def numeric_is_close(
    *, value: float, expected: float, abs_tolerance: float | None, rel_tolerance: float | None
) -> bool:
    """|value - expected| <= max(abs_tolerance, rel_tolerance * |expected|), like math.isclose."""
    if not math.isfinite(value):
        return False
    allowed = max(abs_tolerance or 0.0, (rel_tolerance or 0.0) * abs(expected))
    return abs(value - expected) <= allowed


def _share_of(points: Decimal, fraction: Decimal) -> Decimal:
    return min(points, (points * fraction).quantize(CENT, rounding=ROUND_HALF_UP))


def score_multiple(*, key: AnswerKey, selected: frozenset[int]) -> Decimal:
    """Select-all-that-apply.

    all-or-nothing: full points only for exactly the correct set.
    right-minus-wrong: each correct choice selected earns points/C and each wrong one
    selected costs points/C (C = number of correct choices), floored at zero, so ticking
    every box earns nothing unless every box is correct.
    """
    if selected == key.correct_choice_ids:
        return key.points
    if key.scoring != "right-minus-wrong" or not key.correct_choice_ids:
        return Decimal(0)
    right = len(selected & key.correct_choice_ids)
    wrong = len(selected - key.correct_choice_ids)
    fraction = Decimal(max(0, right - wrong)) / Decimal(len(key.correct_choice_ids))
    return _share_of(key.points, fraction)


def score_answer(*, key: AnswerKey, answer: Answer | None) -> Scored:
    points = key.points
    if answer is None or (answer.choice_ids is None and answer.value is None):
        return Scored(answered=False, correct=False, score=Decimal(0), max_score=points)
    if key.type == "numeric":
        assert answer.value is not None
        assert key.numeric_answer is not None
        correct = numeric_is_close(
            value=answer.value,
            expected=key.numeric_answer,
            abs_tolerance=key.abs_tolerance,
            rel_tolerance=key.rel_tolerance,
        )
        return Scored(answered=True, correct=correct, score=points if correct else Decimal(0), max_score=points)
    selected = answer.choice_ids or frozenset()
    if key.type == "multiple":
        score = score_multiple(key=key, selected=selected)
        return Scored(answered=True, correct=selected == key.correct_choice_ids, score=score, max_score=points)
    correct = selected == key.correct_choice_ids
    return Scored(answered=True, correct=correct, score=points if correct else Decimal(0), max_score=points)
