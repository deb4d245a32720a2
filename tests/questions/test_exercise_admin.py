"""Authoring code exercises in the admin, as a staff instructor (charlie)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from questions.models import Exercise, ExerciseCheck, ExerciseKey, KeyStatus
from tests.exercises import make_exercise

EXERCISES_URL = "/admin/questions/exercise/"
ADD_URL = EXERCISES_URL + "add/"
PREFIX = "checks"


def _form(*, checks: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "slug": "cube",
        "title": "Cube a number",
        "prompt": "Write `cube(x)`.",
        "functions": "cube(x) -> float",
        "starter_code": "def cube(x):\n    raise NotImplementedError\n",
        "reference_solution": "def cube(x):\n    return x ** 3\n",
        "time_limit_seconds": "5",
        "memory_limit_mb": "512",
        "_save": "Save",
        f"{PREFIX}-TOTAL_FORMS": str(len(checks)),
        f"{PREFIX}-INITIAL_FORMS": "0",
        f"{PREFIX}-MIN_NUM_FORMS": "0",
        f"{PREFIX}-MAX_NUM_FORMS": "1000",
        # The data files' inline, empty (the admin posts its management form too).
        "data_files-TOTAL_FORMS": "0",
        "data_files-INITIAL_FORMS": "0",
        **fields,
    }
    for index, check in enumerate(checks):
        row = {"position": str(index), "points": "1", "seed": "0", "kind": "close", "variants": "1", **check}
        data.update({f"{PREFIX}-{index}-{key}": value for key, value in row.items()})
    return data


def test_saving_an_exercise_creates_a_pending_key_and_queues_its_validation(staff, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff.post(ADD_URL, _form(checks=[{"name": "two", "call": "cube(2.0)"}]))
    assert response.status_code == 302, response.content.decode()[:3000]
    exercise = Exercise.objects.get(slug="cube")
    assert exercise.checks.get().name == "two"
    key = ExerciseKey.objects.get(exercise=exercise)
    assert key.status == KeyStatus.PENDING
    assert key.fingerprint == exercise.spec_fingerprint
    assert len(callbacks) == 1


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ({"name": "two", "call": "cube(2.0"}, "call is not valid Python"),
        ({"name": "two", "call": "cube(2.0)", "setup": "x = = 1"}, "setup is not valid Python"),
        ({"name": "two", "kind": "range", "call": "cube(2.0)"}, "A range check needs a lower bound"),
        ({"name": "two", "kind": "range", "call": "cube(2.0)", "lower": "1", "rtol": "0.1"}, "has no &#x27;rtol&#x27;"),
        ({"name": "two", "kind": "time", "call": "cube(2.0)"}, "A time check needs the seconds"),
        ({"name": "two", "kind": "unchanged", "call": "cube(x)"}, "An unchanged check needs the input names"),
        ({"name": "two", "kind": "gradient", "call": "cube(x)"}, "A gradient check needs `of`"),
        ({"name": "Two Words", "call": "cube(2.0)"}, "Enter a valid"),
    ],
)
def test_it_refuses_broken_checks_with_a_message_on_the_check(staff, check, message):
    response = staff.post(ADD_URL, _form(checks=[check]))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Exercise.objects.exists()


def test_it_refuses_duplicate_check_names_and_exercises_without_checks(staff):
    twice = [{"name": "two", "call": "cube(2.0)"}, {"name": "two", "call": "cube(2.0)", "position": "1"}]
    content = staff.post(ADD_URL, _form(checks=twice)).content.decode()
    assert "Please correct the duplicate data for name" in content
    assert "needs at least one check" in staff.post(ADD_URL, _form(checks=[])).content.decode()
    assert not Exercise.objects.exists()


@pytest.mark.parametrize(
    ("checks", "message"),
    [
        ([{"name": "two", "call": "cube(2.0)", "requires": "three"}], "requires three, which no check is called"),
        (
            [
                {"name": "two", "call": "cube(2.0)", "requires": "one"},
                {"name": "one", "call": "cube(1.0)", "requires": "two", "position": "1"},
            ],
            "cannot require each other in a circle: two -&gt; one -&gt; two",
        ),
        (
            [{"name": "two", "call": "float(cube(2.0))"}],
            "the call must be a call of one of the student&#x27;s functions",
        ),
        ([{"name": "two", "call": "cube(2.0)", "variants": "11"}], "Variants are between 1 and 10."),
    ],
)
def test_it_refuses_requirements_that_cannot_be_met_and_calls_that_compute_inside(staff, checks, message):
    content = staff.post(ADD_URL, _form(checks=checks)).content.decode()
    assert message in content
    assert not Exercise.objects.exists()


def test_it_saves_requires_metric_variants_and_show_expected(staff):
    checks = [
        {"name": "two", "call": "cube(2.0)", "variants": "3", "show_expected": "on"},
        {"name": "big", "kind": "range", "call": "cube(2.0)", "metric": "result * 2", "lower": "1",
         "requires": "two", "position": "1"},
    ]  # fmt: skip
    response = staff.post(ADD_URL, _form(checks=checks))
    assert response.status_code == 302, response.content.decode()[:3000]
    two, big = Exercise.objects.get(slug="cube").checks.order_by("position")
    assert (two.variants, two.show_expected) == (3, True)
    assert (big.requires, big.metric) == ("two", "result * 2")


def test_it_refuses_a_reference_that_is_not_python(staff):
    form = _form(checks=[{"name": "two", "call": "cube(2.0)"}], reference_solution="def cube(x) return x")
    content = staff.post(ADD_URL, form).content.decode()
    assert "reference solution is not valid Python" in content
    assert not Exercise.objects.exists()


def test_it_accepts_publishing_before_the_reference_has_validated(staff):
    # Published as soon as validation passes (see tests/questions/test_exercise_editing.py).
    response = staff.post(ADD_URL, _form(checks=[{"name": "two", "call": "cube(2.0)"}], is_published="on"))
    assert response.status_code == 302, response.content.decode()[:3000]
    exercise = Exercise.objects.get(slug="cube")
    assert exercise.is_published
    assert ExerciseKey.objects.get(exercise=exercise).status == KeyStatus.PENDING


def test_it_publishes_an_exercise_whose_key_is_valid(staff):
    exercise = make_exercise()  # trusted valid key
    Exercise.objects.filter(pk=exercise.pk).update(is_published=False)
    change = f"{EXERCISES_URL}{exercise.pk}/change/"
    page = staff.get(change)
    assert page.status_code == 200
    assert "Valid: the reference scores full marks" in page.content.decode()
    checks = [
        {
            "id": str(check.pk), "exercise": str(exercise.pk), "position": str(check.position), "name": check.name,
            "kind": check.kind, "points": str(check.points), "seed": str(check.seed), "setup": check.setup,
            "call": check.call, **({"is_hidden": "on"} if check.is_hidden else {}),
            "description": check.description,
        }
        for check in exercise.checks.all()
    ]  # fmt: skip
    form = _form(
        checks=checks,
        slug=exercise.slug,
        title=exercise.title,
        prompt=exercise.prompt,
        functions=exercise.functions,
        starter_code=exercise.starter_code,
        # As a browser sends a textarea: CRLF line ends.
        reference_solution=exercise.reference_solution.replace("\n", "\r\n"),
        time_limit_seconds=str(exercise.time_limit_seconds),
        memory_limit_mb=str(exercise.memory_limit_mb),
        is_published="on",
    )
    form[f"{PREFIX}-INITIAL_FORMS"] = str(len(checks))
    response = staff.post(change, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    exercise.refresh_from_db()
    assert exercise.is_published
    assert ExerciseKey.objects.filter(exercise=exercise).count() == 1  # the spec did not change


def test_the_validate_action_queues_an_invalid_key_again(staff, django_capture_on_commit_callbacks):
    exercise = make_exercise()
    ExerciseKey.objects.filter(exercise=exercise).update(status=KeyStatus.INVALID)
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff.post(EXERCISES_URL, {"action": "validate_exercises", "_selected_action": [str(exercise.pk)]})
    assert response.status_code == 302
    assert ExerciseKey.objects.get(exercise=exercise).status == KeyStatus.PENDING
    assert len(callbacks) == 1


def test_students_cannot_reach_the_exercise_admin(student):
    client = Client()
    client.force_login(student)
    assert client.get(EXERCISES_URL).status_code == 302  # to the login form
    assert ExerciseCheck.objects.count() == 0
