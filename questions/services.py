"""Writes to the question bank: upsert from file specs, import, export, duplicate; the
same for code exercises, whose grading spec is keyed and validated (see ExerciseKey)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from questions.exercise_files import is_exercise_folder, parse_exercise_folder, write_exercise_folder
from questions.exercises import (
    DataFileSpec,
    ExerciseSpec,
    exercise_to_spec,
    fingerprint,
    grading_spec,
    grading_spec_environment,
    grading_spec_max_score,
)
from questions.files import (
    ChoiceSpec,
    QuestionFileError,
    QuestionSpec,
    QuizSpec,
    ReadingSpec,
    key_line,
    parse_question,
    parse_quiz,
    read_source_file,
    render_question,
    render_quiz,
)
from questions.models import (
    Choice,
    DataBlob,
    Exercise,
    ExerciseCheck,
    ExerciseDataFile,
    ExerciseKey,
    KeyStatus,
    Question,
    Quiz,
    QuizQuestion,
    Reading,
    Tag,
)
from questions.selectors import question_list_for_export
from workers.dispatch import VALIDATE_TASK, enqueue_on_commit
from workers.queues import grading_queue

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
        grade_policy=quiz.grade_policy,
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
            "grade_policy": spec.grade_policy,
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
                if _inside_exercise_folder(folder):
                    continue  # an exercise's prompt.md is not a question
                questions += _question_files(folder)
                if (folder / QUIZ_FILE).is_file():
                    quizzes.append(folder / QUIZ_FILE)
        elif path.name == QUIZ_FILE:
            quizzes.append(path)
        else:
            questions.append(path)
    return questions, quizzes


def _inside_exercise_folder(folder: Path) -> bool:
    return any(is_exercise_folder(parent) for parent in (folder, *folder.parents))


def bank_parse(*, paths: Iterable[Path]) -> tuple[list[QuestionSpec], list[_QuizFolder]]:
    """Parse every file first, reporting all problems at once, before anything is written."""
    question_paths, quiz_paths = _collect_files(paths)
    problems: list[str] = []
    specs: list[QuestionSpec] = []
    seen: dict[str, str] = {}
    slugs_by_path: dict[Path, str] = {}
    for path in question_paths:
        try:
            spec = parse_question(read_source_file(path), source=str(path))
        except QuestionFileError as exc:
            problems.append(str(exc))
            continue
        if spec.slug in seen:
            problems.append(f"{path}:{key_line(path, 'slug')}: slug {spec.slug!r} is also used by {seen[spec.slug]}")
            continue
        seen[spec.slug] = str(path)
        slugs_by_path[path] = spec.slug
        specs.append(spec)
    folders: list[_QuizFolder] = []
    for path in quiz_paths:
        try:
            quiz = parse_quiz(read_source_file(path), source=str(path))
        except QuestionFileError as exc:
            problems.append(str(exc))
            continue
        slugs = tuple(slugs_by_path[p] for p in _question_files(path.parent) if p in slugs_by_path)
        strangers = [slug for slug, _ in quiz.points if slug not in slugs]
        if strangers:
            line = key_line(path, "points")
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


# --- Code exercises --------------------------------------------------------------------


def exercise_key_ensure(*, exercise: Exercise) -> ExerciseKey:
    """Fingerprint what grading depends on; a new fingerprint gets a new key, validated
    by a worker running the reference solution in the sandbox."""
    spec = grading_spec(spec=exercise_to_spec(exercise=exercise))
    current = fingerprint(spec=spec)
    if exercise.spec_fingerprint != current:
        Exercise.objects.filter(pk=exercise.pk).update(spec_fingerprint=current)
        exercise.spec_fingerprint = current
    key, created = ExerciseKey.objects.get_or_create(
        exercise=exercise,
        fingerprint=current,
        defaults={
            "spec": spec,
            "max_score": grading_spec_max_score(spec=spec),
            "environment": grading_spec_environment(spec=spec),
        },
    )
    if created:
        enqueue_on_commit(task=VALIDATE_TASK, args=[key.pk], queue=grading_queue(key.environment))
    return key


def exercise_upsert(*, spec: ExerciseSpec) -> tuple[Exercise, str]:
    """Create or update the exercise with this slug; 'created', 'updated' or 'unchanged'."""
    with transaction.atomic():
        exercise = Exercise.objects.filter(slug=spec.slug).first()
        if exercise is not None and exercise_to_spec(exercise=exercise) == spec:
            exercise_key_ensure(exercise=exercise)
            return exercise, "unchanged"
        outcome = "created" if exercise is None else "updated"
        exercise = exercise or Exercise(slug=spec.slug)
        exercise.title = spec.title
        exercise.prompt = spec.prompt
        exercise.functions = "\n".join(spec.functions)
        exercise.starter_code = spec.starter_code
        exercise.reference_solution = spec.reference_solution
        exercise.time_limit_seconds = spec.time_limit_seconds
        exercise.memory_limit_mb = spec.memory_limit_mb
        exercise.environment = spec.environment
        exercise.is_published = spec.published
        exercise.grade_policy = spec.grade_policy
        exercise.save()
        ExerciseCheck.objects.filter(exercise=exercise).delete()
        ExerciseCheck.objects.bulk_create(
            ExerciseCheck(
                exercise=exercise,
                position=position,
                name=check.name,
                kind=check.kind,
                points=check.points,
                is_hidden=check.hidden,
                description=check.description,
                failure_message=check.message,
                seed=check.seed,
                setup=check.setup,
                call=check.call,
                rtol=check.rtol,
                atol=check.atol,
                lower=check.lower,
                upper=check.upper,
                seconds=check.seconds,
                track=", ".join(check.track),
                of=check.of,
                wrt=check.wrt,
                step=check.step,
                requires=", ".join(check.requires),
                metric=check.metric,
                variants=check.variants,
                show_expected=check.show_expected,
            )
            for position, check in enumerate(spec.checks)
        )
        exercise_data_replace(exercise=exercise, files=spec.data)
        exercise_key_ensure(exercise=exercise)
    return exercise, outcome


def data_blob_store(*, content: bytes) -> DataBlob:
    """The blob holding these bytes, stored once whoever uploads them."""
    sha256 = hashlib.sha256(content).hexdigest()
    blob, _ = DataBlob.objects.get_or_create(sha256=sha256, defaults={"size": len(content), "content": content})
    return blob


def exercise_data_replace(*, exercise: Exercise, files: Sequence[DataFileSpec]) -> None:
    """Make the exercise's data files these (by name); bytes not stored yet are stored."""
    ExerciseDataFile.objects.filter(exercise=exercise).delete()
    for file in files:
        if file.content is None:
            if not DataBlob.objects.filter(sha256=file.sha256).exists():
                raise ValueError(f"data file {file.name}: no bytes given and none stored for {file.sha256}")
            blob_id = file.sha256
        else:
            blob_id = data_blob_store(content=file.content).sha256
        ExerciseDataFile.objects.create(exercise=exercise, name=file.name, blob_id=blob_id, is_hidden=file.hidden)


