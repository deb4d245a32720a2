"""Notebooks on the student pages: the upload form beside the editor, the starter
notebook link, and a notebook submission's page with its download."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape

from grader.models import GradingJob, Submission
from questions.models import Exercise
from tests.exercises import SQUARE
from tests.factories import make_notebook, notebook_cell
from tests.pages.helpers import square_exercise

NOTEBOOK = make_notebook(notebook_cell("# Mine", cell_type="markdown"), "def square(x):\n    return x * x\n")


@pytest.fixture
def exercise(db: None) -> Exercise:
    return square_exercise()


def upload(client, data: bytes, name: str = "square.ipynb"):
    file = SimpleUploadedFile(name, data, content_type="application/x-ipynb+json")
    return client.post("/exercises/square/", {"source": "notebook", "file": file})


def test_the_exercise_page_offers_the_starter_notebook_and_an_upload_beside_the_editor(student_client, exercise):
    html = student_client.get("/exercises/square/").content.decode()
    assert '<a href="/exercises/square/notebook/" download>Download the starter notebook</a>' in html
    form = re.search(r'<form [^>]*enctype="multipart/form-data"[^>]*>(.*?)</form>', html, re.S)
    assert form is not None
    assert '<input type="hidden" name="source" value="notebook">' in form.group(1)
    assert '<input type="file" id="notebook-file" name="file" accept=".ipynb" required>' in form.group(1)
    assert '<label for="notebook-file">' in form.group(1)
    assert 'name="code"' not in form.group(1)  # the editor's code is never sent with a file


def test_uploading_a_notebook_submits_it_and_shows_its_page(student_client, exercise):
    response = upload(student_client, json.dumps(NOTEBOOK).encode())
    assert response.status_code == 302
    submission = Submission.objects.get()
    assert response["Location"] == f"/submissions/{submission.pk}/"
    assert submission.notebook == NOTEBOOK
    page = student_client.get(response["Location"]).content.decode()
    assert "as a notebook" in page
    assert f'<a href="/submissions/{submission.pk}/notebook/" download>Download notebook</a>' in page
    listing = student_client.get("/exercises/square/").content.decode()
    assert '<span class="tag">notebook</span>' in listing


@pytest.mark.parametrize(
    ("data", "name", "fragment"),
    [
        (b"{not json", "square.ipynb", "The notebook is not valid JSON"),
        (json.dumps(NOTEBOOK).encode(), "square.py", "upload an .ipynb file"),
        (json.dumps({"nbformat": 3, "metadata": {}, "worksheets": []}).encode(), "old.ipynb", "nbformat 3"),
        (json.dumps(make_notebook(notebook_cell("prose", cell_type="markdown"))).encode(), "a.ipynb", "no code"),
    ],
)
def test_a_bad_upload_shows_the_page_again_with_the_problem(student_client, exercise, data, name, fragment):
    response = upload(student_client, data, name)
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(r'<p role="alert" class="error" id="submit-error">[^<]*' + re.escape(escape(fragment)), html)
    textarea = re.search(r'<textarea id="code" name="code"[^>]*>(.*?)</textarea>', html, re.S)
    assert textarea is not None
    assert textarea.group(1) == escape(SQUARE.starter_code)  # the editor keeps what it held
    assert not Submission.objects.exists()
    assert not GradingJob.objects.exists()


def test_the_upload_form_without_a_file_says_to_choose_one(student_client, exercise):
    response = student_client.post("/exercises/square/", {"source": "notebook"})
    assert response.status_code == 400
    assert "Choose a notebook (.ipynb file) to upload." in response.content.decode()


def test_the_starter_notebook_downloads_from_the_page(student_client, exercise):
    response = student_client.get("/exercises/square/notebook/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="square.ipynb"'
    cells = json.loads(response.content)["cells"]
    assert "".join(cells[1]["source"]) == SQUARE.starter_code.rstrip("\n")
    assert "http://testserver/exercises/square/" in "".join(cells[2]["source"])


def test_a_submitted_notebook_downloads_for_its_owner_only(student_client, other_student_client, exercise):
    upload(student_client, json.dumps(NOTEBOOK).encode())
    submission = Submission.objects.get()
    url = f"/submissions/{submission.pk}/notebook/"
    response = student_client.get(url)
    assert response.status_code == 200
    assert json.loads(response.content) == NOTEBOOK
    assert other_student_client.get(url).status_code == 404


def test_a_code_submission_has_no_notebook_to_download(student_client, exercise):
    student_client.post("/exercises/square/", {"code": "def square(x):\n    return x * x\n"})
    submission = Submission.objects.get()
    assert submission.notebook is None
    page = student_client.get(f"/submissions/{submission.pk}/").content.decode()
    assert "Download notebook" not in page
    assert student_client.get(f"/submissions/{submission.pk}/notebook/").status_code == 404


def test_the_downloads_need_a_sign_in(client, exercise):
    response = client.get("/exercises/square/notebook/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_verdict_text_shows_code_spans_and_escapes_the_rest():
    from pages.templatetags.pages_extras import code_spans

    assert code_spans("passed (`square` is defined in cell 3)") == "passed (<code>square</code> is defined in cell 3)"
    assert code_spans("raised ValueError: <b>`x<y`</b>") == "raised ValueError: &lt;b&gt;<code>x&lt;y</code>&lt;/b&gt;"
