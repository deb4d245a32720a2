"""The exercise page (editor, submitting) and the submission page (live status, then
the per-check feedback exactly as the REST API gives it). Grading itself is not run by
a worker here: a graded submission is graded by calling the grading service with a
stand-in sandbox, as tests/grader/test_grading.py does."""

from __future__ import annotations

import dataclasses
import re

import pytest
from django.utils.html import escape

from grader.grading import grading_job_run
from grader.models import GradingJob, JobState, Submission, SubmissionStatus
from pages.throttles import SubmissionThrottle
from questions.models import Exercise, ExerciseKey, KeyStatus
from tests.exercises import SQUARE, make_exercise
from tests.pages.helpers import square_exercise, submission_for
from workers.sandbox.protocol import CallOutcome, SandboxJob, SandboxRun


@pytest.fixture
def exercise(db: None) -> Exercise:
    return square_exercise()


def graded(submission: Submission, *, hidden_value: float = 9.0) -> Submission:
    """Grade with a sandbox that answers 9.0 to every call but the hidden check's."""

    def runner(job: SandboxJob) -> SandboxRun:
        values = {call.id: hidden_value if call.id == "hidden-negative" else 9.0 for call in job.calls}
        return SandboxRun(
            calls={call_id: CallOutcome(id=call_id, value=v) for call_id, v in values.items()}, output="hi\n"
        )

    job = GradingJob.objects.get(submission=submission, attempt=1)
    assert grading_job_run(job_id=job.pk, runner=runner).ran
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.GRADED
    return submission


