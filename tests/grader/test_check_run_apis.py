"""POST /exercises/{slug}/checks/ and GET /check-runs/{id}/: "Check my work" through the
API (its grading by a worker is in tests/workers/test_check_run_worker.py)."""

from __future__ import annotations

import json

import jsonschema
import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile

from grader.check_run_apis import CheckRunThrottle
from grader.check_runs import check_run_execute
from grader.models import CheckRun, CheckRunStatus, GradingJob, GradingResult, Submission
from grader.submission_apis import SubmissionThrottle
from lti.models import Passback
from questions.models import Exercise, ExerciseKey, KeyStatus
from tests.exercises import SQUARE_REFERENCE
from tests.factories import make_notebook, notebook_cell
from tests.grader.test_check_runs import RecordingSandbox
from tests.pages.helpers import square_exercise

CHECKS_URL = "/api/v1/exercises/square/checks/"
NOTEBOOK = make_notebook(notebook_cell("# Mine", cell_type="markdown"), SQUARE_REFERENCE)


@pytest.fixture(autouse=True)
def _fresh_throttle_counts() -> None:
    cache.clear()


@pytest.fixture
def exercise(db: None) -> Exercise:
    return square_exercise()


def run_url(run_id: int) -> str:
    return f"/api/v1/check-runs/{run_id}/"


