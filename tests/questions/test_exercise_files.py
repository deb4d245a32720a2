"""Exercise folders (docs/exercise-format.md): parse, import, export, keys, commands.

Parsing needs no database; importing and exporting do. Every parse error names the file
and line; importing is all or nothing; an edit that changes what grading depends on gets
a new answer key, validated by a worker (here: only the enqueue on commit is observed).
"""

from __future__ import annotations

import io
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from questions.exercise_files import (
    EXERCISE_FILE,
    PROMPT_FILE,
    REFERENCE_FILE,
    STARTER_FILE,
    parse_exercise_folder,
    render_exercise_yaml,
    write_exercise_folder,
)
from questions.exercises import exercise_to_spec, fingerprint, grading_spec
from questions.files import QuestionFileError
from questions.models import Exercise, ExerciseCheck, ExerciseKey, KeyStatus
from questions.services import (
    BankImportError,
    exercise_key_ensure,
    exercises_export,
    exercises_import,
)
from workers.dispatch import VALIDATE_TASK

EXERCISES_DIR = Path(settings.BASE_DIR) / "questions" / "bank" / "exercises"
SLUGS = sorted(p.name for p in EXERCISES_DIR.iterdir() if (p / EXERCISE_FILE).is_file())
FOLDER_FILES = (EXERCISE_FILE, PROMPT_FILE, STARTER_FILE, REFERENCE_FILE)
SHIPPED_DATA = sorted(EXERCISES_DIR.glob("*/data/*"))
BCE = "binary-cross-entropy"

MINIMAL = """\
slug: demo
title: Demo
functions:
  - f(x) -> float
checks:
  - name: one
    kind: close
    setup: |
      x = 1.0
    call: f(x)
"""
REFERENCE = "def f(x):\n    return float(x)\n"


def _line_of(text: str, prefix: str) -> int:
    """The 1-based number of the first line starting with prefix."""
    return next(n for n, line in enumerate(text.split("\n"), start=1) if line.startswith(prefix))


def _folder(
    parent: Path,
    text: str = MINIMAL,
    *,
    name: str = "demo",
    reference: str | None = REFERENCE,
    prompt: str = "# Demo\n\nWrite f.\n",
) -> Path:
    folder = parent / name
    folder.mkdir(parents=True)
    (folder / EXERCISE_FILE).write_text(text, encoding="utf-8")
    (folder / PROMPT_FILE).write_text(prompt, encoding="utf-8")
    if reference is not None:
        (folder / REFERENCE_FILE).write_text(reference, encoding="utf-8")
    return folder


def _parse_error(folder: Path) -> QuestionFileError:
    with pytest.raises(QuestionFileError) as caught:
        parse_exercise_folder(folder)
    return caught.value


def _with_check_line(line: str, text: str = MINIMAL) -> str:
    """MINIMAL with one more `key: value` line in its check."""
    return text + f"    {line}\n"


def _as_kind(kind: str, *lines: str) -> str:
    return MINIMAL.replace("kind: close", f"kind: {kind}") + "".join(f"    {line}\n" for line in lines)


@pytest.fixture
def bank_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXERCISES_DIR, tmp_path / "exercises"))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _call(*args: Any) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _db_specs() -> dict[str, Any]:
    return {e.slug: exercise_to_spec(exercise=e) for e in Exercise.objects.all()}


def _counts() -> tuple[int, int, int]:
    return Exercise.objects.count(), ExerciseCheck.objects.count(), ExerciseKey.objects.count()


# --- The shipped exercises -------------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
def test_every_shipped_exercise_folder_parses(slug: str):
    spec = parse_exercise_folder(EXERCISES_DIR / slug)

    assert spec.slug == slug
    assert spec.checks
    assert spec.max_score > 0
    assert spec.reference_solution == (EXERCISES_DIR / slug / REFERENCE_FILE).read_text(encoding="utf-8")
    assert spec.published is True


def test_the_bank_ships_eight_exercises():
    assert SLUGS == [
        "accuracy-zero-gradient",
        "binary-cross-entropy",
        "logistic-regression-by-gradient-descent",
        "mse-versus-mae",
        "notebook-binary-cross-entropy",
        "sklearn-loss-versus-accuracy",
        "stable-softmax-cross-entropy",
        "torch-bce-with-logits",
    ]


@pytest.mark.parametrize("slug", SLUGS)
def test_shipped_exercise_yaml_is_in_canonical_form(slug: str):
    path = EXERCISES_DIR / slug / EXERCISE_FILE

    assert render_exercise_yaml(parse_exercise_folder(path.parent)) == path.read_text(encoding="utf-8")


