"""Importing and exporting question files: all or nothing, lossless, idempotent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings

from questions.files import QuestionSpec
from questions.models import Choice, Question, Quiz, QuizQuestion, Reading, Tag
from questions.services import (
    BankImportError,
    bank_export,
    bank_import,
    bank_parse,
    question_to_spec,
    quiz_to_spec,
)

pytestmark = pytest.mark.django_db

BANK_DIR = Path(settings.BASE_DIR) / "questions" / "bank" / "loss-functions-vs-metrics"
QUIZ_SLUG = "loss-functions-vs-metrics"
FIRST = "01-accuracy-as-a-loss-function.md"

VALID = """---
slug: {slug}
type: single
---
# A question

Stem.

- [x] Right
- [ ] Wrong

## Answer

Because.
"""


def _bank_slugs() -> list[str]:
    """Slugs in file-name order: every bank file is named NN-<slug>.md."""
    return [p.stem[3:] for p in sorted(BANK_DIR.glob("*.md")) if p.name != "quiz.md"]


def _specs() -> dict[str, QuestionSpec]:
    return {q.slug: question_to_spec(question=q) for q in Question.objects.all()}


def _quiz_slugs(slug: str = QUIZ_SLUG) -> list[str]:
    return list(
        QuizQuestion.objects.filter(quiz__slug=slug).order_by("position").values_list("question__slug", flat=True)
    )


@pytest.fixture
def bank_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(BANK_DIR, tmp_path / "bank"))


def test_it_imports_the_bank_folder():
    report = bank_import(paths=[BANK_DIR])

    assert sorted(report.created) == sorted(_bank_slugs())
    assert report.quizzes == [QUIZ_SLUG]
    assert Question.objects.count() == 12
    assert _quiz_slugs() == _bank_slugs()


def test_it_imports_the_quiz_settings():
    bank_import(paths=[BANK_DIR])

    quiz = Quiz.objects.get(slug=QUIZ_SLUG)
    assert quiz.title == "Loss functions versus evaluation metrics"
    assert (quiz.max_attempts, quiz.time_limit_minutes, quiz.is_published) == (3, 30, True)
    assert quiz.description.startswith("This quiz checks")


def test_it_imports_choices_readings_and_tags():
    bank_import(paths=[BANK_DIR])

    question = Question.objects.get(slug="accuracy-as-a-loss-function")
    assert [c.is_correct for c in question.choices.all()] == [True, False, False, False]
    assert [c.position for c in question.choices.all()] == [0, 1, 2, 3]
    assert question.readings.first().title == "Loss and Loss Functions for Training Deep Learning Neural Networks"
    assert {tag.name for tag in question.tags.all()} == {"loss-functions", "metrics", "gradient-descent"}


def test_it_exports_what_it_imported_byte_identical(tmp_path: Path):
    bank_import(paths=[BANK_DIR])

    written = bank_export(out_dir=tmp_path / "out", quiz=Quiz.objects.get(slug=QUIZ_SLUG))

    assert sorted(p.name for p in written) == sorted(p.name for p in BANK_DIR.glob("*.md"))
    for path in written:
        assert path.read_bytes() == (BANK_DIR / path.name).read_bytes(), path.name


def test_it_round_trips_import_export_import(tmp_path: Path):
    bank_import(paths=[BANK_DIR])
    before = _specs()
    quiz_before = quiz_to_spec(quiz=Quiz.objects.get(slug=QUIZ_SLUG))
    bank_export(out_dir=tmp_path, quiz=Quiz.objects.get(slug=QUIZ_SLUG))

    report = bank_import(paths=[tmp_path])

    assert sorted(report.unchanged) == sorted(before)
    assert (report.created, report.updated) == ([], [])
    assert _specs() == before
    assert quiz_to_spec(quiz=Quiz.objects.get(slug=QUIZ_SLUG)) == quiz_before
    assert _quiz_slugs() == _bank_slugs()


def test_it_exports_every_question_by_slug_without_a_quiz(tmp_path: Path):
    bank_import(paths=[BANK_DIR])

    written = bank_export(out_dir=tmp_path)

    assert sorted(p.name for p in written) == sorted(f"{slug}.md" for slug in _bank_slugs())


def test_it_reimports_without_changes():
    bank_import(paths=[BANK_DIR])
    choice_ids = list(Choice.objects.order_by("id").values_list("id", flat=True))

    report = bank_import(paths=[BANK_DIR])

    assert len(report.unchanged) == 12
    assert (report.created, report.updated) == ([], [])
    assert Question.objects.count() == 12
    assert list(Choice.objects.order_by("id").values_list("id", flat=True)) == choice_ids
    specs, _ = bank_parse(paths=[BANK_DIR])
    assert Reading.objects.count() == sum(len(spec.readings) for spec in specs)
    assert _quiz_slugs() == _bank_slugs()


def test_it_keeps_choice_ids_when_a_choice_text_changes(bank_copy: Path):
    bank_import(paths=[bank_copy])
    question = Question.objects.get(slug="accuracy-as-a-loss-function")
    ids = [c.id for c in question.choices.all()]
    path = bank_copy / FIRST
    path.write_text(path.read_text().replace("- [ ] Gradient descent only works", "- [ ] Gradient descent works only"))

    report = bank_import(paths=[bank_copy])

    assert "accuracy-as-a-loss-function" in report.updated
    assert [c.id for c in question.choices.all()] == ids
    assert question.choices.get(position=3).text.startswith("Gradient descent works only")


def test_it_drops_a_removed_last_choice_and_keeps_the_others(bank_copy: Path):
    bank_import(paths=[bank_copy])
    question = Question.objects.get(slug="accuracy-as-a-loss-function")
    ids = [c.id for c in question.choices.all()]
    path = bank_copy / FIRST
    lines = path.read_text().split("\n")
    path.write_text("\n".join(line for line in lines if not line.startswith("- [ ] Gradient descent only")))

    bank_import(paths=[bank_copy])

    assert [c.id for c in question.choices.all()] == ids[:3]


def test_it_leaves_existing_questions_alone_when_asked(bank_copy: Path):
    bank_import(paths=[bank_copy])
    Question.objects.filter(slug="accuracy-as-a-loss-function").update(title="Edited")

    report = bank_import(paths=[bank_copy], update_existing=False)

    assert len(report.unchanged) == 12
    assert Question.objects.get(slug="accuracy-as-a-loss-function").title == "Edited"


def test_it_imports_nothing_when_one_file_is_invalid(bank_copy: Path):
    (bank_copy / "05-same-accuracy-different-loss.md").write_text("no front matter\n")
    broken = bank_copy / "07-mse-with-an-outlier.md"
    broken.write_text(broken.read_text().replace("answer: 20.4", "answer: lots"))

    with pytest.raises(BankImportError) as caught:
        bank_import(paths=[bank_copy])

    assert Question.objects.count() == 0
    assert Quiz.objects.count() == 0
    assert caught.value.problems == [
        f"{bank_copy / '05-same-accuracy-different-loss.md'}:1: "
        "the file must start with a front matter block: a line '---', 'key: value' lines, '---'",
        f"{broken}:6: answer must be a number, not 'lots'",
    ]


def test_it_leaves_the_database_as_it_was_when_a_file_is_invalid(bank_copy: Path):
    bank_import(paths=[bank_copy])
    first = bank_copy / FIRST
    first.write_text(first.read_text().replace("# Accuracy as a loss function", "# Renamed"))
    (bank_copy / "99-broken.md").write_text(VALID.format(slug="broken").replace("## Answer", "## Solution"))

    with pytest.raises(BankImportError):
        bank_import(paths=[bank_copy])

    assert Question.objects.get(slug="accuracy-as-a-loss-function").title == "Accuracy as a loss function"
    assert not Question.objects.filter(slug="broken").exists()


def test_it_reports_a_slug_used_by_two_files(tmp_path: Path):
    (tmp_path / "a.md").write_text(VALID.format(slug="same"))
    (tmp_path / "b.md").write_text(VALID.format(slug="same"))

    with pytest.raises(BankImportError) as caught:
        bank_import(paths=[tmp_path])

    [problem] = caught.value.problems
    assert str(tmp_path / "a.md") in problem
    assert problem.startswith(f"{tmp_path / 'b.md'}:")
    assert not Question.objects.exists()


def test_it_reports_a_duplicate_slug_at_the_slug_line(tmp_path: Path):
    (tmp_path / "a.md").write_text(VALID.format(slug="same"))
    (tmp_path / "b.md").write_text(
        VALID.format(slug="same").replace("slug: same\ntype: single", "type: single\nslug: same")
    )

    with pytest.raises(BankImportError) as caught:
        bank_import(paths=[tmp_path])

    assert caught.value.problems[0].startswith(f"{tmp_path / 'b.md'}:3: ")


def test_it_reports_a_file_that_is_not_utf8(tmp_path: Path):
    (tmp_path / "a.md").write_text(VALID.format(slug="fine"))
    latin = tmp_path / "b.md"
    latin.write_bytes(VALID.format(slug="latin").replace("Stem.", "Café.").encode("latin-1"))

    with pytest.raises(BankImportError) as caught:
        bank_import(paths=[tmp_path])

    [problem] = caught.value.problems
    assert problem.startswith(f"{latin}:")
    assert "not UTF-8" in problem
    assert not Question.objects.exists()


def test_it_reports_a_missing_file(tmp_path: Path):
    with pytest.raises(BankImportError) as caught:
        bank_import(paths=[tmp_path / "nope.md"])

    assert caught.value.problems == [f"{tmp_path / 'nope.md'}:0: no such file"]


def test_it_reports_a_folder_without_question_files(tmp_path: Path):
    with pytest.raises(BankImportError) as caught:
        bank_import(paths=[tmp_path])

    assert "no question files" in caught.value.problems[0]


def test_it_orders_quiz_questions_by_file_name(tmp_path: Path):
    (tmp_path / "quiz.md").write_text("---\nslug: ordered\ntitle: Ordered\n---\n")
    for name, slug in [("2-b.md", "zeta"), ("1-a.md", "omega"), ("3-c.md", "alpha")]:
        (tmp_path / name).write_text(VALID.format(slug=slug))

    bank_import(paths=[tmp_path])

    assert _quiz_slugs("ordered") == ["omega", "zeta", "alpha"]


def test_it_keeps_the_tag_order_of_the_file(tmp_path: Path):
    for name in ("gamma", "beta", "alpha"):  # existing tags, ids ascending in this order
        Tag.objects.create(name=name)
    path = tmp_path / "q.md"
    path.write_text(VALID.format(slug="tagged").replace("type: single", "type: single\ntags: alpha, beta, gamma"))

    bank_import(paths=[path])

    assert question_to_spec(question=Question.objects.get(slug="tagged")).tags == ("alpha", "beta", "gamma")


def test_it_round_trips_points_set_for_a_quiz(bank_copy: Path, tmp_path: Path):
    quiz_file = bank_copy / "quiz.md"
    quiz_file.write_text(
        quiz_file.read_text().replace("---\nThis quiz", "points: mse-with-an-outlier=5\n---\nThis quiz", 1)
    )
    bank_import(paths=[bank_copy])
    quiz = Quiz.objects.get(slug="loss-functions-vs-metrics")
    assert QuizQuestion.objects.get(quiz=quiz, question__slug="mse-with-an-outlier").effective_points == 5
    out = tmp_path / "out"
    bank_export(out_dir=out, quiz=quiz)
    assert "points: mse-with-an-outlier=5" in (out / "quiz.md").read_text()


def test_it_round_trips_the_quizs_grade_policy(bank_copy: Path, tmp_path: Path):
    quiz_file = bank_copy / "quiz.md"
    quiz_file.write_text(quiz_file.read_text().replace("grade_policy: best", "grade_policy: latest", 1))
    bank_import(paths=[bank_copy])
    quiz = Quiz.objects.get(slug="loss-functions-vs-metrics")
    assert quiz.grade_policy == "latest"
    bank_export(out_dir=tmp_path / "out", quiz=quiz)
    assert "grade_policy: latest" in (tmp_path / "out" / "quiz.md").read_text()


def test_it_refuses_points_for_a_question_outside_the_folder(bank_copy: Path):
    quiz_file = bank_copy / "quiz.md"
    quiz_file.write_text(quiz_file.read_text().replace("---\nThis quiz", "points: not-here=5\n---\nThis quiz", 1))
    with pytest.raises(BankImportError) as failure:
        bank_import(paths=[bank_copy])
    assert "quiz.md:" in failure.value.problems[0]
    assert "'not-here'" in failure.value.problems[0]
    assert not Quiz.objects.exists()
