"""Writes to the question bank: upsert from file specs, import, export, duplicate."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from questions.files import (
    ChoiceSpec,
    QuestionFileError,
    QuestionSpec,
    QuizSpec,
    ReadingSpec,
    parse_question,
    parse_quiz,
    render_question,
    render_quiz,
)
from questions.models import Choice, Question, Quiz, QuizQuestion, Reading, Tag
from questions.selectors import question_list_for_export

QUIZ_FILE = "quiz.md"


@dataclass
class BankImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    quizzes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _QuizFolder:
    quiz: QuizSpec
    question_slugs: tuple[str, ...]


class BankImportError(Exception):
    """Every problem found in the files, each as 'path:line: message'."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def question_to_spec(*, question: Question) -> QuestionSpec:
    return QuestionSpec(
        slug=question.slug,
        title=question.title,
        type=question.type,
        prompt=question.prompt,
        explanation=question.explanation,
        points=question.points,
        scoring=question.scoring,
        numeric_answer=question.numeric_answer,
        abs_tolerance=question.abs_tolerance,
        rel_tolerance=question.rel_tolerance,
        tags=tuple(sorted((tag.name for tag in question.tags.all()), key=_tag_order(question))),
        choices=tuple(
            ChoiceSpec(text=c.text, is_correct=c.is_correct, feedback=c.feedback) for c in question.choices.all()
        ),
        readings=tuple(ReadingSpec(title=r.title, url=r.url, text=r.text) for r in question.readings.all()),
    )


def _tag_order(question: Question):  # type: ignore[no-untyped-def]
    # Tags keep the order they were written in: the through table's ids are insertion order.
    positions = {
        name: index
        for index, name in enumerate(
            Question.tags.through.objects.filter(question=question).order_by("id").values_list("tag__name", flat=True)
        )
    }
    return lambda name: positions.get(name, len(positions))


def quiz_to_spec(*, quiz: Quiz) -> QuizSpec:
    return QuizSpec(
        slug=quiz.slug,
        title=quiz.title,
        description=quiz.description,
        shuffle_questions=quiz.shuffle_questions,
        shuffle_choices=quiz.shuffle_choices,
        reveal=quiz.reveal,
        max_attempts=quiz.max_attempts,
        time_limit_minutes=quiz.time_limit_minutes,
        published=quiz.is_published,
        opens_at=quiz.opens_at,
        closes_at=quiz.closes_at,
        points=tuple(
            (qq.question.slug, qq.points)
            for qq in quiz.quiz_questions.select_related("question").order_by("position")
            if qq.points is not None
        ),
    )


def _replace_rows(*, question: Question, model: type[Choice] | type[Reading], rows: list[dict[str, object]]) -> None:
    """Update rows in place by position so their ids (kept in past answers) stay stable."""
    existing = {row.position: row for row in model.objects.filter(question=question)}
    for position, values in enumerate(rows):
        row = existing.pop(position, None)
        if row is None:
            model.objects.create(question=question, position=position, **values)
        elif any(getattr(row, key) != value for key, value in values.items()):
            model.objects.filter(id=row.id).update(**values)
    model.objects.filter(id__in=[row.id for row in existing.values()]).delete()


@transaction.atomic
def question_upsert(*, spec: QuestionSpec) -> tuple[Question, str]:
    """Create or update the question with this slug; returns it and created/updated/unchanged."""
    question = Question.objects.filter(slug=spec.slug).first()
    if question is not None and question_to_spec(question=question) == spec:
        return question, "unchanged"
    fields = {
        "title": spec.title,
        "prompt": spec.prompt,
        "type": spec.type,
        "explanation": spec.explanation,
        "points": spec.points,
        "scoring": spec.scoring,
        "numeric_answer": spec.numeric_answer,
        "abs_tolerance": spec.abs_tolerance,
        "rel_tolerance": spec.rel_tolerance,
    }
    outcome = "updated" if question is not None else "created"
    question, _ = Question.objects.update_or_create(slug=spec.slug, defaults=fields)
    _replace_rows(
        question=question,
        model=Choice,
        rows=[{"text": c.text, "is_correct": c.is_correct, "feedback": c.feedback} for c in spec.choices],
    )
    _replace_rows(
        question=question,
        model=Reading,
        rows=[{"title": r.title, "url": r.url, "text": r.text} for r in spec.readings],
    )
    question.tags.clear()
    # One at a time: add(*tags) inserts in set order, and the link rows' order is the
    # tag order that export writes back.
    for name in spec.tags:
        question.tags.add(Tag.objects.get_or_create(name=name)[0])
    return question, outcome


@transaction.atomic
def quiz_upsert(*, spec: QuizSpec, question_slugs: Sequence[str]) -> Quiz:
    quiz, _ = Quiz.objects.update_or_create(
        slug=spec.slug,
        defaults={
            "title": spec.title,
            "description": spec.description,
            "shuffle_questions": spec.shuffle_questions,
            "shuffle_choices": spec.shuffle_choices,
            "reveal": spec.reveal,
            "max_attempts": spec.max_attempts,
            "time_limit_minutes": spec.time_limit_minutes,
            "is_published": spec.published,
            "opens_at": spec.opens_at,
            "closes_at": spec.closes_at,
        },
    )
    questions = Question.objects.in_bulk(list(question_slugs), field_name="slug")
    overrides = dict(spec.points)
    QuizQuestion.objects.filter(quiz=quiz).delete()
    QuizQuestion.objects.bulk_create(
        QuizQuestion(quiz=quiz, question=questions[slug], position=position, points=overrides.get(slug))
        for position, slug in enumerate(question_slugs)
    )
    return quiz