def test_it_parses_the_worked_example():
    spec = parse_exercise_folder(EXERCISES_DIR / BCE)

    assert spec.functions == ("binary_cross_entropy(y_true, y_pred, eps=1e-7) -> float",)
    assert spec.entry_points == ("binary_cross_entropy",)
    assert (spec.time_limit_seconds, spec.memory_limit_mb) == (5, 512)
    first = spec.checks[0]
    assert (first.name, first.kind, first.points, first.seed, first.rtol, first.atol) == (
        "random-cases",
        "close",
        2,
        1,
        1e-6,
        1e-9,
    )
    assert first.setup.startswith("y_true = rng.integers(0, 2, size=100)")
    assert first.setup.endswith("\n")
    by_name = {check.name: check for check in spec.checks}
    assert by_name["random-cases-hidden"].hidden is True
    assert by_name["inputs-unchanged"].track == ("y_true", "y_pred")
    assert by_name["a-million-elements"].seconds == 0.5


def test_it_fills_in_the_defaults(tmp_path: Path):
    spec = parse_exercise_folder(_folder(tmp_path))

    assert (spec.published, spec.time_limit_seconds, spec.memory_limit_mb, spec.starter_code) == (False, 5, 512, "")
    check = spec.checks[0]
    assert (check.points, check.hidden, check.seed, check.description, check.message) == (1, False, 0, "", "")
    assert (check.rtol, check.atol, check.effective_rtol, check.effective_atol) == (None, None, 1e-7, 1e-9)


def test_a_grade_policy_is_read_and_refused_when_unknown(tmp_path: Path):
    spec = parse_exercise_folder(_folder(tmp_path / "a", MINIMAL + "grade_policy: latest\n"))
    assert spec.grade_policy == "latest"
    assert parse_exercise_folder(_folder(tmp_path / "b")).grade_policy == "best"
    text = MINIMAL + "grade_policy: average\n"
    error = _parse_error(_folder(tmp_path / "c", text))
    assert (error.line, error.message) == (
        _line_of(text, "grade_policy:"),
        "'grade_policy' must be one of best, latest",
    )


# --- Errors point at file and line ------------------------------------------------------


def test_invalid_yaml_names_the_line_of_the_problem(tmp_path: Path):
    text = MINIMAL.replace("title: Demo", "title: Demo: the sequel")
    folder = _folder(tmp_path, text)

    error = _parse_error(folder)

    assert str(error).startswith(f"{folder / EXERCISE_FILE}:2: not valid YAML")
    assert "mapping values are not allowed here" in error.message


def test_an_unknown_top_level_key_is_refused(tmp_path: Path):
    folder = _folder(tmp_path, MINIMAL + "author: someone\n")

    error = _parse_error(folder)

    assert str(error).startswith(f"{folder / EXERCISE_FILE}:")
    assert error.message.startswith("unknown key 'author'; expected one of slug, title,")


@pytest.mark.parametrize(
    ("text", "prefix"),
    [
        pytest.param(MINIMAL + "author: someone\n", "author:", id="unknown-key"),
        pytest.param(MINIMAL.replace("functions:\n  - f(x) -> float", "functions: f(x)"), "functions:", id="functions"),
    ],
)
def test_top_level_problems_point_at_the_key_line(tmp_path: Path, text: str, prefix: str):
    folder = _folder(tmp_path, text)

    assert _parse_error(folder).line == _line_of(text, prefix)


def test_an_unknown_check_key_points_at_its_check(tmp_path: Path):
    text = _with_check_line("tolerance: 0.5")
    folder = _folder(tmp_path, text)

    error = _parse_error(folder)

    line = _line_of(text, "    tolerance:")
    assert str(error).startswith(f"{folder / EXERCISE_FILE}:{line}: unknown key 'tolerance'")
    assert "expected one of name, kind, points" in error.message


def test_the_line_is_that_of_the_failing_check(tmp_path: Path):
    text = MINIMAL + "  - name: two\n    kind: finite\n    call: f(x)\n    rtol: 0.5\n"
    folder = _folder(tmp_path, text)

    error = _parse_error(folder)

    assert error.line == _line_of(text, "  - name: two")
    assert error.message == "check 'two': A finite check has no 'rtol'; remove it."


def test_a_key_of_another_kind_is_refused(tmp_path: Path):
    text = _as_kind("range", "lower: 0.0", "rtol: 0.1")
    folder = _folder(tmp_path, text)

    error = _parse_error(folder)

    assert str(error) == (
        f"{folder / EXERCISE_FILE}:{_line_of(text, '  - name')}: check 'one': A range check has no 'rtol'; remove it."
    )


def test_a_float_without_a_dot_is_explained(tmp_path: Path):
    text = _with_check_line("rtol: 1e-6")  # YAML 1.1 reads 1e-6 as the string "1e-6"
    folder = _folder(tmp_path, text)

    error = _parse_error(folder)

    assert error.line == _line_of(text, "    rtol:")
    assert error.message == "'rtol' must be a number (write 1.0e-6, not 1e-6)"


