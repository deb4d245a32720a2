"""Rules a question must satisfy across its fields and rows.

The admin shows numeric problems on their fields and choice problems on the choices
inline; the file importer reports both with a line number. One definition for both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from questions.models import QuestionType


@dataclass(frozen=True)
class ChoiceDraft:
    text: str
    is_correct: bool


def numeric_problems(
    *, type: str, numeric_answer: float | None, abs_tolerance: float | None, rel_tolerance: float | None
) -> dict[str, str]:
    """{field name: problem} for the numeric-answer fields."""
    if type != QuestionType.NUMERIC:
        if numeric_answer is not None:
            return {"numeric_answer": "Only numeric questions have a numeric answer; clear it or change the type."}
        return {}
    problems = {}
    if numeric_answer is None:
        problems["numeric_answer"] = "A numeric question needs an answer."
    elif not math.isfinite(numeric_answer):
        problems["numeric_answer"] = "The numeric answer must be a finite number."
    if abs_tolerance is None and rel_tolerance is None:
        problems["abs_tolerance"] = "A numeric question needs a tolerance: an absolute one, a relative one, or both."
    for field, tolerance in (("abs_tolerance", abs_tolerance), ("rel_tolerance", rel_tolerance)):
        if tolerance is not None and not (math.isfinite(tolerance) and tolerance >= 0):
            problems[field] = "A tolerance must be a finite number of zero or more."
    return problems


def choice_problems(*, type: str, choices: Sequence[ChoiceDraft]) -> list[str]:
    if type == QuestionType.NUMERIC:
        return [f"A numeric question has no choices; remove the {len(choices)} choice(s)."] if choices else []
    problems = []
    correct = sum(1 for choice in choices if choice.is_correct)
    if len(choices) < 2:
        problems.append(f"A choice question needs at least two choices; it has {len(choices)}.")
    if type == QuestionType.SINGLE and correct != 1:
        problems.append(f"A single-choice question needs exactly one correct choice; it has {correct}.")
    if type == QuestionType.MULTIPLE and correct < 1:
        problems.append("A select-all-that-apply question needs at least one correct choice.")
    if any(not choice.text.strip() for choice in choices):
        problems.append("Every choice needs text.")
    if any("\n" in choice.text.strip() for choice in choices):
        problems.append("A choice must be a single line of text.")
    return problems
