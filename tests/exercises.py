"""Exercises for tests: a tiny one that grades in milliseconds, the shipped bank, and
answer keys either validated for real (through the sandbox) or trusted as given."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from django.utils import timezone

from grader.grading import exercise_key_validate
from questions.exercise_files import parse_exercise_folder
from questions.exercises import CheckSpec, ExerciseSpec
from questions.models import Exercise, ExerciseKey, KeyStatus
from questions.services import exercise_key_ensure, exercise_upsert

BANK = Path(__file__).resolve().parents[1] / "questions" / "bank" / "exercises"

SQUARE_REFERENCE = "def square(x):\n    return x * x\n"

SQUARE = ExerciseSpec(
    slug="square",
    title="Square a number",
    prompt="Write `square(x)`, which returns `x * x`.",
    functions=("square(x) -> float",),
    reference_solution=SQUARE_REFERENCE,
    starter_code="def square(x):\n    raise NotImplementedError\n",
    time_limit_seconds=2,
    memory_limit_mb=256,
    published=True,
    checks=(
        CheckSpec(name="three", kind="close", call="square(3.0)", points=Decimal(2), description="square(3.0) is 9."),
        CheckSpec(name="hidden-negative", kind="close", call="square(x)", setup="x = -1.5", hidden=True),
        CheckSpec(name="scalar", kind="scalar", call="square(2.0)"),
        CheckSpec(
            name="vector",
            kind="close",
            call="square(v)",
            setup="v = rng.normal(size=4)",
            seed=3,
            description="Works element-wise on arrays.",
        ),
    ),
)


def bank_spec(slug: str) -> ExerciseSpec:
    return parse_exercise_folder(BANK / slug)


def make_exercise(
    spec: ExerciseSpec = SQUARE, *, validate: bool = False, expected: dict[str, Any] | None = None
) -> Exercise:
    """The exercise with its answer key: validated through the real sandbox when
    `validate`, otherwise trusted as valid with the `expected` values given (by check
    name, as stored: {"shape": None, "values": 9.0} for a number)."""
    exercise, _ = exercise_upsert(spec=spec)
    key = exercise_key_ensure(exercise=exercise)
    if validate:
        status = exercise_key_validate(key_id=key.pk)
        key.refresh_from_db()
        assert status == KeyStatus.VALID, (key.summary, key.report)
    else:
        ExerciseKey.objects.filter(pk=key.pk).update(
            status=KeyStatus.VALID, validated_at=timezone.now(), expected=expected or {}
        )
    return exercise