def test_a_float_with_a_dot_parses(tmp_path: Path):
    spec = parse_exercise_folder(_folder(tmp_path, _with_check_line("rtol: 1.0e-6")))

    assert spec.checks[0].rtol == 1e-6


def test_a_setup_that_is_not_python_is_refused(tmp_path: Path):
    text = MINIMAL.replace("x = 1.0", "x = (1.0")
    folder = _folder(tmp_path, text)

    error = _parse_error(folder)

    assert error.source == str(folder / EXERCISE_FILE)
    assert error.line == _line_of(text, "  - name")
    assert error.message.startswith("check 'one': setup is not valid Python (")


def test_a_call_that_is_not_python_is_refused(tmp_path: Path):
    text = MINIMAL.replace("call: f(x)", "call: f(x")
    folder = _folder(tmp_path, text)

    error = _parse_error(folder)

    assert error.line == _line_of(text, "  - name")
    assert error.message.startswith("check 'one': call is not valid Python (")


def test_a_statement_is_not_a_call(tmp_path: Path):
    folder = _folder(tmp_path, MINIMAL.replace("call: f(x)", "call: y = f(x)"))

    assert _parse_error(folder).message.startswith("check 'one': call is not valid Python (")


def test_a_missing_reference_is_reported(tmp_path: Path):
    folder = _folder(tmp_path, reference=None)

    assert str(_parse_error(folder)) == f"{folder / REFERENCE_FILE}:0: no such file"


def test_a_reference_that_is_not_python_is_reported_in_its_file(tmp_path: Path):
    folder = _folder(tmp_path, reference="def f(x:\n    return x\n")

    error = _parse_error(folder)

    assert error.source == str(folder / REFERENCE_FILE)
    assert error.message.startswith("reference solution is not valid Python (")


def test_a_range_check_needs_a_bound(tmp_path: Path):
    text = _as_kind("range")
    folder = _folder(tmp_path, text)

    assert str(_parse_error(folder)) == (
        f"{folder / EXERCISE_FILE}:{_line_of(text, '  - name')}: "
        "check 'one': A range check needs a lower bound, an upper bound, or both."
    )


def test_a_range_check_with_crossed_bounds_is_refused(tmp_path: Path):
    folder = _folder(tmp_path, _as_kind("range", "lower: 2.0", "upper: 1.0"))

    assert _parse_error(folder).message == "check 'one': The upper bound is below the lower bound."


def test_a_time_check_needs_seconds(tmp_path: Path):
    text = _as_kind("time")
    folder = _folder(tmp_path, text)

    error = _parse_error(folder)

    assert error.line == _line_of(text, "  - name")
    assert error.message == "check 'one': A time check needs the seconds the call may take (more than 0)."


def test_a_gradient_check_needs_of(tmp_path: Path):
    text = _as_kind("gradient", "wrt: x")
    folder = _folder(tmp_path, text)

    error = _parse_error(folder)

    assert error.line == _line_of(text, "  - name")
    assert error.message.startswith("check 'one': A gradient check needs `of`")


def test_a_gradient_check_needs_wrt(tmp_path: Path):
    folder = _folder(tmp_path, _as_kind("gradient", "of: f(x)"))

    assert _parse_error(folder).message.startswith("check 'one': A gradient check needs `wrt`")


def test_an_unchanged_check_needs_track(tmp_path: Path):
    folder = _folder(tmp_path, _as_kind("unchanged"))

    assert _parse_error(folder).message.startswith("check 'one': An unchanged check needs the input names to track")


def test_duplicate_check_names_point_at_the_checks(tmp_path: Path):
    text = MINIMAL + "  - name: one\n    kind: finite\n    call: f(x)\n"
    folder = _folder(tmp_path, text)

    error = _parse_error(folder)

    assert str(error) == (
        f"{folder / EXERCISE_FILE}:{_line_of(text, 'checks:')}: Check names must be unique; repeated: one."
    )


def test_a_bad_check_name_is_refused(tmp_path: Path):
    folder = _folder(tmp_path, MINIMAL.replace("name: one", "name: Check_One"))

    assert "A check name uses lowercase letters, digits and hyphens" in _parse_error(folder).message


def test_an_unknown_kind_is_refused(tmp_path: Path):
    folder = _folder(tmp_path, MINIMAL.replace("kind: close", "kind: equal"))

    assert _parse_error(folder).message.startswith("check 'one': Unknown check kind 'equal'; one of close, finite,")


