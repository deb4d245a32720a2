from __future__ import annotations

import json
from datetime import timedelta

from django.utils import timezone

from tests.factories import QuizFactory

LIST_URL = "/api/v1/quizzes/"


def detail_url(slug: str) -> str:
    return f"/api/v1/quizzes/{slug}/"


def test_it_requires_authentication(anon_api, quiz):
    for url in (LIST_URL, detail_url(quiz.slug)):
        response = anon_api.get(url)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"


def test_it_lists_published_quizzes_for_students(student_api, quiz):
    QuizFactory(slug="draft", is_published=False)
    body = student_api.get(LIST_URL).json()
    assert [q["slug"] for q in body["results"]] == ["basics"]
    assert set(body) == {"count", "next", "previous", "results"}


def test_it_lists_unpublished_quizzes_for_instructors(instructor_api, quiz):
    QuizFactory(slug="draft", is_published=False)
    slugs = {q["slug"] for q in instructor_api.get(LIST_URL).json()["results"]}
    assert slugs == {"basics", "draft"}


def test_it_paginates(student_api, db):
    for n in range(25):
        QuizFactory(slug=f"quiz-page-{n:02d}")
    first = student_api.get(LIST_URL).json()
    assert first["count"] == 25
    assert len(first["results"]) == 20
    assert len(student_api.get(first["next"]).json()["results"]) == 5
    assert student_api.get(LIST_URL + "?page=9").status_code == 404


def test_it_shows_questions_with_choices(student_api, quiz):
    body = student_api.get(detail_url(quiz.slug)).json()
    assert body["question_count"] == 3
    assert body["max_score"] == 4.0
    assert [q["type"] for q in body["questions"]] == ["single", "multiple", "numeric"]
    first = body["questions"][0]
    assert set(first) == {"id", "type", "title", "prompt", "prompt_html", "points", "choices"}
    assert [set(c) for c in first["choices"]] == [{"id", "text"}] * 3
    assert "<strong>Pick one.</strong>" in first["prompt_html"]


def test_it_never_reveals_answers_in_quiz_detail(student_api, instructor_api, quiz):
    for api in (student_api, instructor_api):
        text = json.dumps(api.get(detail_url(quiz.slug)).json())
        for secret in (
            "is_correct",
            '"correct',
            "explanation",
            "feedback",
            "About Right",
            "Because the first",
            "0.952",
        ):
            assert secret not in text


def test_it_hides_unpublished_quizzes_from_students(student_api, instructor_api, db):
    QuizFactory(slug="draft", is_published=False)
    response = student_api.get(detail_url("draft"))
    assert response.status_code == 404
    assert response.json() == {"detail": "There is no quiz 'draft'.", "code": "not_found"}
    assert instructor_api.get(detail_url("draft")).status_code == 200


def test_it_hides_questions_before_the_quiz_opens(student_api, instructor_api, make_quiz):
    make_quiz(slug="later", opens_at=timezone.now() + timedelta(days=1))
    assert student_api.get(detail_url("later")).json()["questions"] == []
    assert len(instructor_api.get(detail_url("later")).json()["questions"]) == 3


def test_it_counts_the_callers_attempts_in_the_attempt_list(student_api, other_student_api, quiz):
    student_api.post(f"/api/v1/quizzes/{quiz.slug}/attempts/")
    other_student_api.post(f"/api/v1/quizzes/{quiz.slug}/attempts/")
    assert student_api.get(f"/api/v1/quizzes/{quiz.slug}/attempts/").json()["count"] == 1
