"""Exercises' data files: authored in an exercise folder's data/ or uploaded in the admin,
stored once by content, fingerprinted into the answer key, and made ready on a worker's
disk for the sandbox (grader.data_files)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from grader.data_files import data_set_prepare
from questions.exercise_files import DATA_DIR, EXERCISE_FILE, PROMPT_FILE, REFERENCE_FILE, parse_exercise_folder
from questions.exercises import DataFileSpec, exercise_to_spec, grading_spec, grading_spec_data
from questions.files import QuestionFileError
from questions.models import DataBlob, Exercise, ExerciseDataFile
from questions.services import exercise_upsert, exercises_export
from workers.sandbox.config import data_root
from workers.sandbox.protocol import SandboxUnavailable

EXERCISE = """\
slug: with-data
title: With data
functions:
  - f(x) -> float
{hidden}checks:
  - name: one
    kind: close
    call: f(1.0)
"""


def _npy(values: list[float]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array(values))
    return buffer.getvalue()


def _folder(tmp_path: Path, *, hidden: str = "", files: dict[str, bytes] | None = None) -> Path:
    folder = tmp_path / "with-data"
    (folder / DATA_DIR).mkdir(parents=True)
    (folder / EXERCISE_FILE).write_text(EXERCISE.format(hidden=hidden))
    (folder / PROMPT_FILE).write_text("# With data\n")
    (folder / REFERENCE_FILE).write_text("def f(x):\n    return float(x)\n")
    for name, content in (files or {"train.csv": b"x\n1\n", "test.npy": _npy([1.0, 2.0])}).items():
        (folder / DATA_DIR / name).write_bytes(content)
    return folder


def test_a_folder_reads_its_data_files_and_which_are_hidden(tmp_path: Path):
    spec = parse_exercise_folder(_folder(tmp_path, hidden="hidden_data: [test.npy]\n"))
    assert [(d.name, d.hidden, d.size) for d in spec.data] == [("test.npy", True, 144), ("train.csv", False, 4)]
    assert spec.data[1].sha256 == hashlib.sha256(b"x\n1\n").hexdigest()


@pytest.mark.parametrize(
    ("hidden", "files", "message"),
    [
        ("hidden_data: [nope.npy]\n", None, "hidden_data names files that are not in data/: nope.npy"),
        ("", {"notes.txt": b"hi"}, "'notes.txt' is not one of the data formats"),
        ("", {".hidden.csv": b"x"}, "is not a plain file name"),
    ],
    ids=["unknown-hidden-name", "unknown-format", "dot-file"],
)
def test_a_folder_with_bad_data_is_refused(tmp_path: Path, hidden: str, files: dict[str, bytes] | None, message: str):
    with pytest.raises(QuestionFileError, match=message):
        parse_exercise_folder(_folder(tmp_path, hidden=hidden, files=files))


def test_a_data_file_over_the_size_limit_is_refused(tmp_path: Path, settings):
    settings.EXERCISE_DATA_MAX_BYTES = 10
    with pytest.raises(QuestionFileError, match="a data file may have at most 10"):
        parse_exercise_folder(_folder(tmp_path, files={"big.csv": b"x" * 11}))


@pytest.mark.django_db
def test_import_stores_each_content_once_and_the_key_names_it(tmp_path: Path):
    spec = parse_exercise_folder(_folder(tmp_path, hidden="hidden_data: [test.npy]\n"))
    exercise, _ = exercise_upsert(spec=spec)
    key = exercise.keys.get()
    assert key.spec["data"] == [
        {"name": d.name, "sha256": d.sha256, "size": d.size, "hidden": d.hidden} for d in spec.data
    ]
    assert DataBlob.objects.count() == 2
    assert exercise_to_spec(exercise=exercise) == spec
    # Another exercise with the same bytes shares the blob.
    other = parse_exercise_folder(_folder(tmp_path / "other"))
    exercise_upsert(spec=dataclasses.replace(other, slug="other"))
    assert DataBlob.objects.count() == 2


@pytest.mark.django_db
def test_changing_a_data_file_makes_a_new_key_and_the_old_one_keeps_its_bytes(tmp_path: Path):
    exercise, _ = exercise_upsert(spec=parse_exercise_folder(_folder(tmp_path / "a")))
    old = exercise.keys.get()
    changed = parse_exercise_folder(_folder(tmp_path / "b", files={"train.csv": b"x\n2\n", "test.npy": _npy([3.0])}))
    exercise, outcome = exercise_upsert(spec=changed)
    assert outcome == "updated"
    assert exercise.keys.count() == 2
    for entry in old.spec["data"]:
        assert DataBlob.objects.filter(sha256=entry["sha256"]).exists()


@pytest.mark.django_db
def test_export_writes_the_data_back_byte_for_byte(tmp_path: Path):
    folder = _folder(tmp_path / "in", hidden="hidden_data: [test.npy]\n")
    exercise_upsert(spec=parse_exercise_folder(folder))
    exercises_export(out_dir=tmp_path / "out")
    for name in ("train.csv", "test.npy"):
        assert (tmp_path / "out" / "with-data" / DATA_DIR / name).read_bytes() == (
            folder / DATA_DIR / name
        ).read_bytes()
    assert "hidden_data: [test.npy]" in (tmp_path / "out" / "with-data" / EXERCISE_FILE).read_text()


def _admin_form(exercise: Exercise) -> dict[str, str]:
    """The exercise's change form as the admin posts it, its one check unchanged."""
    return {
        "slug": exercise.slug,
        "title": exercise.title,
        "prompt": exercise.prompt,
        "functions": exercise.functions,
        "reference_solution": exercise.reference_solution,
        "time_limit_seconds": "5",
        "memory_limit_mb": "512",
        "_save": "Save",
        "checks-TOTAL_FORMS": "1",
        "checks-INITIAL_FORMS": "1",
        "checks-0-id": str(exercise.checks.get().pk),
        "checks-0-exercise": str(exercise.pk),
        "checks-0-position": "0",
        "checks-0-name": "one",
        "checks-0-kind": "close",
        "checks-0-points": "1",
        "checks-0-seed": "0",
        "checks-0-variants": "1",
        "checks-0-call": "f(1.0)",
    }