def test_a_bad_slug_points_at_the_slug_line(tmp_path: Path):
    text = "# An exercise\n" + MINIMAL.replace("slug: demo", "slug: Demo_Exercise")
    folder = _folder(tmp_path, text)

    error = _parse_error(folder)

    assert error.line == _line_of(text, "slug:") == 2
    assert error.message == "slug 'Demo_Exercise' must be lowercase letters, digits and hyphens (at most 100)"


def test_functions_must_be_a_list(tmp_path: Path):
    folder = _folder(tmp_path, MINIMAL.replace("functions:\n  - f(x) -> float", "functions: f(x) -> float"))

    error = _parse_error(folder)

    assert error.source == str(folder / EXERCISE_FILE)
    assert error.message == "'functions' must be a list of signatures"


def test_functions_must_be_signatures(tmp_path: Path):
    text = MINIMAL.replace("  - f(x) -> float", "  - the loss")
    folder = _folder(tmp_path, text)

    error = _parse_error(folder)

    assert error.line == _line_of(text, "functions:")
    assert error.message == "'the loss' is not a signature like 'name(arg, other=1.0) -> float'."


def test_an_exercise_needs_a_check(tmp_path: Path):
    folder = _folder(tmp_path, MINIMAL.split("checks:")[0] + "checks: []\n")

    assert _parse_error(folder).message == "An exercise needs at least one check."


def test_limits_are_bounded(tmp_path: Path):
    text = MINIMAL.replace("title: Demo\n", "title: Demo\ntime_limit_seconds: 120\n")
    folder = _folder(tmp_path, text)

    error = _parse_error(folder)

    assert error.line == _line_of(text, "time_limit_seconds:")
    assert error.message == "The time limit is between 1 and 60 seconds."


def test_a_repeated_key_is_refused(tmp_path: Path):
    folder = _folder(tmp_path, _with_check_line("rtol: 1.0e-6", _with_check_line("rtol: 0.5")))

    with pytest.raises(QuestionFileError):
        parse_exercise_folder(folder)


# --- Import and export ------------------------------------------------------------------


@pytest.mark.django_db
def test_it_imports_the_shipped_exercises():
    report = exercises_import(paths=[EXERCISES_DIR])

    assert report.created == SLUGS
    assert (report.updated, report.unchanged) == ([], [])
    assert sorted(Exercise.objects.values_list("slug", flat=True)) == SLUGS
    bce = Exercise.objects.get(slug=BCE)
    assert bce.checks.count() == 9
    assert list(bce.checks.order_by("position").values_list("name", flat=True))[:2] == [
        "random-cases",
        "random-cases-hidden",
    ]


