"""Refusals Django makes before any page view runs still show inside the LMS frame."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.test import Client


def test_a_csrf_refusal_is_a_framed_page_that_says_what_to_do(student: AbstractUser) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(student)
    response = client.post("/logout/")
    assert response.status_code == 403
    assert b"This form has expired" in response.content
    assert response.get("X-Frame-Options") is None
    assert response["Content-Security-Policy"].startswith("frame-ancestors 'self'")


def test_pages_that_need_a_login_send_anonymous_users_to_the_login_page(db: None) -> None:
    response = Client().get("/history/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