def test_the_exercise_page_has_the_prompt_the_signatures_and_an_editor_with_the_starter_code(student_client, exercise):
    response = student_client.get("/exercises/square/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Write <code>square(x)</code>, which returns <code>x * x</code>." in html
    assert "<code>square(x) -&gt; float</code>" in html
    assert '<label for="code">Python code</label>' in html
    textarea = re.search(r'<textarea id="code" name="code"[^>]*>(.*?)</textarea>', html, re.S)
    assert textarea is not None
    assert textarea.group(1) == escape(SQUARE.starter_code)
    assert "1 hidden check" in html
    assert "hidden-negative" not in html
    assert SQUARE.reference_solution not in html
    assert 'id="editor-help"' in html
    assert "Esc and then Tab" in html


def test_the_editor_is_served_from_our_static_files_not_a_cdn(student_client, exercise):
    html = student_client.get("/exercises/square/").content.decode()
    scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    styles = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert "/static/pages/vendor/codemirror/codemirror.js" in scripts
    assert "/static/pages/vendor/codemirror/python.js" in scripts
    assert "/static/pages/editor.js" in scripts
    assert "/static/pages/vendor/codemirror/codemirror.css" in styles
    assert all(url.startswith("/static/") for url in scripts + styles), scripts + styles


def test_the_vendored_files_are_found_by_staticfiles(db):
    from django.contrib.staticfiles import finders

    for path in ("codemirror.js", "codemirror.css", "python.js", "LICENSE"):
        assert finders.find(f"pages/vendor/codemirror/{path}"), path


def test_submitting_queues_the_code_and_shows_its_page(student_client, exercise):
    response = student_client.post("/exercises/square/", {"code": "def square(x):\r\n    return x * x\r\n"})
    assert response.status_code == 302
    submission = Submission.objects.get()
    assert response["Location"] == f"/submissions/{submission.pk}/"
    assert submission.user.username == "alice"
    assert submission.code == "def square(x):\n    return x * x\n"  # the browser's CRLF undone
    assert submission.jobs.get().state == JobState.QUEUED


def test_the_editor_then_holds_the_last_submission(student_client, exercise):
    student_client.post("/exercises/square/", {"code": "first = 1\n"})
    student_client.post("/exercises/square/", {"code": "second = 2\n"})
    html = student_client.get("/exercises/square/").content.decode()
    assert ">second = 2\n</textarea>" in html
    assert html.count('href="/submissions/') == 2


@pytest.mark.parametrize(
    ("code", "fragment"),
    [("", "The code is empty."), ("   \n", "The code is empty."), ("#" * (64 * 1024 + 1), "at most 65536")],
)
def test_bad_code_is_refused_with_400_and_nothing_written(student_client, exercise, code, fragment):
    response = student_client.post("/exercises/square/", {"code": code})
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(r'role="alert"[^>]*>[^<]*' + re.escape(fragment), html)
    assert not Submission.objects.exists()
    assert not GradingJob.objects.exists()


def test_submissions_are_throttled_with_the_apis_budget(student_client, student_api, exercise, monkeypatch):
    monkeypatch.setattr(SubmissionThrottle, "THROTTLE_RATES", {"submissions": "2/min"})
    assert student_client.post("/exercises/square/", {"code": "x = 1\n"}).status_code == 302
    assert (
        student_api.post("/api/v1/exercises/square/submissions/", {"code": "x = 2"}, format="json").status_code == 202
    )
    refused = student_client.post("/exercises/square/", {"code": "x = 3\n"})
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert ">x = 3\n</textarea>" in refused.content.decode()  # the student's code is kept
    assert Submission.objects.count() == 2


def test_an_exercise_whose_key_has_not_validated_refuses_submissions_with_409(instructor_client, exercise):
    ExerciseKey.objects.filter(exercise=exercise).update(status=KeyStatus.PENDING)
    response = instructor_client.post("/exercises/square/", {"code": "x = 1\n"})
    assert response.status_code == 409
    assert "have not been validated yet" in response.content.decode()
    assert not Submission.objects.exists()


def test_an_unpublished_exercise_is_not_found(student_client, exercise):
    Exercise.objects.filter(pk=exercise.pk).update(is_published=False)
    assert student_client.get("/exercises/square/").status_code == 404
    assert student_client.post("/exercises/square/", {"code": "x = 1\n"}).status_code == 404
    assert not Submission.objects.exists()


def test_a_queued_submission_polls_the_api_politely(student_client, student):
    submission = submission_for(student)
    html = student_client.get(f"/submissions/{submission.pk}/").content.decode()
    assert re.search(r'id="submission-status"[^>]*aria-live="polite"', html)
    assert f'data-poll-url="/api/v1/submissions/{submission.pk}/"' in html
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html
    assert '<script src="/static/pages/submission.js"></script>' in html
    assert "Waiting for a grader" in html
    # The endpoint the script polls accepts this session (GET: no CSRF token needed).
    polled = student_client.get(f"/api/v1/submissions/{submission.pk}/", HTTP_ACCEPT="application/json")
    assert polled.status_code == 200
    assert polled.json()["status"] == "queued"


def test_a_graded_submission_shows_each_checks_feedback_as_the_api_does(student_client, student_api, student):
    submission = graded(submission_for(student), hidden_value=2.0)
    html = student_client.get(f"/submissions/{submission.pk}/").content.decode()
    api = student_api.get(f"/api/v1/submissions/{submission.pk}/").json()
    assert (api["score"], api["max_score"]) == (4, 5)
    assert "Score: <strong>4 / 5</strong>" in html
    assert escape(api["summary"]) in html
    assert [check["name"] for check in api["checks"]] == ["three", "hidden-negative", "scalar", "vector"]
    for check in api["checks"]:
        row = re.search(rf'<th scope="row">{re.escape(check["name"])}</th>(.*?)</tr>', html, re.S)
        assert row is not None, check["name"]
        cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
        assert cells[0] == ("Yes" if check["passed"] else "No")
        assert cells[2] == escape(check["message"])
    assert "wrong result on a hidden case" in html
    assert "-1.5" not in html  # the hidden check's input stays hidden
    assert "data-poll-url" not in html
    assert "http-equiv" not in html
    assert "hi\n</pre>" in html


def test_a_grader_error_says_it_does_not_count(student_client, student):
    submission = submission_for(student)
    Submission.objects.filter(pk=submission.pk).update(status=SubmissionStatus.ERROR)
    html = student_client.get(f"/submissions/{submission.pk}/").content.decode()
    assert "it does not count against you" in html
    assert "data-poll-url" not in html


def test_another_students_submission_is_not_found(student_client, other_student):
    theirs = submission_for(other_student)
    response = student_client.get(f"/submissions/{theirs.pk}/")
    assert response.status_code == 404
    assert 'role="alert"' in response.content.decode()
    assert student_client.get("/submissions/999999/").status_code == 404


def test_the_exercise_page_says_which_environment_the_code_runs_in(student_client, db):
    make_exercise(dataclasses.replace(SQUARE, slug="square-torch", environment="torch"))
    html = student_client.get("/exercises/square-torch/").content.decode()
    assert "Runs in the PyTorch (CPU) environment" in html
    assert "torch 2.13.0" in html