@pytest.mark.django_db
def test_it_exports_the_imported_bank_byte_for_byte(tmp_path: Path):
    exercises_import(paths=[EXERCISES_DIR])

    written = exercises_export(out_dir=tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == SLUGS
    assert len(written) == 4 * len(SLUGS) + len(SHIPPED_DATA)
    for slug in SLUGS:
        for name in FOLDER_FILES:
            exported, shipped = tmp_path / slug / name, EXERCISES_DIR / slug / name
            assert exported.read_bytes() == shipped.read_bytes(), f"{slug}/{name}"
    for data in SHIPPED_DATA:  # data/ too, byte for byte
        assert (tmp_path / data.relative_to(EXERCISES_DIR)).read_bytes() == data.read_bytes(), data


@pytest.mark.django_db
def test_an_imported_grade_policy_is_stored_and_exported(tmp_path: Path):
    folder = tmp_path / "in"
    shutil.copytree(EXERCISES_DIR / "mse-versus-mae", folder / "mse-versus-mae")
    yaml_file = folder / "mse-versus-mae" / EXERCISE_FILE
    yaml_file.write_text(yaml_file.read_text().replace("grade_policy: best", "grade_policy: latest"))
    exercises_import(paths=[folder])
    assert Exercise.objects.get(slug="mse-versus-mae").grade_policy == "latest"
    exercises_export(out_dir=tmp_path / "out")
    assert "grade_policy: latest" in (tmp_path / "out" / "mse-versus-mae" / EXERCISE_FILE).read_text()


@pytest.mark.django_db
def test_it_exports_only_the_named_slugs(tmp_path: Path):
    exercises_import(paths=[EXERCISES_DIR])

    written = exercises_export(out_dir=tmp_path, slugs=[BCE])

    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(f"{BCE}/{n}" for n in FOLDER_FILES)


@pytest.mark.django_db
def test_it_round_trips_import_export_import(tmp_path: Path):
    exercises_import(paths=[EXERCISES_DIR])
    before = _db_specs()
    keys = _counts()[2]
    exercises_export(out_dir=tmp_path)

    report = exercises_import(paths=[tmp_path])

    assert report.unchanged == SLUGS
    assert (report.created, report.updated) == ([], [])
    assert _db_specs() == before
    assert {slug: parse_exercise_folder(tmp_path / slug) for slug in SLUGS} == before
    assert ExerciseKey.objects.count() == keys


@pytest.mark.django_db
def test_a_one_line_setup_round_trips(tmp_path: Path):
    exercises_import(paths=[_folder(tmp_path / "in", MINIMAL.replace("setup: |\n      x = 1.0", "setup: x = 1.0"))])
    exercises_export(out_dir=tmp_path / "out")

    report = exercises_import(paths=[tmp_path / "out"])

    assert report.unchanged == ["demo"]
    assert ExerciseKey.objects.count() == 1


@pytest.mark.django_db
def test_points_the_database_cannot_hold_are_refused_or_kept(tmp_path: Path):
    folder = _folder(tmp_path, _with_check_line("points: 0.125"))
    try:
        exercises_import(paths=[folder])
    except BankImportError:
        return  # refusing the file is a fix too
    assert ExerciseCheck.objects.get().points == Decimal("0.125")  # stored as 0.12

    assert exercises_import(paths=[folder]).unchanged == ["demo"]


def test_large_floats_render_as_plain_yaml_floats(tmp_path: Path):
    spec = parse_exercise_folder(_folder(tmp_path, _as_kind("range", "upper: 1.0e+20")))

    assert "    upper: 1.0e+20\n" in render_exercise_yaml(spec)


def test_large_floats_survive_a_render(tmp_path: Path):
    spec = parse_exercise_folder(_folder(tmp_path / "a", _as_kind("range", "upper: 1.0e+20", "lower: -2.5e+17")))

    again = parse_exercise_folder(_folder(tmp_path / "b", render_exercise_yaml(spec)))

    assert (again.checks[0].lower, again.checks[0].upper) == (-2.5e17, 1e20)


@pytest.mark.django_db
def test_import_is_all_or_nothing(tmp_path: Path):
    _folder(tmp_path, name="good")
    bad_text = _with_check_line("rtol: 1e-6", MINIMAL.replace("slug: demo", "slug: other"))
    bad_yaml = _folder(tmp_path, bad_text, name="bad-yaml")
    no_reference = _folder(tmp_path, MINIMAL.replace("slug: demo", "slug: third"), name="no-ref", reference=None)

    with pytest.raises(BankImportError) as caught:
        exercises_import(paths=[tmp_path])

    assert _counts() == (0, 0, 0)
    problems = caught.value.problems
    assert len(problems) == 2
    assert problems[0].startswith(f"{bad_yaml / EXERCISE_FILE}:{_line_of(bad_text, '    rtol:')}: 'rtol' must be")
    assert problems[1] == f"{no_reference / REFERENCE_FILE}:0: no such file"


@pytest.mark.django_db
def test_an_invalid_folder_leaves_existing_exercises_alone(bank_copy: Path):
    exercises_import(paths=[bank_copy])
    before, specs = _counts(), _db_specs()
    _edit(bank_copy / BCE / PROMPT_FILE, "# Binary cross-entropy", "# Edited")
    _edit(bank_copy / "mse-versus-mae" / EXERCISE_FILE, "rtol: 1.0e-9", "rtol: 1e-9")

    with pytest.raises(BankImportError) as caught:
        exercises_import(paths=[bank_copy])

    assert _counts() == before
    assert _db_specs() == specs
    assert caught.value.problems == [
        f"{bank_copy / 'mse-versus-mae' / EXERCISE_FILE}:{_line_of(_read_yaml(bank_copy), '    rtol: 1e-9')}: "
        "'rtol' must be a number (write 1.0e-6, not 1e-6)"
    ]


def _read_yaml(parent: Path, slug: str = "mse-versus-mae") -> str:
    return (parent / slug / EXERCISE_FILE).read_text(encoding="utf-8")


@pytest.mark.django_db
def test_a_slug_used_twice_is_reported(tmp_path: Path):
    first = _folder(tmp_path, name="a")
    second = _folder(tmp_path, name="b")

    with pytest.raises(BankImportError) as caught:
        exercises_import(paths=[tmp_path])

    assert caught.value.problems == [f"{second / EXERCISE_FILE}:1: slug 'demo' is also used by {first}"]
    assert _counts() == (0, 0, 0)


@pytest.mark.django_db
def test_a_folder_without_exercises_is_reported(tmp_path: Path):
    with pytest.raises(BankImportError) as caught:
        exercises_import(paths=[tmp_path])

    assert caught.value.problems == [f"{tmp_path}: no exercise folders (exercise.yaml)"]


@pytest.mark.django_db
def test_it_imports_a_single_exercise_folder():
    report = exercises_import(paths=[EXERCISES_DIR / BCE])

    assert report.created == [BCE]
    assert Exercise.objects.count() == 1


@pytest.mark.django_db
def test_it_keeps_existing_exercises_when_asked(bank_copy: Path):
    exercises_import(paths=[bank_copy])
    _edit(bank_copy / BCE / EXERCISE_FILE, "title: Binary cross-entropy", "title: Edited")

    report = exercises_import(paths=[bank_copy], update_existing=False)

    assert report.unchanged == SLUGS
    assert Exercise.objects.get(slug=BCE).title == "Binary cross-entropy"


# --- Answer keys and fingerprints -------------------------------------------------------


@pytest.mark.django_db
def test_a_new_exercise_gets_a_pending_key_validated_on_commit(
    tmp_path: Path, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
):
    sent: list[tuple[str, list[object], str | None]] = []
    monkeypatch.setattr(
        "workers.dispatch.enqueue", lambda *, task, args, countdown=0, queue=None: sent.append((task, args, queue))
    )

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        exercises_import(paths=[_folder(tmp_path)])

    exercise = Exercise.objects.get(slug="demo")
    key = ExerciseKey.objects.get(exercise=exercise)
    assert key.status == KeyStatus.PENDING
    assert key.fingerprint == exercise.spec_fingerprint != ""
    assert key.fingerprint == fingerprint(spec=key.spec)
    assert key.spec == grading_spec(spec=exercise_to_spec(exercise=exercise))
    assert len(callbacks) == 1
    assert sent == [(VALIDATE_TASK, [key.pk], "grading.numpy")]


@pytest.mark.django_db
def test_the_validation_enqueue_survives_an_unreachable_broker(
    tmp_path: Path, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr("workers.dispatch.app.send_task", refuse)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        exercises_import(paths=[_folder(tmp_path)])

    assert len(callbacks) == 1
    assert ExerciseKey.objects.filter(status=KeyStatus.PENDING).count() == 1


@pytest.mark.django_db
def test_reimporting_unchanged_creates_no_key(django_capture_on_commit_callbacks: Any):
    exercises_import(paths=[EXERCISES_DIR])
    keys = list(ExerciseKey.objects.values_list("pk", flat=True))
    fingerprints = dict(Exercise.objects.values_list("slug", "spec_fingerprint"))

    with django_capture_on_commit_callbacks() as callbacks:
        report = exercises_import(paths=[EXERCISES_DIR])

    assert report.unchanged == SLUGS
    assert (report.created, report.updated) == ([], [])
    assert list(ExerciseKey.objects.values_list("pk", flat=True)) == keys
    assert dict(Exercise.objects.values_list("slug", "spec_fingerprint")) == fingerprints
    assert callbacks == []


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        pytest.param(PROMPT_FILE, "Implement the binary cross-entropy", "Write the binary cross-entropy", id="prompt"),
        pytest.param(EXERCISE_FILE, "title: Binary cross-entropy", "title: BCE", id="title"),
        pytest.param(STARTER_FILE, "raise NotImplementedError", "return 0.0", id="starter"),
        pytest.param(EXERCISE_FILE, "published: true", "published: false", id="published"),
    ],
)
@pytest.mark.django_db
def test_editing_what_grading_ignores_keeps_the_key(
    bank_copy: Path, django_capture_on_commit_callbacks: Any, file: str, old: str, new: str
):
    exercises_import(paths=[bank_copy / BCE])
    exercise = Exercise.objects.get(slug=BCE)
    key = ExerciseKey.objects.get(exercise=exercise)
    _edit(bank_copy / BCE / file, old, new)

    with django_capture_on_commit_callbacks() as callbacks:
        report = exercises_import(paths=[bank_copy / BCE])

    assert report.updated == [BCE]
    exercise.refresh_from_db()
    assert exercise.spec_fingerprint == key.fingerprint
    assert list(ExerciseKey.objects.filter(exercise=exercise)) == [key]
    assert callbacks == []


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        pytest.param(EXERCISE_FILE, "    rtol: 1.0e-6\n", "    rtol: 1.0e-5\n", id="tolerance"),
        pytest.param(REFERENCE_FILE, "np.log1p(-p)", "np.log(1.0 - p)", id="reference"),
        pytest.param(EXERCISE_FILE, "time_limit_seconds: 5", "time_limit_seconds: 10", id="time-limit"),
        pytest.param(EXERCISE_FILE, "memory_limit_mb: 512", "memory_limit_mb: 1024", id="memory-limit"),
        pytest.param(EXERCISE_FILE, "    points: 2\n", "    points: 3\n", id="points"),
        pytest.param(EXERCISE_FILE, "    seed: 1\n", "    seed: 11\n", id="seed"),
        pytest.param(EXERCISE_FILE, "    hidden: false\n", "    hidden: true\n", id="hidden"),
        pytest.param(EXERCISE_FILE, "message: Your loss differs from", "message: The loss differs from", id="message"),
    ],
)
@pytest.mark.django_db
def test_editing_what_grading_depends_on_makes_a_new_key(
    bank_copy: Path, django_capture_on_commit_callbacks: Any, file: str, old: str, new: str
):
    exercises_import(paths=[bank_copy / BCE])
    exercise = Exercise.objects.get(slug=BCE)
    old_key = ExerciseKey.objects.get(exercise=exercise)
    _edit(bank_copy / BCE / file, old, new)

    with django_capture_on_commit_callbacks() as callbacks:
        report = exercises_import(paths=[bank_copy / BCE])

    assert report.updated == [BCE]
    exercise.refresh_from_db()
    new_key = ExerciseKey.objects.exclude(pk=old_key.pk).get(exercise=exercise)
    assert new_key.status == KeyStatus.PENDING
    assert exercise.spec_fingerprint == new_key.fingerprint != old_key.fingerprint
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_undoing_an_edit_returns_to_the_earlier_key(bank_copy: Path, django_capture_on_commit_callbacks: Any):
    exercises_import(paths=[bank_copy / BCE])
    first = ExerciseKey.objects.get()
    path = bank_copy / BCE / EXERCISE_FILE
    _edit(path, "time_limit_seconds: 5", "time_limit_seconds: 10")
    exercises_import(paths=[bank_copy / BCE])
    _edit(path, "time_limit_seconds: 10", "time_limit_seconds: 5")

    with django_capture_on_commit_callbacks() as callbacks:
        exercises_import(paths=[bank_copy / BCE])

    assert Exercise.objects.get(slug=BCE).spec_fingerprint == first.fingerprint
    assert ExerciseKey.objects.count() == 2
    assert callbacks == []


