"""The question and quiz admin, used by a staff instructor (charlie)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from grader.models import Attempt
from grader.services import attempt_start, attempt_submit
from questions.models import Question, Quiz
from tests.factories import NumericQuestionFactory, QuestionFactory

QUESTIONS_URL = "/admin/questions/question/"
ADD_URL = QUESTIONS_URL + "add/"


def _inline(prefix: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{key}": value for key, value in row.items()})
    return data


def _question_form(*, choices: list[tuple[str, bool]], **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "Pick one",
        "slug": "pick-one",
        "type": "single",
        "points": "1",
        "prompt": "Which **one**?",
        "explanation": "The first.",
        "scoring": "all-or-nothing",
        "numeric_answer": "",
        "abs_tolerance": "",
        "rel_tolerance": "",
        "_save": "Save",
        **fields,
    }
    rows = [
        {"position": str(i), "text": text, "feedback": "", **({"is_correct": "on"} if correct else {})}
        for i, (text, correct) in enumerate(choices)
    ]
    return {**data, **_inline("choices", rows), **_inline("readings", [])}


def _slugs(response: Any) -> set[str]:
    return {question.slug for question in response.context["cl"].result_list}


def test_it_lists_questions(staff: Client):
    QuestionFactory(slug="first-question")

    response = staff.get(QUESTIONS_URL)

    assert response.status_code == 200
    assert b"first-question" in response.content


def test_it_searches_questions(staff: Client):
    QuestionFactory(slug="gradient-descent", title="Gradient descent")
    QuestionFactory(slug="decision-trees", title="Decision trees")

    response = staff.get(QUESTIONS_URL, {"q": "gradient"})

    assert response.status_code == 200
    assert _slugs(response) == {"gradient-descent"}


def test_it_filters_questions_by_type(staff: Client):
    QuestionFactory(slug="a-single")
    NumericQuestionFactory(slug="a-number")

    response = staff.get(QUESTIONS_URL, {"type__exact": "numeric"})

    assert response.status_code == 200
    assert _slugs(response) == {"a-number"}


def test_it_filters_questions_by_tag(staff: Client):
    tagged = QuestionFactory(slug="tagged")
    QuestionFactory(slug="untagged")
    tagged.tags.create(name="metrics")

    response = staff.get(QUESTIONS_URL, {"tags__id__exact": tagged.tags.get().id})

    assert response.status_code == 200
    assert _slugs(response) == {"tagged"}


def test_it_shows_the_markdown_preview(staff: Client):
    question = QuestionFactory(prompt="Which one?\n\n**Pick one.**", explanation="Read `code`.")

    response = staff.get(reverse("admin:questions_question_change", args=[question.id]))

    assert response.status_code == 200
    assert b"<strong>Pick one.</strong>" in response.content
    assert b"<code>code</code>" in response.content


def test_it_sanitizes_the_preview(staff: Client):
    question = QuestionFactory(prompt="Hi <script>alert(1)</script> **there**")

    response = staff.get(reverse("admin:questions_question_change", args=[question.id]))

    assert b"<strong>there</strong>" in response.content
    assert b"<script>alert(1)</script>" not in response.content


def test_it_shows_the_add_page(staff: Client):
    response = staff.get(ADD_URL)

    assert response.status_code == 200
    assert b'name="choices-TOTAL_FORMS"' in response.content
    assert b'name="readings-TOTAL_FORMS"' in response.content


def test_it_adds_a_single_choice_question(staff: Client):
    response = staff.post(ADD_URL, _question_form(choices=[("Right", True), ("Wrong", False)]))

    assert response.status_code == 302
    question = Question.objects.get(slug="pick-one")
    assert [(c.text, c.is_correct) for c in question.choices.all()] == [("Right", True), ("Wrong", False)]


def test_it_refuses_a_single_choice_question_with_two_correct_choices(staff: Client):
    response = staff.post(ADD_URL, _question_form(choices=[("Right", True), ("Also right", True)]))

    assert response.status_code == 200
    assert "exactly one correct choice" in response.content.decode()
    assert not Question.objects.exists()


def test_it_refuses_a_choice_question_with_one_choice(staff: Client):
    response = staff.post(ADD_URL, _question_form(choices=[("Right", True)]))

    assert response.status_code == 200
    assert "at least two choices" in response.content.decode()
    assert not Question.objects.exists()


def test_it_refuses_a_multi_line_choice(staff: Client):
    response = staff.post(ADD_URL, _question_form(choices=[("Right\nreally", True), ("Wrong", False)]))

    assert response.status_code == 200
    assert "single line" in response.content.decode()
    assert not Question.objects.exists()


def test_it_adds_a_numeric_question(staff: Client):
    form = _question_form(choices=[], type="numeric", numeric_answer="0.952", abs_tolerance="0.0005")

    response = staff.post(ADD_URL, form)

    assert response.status_code == 302
    question = Question.objects.get(slug="pick-one")
    assert (question.numeric_answer, question.abs_tolerance) == (0.952, 0.0005)


def test_it_refuses_a_numeric_question_without_tolerance(staff: Client):
    response = staff.post(ADD_URL, _question_form(choices=[], type="numeric", numeric_answer="0.952"))

    assert response.status_code == 200
    assert "A numeric question needs a tolerance" in response.content.decode()
    assert not Question.objects.exists()


def test_it_refuses_a_numeric_answer_on_a_choice_question(staff: Client):
    form = _question_form(choices=[("Right", True), ("Wrong", False)], numeric_answer="1")

    response = staff.post(ADD_URL, form)

    assert response.status_code == 200
    assert "Only numeric questions have a numeric answer" in response.content.decode()
    assert not Question.objects.exists()


def test_it_duplicates_questions(staff: Client):
    question = QuestionFactory(slug="original")
    question.tags.create(name="metrics")

    response = staff.post(QUESTIONS_URL, {"action": "duplicate_questions", "_selected_action": [question.id]})

    assert response.status_code == 302
    copy = Question.objects.get(slug="original-copy")
    assert copy.title == f"{question.title} (copy)"
    assert [(c.text, c.is_correct, c.feedback) for c in copy.choices.all()] == [
        (c.text, c.is_correct, c.feedback) for c in question.choices.all()
    ]
    assert {c.id for c in copy.choices.all()}.isdisjoint({c.id for c in question.choices.all()})
    assert [t.name for t in copy.tags.all()] == ["metrics"]


def test_it_numbers_a_second_copy(staff: Client):
    question = QuestionFactory(slug="original")
    QuestionFactory(slug="original-copy")

    staff.post(QUESTIONS_URL, {"action": "duplicate_questions", "_selected_action": [question.id]})

    assert Question.objects.filter(slug="original-copy-2").exists()


def _submitted_attempt(quiz: Quiz, student: AbstractUser) -> Attempt:
    return attempt_submit(attempt=attempt_start(quiz=quiz, user=student), answers=[])


def test_it_exports_the_gradebook(staff: Client, quiz: Quiz, student: AbstractUser):
    attempt = _submitted_attempt(quiz, student)

    response = staff.post("/admin/questions/quiz/", {"action": "export_gradebook", "_selected_action": [quiz.id]})

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "quiz",
        "username",
        "email",
        "attempts",
        "best_score",
        "latest_score",
        "max_score",
        "last_submitted_at",
    ]
    assert len(rows) == 2
    assert rows[1][:4] == ["basics", "alice", "alice@example.org", "1"]
    assert rows[1][6] == str(attempt.max_score)


def test_it_leaves_in_progress_attempts_out_of_the_gradebook(staff: Client, quiz: Quiz, student: AbstractUser):
    attempt_start(quiz=quiz, user=student)

    response = staff.post("/admin/questions/quiz/", {"action": "export_gradebook", "_selected_action": [quiz.id]})

    assert b"".join(response.streaming_content).decode().strip().count("\n") == 0


def test_it_links_a_quiz_to_its_attempts(staff: Client, quiz: Quiz):
    response = staff.get("/admin/questions/quiz/")

    assert f"/admin/grader/attempt/?quiz__id__exact={quiz.id}".encode() in response.content


def test_it_lists_a_quiz_attempts(staff: Client, quiz: Quiz, make_quiz: Any, student: AbstractUser):
    attempt = _submitted_attempt(quiz, student)
    _submitted_attempt(make_quiz(slug="other"), student)

    response = staff.get("/admin/grader/attempt/", {"quiz__id__exact": quiz.id})

    assert response.status_code == 200
    assert [a.id for a in response.context["cl"].result_list] == [attempt.id]


def test_it_shows_attempts_read_only(staff: Client, quiz: Quiz, student: AbstractUser):
    attempt = _submitted_attempt(quiz, student)

    assert staff.get("/admin/grader/attempt/add/").status_code == 403
    response = staff.get(reverse("admin:grader_attempt_change", args=[attempt.id]))
    assert response.status_code == 200
    assert b'name="_save"' not in response.content


def test_it_redirects_a_student_to_login(student: AbstractUser):
    client = Client()
    client.force_login(student)

    response = client.get(QUESTIONS_URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_it_redirects_an_anonymous_visitor_to_login(db: None):
    response = Client().get(QUESTIONS_URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def _quiz_form(**fields: Any) -> dict[str, Any]:
    return {
        "slug": "retries",
        "title": "Retries",
        "description": "",
        "is_published": "on",
        "opens_at_0": "",
        "opens_at_1": "",
        "closes_at_0": "",
        "closes_at_1": "",
        "time_limit_minutes": "",
        "max_attempts": "3",
        "reveal": "after-submit",
        "grade_policy": "best",
        "_save": "Save",
        **_inline("quiz_questions", []),
        **fields,
    }


def test_it_warns_when_an_after_submit_reveal_meets_several_attempts(staff: Client):
    response = staff.post("/admin/questions/quiz/add/", _quiz_form(), follow=True)
    assert response.status_code == 200
    assert Quiz.objects.get(slug="retries").max_attempts == 3
    html = response.content.decode()
    assert "this quiz allows 3 attempts" in html
    assert "only once they have used their last attempt or the due date has passed" in html
    assert 'class="warning"' in html


def test_it_warns_that_unlimited_attempts_without_a_due_date_never_reveal(staff: Client):
    response = staff.post("/admin/questions/quiz/add/", _quiz_form(max_attempts=""), follow=True)
    assert "With unlimited attempts and no due date that is never" in response.content.decode()


@pytest.mark.parametrize("fields", [{"max_attempts": "1"}, {"reveal": "never"}])
def test_it_does_not_warn_about_a_reveal_no_attempt_can_copy(staff: Client, fields: dict[str, str]):
    response = staff.post("/admin/questions/quiz/add/", _quiz_form(**fields), follow=True)
    assert Quiz.objects.filter(slug="retries").exists()
    assert "a later attempt cannot copy them" not in response.content.decode()
