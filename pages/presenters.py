"""What the attempt page shows, built from the REST API's own view of the attempt
(grader.apis.attempt_detail_data), so that a page can never reveal more, or other, than
the API does under the quiz's reveal policy."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.safestring import SafeString, mark_safe

from pages.forms import AnswerForm, answer_field_name
from questions.markdown import render_markdown
from questions.models import Quiz, RevealPolicy
from questions.selectors import quiz_reveal_waits_for_last_attempt


@dataclass(frozen=True, kw_only=True)
class ChoiceView:
    id: int
    text: str
    checked: bool  # the student's pick: in the form as sent, or in the submitted answer
    correct: bool | None  # None while the reveal policy hides it
    feedback_html: SafeString | str  # "" while the reveal policy hides it


@dataclass(frozen=True, kw_only=True)
class QuestionView:
    number: int
    id: int
    type: str
    title: str
    prompt_html: SafeString
    points: Decimal
    field_name: str
    choices: list[ChoiceView]
    value: str  # the number as typed (form) or as submitted (result)
    error: str
    result: dict[str, Any] | None  # grader.apis.ResultSerializer's shape, once the attempt has ended


def _choice_views(
    *, question: dict[str, Any], checked: set[int], correct: set[int] | None, feedback: dict[int, str]
) -> list[ChoiceView]:
    return [
        ChoiceView(
            id=choice["id"],
            text=choice["text"],
            checked=choice["id"] in checked,
            correct=None if correct is None else choice["id"] in correct,
            feedback_html=_markdown(feedback.get(choice["id"], "")),
        )
        for choice in question["choices"]
    ]


def _markdown(text: str) -> SafeString | str:
    # questions.markdown sanitizes what it renders (nh3): safe to insert as is.
    return mark_safe(render_markdown(text=text)) if text else ""  # noqa: S308


def _posted_choice_ids(raw: list[str]) -> set[int]:
    return {int(value) for value in raw if value.isascii() and value.isdigit()}


def attempt_question_views(*, data: dict[str, Any], form: AnswerForm | None = None) -> list[QuestionView]:
    """The attempt's questions in its order, each with the student's answer: from `form`
    while the attempt is being answered, from the attempt's results once it has ended."""
    results = {result["question"]: result for result in data["results"]}
    views = []
    for number, question in enumerate(data["questions"], start=1):
        result = results.get(question["id"])
        if result is not None:
            checked = set(result["choices"])
            revealed = result["correct_choices"] is not None
            correct = set(result["correct_choices"]) if revealed else None
            feedback = {item["choice"]: item["feedback"] for item in result["feedback"] or []}
            value = "" if result["value"] is None else str(result["value"])
        else:
            checked = _posted_choice_ids(form.picked.get(question["id"], [])) if form else set()
            correct, feedback = None, {}
            value = form.values.get(question["id"], "") if form else ""
        views.append(
            QuestionView(
                number=number,
                id=question["id"],
                type=question["type"],
                title=question["title"],
                # Rendered by questions.markdown, which sanitizes: safe to insert as is.
                prompt_html=mark_safe(question["prompt_html"]),  # noqa: S308
                points=question["points"],
                field_name=answer_field_name(question_id=question["id"]),
                choices=_choice_views(question=question, checked=checked, correct=correct, feedback=feedback),
                value=value,
                error=form.errors.get(question["id"], "") if form else "",
                result=_result_view(result),
            )
        )
    return views


def _result_view(result: dict[str, Any] | None) -> dict[str, Any] | None:
    if result is None:
        return None
    explanation = result["explanation_html"]
    # Sanitized by questions.markdown, as the prompt is.
    return {**result, "explanation_html": mark_safe(explanation) if explanation else ""}  # noqa: S308


def quiz_reveal_text(*, quiz: Quiz) -> str:
    """When the quiz shows which answers were correct, as the end of "shown …"."""
    if quiz.reveal == RevealPolicy.NEVER:
        return "never"
    if quiz.reveal == RevealPolicy.AFTER_DUE:
        return "after the due date"
    if not quiz_reveal_waits_for_last_attempt(quiz=quiz):
        return "after you submit"
    if quiz.max_attempts is None:
        return "after the due date" if quiz.closes_at else "never (unlimited attempts and no due date)"
    last = f"once you have used all {quiz.max_attempts} attempts"
    return f"{last} or after the due date, whichever comes first" if quiz.closes_at else last