# --- Management commands ----------------------------------------------------------------


@pytest.mark.django_db
def test_import_exercises_command_reports_counts():
    output = _call("import_exercises", str(EXERCISES_DIR))

    assert output.strip() == f"{len(SLUGS)} created, 0 updated, 0 unchanged"
    assert Exercise.objects.count() == len(SLUGS)


@pytest.mark.django_db
def test_import_exercises_command_reports_unchanged_the_second_time():
    _call("import_exercises", str(EXERCISES_DIR))

    assert _call("import_exercises", str(EXERCISES_DIR)).strip() == f"0 created, 0 updated, {len(SLUGS)} unchanged"


@pytest.mark.django_db
def test_import_exercises_command_lists_the_problems(tmp_path: Path):
    text = _with_check_line("rtol: 1e-6")
    bad = _folder(tmp_path, text)

    with pytest.raises(CommandError) as caught:
        _call("import_exercises", str(EXERCISES_DIR), str(bad))

    message = str(caught.value)
    assert message.startswith("nothing was imported:\n")
    assert f"{bad / EXERCISE_FILE}:{_line_of(text, '    rtol:')}: 'rtol' must be a number" in message
    assert Exercise.objects.count() == 0


@pytest.mark.django_db
def test_import_exercises_command_keeps_existing_when_asked(bank_copy: Path):
    _call("import_exercises", str(bank_copy))
    _edit(bank_copy / BCE / EXERCISE_FILE, "title: Binary cross-entropy", "title: Edited")

    output = _call("import_exercises", str(bank_copy), "--keep-existing")

    assert output.strip() == f"0 created, 0 updated, {len(SLUGS)} unchanged"
    assert Exercise.objects.get(slug=BCE).title == "Binary cross-entropy"