def _question_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.md") if p.name != QUIZ_FILE)


def _collect_files(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """(question files, quiz files) under the given files and folders, in a stable order."""
    questions: list[Path] = []
    quizzes: list[Path] = []
    for path in paths:
        if path.is_dir():
            for folder in sorted({path, *(p for p in path.rglob("*") if p.is_dir())}):
                questions += _question_files(folder)
                if (folder / QUIZ_FILE).is_file():
                    quizzes.append(folder / QUIZ_FILE)
        elif path.name == QUIZ_FILE:
            quizzes.append(path)
        else:
            questions.append(path)
    return questions, quizzes


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QuestionFileError(source=str(path), line=0, message="no such file") from None
    except UnicodeDecodeError as exc:
        raise QuestionFileError(source=str(path), line=0, message=f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise QuestionFileError(source=str(path), line=0, message=exc.strerror or "cannot be read") from None


def _front_matter_line(path: Path, key: str) -> int:
    lines = _read(path).split("\n")
    return next((n for n, line in enumerate(lines, start=1) if line.startswith(f"{key}:")), 1)


def bank_parse(*, paths: Iterable[Path]) -> tuple[list[QuestionSpec], list[_QuizFolder]]:
    """Parse every file first, reporting all problems at once, before anything is written."""
    question_paths, quiz_paths = _collect_files(paths)
    problems: list[str] = []
    specs: list[QuestionSpec] = []
    seen: dict[str, str] = {}
    slugs_by_path: dict[Path, str] = {}
    for path in question_paths:
        try:
            spec = parse_question(_read(path), source=str(path))
        except QuestionFileError as exc:
            problems.append(str(exc))
            continue
        if spec.slug in seen:
            problems.append(
                f"{path}:{_front_matter_line(path, 'slug')}: slug {spec.slug!r} is also used by {seen[spec.slug]}"
            )
            continue
        seen[spec.slug] = str(path)
        slugs_by_path[path] = spec.slug
        specs.append(spec)
    folders: list[_QuizFolder] = []
    for path in quiz_paths:
        try:
            quiz = parse_quiz(_read(path), source=str(path))
        except QuestionFileError as exc:
            problems.append(str(exc))
            continue
        slugs = tuple(slugs_by_path[p] for p in _question_files(path.parent) if p in slugs_by_path)
        strangers = [slug for slug, _ in quiz.points if slug not in slugs]
        if strangers:
            line = _front_matter_line(path, "points")
            problems.append(f"{path}:{line}: points names {strangers[0]!r}, which is not a question in this folder")
            continue
        folders.append(_QuizFolder(quiz=quiz, question_slugs=slugs))
    if problems:
        raise BankImportError(problems)
    if not specs and not folders:
        raise BankImportError([f"{', '.join(map(str, paths)) or '(no paths)'}: no question files (*.md) found"])
    return specs, folders


def bank_import(*, paths: Iterable[Path], update_existing: bool = True) -> BankImportReport:
    """Import question and quiz files: all of them, or nothing when any file is invalid."""
    paths = list(paths)
    specs, folders = bank_parse(paths=paths)
    report = BankImportReport()
    with transaction.atomic():
        for spec in specs:
            if not update_existing and Question.objects.filter(slug=spec.slug).exists():
                report.unchanged.append(spec.slug)
                continue
            _, outcome = question_upsert(spec=spec)
            getattr(report, outcome).append(spec.slug)
        for folder in folders:
            if not update_existing and Quiz.objects.filter(slug=folder.quiz.slug).exists():
                continue
            quiz_upsert(spec=folder.quiz, question_slugs=folder.question_slugs)
            report.quizzes.append(folder.quiz.slug)
    return report


def bank_export(*, out_dir: Path, quiz: Quiz | None = None) -> list[Path]:
    """Write one file per question (numbered in quiz order when a quiz is given) and quiz.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    questions = list(question_list_for_export(quiz=quiz))
    width = max(2, len(str(len(questions))))
    for index, question in enumerate(questions, start=1):
        name = f"{index:0{width}d}-{question.slug}.md" if quiz else f"{question.slug}.md"
        path = out_dir / name
        path.write_text(render_question(question_to_spec(question=question)), encoding="utf-8")
        written.append(path)
    if quiz is not None:
        path = out_dir / QUIZ_FILE
        path.write_text(render_quiz(quiz_to_spec(quiz=quiz)), encoding="utf-8")
        written.append(path)
    return written


@transaction.atomic
def question_duplicate(*, question: Question) -> Question:
    """A copy with a fresh slug and '(copy)' title, its choices, readings and tags."""
    spec = question_to_spec(question=question)
    base = f"{question.slug[:90]}-copy"
    slug, counter = base, 2
    while Question.objects.filter(slug=slug).exists():
        slug, counter = f"{base}-{counter}", counter + 1
    copy, _ = question_upsert(
        spec=QuestionSpec(**{**spec.__dict__, "slug": slug, "title": f"{question.title} (copy)"[:200]})
    )
    return copy
