"""Editing never hides work from students: while an edited exercise's new answer key
validates, and when it fails, students keep the last valid key (API, pages, submitting),
and the admin says which key is live and why the new one is not. Keys are validated by
calling the validation service with a stand-in sandbox, as tests/grader/test_grading.py
does."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client
from django.utils.html import escape
from rest_framework.test import APIClient

from grader.grading import exercise_key_validate
from grader.models import Submission
from questions.exercises import CheckSpec, ExerciseSpec, exercise_to_spec
from questions.models import Exercise, ExerciseKey, KeyStatus
from questions.selectors import exercise_serving_key_in, exercise_serving_key_state
from questions.services import exercise_upsert
from tests.exercises import SQUARE
from tests.pages.helpers import square_exercise
from workers.sandbox.protocol import CallOutcome, SandboxJob, SandboxRun, StudentError

EXERCISES_URL = "/admin/questions/exercise/"
DETAIL_API = "/api/v1/exercises/square/"
SUBMIT_API = DETAIL_API + "submissions/"
PAGE = "/exercises/square/"
CODE = "def square(x):\n    return x * x\n"


def nines(job: SandboxJob) -> SandboxRun:
    """A reference answering 9.0 to every call: it scores full marks against itself."""
    return SandboxRun(calls={call.id: CallOutcome(id=call.id, value=9.0) for call in job.calls})


def broken_reference(job: SandboxJob) -> SandboxRun:
    return SandboxRun(module_error=StudentError(type="NameError", message="name 'sqaure' is not defined"))


@pytest.fixture
def browser(student: AbstractUser) -> Client:
    client = Client()
    client.force_login(student)
    return client


@pytest.fixture
def exercise(db: None) -> Exercise:
    return square_exercise()  # published, its key trusted as valid


def _form(*, fields: dict[str, Any], rows: list[dict[str, str]], initial: int) -> dict[str, Any]:
    """The exercise form as the admin posts it, its checks inline."""
    data: dict[str, Any] = {
        **{key: str(value) for key, value in fields.items() if key != "is_published"},
        **({"is_published": "on"} if fields.get("is_published") else {}),
        "_save": "Save",
        "checks-TOTAL_FORMS": str(len(rows)),
        "checks-INITIAL_FORMS": str(initial),
        "checks-MIN_NUM_FORMS": "0",
        "checks-MAX_NUM_FORMS": "1000",
        # The data files' inline, empty (the admin posts its management form too).
        "data_files-TOTAL_FORMS": "0",
        "data_files-INITIAL_FORMS": "0",
    }
    for index, row in enumerate(rows):
        data.update({f"checks-{index}-{key}": value for key, value in {"position": str(index), **row}.items()})
    return data


def _row(check: CheckSpec) -> dict[str, str]:
    return {
        "name": check.name, "kind": check.kind, "points": str(check.points), "seed": str(check.seed),
        "setup": check.setup, "call": check.call, "description": check.description, "variants": "1",
        **({"is_hidden": "on"} if check.hidden else {}),
    }  # fmt: skip


def _change_form(exercise: Exercise, *, add: CheckSpec) -> dict[str, Any]:
    """The exercise's change form as the admin would post it back, with a check added."""
    spec = exercise_to_spec(exercise=exercise)
    ids = [check.pk for check in exercise.checks.order_by("position", "id")]
    rows = [
        {"id": str(pk), "exercise": str(exercise.pk), **_row(check)} for pk, check in zip(ids, spec.checks, strict=True)
    ]
    return _form(fields=_fields(spec), rows=[*rows, _row(add)], initial=len(rows))


def _fields(spec: ExerciseSpec) -> dict[str, Any]:
    return {
        "slug": spec.slug,
        "title": spec.title,
        "prompt": spec.prompt,
        "functions": "\n".join(spec.functions),
        "starter_code": spec.starter_code,
        "reference_solution": spec.reference_solution,
        "time_limit_seconds": spec.time_limit_seconds,
        "memory_limit_mb": spec.memory_limit_mb,
        "grade_policy": spec.grade_policy,
        "is_published": spec.published,
    }