@pytest.mark.django_db
def test_export_exercises_command_writes_every_folder(tmp_path: Path):
    _call("import_exercises", str(EXERCISES_DIR))

    output = _call("export_exercises", "--out", str(tmp_path / "out"))

    assert output.strip() == f"wrote {4 * len(SLUGS) + len(SHIPPED_DATA)} file(s) to {tmp_path / 'out'}"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == SLUGS


@pytest.mark.django_db
def test_export_exercises_command_writes_the_named_slugs(tmp_path: Path):
    _call("import_exercises", str(EXERCISES_DIR))

    output = _call("export_exercises", "--out", str(tmp_path), BCE, "mse-versus-mae")

    assert output.strip() == f"wrote 8 file(s) to {tmp_path}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [BCE, "mse-versus-mae"]


@pytest.mark.django_db
def test_export_exercises_command_refuses_an_unknown_slug(tmp_path: Path):
    _call("import_exercises", str(EXERCISES_DIR))

    with pytest.raises(CommandError, match="there is no exercise 'no-such-exercise'"):
        _call("export_exercises", "--out", str(tmp_path / "out"), BCE, "no-such-exercise")

    assert not (tmp_path / "out").exists()


@pytest.mark.django_db
def test_seed_bank_imports_the_exercises():
    output = _call("seed_bank")

    assert f"exercises: {len(SLUGS)} created, 0 updated, 0 already present" in output
    assert sorted(Exercise.objects.values_list("slug", flat=True)) == SLUGS
    assert ExerciseKey.objects.filter(status=KeyStatus.PENDING).count() == len(SLUGS)