def assert_refused(response, fragment: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert fragment in body["detail"], body
    assert not CheckRun.objects.exists()


def test_it_accepts_code_with_202_and_queues_it_on_the_environment_s_grading_queue(
    student_api, exercise, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(
        "workers.dispatch.enqueue",
        lambda *, task, args, countdown=0, queue=None: sent.append((task, args, queue)) or True,
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = student_api.post(CHECKS_URL, {"code": SQUARE_REFERENCE}, format="json")
    assert response.status_code == 202, response.content
    run = CheckRun.objects.get()
    assert response.json() == {"id": run.pk, "status": "queued", "url": run_url(run.pk)}
    assert len(callbacks) == 1
    assert sent == [("grader.run_checks_for_student", [run.pk], "grading.numpy")]


def test_it_accepts_a_notebook_as_json_or_as_an_upload(student_api, exercise):
    assert student_api.post(CHECKS_URL, {"notebook": NOTEBOOK}, format="json").status_code == 202
    file = SimpleUploadedFile("square.ipynb", json.dumps(NOTEBOOK).encode())
    assert student_api.post(CHECKS_URL, {"file": file}, format="multipart").status_code == 202
    assert [run.notebook for run in CheckRun.objects.all()] == [NOTEBOOK, NOTEBOOK]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({}, "Send code, or a notebook."),
        ({"code": "  \n"}, "The code is empty."),
        ({"code": SQUARE_REFERENCE, "notebook": NOTEBOOK}, "not both"),
        ({"notebook": {"nbformat": 3, "metadata": {}}}, "nbformat 3"),
        ({"notebook": make_notebook("%%time\nx = 1\n")}, "no code to run"),
        ({"code": 42}, "code"),
    ],
)
def test_it_refuses_what_a_submission_would_refuse(student_api, exercise, payload, fragment):
    assert_refused(student_api.post(CHECKS_URL, payload, format="json"), fragment)


def test_it_refuses_a_bad_upload(student_api, exercise):
    file = SimpleUploadedFile("square.py", SQUARE_REFERENCE.encode())
    assert_refused(student_api.post(CHECKS_URL, {"file": file}, format="multipart"), "upload an .ipynb file")
    broken = SimpleUploadedFile("square.ipynb", b"{")
    assert_refused(student_api.post(CHECKS_URL, {"file": broken}, format="multipart"), "not valid JSON")


def test_it_follows_the_exercise_s_visibility_and_validation(student_api, instructor_api, exercise):
    assert student_api.post("/api/v1/exercises/nope/checks/", {"code": "x = 1"}, format="json").status_code == 404
    ExerciseKey.objects.filter(exercise=exercise).update(status=KeyStatus.PENDING)
    assert student_api.post(CHECKS_URL, {"code": "x = 1"}, format="json").status_code == 404
    response = instructor_api.post(CHECKS_URL, {"code": "x = 1"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "exercise_not_validated"


def test_it_needs_authentication(anon_api, exercise):
    assert anon_api.post(CHECKS_URL, {"code": "x = 1"}, format="json").status_code in (401, 403)


def test_it_has_its_own_rate_limit(student_api, other_student_api, exercise, monkeypatch):
    monkeypatch.setattr(CheckRunThrottle, "THROTTLE_RATES", {"checks": "2/min"})
    monkeypatch.setattr(SubmissionThrottle, "THROTTLE_RATES", {"submissions": "1/min"})
    for _ in range(2):
        assert student_api.post(CHECKS_URL, {"code": "x = 1"}, format="json").status_code == 202
    refused = student_api.post(CHECKS_URL, {"code": "x = 1"}, format="json")
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60
    assert other_student_api.post(CHECKS_URL, {"code": "x = 1"}, format="json").status_code == 202
    # Checking spent nothing of the submissions' budget, and submitting nothing of checking's.
    submitted = student_api.post("/api/v1/exercises/square/submissions/", {"code": "x = 1"}, format="json")
    assert submitted.status_code == 202
    assert CheckRun.objects.count() == 3
    own = CheckRun.objects.filter(user__username="alice").first()
    assert student_api.get(run_url(own.pk)).status_code == 200  # polling is not throttled


def test_the_run_is_its_owner_s_only(student_api, other_student_api, instructor_api, anon_api, exercise):
    run_id = student_api.post(CHECKS_URL, {"code": SQUARE_REFERENCE}, format="json").json()["id"]
    assert student_api.get(run_url(run_id)).status_code == 200
    for stranger in (other_student_api, instructor_api):
        response = stranger.get(run_url(run_id))
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert anon_api.get(run_url(run_id)).status_code in (401, 403)
    assert student_api.get(run_url(run_id + 1000)).status_code == 404


def test_polling_shows_the_status_then_the_visible_checks_and_records_no_grade(student_api, exercise, anon_api):
    run_id = student_api.post(CHECKS_URL, {"code": SQUARE_REFERENCE}, format="json").json()["id"]
    waiting = student_api.get(run_url(run_id)).json()
    assert (waiting["status"], waiting["graded"], waiting["checks"], waiting["finished"]) == ("queued", False, [], None)
    assert waiting["summary"] == "Waiting for a grader."

    check_run_execute(check_run_id=run_id, runner=RecordingSandbox())

    done = student_api.get(run_url(run_id)).json()
    assert (done["status"], done["graded"]) == ("done", False)
    assert [check["name"] for check in done["checks"]] == ["three", "scalar", "vector"]
    assert all(set(check) == {"name", "passed", "message"} for check in done["checks"])
    assert done["summary"] == "3 of 3 checks passed"
    assert done["finished"] is not None
    assert not Submission.objects.exists()
    assert not GradingJob.objects.exists()
    assert not GradingResult.objects.exists()
    assert not Passback.objects.exists()

    openapi = anon_api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for component, instance in (("CheckRun", waiting), ("CheckRun", done)):
        schema = {"$ref": f"#/components/schemas/{component}", "components": openapi["components"]}
        jsonschema.Draft202012Validator(schema).validate(instance)
    body = openapi["paths"]["/api/v1/exercises/{slug}/checks/"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}


def test_a_failed_run_says_so_and_nothing_about_the_code(student_api, exercise):
    run_id = student_api.post(CHECKS_URL, {"code": SQUARE_REFERENCE}, format="json").json()["id"]

    def broken(job):
        raise RuntimeError("bug")

    check_run_execute(check_run_id=run_id, runner=broken)
    body = student_api.get(run_url(run_id)).json()
    assert body["status"] == CheckRunStatus.ERROR
    assert body["summary"].startswith("The grader could not run your code just now")
    assert body["checks"] == []
