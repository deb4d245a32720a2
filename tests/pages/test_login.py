"""The login and logout pages, and that every other page asks for a login."""

from __future__ import annotations

import pytest
from django.test import Client

from pages.throttles import LoginAddressThrottle, LoginFormUsernameThrottle
from tests.pages.helpers import attempt_for, submission_for

PASSWORD = "pass-word-123"


@pytest.fixture
def page_urls(student, quiz) -> list[str]:
    attempt = attempt_for(student, quiz)
    submission = submission_for(student)
    return [
        "/",
        "/history/",
        f"/quizzes/{quiz.slug}/",
        f"/attempts/{attempt.pk}/",
        "/exercises/square/",
        f"/submissions/{submission.pk}/",
    ]


def test_every_page_sends_anonymous_visitors_to_the_login_page(client, page_urls):
    for url in page_urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"/login/?next={url}", url


def test_posting_anonymously_writes_nothing(client, quiz):
    response = client.post(f"/quizzes/{quiz.slug}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert not quiz.attempts.exists()


def test_the_login_page_has_labelled_fields(client, db):
    response = client.get("/login/?next=/history/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<label for="id_username">Username</label>' in html
    assert '<label for="id_password">Password</label>' in html
    assert 'name="next" value="/history/"' in html


def test_it_signs_in_and_goes_to_next(client, student):
    response = client.post("/login/", {"username": "alice", "password": PASSWORD, "next": "/history/"})
    assert response.status_code == 302
    assert response["Location"] == "/history/"
    assert client.get("/history/").status_code == 200


def test_it_goes_home_without_next_and_ignores_an_unsafe_next(client, student):
    assert client.post("/login/", {"username": "alice", "password": PASSWORD})["Location"] == "/"
    client.logout()
    unsafe = {"username": "alice", "password": PASSWORD, "next": "https://evil.example/steal"}
    assert client.post("/login/", unsafe)["Location"] == "/"


def test_a_wrong_password_is_an_alert_not_a_session(client, student):
    response = client.post("/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert client.get("/").status_code == 302


def test_a_signed_in_user_skips_the_login_page(student_client):
    assert student_client.get("/login/")["Location"] == "/"


def test_logging_out_takes_a_post(student_client):
    assert student_client.get("/logout/").status_code == 405
    response = student_client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert student_client.get("/").status_code == 302


def test_the_header_names_the_user_and_offers_history_and_logout(student_client):
    html = student_client.get("/").content.decode()
    assert "Signed in as <strong>alice</strong>" in html
    assert 'href="/history/"' in html
    assert 'action="/logout/"' in html
    assert 'class="skip-link" href="#main"' in html
    assert '<main id="main"' in html


def test_login_attempts_are_throttled_like_the_token_api(client, student, monkeypatch):
    rates = {"login": "2/min", "login_username": "100/hour"}
    monkeypatch.setattr(LoginAddressThrottle, "THROTTLE_RATES", rates)
    monkeypatch.setattr(LoginFormUsernameThrottle, "THROTTLE_RATES", rates)
    for _ in range(2):
        assert client.post("/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    refused = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert 'role="alert"' in refused.content.decode()
    assert "Too many sign-in attempts" in refused.content.decode()
    assert Client().get("/").status_code == 302
    assert client.get("/").status_code == 302  # the right password, refused, opened no session