@pytest.mark.django_db
def test_seed_bank_is_idempotent_for_exercises():
    _call("seed_bank")
    before = _counts()

    output = _call("seed_bank")

    assert f"exercises: 0 created, 0 updated, {len(SLUGS)} already present" in output
    assert _counts() == before


@pytest.mark.django_db
def test_keys_of_an_older_format_are_validated_again(monkeypatch: pytest.MonkeyPatch):
    """A key records what grading needs in a given format; an exercise whose key was
    validated under another format gets a new key (and a validation) when saved."""
    from questions import exercises

    exercises_import(paths=[EXERCISES_DIR / BCE])
    old = ExerciseKey.objects.get()
    assert old.spec["key_format"] == exercises.KEY_FORMAT

    monkeypatch.setattr(exercises, "KEY_FORMAT", exercises.KEY_FORMAT + 1)
    exercise = Exercise.objects.get()
    key = exercise_key_ensure(exercise=exercise)

    assert key.pk != old.pk
    assert key.status == KeyStatus.PENDING
    assert Exercise.objects.get().spec_fingerprint == key.fingerprint != old.fingerprint


# --- requires, metric, variants, show_expected ------------------------------------------

SECOND = "  - name: two\n    kind: finite\n    call: f(x)\n"


def test_it_parses_requires_metric_variants_and_show_expected(tmp_path: Path):
    text = (
        MINIMAL
        + "    metric: float(result * 2)\n    variants: 3\n    show_expected: true\n"
        + SECOND
        + "    requires: [one]\n"
    )
    spec = parse_exercise_folder(_folder(tmp_path, text))

    one, two = spec.checks
    assert (one.metric, one.variants, one.show_expected, one.requires) == ("float(result * 2)", 3, True, ())
    assert two.requires == ("one",)


def test_a_required_check_must_exist(tmp_path: Path):
    folder = _folder(tmp_path, MINIMAL + SECOND + "    requires: [three]\n")

    assert _parse_error(folder).message == "Check 'two' requires three, which no check is called."


def test_requirements_in_a_circle_are_refused(tmp_path: Path):
    text = MINIMAL + "    requires: [two]\n" + SECOND + "    requires: [one]\n"

    assert _parse_error(_folder(tmp_path, text)).message == (
        "Checks cannot require each other in a circle: one -> two -> one."
    )


def test_a_check_cannot_require_itself(tmp_path: Path):
    folder = _folder(tmp_path, MINIMAL + "    requires: [one]\n")

    assert _parse_error(folder).message == "check 'one': A check cannot require itself."


def test_requires_must_be_a_list_of_names(tmp_path: Path):
    folder = _folder(tmp_path, MINIMAL + "    requires: one\n")

    assert _parse_error(folder).message == "'requires' must be a list of check names"


def test_a_call_must_be_a_call_of_a_student_function(tmp_path: Path):
    """Computing from the result inside the sandbox is what a student's code can alter."""
    folder = _folder(tmp_path, MINIMAL.replace("call: f(x)", "call: float(f(x))"))

    message = _parse_error(folder).message
    assert message.startswith("Check 'one': the call must be a call of one of the student's functions (f)")
    assert "`metric`" in message


def test_a_metric_must_be_an_expression(tmp_path: Path):
    folder = _folder(tmp_path, MINIMAL + "    metric: y = result\n")

    assert _parse_error(folder).message.startswith("check 'one': metric is not valid Python (")


def test_an_unchanged_check_takes_no_metric(tmp_path: Path):
    folder = _folder(tmp_path, _as_kind("unchanged", "track: [x]", "metric: result"))

    assert _parse_error(folder).message == "check 'one': Unchanged checks judge the call itself; they take no metric."


@pytest.mark.parametrize("count", [0, 11])
def test_variants_are_bounded(tmp_path: Path, count: int):
    folder = _folder(tmp_path, MINIMAL + f"    variants: {count}\n")

    assert _parse_error(folder).message == "check 'one': Variants are between 1 and 10."


def test_the_new_keys_round_trip_through_an_export(tmp_path: Path):
    text = (
        MINIMAL
        + "    metric: float(result * 2)\n    variants: 3\n    show_expected: true\n"
        + SECOND
        + "    requires: [one]\n"
    )
    spec = parse_exercise_folder(_folder(tmp_path, text))
    write_exercise_folder(spec=spec, folder=tmp_path / "out")

    assert parse_exercise_folder(tmp_path / "out") == spec
