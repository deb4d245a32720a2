"""Student pages may be framed by registered LMS platforms, and only by them; the admin
keeps refusing every frame."""

from __future__ import annotations

import pytest

from lti.models import Platform
from tests.factories import PlatformFactory
from tests.pages.helpers import attempt_for, submission_for


@pytest.fixture
def platform(db: None) -> Platform:
    return PlatformFactory(host="moodle.example.edu", frame_origins="https://lms-frame.example.edu")


def assert_frameable(response) -> None:
    assert "X-Frame-Options" not in response, response.get("X-Frame-Options")
    assert response["Content-Security-Policy"] == (
        "frame-ancestors 'self' https://lms-frame.example.edu https://moodle.example.edu"
    )


def test_every_page_is_frameable_by_registered_platforms(student_client, student, quiz, platform):
    attempt = attempt_for(student, quiz)
    submission = submission_for(student)
    for url in (
        "/",
        "/history/",
        f"/quizzes/{quiz.slug}/",
        f"/attempts/{attempt.pk}/",
        "/exercises/square/",
        f"/submissions/{submission.pk}/",
    ):
        response = student_client.get(url)
        assert response.status_code == 200, url
        assert_frameable(response)


def test_redirects_refusals_and_not_found_pages_are_frameable_too(client, student_client, quiz, platform):
    assert_frameable(client.get("/login/"))
    assert_frameable(client.get("/"))  # the redirect to the login page
    assert_frameable(student_client.get("/quizzes/nope/"))  # 404
    assert_frameable(student_client.post("/exercises/square/", {"code": ""}))  # 404: no such exercise
    assert_frameable(student_client.post("/logout/"))


def test_the_admin_still_refuses_frames(client, platform):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" not in response


def test_an_address_stored_before_validation_cannot_widen_the_policy(student_client, platform):
    # Rows written before issuers were validated (or by a raw UPDATE) still give only an
    # origin rebuilt from the host name: user info, spaces and wildcards never reach CSP.
    Platform.objects.filter(pk=platform.pk).update(
        issuer="https://a * b@evil.example.edu/x",
        frame_origins="https://*.example.edu\nhttps://lms-frame.example.edu/path;script-src*\nhttps://x\\@evil.edu",
    )
    response = student_client.get("/history/")
    assert_frameable(response)  # the login URL's origin and the one usable frame origin, nothing else
