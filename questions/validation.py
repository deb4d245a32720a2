"""Rules a question must satisfy across its rows; shared by the admin and the importer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from questions.models import QuestionType


@dataclass(frozen=True)
class ChoiceDraft:
    text: str
    is_correct: bool


def question_problems(
    *,
    type: str,
    choices: Sequence[ChoiceDraft],
    numeric_answer: float | None,
    abs_tolerance: float | None,
    rel_tolerance: float | None,
) -> list[str]:
    """Every reason this question cannot be saved, as sentences an instructor can act on."""
    problems: list[str] = []
    correct = sum(1 for choice in choices if choice.is_correct)
    if type == QuestionType.NUMERIC:
        if choices:
            problems.append(f"A numeric question has no choices; remove the {len(choices)} choice(s).")
        if numeric_answer is None:
            problems.append("A numeric question needs an answer.")
        elif not math.isfinite(numeric_answer):
            problems.append("The numeric answer must be a finite number.")
        if abs_tolerance is None and rel_tolerance is None:
            problems.append("A numeric question needs a tolerance: an absolute one, a relative one, or both.")
        for name, tolerance in (("absolute", abs_tolerance), ("relative", rel_tolerance)):
            if tolerance is not None and not (math.isfinite(tolerance) and tolerance >= 0):
                problems.append(f"The {name} tolerance must be a finite number of zero or more.")
        return problems
    if len(choices) < 2:
        problems.append(f"A choice question needs at least two choices; it has {len(choices)}.")
    if type == QuestionType.SINGLE and correct != 1:
        problems.append(f"A single-choice question needs exactly one correct choice; it has {correct}.")
    if type == QuestionType.MULTIPLE and correct < 1:
        problems.append("A select-all-that-apply question needs at least one correct choice.")
    if any(not choice.text.strip() for choice in choices):
        problems.append("Every choice needs text.")
    if numeric_answer is not None:
        problems.append("Only numeric questions have a numeric answer; clear it or change the type.")
    return problems
