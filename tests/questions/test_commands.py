"""Management commands: import_questions, export_questions, seed_bank, create_demo_users."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts.roles import INSTRUCTORS_GROUP
from questions.models import Choice, Question, QuestionType, Quiz, QuizQuestion

pytestmark = pytest.mark.django_db

BANK_DIR = Path(settings.BASE_DIR) / "questions" / "bank" / "loss-functions-vs-metrics"
QUIZ_SLUG = "loss-functions-vs-metrics"
SEED_TITLE = "Accuracy as a loss function"
EXERCISES_DIR = Path(settings.BASE_DIR) / "questions" / "bank" / "exercises"
SHIPPED_EXERCISES = sum(1 for folder in EXERCISES_DIR.iterdir() if (folder / "exercise.yaml").is_file())


def _call(*args: Any, **options: Any) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def _counts() -> tuple[int, int, int, int]:
    return Question.objects.count(), Choice.objects.count(), Quiz.objects.count(), QuizQuestion.objects.count()


def test_it_imports_a_folder():
    output = _call("import_questions", str(BANK_DIR))

    assert output.strip() == f"12 created, 0 updated, 0 unchanged; quizzes: {QUIZ_SLUG}"
    assert Question.objects.count() == 12


def test_it_imports_single_files(tmp_path: Path):
    output = _call("import_questions", str(BANK_DIR / "01-accuracy-as-a-loss-function.md"))

    assert output.strip() == "1 created, 0 updated, 0 unchanged"
    assert not Quiz.objects.exists()


def test_it_names_the_file_and_line_of_an_import_error(tmp_path: Path):
    broken = tmp_path / "broken.md"
    broken.write_text("# No front matter\n")

    with pytest.raises(CommandError) as caught:
        _call("import_questions", str(BANK_DIR), str(broken))

    assert f"{broken}:1: " in str(caught.value)
    assert "nothing was imported" in str(caught.value)
    assert Question.objects.count() == 0


def test_it_keeps_existing_questions_when_asked():
    _call("import_questions", str(BANK_DIR))
    Question.objects.filter(title=SEED_TITLE).update(title="Edited")

    output = _call("import_questions", str(BANK_DIR), "--keep-existing")

    assert output.strip() == "0 created, 0 updated, 12 unchanged"
    assert Question.objects.filter(title="Edited").exists()


def test_it_exports_a_quiz(tmp_path: Path):
    _call("import_questions", str(BANK_DIR))

    output = _call("export_questions", "--out", str(tmp_path / "out"), "--quiz", QUIZ_SLUG)

    assert output.strip() == f"wrote 13 file(s) to {tmp_path / 'out'}"
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(p.name for p in BANK_DIR.glob("*.md"))


def test_it_exports_every_question_without_a_quiz(tmp_path: Path):
    _call("import_questions", str(BANK_DIR))

    _call("export_questions", "--out", str(tmp_path))

    assert len(list(tmp_path.glob("*.md"))) == 12
    assert (tmp_path / "accuracy-as-a-loss-function.md").is_file()
    assert not (tmp_path / "quiz.md").exists()


def test_it_refuses_to_export_an_unknown_quiz(tmp_path: Path):
    with pytest.raises(CommandError, match="there is no quiz 'nope'"):
        _call("export_questions", "--out", str(tmp_path), "--quiz", "nope")


def test_it_seeds_the_bank():
    output = _call("seed_bank")

    assert output.strip() == (
        f"seed_bank: 12 created, 0 updated, 0 already present; quizzes written: {QUIZ_SLUG}; "
        f"exercises: {SHIPPED_EXERCISES} created, 0 updated, 0 already present"
    )
    assert Question.objects.get(title=SEED_TITLE).choices.count() == 4
    assert Question.objects.filter(type=QuestionType.NUMERIC, numeric_answer=0.952).exists()
    assert Question.objects.filter(type=QuestionType.MULTIPLE).exists()
    assert Quiz.objects.get(slug=QUIZ_SLUG).quiz_questions.count() == 12


def test_it_seeds_only_once():
    _call("seed_bank")
    before = _counts()

    output = _call("seed_bank")

    assert output.strip() == (
        "seed_bank: 0 created, 0 updated, 12 already present; quizzes written: none; "
        f"exercises: 0 created, 0 updated, {SHIPPED_EXERCISES} already present"
    )
    assert _counts() == before == (12, before[1], 1, 12)
    assert Question.objects.filter(title=SEED_TITLE).count() == 1


def test_it_keeps_admin_edits_when_seeding_again():
    _call("seed_bank")
    Question.objects.filter(title=SEED_TITLE).update(title="Edited in the admin")

    _call("seed_bank")

    assert Question.objects.filter(title="Edited in the admin").exists()


def test_it_restores_an_edited_question_with_update():
    _call("seed_bank")
    question = Question.objects.get(title=SEED_TITLE)
    choice_ids = [c.id for c in question.choices.all()]
    Question.objects.filter(id=question.id).update(title="Edited", points=5)
    Choice.objects.filter(id=choice_ids[0]).update(text="Edited choice", is_correct=False)
    Choice.objects.filter(id=choice_ids[1]).update(is_correct=True)

    _call("seed_bank", "--update")

    question.refresh_from_db()
    assert (question.title, question.points) == (SEED_TITLE, 1)
    assert [c.id for c in question.choices.all()] == choice_ids
    assert [c.is_correct for c in question.choices.all()] == [True, False, False, False]
    assert question.choices.all()[0].text.startswith("Accuracy is not a differentiable function")
    assert Question.objects.count() == 12


def test_it_creates_the_demo_users():
    output = _call("create_demo_users")

    users = get_user_model().objects
    instructor, student = users.get(username="instructor"), users.get(username="student")
    assert instructor.is_staff
    assert instructor.groups.filter(name=INSTRUCTORS_GROUP).exists()
    assert not student.is_staff
    assert not student.groups.exists()
    assert instructor.check_password("instructor-demo-pass")
    assert student.check_password("student-demo-pass")
    assert "username: instructor" in output
    assert "password: instructor-demo-pass" in output
    assert "password: student-demo-pass" in output


def test_it_resets_the_demo_users():
    _call("create_demo_users")
    student = get_user_model().objects.get(username="student")
    student.set_password("forgotten")
    student.save()

    _call("create_demo_users")

    student.refresh_from_db()
    assert student.check_password("student-demo-pass")
    assert get_user_model().objects.filter(username__in=["instructor", "student"]).count() == 2
