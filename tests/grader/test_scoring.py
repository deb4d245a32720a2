"""Pure scoring rules: no database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from grader.scoring import Answer, AnswerKey, numeric_is_close, score_answer, score_multiple

SINGLE = AnswerKey(type="single", points=Decimal(1), correct_choice_ids=frozenset({1}), choice_ids=frozenset({1, 2, 3}))
MULTI = AnswerKey(
    type="multiple",
    points=Decimal(2),
    scoring="right-minus-wrong",
    correct_choice_ids=frozenset({1, 2}),
    choice_ids=frozenset({1, 2, 3, 4}),
)
NUMERIC = AnswerKey(type="numeric", points=Decimal(2), numeric_answer=0.952, abs_tolerance=0.0005)


def test_it_scores_a_single_choice():
    assert score_answer(key=SINGLE, answer=Answer(choice_ids=frozenset({1}))).score == 1
    wrong = score_answer(key=SINGLE, answer=Answer(choice_ids=frozenset({2})))
    assert (wrong.correct, wrong.score, wrong.answered) == (False, 0, True)


def test_it_scores_unanswered_as_zero():
    result = score_answer(key=SINGLE, answer=None)
    assert (result.answered, result.correct, result.score, result.max_score) == (False, False, 0, 1)


@pytest.mark.parametrize(
    ("selected", "expected"),
    [
        ({1, 2}, Decimal(2)),  # exactly right
        ({1}, Decimal(1)),  # one of two right
        ({1, 3}, Decimal(0)),  # one right, one wrong
        ({1, 2, 3}, Decimal(1)),  # two right, one wrong
        ({1, 2, 3, 4}, Decimal(0)),  # ticking everything earns nothing
        ({3, 4}, Decimal(0)),  # floored at zero, never negative
        (set(), Decimal(0)),
    ],
)
def test_it_scores_right_minus_wrong(selected, expected):
    assert score_multiple(key=MULTI, selected=frozenset(selected)) == expected


def test_it_rounds_partial_credit_to_cents_without_exceeding_points():
    key = AnswerKey(
        type="multiple",
        points=Decimal(1),
        scoring="right-minus-wrong",
        correct_choice_ids=frozenset({1, 2, 3}),
        choice_ids=frozenset({1, 2, 3, 4}),
    )
    assert score_multiple(key=key, selected=frozenset({1})) == Decimal("0.33")
    assert score_multiple(key=key, selected=frozenset({1, 2})) == Decimal("0.67")


def test_it_scores_all_or_nothing():
    key = AnswerKey(**{**MULTI.__dict__, "scoring": "all-or-nothing"})
    assert score_multiple(key=key, selected=frozenset({1, 2})) == 2
    assert score_multiple(key=key, selected=frozenset({1})) == 0


def test_it_marks_partial_multiple_as_not_correct():
    result = score_answer(key=MULTI, answer=Answer(choice_ids=frozenset({1})))
    assert (result.correct, result.score) == (False, 1)


@pytest.mark.parametrize(
    ("value", "correct"),
    [(0.952, True), (0.9524, True), (0.9515, True), (0.951, False), (95.2, False), (float("nan"), False)],
)
def test_it_scores_numeric_within_absolute_tolerance(value, correct):
    assert score_answer(key=NUMERIC, answer=Answer(value=value)).correct is correct


def test_it_uses_the_larger_of_absolute_and_relative_tolerance():
    assert numeric_is_close(value=101.0, expected=100.0, abs_tolerance=0.5, rel_tolerance=0.01)
    assert not numeric_is_close(value=101.5, expected=100.0, abs_tolerance=0.5, rel_tolerance=0.01)
    assert numeric_is_close(value=0.3, expected=0.0, abs_tolerance=0.5, rel_tolerance=0.01)


def test_it_rejects_infinity_even_with_huge_tolerance():
    assert not numeric_is_close(value=float("inf"), expected=1.0, abs_tolerance=float("inf"), rel_tolerance=None)