def _exercise_folders(paths: Iterable[Path]) -> list[Path]:
    folders: set[Path] = set()
    for path in paths:
        if is_exercise_folder(path):
            folders.add(path)
        elif path.is_dir():
            folders.update(p.parent for p in path.rglob("exercise.yaml"))
    return sorted(folders)


def exercises_import(*, paths: Iterable[Path], update_existing: bool = True) -> BankImportReport:
    """Import exercise folders: all of them, or nothing when any is invalid."""
    paths = list(paths)
    problems: list[str] = []
    specs: list[ExerciseSpec] = []
    seen: dict[str, Path] = {}
    for folder in _exercise_folders(paths):
        try:
            spec = parse_exercise_folder(folder)
        except QuestionFileError as exc:
            problems.append(str(exc))
            continue
        if spec.slug in seen:
            problems.append(f"{folder / 'exercise.yaml'}:1: slug {spec.slug!r} is also used by {seen[spec.slug]}")
            continue
        seen[spec.slug] = folder
        specs.append(spec)
    if problems:
        raise BankImportError(problems)
    if not specs:
        raise BankImportError([f"{', '.join(map(str, paths)) or '(no paths)'}: no exercise folders (exercise.yaml)"])
    report = BankImportReport()
    with transaction.atomic():
        for spec in specs:
            existing = None if update_existing else Exercise.objects.filter(slug=spec.slug).first()
            if existing is not None:
                # Left as edited, but graded under a key of the current format.
                exercise_key_ensure(exercise=existing)
                report.unchanged.append(spec.slug)
                continue
            _, outcome = exercise_upsert(spec=spec)
            getattr(report, outcome).append(spec.slug)
    return report


def exercises_export(*, out_dir: Path, slugs: Sequence[str] = ()) -> list[Path]:
    """One folder per exercise, in the format exercises_import reads."""
    exercises = Exercise.objects.order_by("slug")
    if slugs:
        exercises = exercises.filter(slug__in=slugs)
    written: list[Path] = []
    for exercise in exercises.prefetch_related("checks"):
        spec = exercise_to_spec(exercise=exercise)
        contents = dict(
            DataBlob.objects.filter(sha256__in=[d.sha256 for d in spec.data]).values_list("sha256", "content")
        )
        data = tuple(dataclasses.replace(d, content=bytes(contents[d.sha256])) for d in spec.data)
        written += write_exercise_folder(spec=dataclasses.replace(spec, data=data), folder=out_dir / exercise.slug)
    return written


def exercise_key_revalidate(*, exercise: Exercise) -> ExerciseKey:
    """Validate the current spec again (e.g. after a flaky time check failed it)."""
    key = exercise_key_ensure(exercise=exercise)
    if key.status == KeyStatus.INVALID and (
        ExerciseKey.objects.filter(pk=key.pk, status=KeyStatus.INVALID).update(
            status=KeyStatus.PENDING, claimed_at=None, validated_at=None
        )
        == 1
    ):
        enqueue_on_commit(task=VALIDATE_TASK, args=[key.pk], queue=grading_queue(key.environment))
    return key
