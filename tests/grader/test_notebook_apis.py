"""Notebooks through the API: submitting one (JSON or an .ipynb upload), every refusal,
and downloading the starter notebook and a submitted one."""

from __future__ import annotations

import json

import jsonschema
import nbformat
import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from grader.models import GradingJob, Submission
from grader.submission_apis import SubmissionThrottle
from questions.models import Exercise
from tests.exercises import SQUARE_REFERENCE, make_exercise
from tests.factories import make_notebook, notebook_cell

NOTEBOOK = make_notebook(
    notebook_cell("# Square\n\nMy work.", cell_type="markdown"),
    "%matplotlib inline\nimport math\n",
    SQUARE_REFERENCE,
    "print(square(3))\n",
    minor=5,
)


def submit_url(slug: str = "square") -> str:
    return f"/api/v1/exercises/{slug}/submissions/"


def upload(api, data: bytes, *, name: str = "square.ipynb", slug: str = "square", **fields):
    file = SimpleUploadedFile(name, data, content_type="application/x-ipynb+json")
    return api.post(submit_url(slug), {"file": file, **fields}, format="multipart")


@pytest.fixture(autouse=True)
def _fresh_throttle_counts() -> None:
    cache.clear()


@pytest.fixture
def exercise(db: None) -> Exercise:
    return make_exercise()


def assert_refused(response, fragment: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert fragment in body["detail"], body
    assert not Submission.objects.exists()
    assert not GradingJob.objects.exists()


# --- Accepted -------------------------------------------------------------------------------


def test_it_accepts_a_notebook_as_json_with_202_and_keeps_it_as_sent(student_api, exercise):
    response = student_api.post(submit_url(), {"notebook": NOTEBOOK}, format="json")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["status"], body["source"]) == ("queued", "notebook")
    submission = Submission.objects.get(pk=body["id"])
    assert submission.notebook == NOTEBOOK
    assert submission.code == "\nimport math\n" + SQUARE_REFERENCE + "print(square(3))\n"
    assert submission.cell_starts == [1, 3, 5]
    assert [job.attempt for job in submission.jobs.all()] == [1]
    assert student_api.get(f"/api/v1/submissions/{body['id']}/").json()["source"] == "notebook"


def test_it_accepts_an_uploaded_ipynb_file(student_api, exercise):
    response = upload(student_api, json.dumps(NOTEBOOK, indent=1).encode())
    assert response.status_code == 202, response.json()
    assert Submission.objects.get(pk=response.json()["id"]).notebook == NOTEBOOK


def test_code_submissions_say_so(student_api, exercise):
    response = student_api.post(submit_url(), {"code": SQUARE_REFERENCE}, format="json")
    assert response.json()["source"] == "code"
    assert Submission.objects.get().notebook is None


def test_a_notebook_larger_than_other_api_bodies_is_accepted(student_api, exercise, settings):
    """API_MAX_BODY_BYTES (256 KiB) bounds every other body; a notebook may weigh up to
    SUBMISSION_MAX_NOTEBOOK_BYTES (outputs, images)."""
    image = {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0K" * 50_000}}
    big = json.loads(json.dumps(NOTEBOOK))
    big["cells"][3]["outputs"] = [image]
    data = json.dumps({"notebook": big}).encode()
    assert settings.API_MAX_BODY_BYTES < len(data) < settings.SUBMISSION_MAX_NOTEBOOK_BYTES
    response = student_api.post(submit_url(), data, content_type="application/json")
    assert response.status_code == 202, response.content
    elsewhere = student_api.post("/api/v1/attempts/1/submit/", data, content_type="application/json")
    assert elsewhere.status_code == 413


def test_notebook_submissions_count_towards_the_submission_throttle(student_api, exercise, monkeypatch):
    monkeypatch.setattr(SubmissionThrottle, "THROTTLE_RATES", {"submissions": "2/min"})
    assert student_api.post(submit_url(), {"notebook": NOTEBOOK}, format="json").status_code == 202
    assert upload(student_api, json.dumps(NOTEBOOK).encode()).status_code == 202
    assert upload(student_api, json.dumps(NOTEBOOK).encode()).status_code == 429


# --- Refused --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("notebook", "fragment"),
    [
        ("{}", "notebook"),
        ([1, 2], "notebook"),
        ({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}, "nbformat 3"),
        ({"cells": []}, "no 'nbformat' version"),
        (make_notebook({"cell_type": "code", "metadata": {}}), "cell 1: 'source' is a required property"),
        (make_notebook(notebook_cell("# Just prose", cell_type="markdown")), "no code to run"),
        (make_notebook("%%time\nsquare(2)\n"), "no code to run"),
        (make_notebook("x = 'a\\u0000'\n") | {"metadata": {"a": "\x00"}}, "NUL character"),
    ],
)
def test_it_refuses_a_bad_notebook_with_a_json_400_and_writes_nothing(student_api, exercise, notebook, fragment):
    assert_refused(student_api.post(submit_url(), {"notebook": notebook}, format="json"), fragment)


def test_it_refuses_both_code_and_a_notebook(student_api, exercise):
    response = student_api.post(submit_url(), {"code": SQUARE_REFERENCE, "notebook": NOTEBOOK}, format="json")
    assert_refused(response, "Send either code or a notebook, not both.")
    both = upload(student_api, json.dumps(NOTEBOOK).encode(), code=SQUARE_REFERENCE)
    assert_refused(both, "not both")