@pytest.mark.django_db
def test_the_admin_uploads_a_data_file(staff: Client, tmp_path: Path):
    exercise, _ = exercise_upsert(spec=parse_exercise_folder(_folder(tmp_path, files={"train.csv": b"x\n1\n"})))
    spec = exercise_to_spec(exercise=exercise)
    existing = exercise.data_files.get()
    form = {
        **_admin_form(exercise),
        "data_files-TOTAL_FORMS": "2",
        "data_files-INITIAL_FORMS": "1",
        "data_files-0-id": str(existing.pk),
        "data_files-0-exercise": str(exercise.pk),
        "data_files-0-name": "train.csv",
        "data_files-1-exercise": str(exercise.pk),
        "data_files-1-upload": SimpleUploadedFile("held_out.npy", _npy([5.0, 6.0])),
        "data_files-1-is_hidden": "on",
    }
    response = staff.post(f"/admin/questions/exercise/{exercise.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[-2000:]
    files = {file.name: file for file in ExerciseDataFile.objects.filter(exercise=exercise)}
    assert set(files) == {"train.csv", "held_out.npy"}
    assert files["held_out.npy"].is_hidden
    assert bytes(files["held_out.npy"].blob.content) == _npy([5.0, 6.0])
    key = exercise.keys.order_by("-created_at", "-id").first()
    assert key is not None
    assert {entry["name"] for entry in key.spec["data"]} == {"train.csv", "held_out.npy"}
    assert spec != exercise_to_spec(exercise=exercise)


@pytest.mark.django_db
def test_the_admin_refuses_a_data_file_of_an_unknown_format(staff: Client, tmp_path: Path):
    exercise, _ = exercise_upsert(spec=parse_exercise_folder(_folder(tmp_path, files={"train.csv": b"x\n1\n"})))
    form = {
        **_admin_form(exercise),
        "data_files-TOTAL_FORMS": "1",
        "data_files-INITIAL_FORMS": "0",
        "data_files-0-exercise": str(exercise.pk),
        "data_files-0-upload": SimpleUploadedFile("model.pkl", b"\x80\x04pickle"),
    }
    response = staff.post(f"/admin/questions/exercise/{exercise.pk}/change/", form)
    assert response.status_code == 200
    assert "is not one of the data formats" in response.content.decode()


@pytest.mark.django_db
def test_a_worker_prepares_the_visible_set_and_keeps_hidden_files_apart(tmp_path: Path):
    exercise, _ = exercise_upsert(spec=parse_exercise_folder(_folder(tmp_path, hidden="hidden_data: [test.npy]\n")))
    files = grading_spec_data(spec=exercise.keys.get().spec)
    assert all(file.content is None for file in files)  # from the key: bytes come from the database
    data = data_set_prepare(files=files)
    assert data is not None
    directory = data_root() / "sets" / data.directory
    assert sorted(os.listdir(directory / "data")) == ["train.csv"]
    assert (directory / "data" / "train.csv").read_bytes() == b"x\n1\n"
    assert os.stat(directory / "data" / "train.csv").st_mode & 0o222 == 0  # read-only
    ((name, path),) = data.hidden
    assert name == "test.npy"
    assert Path(path).read_bytes() == _npy([1.0, 2.0])
    assert data_set_prepare(files=files) == data  # the same set, not made again


@pytest.mark.django_db
def test_a_key_whose_bytes_are_missing_is_a_grader_error():
    missing = DataFileSpec(name="gone.csv", sha256="0" * 64, size=3)
    with pytest.raises(SandboxUnavailable, match="not in the database"):
        data_set_prepare(files=[missing])


def test_exercises_without_data_keep_their_fingerprints():
    spec = parse_exercise_folder(
        Path(__file__).resolve().parents[2] / "questions" / "bank" / "exercises" / "mse-versus-mae"
    )
    assert "data" not in grading_spec(spec=spec)
