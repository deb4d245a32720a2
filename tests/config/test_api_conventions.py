"""Conventions every endpoint shares: JSON errors, health, schema and docs."""

from __future__ import annotations

from django.test import RequestFactory

from config.api_errors import api_server_error, flatten_errors


def test_it_answers_unknown_api_urls_with_json(student_api):
    response = student_api.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_it_answers_server_errors_with_json():
    response = api_server_error(RequestFactory().get("/api/v1/quizzes/"))
    assert response.status_code == 500
    assert b'"code": "server_error"' in response.content


def test_it_flattens_nested_errors_into_paths():
    assert flatten_errors({"answers": {0: {"question": ["Bad."]}}, "non_field_errors": ["Whole."]}) == {
        "answers[0].question": ["Bad."],
        "": ["Whole."],
    }


def test_it_reports_health(client, db):
    response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_it_serves_the_openapi_schema(anon_api):
    response = anon_api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path in (
        "/api/v1/auth/token/",
        "/api/v1/quizzes/",
        "/api/v1/quizzes/{slug}/",
        "/api/v1/quizzes/{slug}/attempts/",
        "/api/v1/attempts/{attempt_id}/",
        "/api/v1/attempts/{attempt_id}/submit/",
    ):
        assert path in schema["paths"], path


def test_it_serves_interactive_docs_without_a_cdn(anon_api):
    response = anon_api.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr" not in html
    assert "unpkg.com" not in html


def test_it_generates_a_valid_schema_without_warnings(tmp_path, db):
    from django.core.management import call_command

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "SubmissionRequest" in out.read_text()


def test_it_answers_deeply_nested_json_with_400(anon_api, student_api, db):
    body = "[" * 5000 + "]" * 5000
    for api, url in ((anon_api, "/api/v1/auth/token/"), (student_api, "/api/v1/attempts/1/submit/")):
        response = api.post(url, data=body, content_type="application/json")
        assert response.status_code == 400
        assert response.json()["code"] == "parse_error"
