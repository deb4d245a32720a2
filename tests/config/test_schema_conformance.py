"""Responses match the published OpenAPI schema.

The views assemble their payloads as dicts (one pass instead of re-serializing), and the
serializers document them; this keeps the two from drifting apart.
"""

from __future__ import annotations

import jsonschema
import pytest

from tests.grader.test_apis import right_answers, start_url, submit


@pytest.fixture
def openapi(anon_api):
    return anon_api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def conforms(openapi: dict, component: str, instance: object) -> None:
    schema = {"$ref": f"#/components/schemas/{component}", "components": openapi["components"]}
    jsonschema.Draft202012Validator(schema).validate(instance)


def test_it_matches_the_schema_for_quizzes(student_api, quiz, openapi):
    conforms(openapi, "QuizDetail", student_api.get(f"/api/v1/quizzes/{quiz.slug}/").json())
    listing = student_api.get("/api/v1/quizzes/").json()
    conforms(openapi, "PaginatedQuizSummaryList", listing)


def test_it_matches_the_schema_for_attempts(student_api, instructor_api, quiz, openapi):
    started = student_api.post(start_url(quiz)).json()
    conforms(openapi, "AttemptDetail", started)
    submitted = submit(student_api, started["id"], right_answers(quiz)[:2]).json()
    conforms(openapi, "AttemptDetail", submitted)
    assert submitted["results"][2]["answered"] is False
    conforms(openapi, "PaginatedAttemptSummaryList", instructor_api.get(start_url(quiz)).json())


def test_it_catches_a_response_that_drifts(openapi):
    with pytest.raises(jsonschema.ValidationError):
        conforms(openapi, "AttemptSummary", {"id": "not a number"})
