"""The quiz form: one field per question, read into the SubmittedAnswers attempt_submit
takes. Only the shape of the input is checked here (numbers are numbers, choices are
ids); whether an answer fits its question is attempt_submit's call, as for the API."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.http import QueryDict

from grader.selectors import PresentedQuestion
from grader.services import SubmittedAnswer
from questions.models import QuestionType

NOT_A_CHOICE = "That is not one of this question's choices."
NOT_A_NUMBER = "Enter a number, for example 0.95 or 1e-3."

# attempt_submit names a problem by its entry in the list it was given: answers[3].choices
_ENTRY_PATH = re.compile(r"^answers\[(\d+)\]")


def answer_field_name(*, question_id: int) -> str:
    return f"question-{question_id}"


@dataclass(kw_only=True)
class AnswerForm:
    """What the student sent, kept to fill the form in again when the submit is refused."""

    answers: list[SubmittedAnswer] = field(default_factory=list)
    picked: dict[int, list[str]] = field(default_factory=dict)  # question id -> choice values as sent
    values: dict[int, str] = field(default_factory=dict)  # question id -> number as typed
    errors: dict[int, str] = field(default_factory=dict)  # question id -> what is wrong with it
    general_errors: list[str] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return not self.errors and not self.general_errors

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        """Put each of attempt_submit's problems beside the question it is about."""
        for path, messages in errors.items():
            match = _ENTRY_PATH.match(path)
            index = int(match.group(1)) if match else -1
            if 0 <= index < len(self.answers):
                self.errors[self.answers[index].question_id] = messages[0]
            else:
                self.general_errors.append(messages[0])


def _choice_ids(raw: list[str]) -> list[int] | None:
    if not all(value.isascii() and value.isdigit() for value in raw):
        return None
    return [int(value) for value in raw]


def _number(raw: str) -> float | None:
    try:
        return float(raw)
    except ValueError:
        return None


def answer_form_read(*, presented: list[PresentedQuestion], data: QueryDict) -> AnswerForm:
    """The answers to the attempt's questions in `data`; an empty field is an unanswered
    question, and fields that are no question of the attempt are ignored."""
    form = AnswerForm()
    for entry in presented:
        question_id = entry.question.id
        name = answer_field_name(question_id=question_id)
        if entry.question.type == QuestionType.NUMERIC:
            raw = data.get(name, "").strip()
            form.values[question_id] = raw
            if not raw:
                continue
            value = _number(raw)
            if value is None:
                form.errors[question_id] = NOT_A_NUMBER
                continue
            form.answers.append(SubmittedAnswer(question_id=question_id, value=value))
        else:
            picked = data.getlist(name)
            form.picked[question_id] = picked
            if not picked:
                continue
            choice_ids = _choice_ids(picked)
            if choice_ids is None:
                form.errors[question_id] = NOT_A_CHOICE
                continue
            form.answers.append(SubmittedAnswer(question_id=question_id, choice_ids=choice_ids))
    return form
