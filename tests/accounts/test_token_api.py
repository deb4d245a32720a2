from __future__ import annotations

import uuid

from rest_framework.test import APIClient

URL = "/api/v1/auth/token/"


def fresh_client() -> APIClient:
    # A fresh address per client: the login throttle counts per address, also across runs
    # when the cache is Redis.
    return APIClient(REMOTE_ADDR=f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}")


def test_it_exchanges_credentials_for_a_token(student):
    response = fresh_client().post(URL, {"username": "alice", "password": "pass-word-123"}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/quizzes/").status_code == 200


def test_it_returns_the_same_token_twice(student):
    client = fresh_client()
    first = client.post(URL, {"username": "alice", "password": "pass-word-123"}, format="json").json()
    second = client.post(URL, {"username": "alice", "password": "pass-word-123"}, format="json").json()
    assert first == second


def test_it_refuses_wrong_credentials(student):
    response = fresh_client().post(URL, {"username": "alice", "password": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The username or password is wrong, or the account is disabled.",
        "code": "invalid_credentials",
    }


def test_it_names_missing_fields(db):
    response = fresh_client().post(URL, {"username": "alice"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"password": ["This field is required."]}


def test_it_refuses_a_disabled_account(student):
    student.is_active = False
    student.save()
    response = fresh_client().post(URL, {"username": "alice", "password": "pass-word-123"}, format="json")
    assert response.status_code == 400


def test_it_rejects_a_bad_token(db):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = api.get("/api/v1/quizzes/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token.", "code": "authentication_failed"}


def test_it_throttles_password_guessing(student):
    client = fresh_client()
    statuses = [
        client.post(URL, {"username": "alice", "password": f"guess-{n}"}, format="json").status_code for n in range(12)
    ]
    assert statuses[:10] == [400] * 10
    assert statuses[10] == 429
    assert "Retry-After" in client.post(URL, {"username": "alice", "password": "x"}, format="json").headers


def test_it_ignores_forged_forwarded_for_headers(student):
    client = fresh_client()
    statuses = [
        client.post(
            URL, {"username": "alice", "password": "x"}, format="json", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}"
        ).status_code
        for n in range(12)
    ]
    assert statuses[10] == 429


def test_it_throttles_one_username_across_addresses(db):
    username = f"target-{uuid.uuid4().hex[:8]}"  # the counter lives in the cache, maybe Redis
    statuses = [
        fresh_client().post(URL, {"username": username, "password": f"guess-{n}"}, format="json").status_code
        for n in range(31)
    ]
    assert statuses[:30] == [400] * 30
    assert statuses[30] == 429


def test_it_refuses_malformed_tokens_without_touching_the_database(db):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token abc\x00def")
    response = api.get("/api/v1/quizzes/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
