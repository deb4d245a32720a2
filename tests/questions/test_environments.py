"""An exercise's environment: named in its file and the admin, refused when unknown,
snapshotted into its key (which routes its grading), listed with every package."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from django.test import Client

from grader.grading import grading_job_run, submission_create
from grader.models import GradingJob, JobState
from questions.exercise_files import EXERCISE_FILE, PROMPT_FILE, REFERENCE_FILE, parse_exercise_folder
from questions.exercises import exercise_to_spec, grading_spec
from questions.files import QuestionFileError
from questions.models import Exercise
from questions.services import exercise_key_ensure, exercise_upsert
from tests.exercises import SQUARE, make_exercise
from workers.environments import ENVIRONMENTS, environment_packages

FILE = """\
slug: demo
title: Demo
environment: {environment}
functions:
  - f(x) -> float
checks:
  - name: one
    kind: close
    call: f(1.0)
"""


def _folder(tmp_path: Path, environment: str) -> Path:
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / EXERCISE_FILE).write_text(FILE.format(environment=environment))
    (folder / PROMPT_FILE).write_text("# Demo\n")
    (folder / REFERENCE_FILE).write_text("def f(x):\n    return float(x)\n")
    return folder


def test_an_exercise_file_names_its_environment(tmp_path: Path):
    assert parse_exercise_folder(_folder(tmp_path, "torch")).environment == "torch"


def test_an_unknown_environment_is_refused_on_import(tmp_path: Path):
    with pytest.raises(QuestionFileError, match="no environment 'tensorflow'; the environments are numpy, scientific"):
        parse_exercise_folder(_folder(tmp_path, "tensorflow"))


@pytest.mark.django_db
def test_the_key_snapshots_the_environment_and_numpy_keys_keep_their_fingerprints():
    numpy = make_exercise()
    key = numpy.keys.get()
    assert key.environment == "numpy"
    assert "environment" not in key.spec  # as before environments existed: old keys stay valid
    torch = make_exercise(dataclasses.replace(SQUARE, slug="square-torch", environment="torch"))
    key = torch.keys.get()
    assert key.environment == "torch"
    assert key.spec == grading_spec(spec=exercise_to_spec(exercise=torch))
    assert key.spec["environment"] == "torch"


@pytest.mark.django_db
def test_the_admin_refuses_an_unknown_environment(staff: Client):
    exercise = make_exercise()
    form = {
        "slug": exercise.slug,
        "title": exercise.title,
        "prompt": exercise.prompt,
        "functions": exercise.functions,
        "reference_solution": exercise.reference_solution,
        "time_limit_seconds": exercise.time_limit_seconds,
        "memory_limit_mb": exercise.memory_limit_mb,
        "environment": "tensorflow",
        "checks-TOTAL_FORMS": "0",
        "checks-INITIAL_FORMS": "0",
        "data_files-TOTAL_FORMS": "0",
        "data_files-INITIAL_FORMS": "0",
    }
    response = staff.post(f"/admin/questions/exercise/{exercise.pk}/change/", form)
    assert response.status_code == 200
    assert "Select a valid choice. tensorflow is not one of the available choices." in response.content.decode()
    assert Exercise.objects.get(pk=exercise.pk).environment == "numpy"


@pytest.mark.django_db
def test_the_api_lists_every_environment_with_its_packages(student_api):
    body = student_api.get("/api/v1/environments/").json()
    assert body["default"] == "numpy"
    assert [environment["name"] for environment in body["environments"]] == list(ENVIRONMENTS)
    torch = next(environment for environment in body["environments"] if environment["name"] == "torch")
    assert {"name": "torch", "version": "2.13.0"} in torch["packages"]
    assert "torch" in torch["preloaded"]
    assert len(torch["packages"]) == len(environment_packages(ENVIRONMENTS["torch"]))


@pytest.mark.django_db
def test_an_exercise_shows_its_environment(student_api):
    make_exercise(dataclasses.replace(SQUARE, environment="scientific"))
    body = student_api.get("/api/v1/exercises/square/").json()
    assert body["environment"]["name"] == "scientific"
    assert {"name": "scikit-learn", "version": "1.9.1"} in body["environment"]["packages"]


@pytest.mark.django_db
def test_a_job_for_an_environment_this_worker_lacks_goes_to_its_queue(student, monkeypatch, tmp_path):
    """Misrouted (here: from the numpy queue), the job stays queued, says why, and is
    sent to its own environment's queue: the grader's mistake, not the student's."""
    exercise = make_exercise(dataclasses.replace(SQUARE, environment="torch"))
    submission = submission_create(user=student, exercise=exercise, code="def square(x):\n    return x * x\n")
    sent: list[tuple[str, list[object], str | None]] = []
    monkeypatch.setattr(
        "grader.grading.enqueue", lambda *, task, args, countdown=0, queue=None: sent.append((task, args, queue))
    )
    monkeypatch.setenv("GRADER_ENVIRONMENTS_DIR", str(tmp_path))  # this machine has no torch

    job = GradingJob.objects.get(submission=submission)
    outcome = grading_job_run(job_id=job.pk, arrived_on="grading.numpy")

    assert not outcome.ran
    job.refresh_from_db()
    assert job.state == JobState.QUEUED
    assert "cannot grade it: the torch environment is not installed on this machine" in job.error
    assert "sent to grading.torch" in job.error
    assert sent == [("grader.grade_submission", [job.pk], "grading.torch")]


@pytest.mark.django_db
def test_the_admin_says_what_a_pending_key_waits_for(staff: Client):
    exercise, _ = exercise_upsert(spec=dataclasses.replace(SQUARE, slug="square-torch", environment="torch"))
    exercise_key_ensure(exercise=exercise)  # pending: no worker has run it
    html = staff.get(f"/admin/questions/exercise/{exercise.pk}/change/").content.decode()
    assert "Waiting for a worker of the PyTorch (CPU) environment (queue <code>grading.torch</code>)" in html
    assert "<code>make env ENV=torch</code>" in html
