"""The check-strength report in the admin: made when a key validates, shown on the
exercise's page (in red when a constant scores), and publishing a flagged exercise asks
for confirmation. The sandbox is a stand-in here (tests/grader/test_strength.py runs the
report through the real one on every seeded exercise)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.test import Client

from grader.grading import exercise_key_validate
from questions.exercises import exercise_to_spec
from questions.models import Exercise, ExerciseKey, KeyStatus
from questions.services import exercise_upsert
from tests.exercises import SQUARE, SQUARE_REFERENCE
from tests.pages.helpers import square_exercise
from tests.questions.test_exercise_editing import EXERCISES_URL, _fields, _form, _row, nines
from workers.sandbox.protocol import CallOutcome, SandboxJob, SandboxRun

FLAG = "checks give 5 of 5 points to the starter code"


def strong_square() -> Exercise:
    """SQUARE, its scalar check paid only once the value is right."""
    square_exercise()
    checks = tuple(replace(c, requires=("three",)) if c.name == "scalar" else c for c in SQUARE.checks)
    exercise, _outcome = exercise_upsert(spec=replace(SQUARE, checks=checks))
    return exercise


def only_the_reference_answers(job: SandboxJob) -> SandboxRun:
    """9.0 for the reference's calls, 0.0 for anyone else's: checks that pay only for work."""
    value = 9.0 if job.code == SQUARE_REFERENCE else 0.0
    return SandboxRun(calls={call.id: CallOutcome(id=call.id, value=value) for call in job.calls})


def _validated(exercise: Exercise, runner: Any) -> ExerciseKey:
    key = ExerciseKey.objects.filter(exercise=exercise).latest("id")
    ExerciseKey.objects.filter(pk=key.pk).update(status=KeyStatus.PENDING)  # validate it for real
    assert exercise_key_validate(key_id=key.pk, runner=runner) == KeyStatus.VALID
    key.refresh_from_db()
    return key


def _unpublished(exercise: Exercise) -> Exercise:
    Exercise.objects.filter(pk=exercise.pk).update(is_published=False)
    exercise.refresh_from_db()
    return exercise


def _publish_form(exercise: Exercise, **extra: str) -> dict[str, Any]:
    spec = exercise_to_spec(exercise=exercise)
    ids = [check.pk for check in exercise.checks.order_by("position", "id")]
    rows = [
        {"id": str(pk), "exercise": str(exercise.pk), **_row(check)} for pk, check in zip(ids, spec.checks, strict=True)
    ]
    fields = {**_fields(spec), "is_published": True}
    return {**_form(fields=fields, rows=rows, initial=len(rows)), **extra}


def test_validation_stores_the_report_and_the_page_flags_weak_checks_in_red(staff: Client, db: None):
    exercise = square_exercise()
    key = _validated(exercise, nines)  # a stand-in that answers 9.0 to every call, starter code included

    assert key.strength["flag"] == FLAG
    page = staff.get(f"{EXERCISES_URL}{exercise.pk}/change/").content.decode()
    assert f'<p class="errornote">Weak checks: the {FLAG}.' in page
    assert "code that returns 0.0" in page
    assert "weak checks" in staff.get(EXERCISES_URL).content.decode()


def test_checks_that_pay_only_for_work_are_not_flagged(staff: Client, db: None):
    exercise = strong_square()
    key = _validated(exercise, only_the_reference_answers)

    assert key.strength["flag"] == ""
    assert {row["score"] for row in key.strength["runs"]} == {"0"}
    page = staff.get(f"{EXERCISES_URL}{exercise.pk}/change/").content.decode()
    assert "No constant and not the starter code scores any point." in page
    assert "Weak checks" not in page


def test_publishing_a_flagged_exercise_asks_for_confirmation(staff: Client, db: None):
    exercise = square_exercise()
    _validated(exercise, nines)
    _unpublished(exercise)
    url = f"{EXERCISES_URL}{exercise.pk}/change/"

    refused = staff.post(url, _publish_form(exercise))
    assert refused.status_code == 200
    assert f"The check-strength report says the {FLAG}." in refused.content.decode()
    exercise.refresh_from_db()
    assert not exercise.is_published

    confirmed = staff.post(url, _publish_form(exercise, publish_weak_checks="on"))
    assert confirmed.status_code == 302
    exercise.refresh_from_db()
    assert exercise.is_published


def test_publishing_an_exercise_with_strong_checks_needs_no_confirmation(staff: Client, db: None):
    exercise = strong_square()
    _validated(exercise, only_the_reference_answers)
    _unpublished(exercise)

    response = staff.post(f"{EXERCISES_URL}{exercise.pk}/change/", _publish_form(exercise))

    assert response.status_code == 302
    exercise.refresh_from_db()
    assert exercise.is_published
