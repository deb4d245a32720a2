""" "Check my work" on the pages: the buttons beside Submit, the form posted without
JavaScript, and the check run's own page (check.js shows the same in place, in
tests/browser/test_notebook_browser.py)."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from grader.check_run_apis import CheckRunThrottle
from grader.check_runs import check_run_execute
from grader.models import CheckRun, GradingJob, Submission
from questions.models import Exercise
from tests.exercises import SQUARE_REFERENCE
from tests.factories import make_notebook
from tests.grader.test_check_runs import RecordingSandbox
from tests.pages.helpers import square_exercise


@pytest.fixture
def exercise(db: None) -> Exercise:
    return square_exercise()


def test_the_exercise_page_has_check_my_work_beside_each_submit_button(student_client, exercise):
    html = student_client.get("/exercises/square/").content.decode()
    buttons = re.findall(
        r"<button [^>]*formaction=\"([^\"]+)\"[^>]*data-check-url=\"([^\"]+)\"[^>]*>([^<]+)</button>", html
    )
    assert buttons == [("/exercises/square/check/", "/api/v1/exercises/square/checks/", "Check my work")] * 2
    assert "Check my work runs the visible checks only, and is not graded." in html
    assert '<span class="tag">not graded</span>' in html
    assert "/static/pages/check.js" in html


def test_checking_without_javascript_shows_the_run_s_own_page(student_client, exercise):
    response = student_client.post("/exercises/square/check/", {"source": "code", "code": SQUARE_REFERENCE})
    run = CheckRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/check-runs/{run.pk}/"
    assert run.code == SQUARE_REFERENCE
    assert not Submission.objects.exists()
    assert not GradingJob.objects.exists()

    waiting = student_client.get(response["Location"]).content.decode()
    assert '<meta http-equiv="refresh" content="2">' in waiting
    assert "not graded" in waiting
    assert "Waiting for a grader" in waiting

    check_run_execute(check_run_id=run.pk, runner=RecordingSandbox())
    done = student_client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' not in done
    assert "3 of 3 checks passed" in done
    assert re.findall(r'<th scope="row">([^<]+)</th>', done) == ["three", "scalar", "vector"]
    assert "hidden-negative" not in done


def test_a_notebook_can_be_checked_too(student_client, exercise):
    file = SimpleUploadedFile("square.ipynb", json.dumps(make_notebook(SQUARE_REFERENCE)).encode())
    response = student_client.post("/exercises/square/check/", {"source": "notebook", "file": file})
    assert response.status_code == 302
    assert CheckRun.objects.get().cell_starts == [1]


def test_a_refused_check_shows_the_exercise_page_again(student_client, exercise):
    response = student_client.post("/exercises/square/check/", {"source": "code", "code": "  "})
    assert response.status_code == 400
    assert "The code is empty." in response.content.decode()
    file = SimpleUploadedFile("square.txt", b"{}")
    response = student_client.post("/exercises/square/check/", {"source": "notebook", "file": file})
    assert response.status_code == 400
    assert "upload an .ipynb file" in response.content.decode()
    assert not CheckRun.objects.exists()


def test_checking_is_throttled_as_the_api_is(student_client, exercise, monkeypatch):
    monkeypatch.setattr(CheckRunThrottle, "THROTTLE_RATES", {"checks": "1/min"})
    assert student_client.post("/exercises/square/check/", {"code": SQUARE_REFERENCE}).status_code == 302
    refused = student_client.post("/exercises/square/check/", {"code": SQUARE_REFERENCE})
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "You have checked a lot in a short time." in refused.content.decode()
    # Submitting is not held back by checking.
    assert student_client.post("/exercises/square/", {"code": SQUARE_REFERENCE}).status_code == 302


def test_a_check_run_page_is_its_owner_s_only(student_client, other_student_client, instructor_client, exercise):
    student_client.post("/exercises/square/check/", {"code": SQUARE_REFERENCE})
    url = f"/check-runs/{CheckRun.objects.get().pk}/"
    assert student_client.get(url).status_code == 200
    assert other_student_client.get(url).status_code == 404
    assert instructor_client.get(url).status_code == 404


def test_the_check_url_takes_posts_only(student_client, exercise):
    assert student_client.get("/exercises/square/check/").status_code == 405