def _edit_adding_a_check(staff: Client, exercise: Exercise) -> ExerciseKey:
    old = ExerciseKey.objects.get(exercise=exercise)
    form = _change_form(exercise, add=CheckSpec(name="four", kind="close", call="square(4.0)"))
    response = staff.post(f"{EXERCISES_URL}{exercise.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    return ExerciseKey.objects.exclude(pk=old.pk).get(exercise=exercise)


def _assert_served_on(key: ExerciseKey, *, api: APIClient, browser: Client, checks: list[str]) -> None:
    body = api.get(DETAIL_API).json()
    assert [check["name"] for check in body["checks"]] == checks
    assert Decimal(str(body["max_score"])) == key.max_score
    assert api.get("/api/v1/exercises/").json()["count"] == 1
    assert browser.get(PAGE).status_code == 200
    response = api.post(SUBMIT_API, {"code": CODE}, format="json")
    assert response.status_code == 202, response.json()
    assert Submission.objects.get(pk=response.json()["id"]).key_id == key.pk
    assert browser.post(PAGE, {"code": CODE}).status_code == 302
    assert Submission.objects.latest("id").key_id == key.pk


def test_editing_a_published_exercise_keeps_serving_its_last_valid_key(staff, student_api, browser, exercise):
    old = ExerciseKey.objects.get(exercise=exercise)
    new = _edit_adding_a_check(staff, exercise)
    assert new.status == KeyStatus.PENDING
    # Students see and are graded on the exercise as it validated, not the edit.
    _assert_served_on(old, api=student_api, browser=browser, checks=["three", "scalar", "vector"])
    page = staff.get(f"{EXERCISES_URL}{exercise.pk}/change/").content.decode()
    assert "Students keep the previous version, which validated, until this one does." in page
    assert "errornote" not in page


def test_new_submissions_go_to_the_new_key_once_it_validates(staff, student_api, browser, exercise):
    new = _edit_adding_a_check(staff, exercise)
    assert exercise_key_validate(key_id=new.pk, runner=nines) == KeyStatus.VALID
    new.refresh_from_db()
    _assert_served_on(new, api=student_api, browser=browser, checks=["three", "scalar", "vector", "four"])


def test_a_failing_new_key_leaves_the_old_one_live_and_the_admin_says_why_in_red(staff, student_api, browser, exercise):
    old = ExerciseKey.objects.get(exercise=exercise)
    new = _edit_adding_a_check(staff, exercise)
    assert exercise_key_validate(key_id=new.pk, runner=broken_reference) == KeyStatus.INVALID
    new.refresh_from_db()
    assert new.summary
    _assert_served_on(old, api=student_api, browser=browser, checks=["three", "scalar", "vector"])
    page = staff.get(f"{EXERCISES_URL}{exercise.pk}/change/").content.decode()
    notice = (
        '<p class="errornote">This version failed validation, so students are still served the previous one, '
        f"which validated: {escape(new.summary)}</p>"
    )
    assert notice in page
    listing = staff.get(EXERCISES_URL).content.decode()
    assert "(students get the previous version)" in listing


def test_first_save_with_published_ticked_publishes_once_validation_passes(staff, student_api, browser, db):
    form = _form(fields=_fields(SQUARE), rows=[_row(check) for check in SQUARE.checks], initial=0)
    assert form["is_published"] == "on"
    response = staff.post(EXERCISES_URL + "add/", form, follow=True)
    assert response.status_code == 200
    assert "it will be published as soon as validation passes" in response.content.decode()
    exercise = Exercise.objects.get(slug="square")
    assert exercise.is_published
    page = staff.get(f"{EXERCISES_URL}{exercise.pk}/change/").content.decode()
    assert "Not visible to students yet: it will be published as soon as validation passes." in page
    assert student_api.get(DETAIL_API).status_code == 404
    assert browser.get(PAGE).status_code == 404

    assert exercise_key_validate(key_id=ExerciseKey.objects.get(exercise=exercise).pk, runner=nines) == "valid"
    assert student_api.get(DETAIL_API).status_code == 200
    assert browser.get(PAGE).status_code == 200
    page = staff.get(f"{EXERCISES_URL}{exercise.pk}/change/").content.decode()
    assert "as soon as validation passes" not in page


def test_the_current_key_is_served_when_valid_even_if_an_other_valid_key_is_newer(exercise):
    """Editing back to a spec that validated before serves that spec's key again."""
    first = ExerciseKey.objects.get(exercise=exercise)
    exercise_upsert(spec=replace(SQUARE, checks=(*SQUARE.checks, CheckSpec(name="four", kind="close", call="x"))))
    second = ExerciseKey.objects.exclude(pk=first.pk).get(exercise=exercise)
    ExerciseKey.objects.filter(pk=second.pk).update(status=KeyStatus.VALID)
    exercise.refresh_from_db()
    assert exercise_serving_key_state(exercise=exercise).pk == second.pk
    exercise_upsert(spec=SQUARE)
    exercise.refresh_from_db()
    assert exercise.spec_fingerprint == first.fingerprint
    assert exercise_serving_key_state(exercise=exercise).pk == first.pk
    keys = list(ExerciseKey.objects.filter(exercise=exercise))
    assert exercise_serving_key_in(keys=keys, fingerprint=exercise.spec_fingerprint).pk == first.pk