def test_it_refuses_neither(student_api, exercise):
    assert_refused(student_api.post(submit_url(), {}, format="json"), "Send code, or a notebook.")


@override_settings(SUBMISSION_MAX_NOTEBOOK_BYTES=2048)
def test_it_refuses_a_notebook_over_the_size_limit(student_api, exercise):
    big = make_notebook(SQUARE_REFERENCE, notebook_cell("a" * 3000, cell_type="markdown"))
    assert_refused(
        student_api.post(submit_url(), {"notebook": big}, format="json"), "bytes as JSON; at most 2048 are accepted"
    )
    assert_refused(upload(student_api, json.dumps(big).encode()), "bytes; at most 2048 are accepted")


@override_settings(SUBMISSION_MAX_CODE_BYTES=100)
def test_the_code_cells_count_towards_the_code_limit(student_api, exercise):
    long = make_notebook("# " + "x" * 60 + "\n", "# " + "y" * 60 + "\n")
    response = student_api.post(submit_url(), {"notebook": long}, format="json")
    assert_refused(response, "The notebook's code is 126 bytes; at most 100 are accepted.")
    assert list(response.json()["errors"]) == ["notebook"]


@pytest.mark.parametrize(
    ("data", "name", "fragment"),
    [
        (b'{"cells": [', "square.ipynb", "not valid JSON"),
        (b"\xff\xfe", "square.ipynb", "not UTF-8"),
        (b"[]", "square.ipynb", "not a Jupyter notebook"),
        (json.dumps(NOTEBOOK).encode(), "square.py", "upload an .ipynb file"),
        (b'{"nbformat": 3, "metadata": {}, "worksheets": []}', "old.ipynb", "nbformat 3"),
    ],
)
def test_it_refuses_a_bad_upload_with_a_json_400_and_writes_nothing(student_api, exercise, data, name, fragment):
    assert_refused(upload(student_api, data, name=name), fragment)


def test_a_multipart_request_needs_the_file(student_api, exercise):
    response = student_api.post(submit_url(), {"code": SQUARE_REFERENCE}, format="multipart")
    assert_refused(response, "file")


# --- Downloads ------------------------------------------------------------------------------


def notebook_of(response) -> dict:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-ipynb+json"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    notebook = json.loads(response.content)
    nbformat.validate(nbformat.from_dict(notebook))
    return notebook


def test_it_serves_the_starter_notebook_as_an_attachment(student_api, exercise):
    response = student_api.get("/api/v1/exercises/square/notebook/")
    notebook = notebook_of(response)
    assert response["Content-Disposition"] == 'attachment; filename="square.ipynb"'
    prompt, code, submitting = ("".join(cell["source"]) for cell in notebook["cells"])
    assert prompt == exercise.prompt
    assert code == exercise.starter_code.rstrip("\n")
    assert "http://testserver/exercises/square/" in submitting
    assert "http://testserver/api/v1/exercises/square/submissions/" in submitting
    # Asked for by its media type, it comes the same way.
    assert notebook_of(student_api.get("/api/v1/exercises/square/notebook/", HTTP_ACCEPT="application/x-ipynb+json"))


def test_the_starter_notebook_follows_the_exercise_s_visibility(student_api, instructor_api, anon_api, exercise):
    Exercise.objects.filter(pk=exercise.pk).update(is_published=False)
    response = student_api.get("/api/v1/exercises/square/notebook/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert notebook_of(instructor_api.get("/api/v1/exercises/square/notebook/"))
    assert anon_api.get("/api/v1/exercises/square/notebook/").status_code in (401, 403)


def test_a_submitted_notebook_comes_back_for_its_owner_and_instructors(
    student_api, other_student_api, instructor_api, exercise
):
    submission_id = student_api.post(submit_url(), {"notebook": NOTEBOOK}, format="json").json()["id"]
    url = f"/api/v1/submissions/{submission_id}/notebook/"
    response = student_api.get(url)
    assert notebook_of(response) == NOTEBOOK
    assert response["Content-Disposition"] == f'attachment; filename="square-submission-{submission_id}.ipynb"'
    assert notebook_of(instructor_api.get(url)) == NOTEBOOK
    assert other_student_api.get(url).status_code == 404


def test_a_code_submission_has_no_notebook(student_api, exercise):
    submission_id = student_api.post(submit_url(), {"code": SQUARE_REFERENCE}, format="json").json()["id"]
    response = student_api.get(f"/api/v1/submissions/{submission_id}/notebook/")
    assert response.status_code == 404
    assert "sent as code" in response.json()["detail"]


# --- The schema -----------------------------------------------------------------------------


def test_the_schema_documents_both_request_bodies_and_the_downloads(anon_api, student_api, exercise):
    openapi = anon_api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    body = openapi["paths"]["/api/v1/exercises/{slug}/submissions/"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    for path in ("/api/v1/exercises/{slug}/notebook/", "/api/v1/submissions/{submission_id}/notebook/"):
        assert "application/x-ipynb+json" in openapi["paths"][path]["get"]["responses"]["200"]["content"]
    submitted = student_api.post(submit_url(), {"notebook": NOTEBOOK}, format="json").json()
    schema = {"$ref": "#/components/schemas/CodeSubmission", "components": openapi["components"]}
    jsonschema.Draft202012Validator(schema).validate(submitted)
