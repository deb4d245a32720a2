"""The question file format (docs/question-format.md): parse and render, no database.

parse → render → parse gives back an equal draft, which is what makes import → export →
import lossless. Every parse error names the file and line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from questions.models import GradePolicy, MultipleScoring, QuestionType, RevealPolicy
from questions.validation import ChoiceDraft, choice_problems, numeric_problems

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CHOICE_RE = re.compile(r"^- \[([ xX])\] (.+)$")
FEEDBACK_RE = re.compile(r"^  > ?(.*)$")
LINK_RE = re.compile(r"\[([^\]]+)\]\((https?://[^\s)]+)\)")
FENCE_RE = re.compile(r"^(```|~~~)")

QUESTION_KEYS = {"slug", "type", "points", "tags", "scoring", "answer", "abs_tolerance", "rel_tolerance"}
QUIZ_KEYS = {
    "slug",
    "title",
    "shuffle_questions",
    "shuffle_choices",
    "reveal",
    "max_attempts",
    "grade_policy",
    "time_limit_minutes",
    "published",
    "opens_at",
    "closes_at",
    "points",
}


class QuestionFileError(Exception):
    def __init__(self, *, source: str, line: int, message: str):
        super().__init__(f"{source}:{line}: {message}")
        self.source = source
        self.line = line
        self.message = message


def read_source_file(path: Path, *, required: bool = True) -> str:
    """A bank file's text; problems as QuestionFileError at line 0 (the file as a whole).
    A missing file that is not `required` reads as empty."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if not required:
            return ""
        raise QuestionFileError(source=str(path), line=0, message="no such file") from None
    except UnicodeDecodeError as exc:
        raise QuestionFileError(source=str(path), line=0, message=f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise QuestionFileError(source=str(path), line=0, message=exc.strerror or "cannot be read") from None


def key_line(path: Path, key: str) -> int:
    """The line where a top-level `key:` starts in the file, or 1."""
    lines = read_source_file(path).split("\n")
    return next((n for n, line in enumerate(lines, start=1) if line.startswith(f"{key}:")), 1)


@dataclass(frozen=True)
class ChoiceSpec:
    text: str
    is_correct: bool
    feedback: str = ""


@dataclass(frozen=True)
class ReadingSpec:
    title: str
    url: str
    text: str


@dataclass(frozen=True)
class QuestionSpec:
    slug: str
    title: str
    type: str
    prompt: str
    explanation: str
    points: Decimal = Decimal(1)
    scoring: str = MultipleScoring.ALL_OR_NOTHING.value
    numeric_answer: float | None = None
    abs_tolerance: float | None = None
    rel_tolerance: float | None = None
    tags: tuple[str, ...] = ()
    choices: tuple[ChoiceSpec, ...] = ()
    readings: tuple[ReadingSpec, ...] = ()


@dataclass(frozen=True)
class QuizSpec:
    slug: str
    title: str
    description: str = ""
    shuffle_questions: bool = False
    shuffle_choices: bool = False
    reveal: str = RevealPolicy.AFTER_SUBMIT.value
    max_attempts: int | None = None
    grade_policy: str = GradePolicy.BEST.value  # which attempt an LMS gradebook shows
    time_limit_minutes: int | None = None
    published: bool = True
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    # Questions worth other points in this quiz than their own: (slug, points).
    points: tuple[tuple[str, Decimal], ...] = ()


@dataclass
class _Reader:
    source: str
    lines: list[str]
    meta: dict[str, tuple[str, int]] = field(default_factory=dict)
    body_start: int = 0

    def fail(self, line: int, message: str) -> QuestionFileError:
        return QuestionFileError(source=self.source, line=line, message=message)

    def read_front_matter(self, allowed: set[str]) -> None:
        if not self.lines or self.lines[0].strip() != "---":
            raise self.fail(1, "the file must start with a front matter block: a line '---', 'key: value' lines, '---'")
        for index in range(1, len(self.lines)):
            line = self.lines[index]
            number = index + 1
            if line.strip() == "---":
                self.body_start = index + 1
                return
            if not line.strip():
                continue
            key, sep, value = line.partition(":")
            key = key.strip()
            if not sep:
                raise self.fail(number, f"expected 'key: value', found {line!r}")
            if key not in allowed:
                raise self.fail(number, f"unknown key {key!r}; allowed: {', '.join(sorted(allowed))}")
            if key in self.meta:
                raise self.fail(number, f"{key!r} is given twice (first on line {self.meta[key][1]})")
            self.meta[key] = (value.strip(), number)
        raise self.fail(1, "the front matter block is never closed with '---'")

    def required(self, key: str) -> tuple[str, int]:
        if key not in self.meta or not self.meta[key][0]:
            raise self.fail(1, f"the front matter needs '{key}'")
        return self.meta[key]

    def optional_number(self, key: str) -> float | None:
        if key not in self.meta:
            return None
        raw, number = self.meta[key]
        try:
            value = float(raw)
        except ValueError:
            raise self.fail(number, f"{key} must be a number, not {raw!r}") from None
        if not math.isfinite(value):
            raise self.fail(number, f"{key} must be a finite number")
        return value

    def optional_int(self, key: str) -> int | None:
        if key not in self.meta or self.meta[key][0] == "":
            return None
        raw, number = self.meta[key]
        if not raw.isdigit() or int(raw) < 1:
            raise self.fail(number, f"{key} must be a whole number of at least 1, not {raw!r}")
        return int(raw)

    def optional_bool(self, key: str, default: bool) -> bool:
        if key not in self.meta:
            return default
        raw, number = self.meta[key]
        if raw.lower() not in ("true", "false"):
            raise self.fail(number, f"{key} must be true or false, not {raw!r}")
        return raw.lower() == "true"

    def optional_datetime(self, key: str) -> datetime | None:
        if key not in self.meta or self.meta[key][0] == "":
            return None
        raw, number = self.meta[key]
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            raise self.fail(number, f"{key} must be an ISO 8601 date and time, e.g. 2026-12-01T17:00:00Z") from None
        if moment.tzinfo is None:
            raise self.fail(number, f"{key} needs a time zone, e.g. 2026-12-01T17:00:00Z or +01:00")
        return moment

    def choice_of(self, key: str, options: list[str], default: str) -> str:
        if key not in self.meta:
            return default
        raw, number = self.meta[key]
        if raw not in options:
            raise self.fail(number, f"{key} must be one of {', '.join(options)}, not {raw!r}")
        return raw


def _strip_blank_edges(lines: list[str]) -> str:
    return "\n".join(lines).strip("\n")


def _headings(reader: _Reader) -> dict[str, int]:
    """Index of each '## Answer' / '## Readings' line, ignoring fenced code."""
    found: dict[str, int] = {}
    in_fence = False
    for index in range(reader.body_start, len(reader.lines)):
        line = reader.lines[index]
        if FENCE_RE.match(line):
            in_fence = not in_fence
        elif not in_fence and line.rstrip() in ("## Answer", "## Readings"):
            name = line.rstrip()[3:]
            if name in found:
                raise reader.fail(index + 1, f"a second '## {name}' heading (the first is on line {found[name] + 1})")
            found[name] = index
    return found


def _parse_choices(reader: _Reader, start: int, end: int) -> list[ChoiceSpec]:
    choices: list[ChoiceSpec] = []
    feedback: list[str] = []
    for index in range(start, end):
        line = reader.lines[index]
        choice = CHOICE_RE.match(line)
        note = FEEDBACK_RE.match(line)
        if choice:
            if choices and feedback:
                choices[-1] = ChoiceSpec(choices[-1].text, choices[-1].is_correct, "\n".join(feedback))
            feedback = []
            choices.append(ChoiceSpec(text=choice.group(2).strip(), is_correct=choice.group(1) in "xX"))
        elif note and choices:
            feedback.append(note.group(1))
        elif line.strip():
            raise reader.fail(
                index + 1, "after the first choice only choices ('- [x] ' or '- [ ] ') and feedback ('  > ') may follow"
            )
    if choices and feedback:
        choices[-1] = ChoiceSpec(choices[-1].text, choices[-1].is_correct, "\n".join(feedback))
    return choices


def _parse_readings(reader: _Reader, start: int) -> list[ReadingSpec]:
    readings = []
    for index in range(start, len(reader.lines)):
        line = reader.lines[index]
        if not line.strip():
            continue
        if not line.startswith("- "):
            raise reader.fail(index + 1, "each reading is a list item starting with '- '")
        text = line[2:].strip()
        link = LINK_RE.search(text)
        if link is None:
            raise reader.fail(index + 1, "a reading needs a link like [title](https://…)")
        title = link.group(1).strip().strip('"“”').strip()
        readings.append(ReadingSpec(title=title, url=link.group(2), text=text))
    return readings


def _parse_points(reader: _Reader, raw: str, number: int) -> Decimal:
    try:
        points = Decimal(raw)
    except InvalidOperation:
        raise reader.fail(number, f"points must be a number, not {raw!r}") from None
    if not points.is_finite() or points < 0 or points != points.quantize(Decimal("0.01")) or points >= 10_000:
        raise reader.fail(number, "points must be between 0 and 9999.99 with at most two decimals")
    return points


def _points(reader: _Reader) -> Decimal:
    if "points" not in reader.meta:
        return Decimal(1)
    raw, number = reader.meta["points"]
    return _parse_points(reader, raw, number)


def _quiz_points(reader: _Reader) -> tuple[tuple[str, Decimal], ...]:
    if "points" not in reader.meta or not reader.meta["points"][0]:
        return ()
    raw, number = reader.meta["points"]
    overrides = []
    for item in raw.split(","):
        slug, sep, value = item.strip().partition("=")
        if not sep or not SLUG_RE.match(slug.strip()):
            message = f"points lists question-slug=number pairs, e.g. 'points: my-question=2'; got {item.strip()!r}"
            raise reader.fail(number, message)
        overrides.append((slug.strip(), _parse_points(reader, value.strip(), number)))
    return tuple(overrides)


def parse_question(text: str, *, source: str) -> QuestionSpec:
    reader = _Reader(source=source, lines=text.replace("\r\n", "\n").split("\n"))
    reader.read_front_matter(QUESTION_KEYS)
    slug, slug_line = reader.required("slug")
    if not SLUG_RE.match(slug) or len(slug) > 100:
        raise reader.fail(slug_line, f"slug {slug!r} must be lowercase letters, digits and hyphens (at most 100)")
    type_value, type_line = reader.required("type")
    if type_value not in QuestionType.values:
        raise reader.fail(type_line, f"type must be one of {', '.join(QuestionType.values)}, not {type_value!r}")

    title_index = next((i for i in range(reader.body_start, len(reader.lines)) if reader.lines[i].strip()), None)
    if title_index is None or not reader.lines[title_index].startswith("# "):
        raise reader.fail((title_index or reader.body_start) + 1, "the body must start with '# Title'")
    title = reader.lines[title_index][2:].strip()
    headings = _headings(reader)
    if "Answer" not in headings:
        last_line = max(i for i, line in enumerate(reader.lines, start=1) if line.strip() or i == 1)
        raise reader.fail(last_line, "the '## Answer' section is missing")
    answer_at = headings["Answer"]
    readings_at = headings.get("Readings")
    if readings_at is not None and readings_at < answer_at:
        raise reader.fail(readings_at + 1, "'## Readings' must come after '## Answer'")

    stem_lines = reader.lines[title_index + 1 : answer_at]
    first_choice = next((i for i, line in enumerate(stem_lines) if CHOICE_RE.match(line)), None)
    if first_choice is None:
        prompt, choices = _strip_blank_edges(stem_lines), []
        choices_line = answer_at + 1
    else:
        prompt = _strip_blank_edges(stem_lines[:first_choice])
        choices_line = title_index + 2 + first_choice
        choices = _parse_choices(reader, title_index + 1 + first_choice, answer_at)
    if not prompt.strip():
        raise reader.fail(title_index + 2, "the question needs a stem between the title and the choices")
    explanation = _strip_blank_edges(reader.lines[answer_at + 1 : readings_at if readings_at else len(reader.lines)])
    readings = _parse_readings(reader, readings_at + 1) if readings_at is not None else []

    spec = QuestionSpec(
        slug=slug,
        title=title,
        type=type_value,
        prompt=prompt,
        explanation=explanation,
        points=_points(reader),
        scoring=reader.choice_of("scoring", MultipleScoring.values, MultipleScoring.ALL_OR_NOTHING.value),
        numeric_answer=reader.optional_number("answer"),
        abs_tolerance=reader.optional_number("abs_tolerance"),
        rel_tolerance=reader.optional_number("rel_tolerance"),
        tags=tuple(t.strip() for t in reader.meta.get("tags", ("", 0))[0].split(",") if t.strip()),
        choices=tuple(choices),
        readings=tuple(readings),
    )
    problems = choice_problems(
        type=spec.type, choices=[ChoiceDraft(text=c.text, is_correct=c.is_correct) for c in spec.choices]
    )
    if problems:
        raise reader.fail(choices_line if spec.type != QuestionType.NUMERIC else type_line, " ".join(problems))
    numeric = numeric_problems(
        type=spec.type,
        numeric_answer=spec.numeric_answer,
        abs_tolerance=spec.abs_tolerance,
        rel_tolerance=spec.rel_tolerance,
    )
    if numeric:
        raise reader.fail(type_line, " ".join(numeric.values()))
    for tag in spec.tags:
        if not SLUG_RE.match(tag) or len(tag) > 50:
            raise reader.fail(reader.meta["tags"][1], f"tag {tag!r} must be lowercase letters, digits and hyphens")
    return spec


def parse_quiz(text: str, *, source: str) -> QuizSpec:
    reader = _Reader(source=source, lines=text.replace("\r\n", "\n").split("\n"))
    reader.read_front_matter(QUIZ_KEYS)
    slug, slug_line = reader.required("slug")
    if not SLUG_RE.match(slug) or len(slug) > 100:
        raise reader.fail(slug_line, f"slug {slug!r} must be lowercase letters, digits and hyphens (at most 100)")
    title, _ = reader.required("title")
    reveal = reader.choice_of("reveal", RevealPolicy.values, RevealPolicy.AFTER_SUBMIT.value)
    opens_at = reader.optional_datetime("opens_at")
    closes_at = reader.optional_datetime("closes_at")
    if opens_at and closes_at and closes_at <= opens_at:
        raise reader.fail(reader.meta["closes_at"][1], "closes_at must be after opens_at")
    if reveal == RevealPolicy.AFTER_DUE and closes_at is None:
        raise reader.fail(reader.meta["reveal"][1], "reveal: after-due needs a due date: set closes_at")
    return QuizSpec(
        slug=slug,
        title=title,
        description=_strip_blank_edges(reader.lines[reader.body_start :]),
        shuffle_questions=reader.optional_bool("shuffle_questions", False),
        shuffle_choices=reader.optional_bool("shuffle_choices", False),
        reveal=reveal,
        max_attempts=reader.optional_int("max_attempts"),
        grade_policy=reader.choice_of("grade_policy", GradePolicy.values, GradePolicy.BEST.value),
        time_limit_minutes=reader.optional_int("time_limit_minutes"),
        published=reader.optional_bool("published", True),
        opens_at=opens_at,
        closes_at=closes_at,
        points=_quiz_points(reader),
    )


def _number(value: float) -> str:
    return repr(value)


def _decimal(value: Decimal) -> str:
    return f"{value.normalize():f}"


def render_question(spec: QuestionSpec) -> str:
    meta = [f"slug: {spec.slug}", f"type: {spec.type}", f"points: {_decimal(spec.points)}"]
    if spec.tags:
        meta.append(f"tags: {', '.join(spec.tags)}")
    if spec.type == QuestionType.MULTIPLE:
        meta.append(f"scoring: {spec.scoring}")
    for key, value in (
        ("answer", spec.numeric_answer),
        ("abs_tolerance", spec.abs_tolerance),
        ("rel_tolerance", spec.rel_tolerance),
    ):
        if value is not None:
            meta.append(f"{key}: {_number(value)}")
    parts = ["---\n" + "\n".join(meta) + f"\n---\n# {spec.title}", spec.prompt]
    if spec.choices:
        choice_lines = []
        for choice in spec.choices:
            choice_lines.append(f"- [{'x' if choice.is_correct else ' '}] {choice.text}")
            choice_lines += [f"  > {line}".rstrip() for line in choice.feedback.split("\n")] if choice.feedback else []
        parts.append("\n".join(choice_lines))
    parts.append("## Answer" + (f"\n\n{spec.explanation}" if spec.explanation else ""))
    if spec.readings:
        items = [f"- {r.text or f'[{r.title}]({r.url})'}" for r in spec.readings]
        parts.append("## Readings\n\n" + "\n".join(items))
    return "\n\n".join(parts) + "\n"


def render_quiz(spec: QuizSpec) -> str:
    meta = [
        f"slug: {spec.slug}",
        f"title: {spec.title}",
        f"shuffle_questions: {str(spec.shuffle_questions).lower()}",
        f"shuffle_choices: {str(spec.shuffle_choices).lower()}",
        f"reveal: {spec.reveal}",
        f"grade_policy: {spec.grade_policy}",
        f"published: {str(spec.published).lower()}",
    ]
    if spec.max_attempts is not None:
        meta.append(f"max_attempts: {spec.max_attempts}")
    if spec.time_limit_minutes is not None:
        meta.append(f"time_limit_minutes: {spec.time_limit_minutes}")
    for key, moment in (("opens_at", spec.opens_at), ("closes_at", spec.closes_at)):
        if moment is not None:
            meta.append(f"{key}: {moment.isoformat()}")
    if spec.points:
        meta.append("points: " + ", ".join(f"{slug}={_decimal(points)}" for slug, points in spec.points))
    body = f"{spec.description}\n" if spec.description else ""
    return "---\n" + "\n".join(meta) + "\n---\n" + body
