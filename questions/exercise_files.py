"""Exercise files: one folder per exercise (see docs/exercise-format.md).

    <slug>/exercise.yaml   slug, title, limits, functions and checks
    <slug>/prompt.md       the statement students read (Markdown)
    <slug>/starter.py      the code students start from
    <slug>/reference.py    the reference solution (never shown to students)

Parsing is strict and reports 'path:line: message'; rendering is canonical, so
export -> import -> export reproduces the files byte for byte.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from questions.exercises import (
    OPTIONAL_CHECK_KEYS,
    CheckSpec,
    DataFileSpec,
    ExerciseSpec,
    check_problems,
    checks_problems,
    data_file_problem,
    exercise_problems,
)
from questions.files import SLUG_RE, QuestionFileError, key_line, read_source_file
from questions.models import GradePolicy
from workers.environments import DEFAULT_ENVIRONMENT

EXERCISE_FILE = "exercise.yaml"
PROMPT_FILE = "prompt.md"
STARTER_FILE = "starter.py"
REFERENCE_FILE = "reference.py"

EXERCISE_KEYS = (
    "slug", "title", "published", "grade_policy", "time_limit_seconds", "memory_limit_mb", "environment",
    "functions", "hidden_data", "checks",
)  # fmt: skip
DATA_DIR = "data"
CHECK_KEYS = (
    "name", "kind", "points", "hidden", "description", "message", "seed", "setup", "call",
    "rtol", "atol", "lower", "upper", "seconds", "track", "of", "wrt", "step",
    "requires", "metric", "variants", "show_expected",
)  # fmt: skip


def is_exercise_folder(path: Path) -> bool:
    return (path / EXERCISE_FILE).is_file()


class _LineLoader(yaml.SafeLoader):
    """Remembers the line of every mapping, so problems point at the check they are in."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in lines:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} appears twice", key_node.start_mark
                )
            lines[key] = key_node.start_mark.line + 1
        mapping = super().construct_mapping(node, deep=deep)
        mapping["__line__"] = node.start_mark.line + 1
        mapping["__lines__"] = lines
        return mapping


def parse_exercise_folder(folder: Path) -> ExerciseSpec:
    path = folder / EXERCISE_FILE
    source = str(path)
    try:
        data = yaml.load(read_source_file(path), Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise QuestionFileError(source=source, line=line, message=f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise QuestionFileError(source=source, line=0, message=f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise QuestionFileError(source=source, line=1, message="expected keys such as 'slug:' and 'checks:'")
    _refuse_unknown(data, allowed=EXERCISE_KEYS, source=source)
    checks_data = data.get("checks")
    if not isinstance(checks_data, list) or not all(isinstance(item, dict) for item in checks_data):
        raise QuestionFileError(source=source, line=_line(data, "checks"), message="'checks' must be a list of checks")
    functions = data.get("functions")
    if not isinstance(functions, list) or not all(isinstance(item, str) for item in functions):
        raise QuestionFileError(
            source=source, line=_line(data, "functions"), message="'functions' must be a list of signatures"
        )
    spec = ExerciseSpec(
        slug=_text(data, "slug", source=source, required=True),
        title=_text(data, "title", source=source, required=True),
        prompt=read_source_file(folder / PROMPT_FILE),
        functions=tuple(functions),
        reference_solution=read_source_file(folder / REFERENCE_FILE),
        starter_code=read_source_file(folder / STARTER_FILE, required=False),
        time_limit_seconds=_integer(data, "time_limit_seconds", default=5, source=source),
        memory_limit_mb=_integer(data, "memory_limit_mb", default=512, source=source),
        environment=_text(data, "environment", source=source) or DEFAULT_ENVIRONMENT,
        published=_boolean(data, "published", default=False, source=source),
        grade_policy=_grade_policy(data, source=source),
        checks=tuple(_parse_check(item, source=source) for item in checks_data),
        data=_data_files(folder, hidden=_hidden_data(data, source=source), source=source),
    )
    if not SLUG_RE.match(spec.slug) or len(spec.slug) > 100:
        message = f"slug {spec.slug!r} must be lowercase letters, digits and hyphens (at most 100)"
        raise QuestionFileError(source=source, line=key_line(path, "slug"), message=message)
    if problems := exercise_problems(spec=spec):
        field, message = next(iter(problems.items()))
        file = {"reference_solution": REFERENCE_FILE, "starter_code": STARTER_FILE}.get(field)
        where = str(folder / file) if file else source
        raise QuestionFileError(source=where, line=key_line(path, field) if not file else 0, message=message)
    if problems_list := checks_problems(checks=spec.checks, entry_points=spec.entry_points):
        raise QuestionFileError(source=source, line=key_line(path, "checks"), message=problems_list[0])
    return spec


def _parse_check(data: dict[str, Any], *, source: str) -> CheckSpec:
    line = data["__line__"]
    _refuse_unknown(data, allowed=CHECK_KEYS, source=source)
    track = _names(data, "track", what="input names", source=source)
    requires = _names(data, "requires", what="check names", source=source)
    check = CheckSpec(
        name=_text(data, "name", source=source, required=True),
        kind=_text(data, "kind", source=source, required=True),
        call=_text(data, "call", source=source, required=True).strip(),
        points=_decimal(data, "points", default=Decimal(1), source=source),
        hidden=_boolean(data, "hidden", default=False, source=source),
        description=_text(data, "description", source=source).strip(),
        message=_text(data, "message", source=source).strip(),
        seed=_integer(data, "seed", default=0, source=source),
        setup=_setup_text(_text(data, "setup", source=source)),
        rtol=_float(data, "rtol", source=source),
        atol=_float(data, "atol", source=source),
        lower=_float(data, "lower", source=source),
        upper=_float(data, "upper", source=source),
        seconds=_float(data, "seconds", source=source),
        track=track,
        of=_text(data, "of", source=source).strip(),
        wrt=_text(data, "wrt", source=source).strip(),
        step=_float(data, "step", source=source),
        requires=requires,
        metric=_text(data, "metric", source=source).strip(),
        variants=_integer(data, "variants", default=1, source=source),
        show_expected=_boolean(data, "show_expected", default=False, source=source),
    )
    present = frozenset(key for key in data if key in OPTIONAL_CHECK_KEYS)
    if problems := check_problems(check=check, present=present):
        message = next(iter(problems.values()))
        raise QuestionFileError(source=source, line=line, message=f"check {check.name!r}: {message}")
    return check


def _names(data: dict[str, Any], key: str, *, what: str, source: str) -> tuple[str, ...]:
    names = data.get(key, [])
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise QuestionFileError(source=source, line=_line(data, key), message=f"{key!r} must be a list of {what}")
    return tuple(names)


def _line(data: dict[str, Any], key: str) -> int:
    """The line of `key` in this mapping, or of the mapping itself when the key is absent."""
    return int(data["__lines__"].get(key, data["__line__"]))


def _setup_text(text: str) -> str:
    """A setup block ends with a newline, however the YAML wrote it, so that files and the
    database agree and an unchanged file stays unchanged."""
    return text if not text or text.endswith("\n") else text + "\n"


def _refuse_unknown(data: dict[str, Any], *, allowed: tuple[str, ...], source: str) -> None:
    unknown = [key for key in data if key not in ("__line__", "__lines__") and key not in allowed]
    if unknown:
        raise QuestionFileError(
            source=source,
            line=_line(data, unknown[0]),
            message=f"unknown key {unknown[0]!r}; expected one of {', '.join(allowed)}",
        )


def _hidden_data(data: dict[str, Any], *, source: str) -> set[str]:
    names = data.get("hidden_data", [])
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise QuestionFileError(
            source=source,
            line=_line(data, "hidden_data"),
            message="'hidden_data' must be a list of file names in data/",
        )
    return set(names)


def _data_files(folder: Path, *, hidden: set[str], source: str) -> tuple[DataFileSpec, ...]:
    """The files in the folder's data/ (none: no data), each checked as the admin checks
    an upload; `hidden` names those only check set-ups may read."""
    directory = folder / DATA_DIR
    paths = sorted(directory.iterdir()) if directory.is_dir() else []
    files = []
    for path in paths:
        if not path.is_file() or path.is_symlink():
            raise QuestionFileError(source=str(path), line=0, message="data/ holds plain files only")
        problem = data_file_problem(
            name=path.name, size=path.stat().st_size, max_bytes=settings.EXERCISE_DATA_MAX_BYTES
        )
        if problem:
            raise QuestionFileError(source=str(path), line=0, message=problem)
        files.append(DataFileSpec.of(name=path.name, content=path.read_bytes(), hidden=path.name in hidden))
    if unknown := hidden - {file.name for file in files}:
        raise QuestionFileError(
            source=source,
            line=0,
            message=f"hidden_data names files that are not in data/: {', '.join(sorted(unknown))}",
        )
    return tuple(files)


def _text(data: dict[str, Any], key: str, *, source: str, required: bool = False) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        message = f"{key!r} must be a non-empty string" if required else f"{key!r} must be a string"
        raise QuestionFileError(source=source, line=_line(data, key), message=message)
    return value


def _integer(data: dict[str, Any], key: str, *, default: int, source: str) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise QuestionFileError(source=source, line=_line(data, key), message=f"{key!r} must be a whole number")
    return int(value)


def _grade_policy(data: dict[str, Any], *, source: str) -> str:
    value = data.get("grade_policy", GradePolicy.BEST.value)
    if value not in GradePolicy.values:
        message = f"'grade_policy' must be one of {', '.join(GradePolicy.values)}"
        raise QuestionFileError(source=source, line=_line(data, "grade_policy"), message=message)
    return str(value)


def _boolean(data: dict[str, Any], key: str, *, default: bool, source: str) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise QuestionFileError(source=source, line=_line(data, key), message=f"{key!r} must be true or false")
    return value


def _float(data: dict[str, Any], key: str, *, source: str) -> float | None:
    if key not in data:
        return None
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise QuestionFileError(
            source=source, line=_line(data, key), message=f"{key!r} must be a number (write 1.0e-6, not 1e-6)"
        )
    return float(value)


def _decimal(data: dict[str, Any], key: str, *, default: Decimal, source: str) -> Decimal:
    value = data.get(key, default)
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise InvalidOperation
        number = Decimal(str(value))
    except InvalidOperation:
        raise QuestionFileError(source=source, line=_line(data, key), message=f"{key!r} must be a number") from None
    if not number.is_finite() or number < 0 or number >= 10_000 or number != number.quantize(Decimal("0.01")):
        message = f"{key!r} must be from 0 to 9999.99, with at most two decimals"
        raise QuestionFileError(source=source, line=_line(data, key), message=message)
    return number


# --- Rendering -------------------------------------------------------------------------


class _ExerciseDumper(yaml.SafeDumper):
    """Block lists indented under their key, text never wrapped, multi-line text as `|`
    blocks, short lists of names inline and floats as 1.0e-6 (which YAML 1.1 reads back
    as a float, unlike 1e-6)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_float(dumper: yaml.SafeDumper, value: float) -> yaml.ScalarNode:
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa if '.' in mantissa else mantissa + '.0'}e{int(exponent):+d}"
    return dumper.represent_scalar("tag:yaml.org,2002:float", text)


class _Names(list[str]):
    """A list written inline: `track: [y_true, y_pred]`."""


def _represent_names(dumper: yaml.SafeDumper, value: _Names) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_ExerciseDumper.add_representer(str, _represent_text)
_ExerciseDumper.add_representer(float, _represent_float)
_ExerciseDumper.add_representer(_Names, _represent_names)


def _points(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def render_check(check: CheckSpec) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": check.name,
        "kind": check.kind,
        "points": _points(check.points),
        "hidden": check.hidden,
    }
    for key in ("description", "message"):
        if value := getattr(check, key):
            data[key] = value
    if check.seed:
        data["seed"] = check.seed
    if check.setup:
        data["setup"] = check.setup if check.setup.endswith("\n") else check.setup + "\n"
    data["call"] = check.call
    if check.metric:
        data["metric"] = check.metric
    if check.requires:
        data["requires"] = _Names(check.requires)
    if check.variants != 1:
        data["variants"] = check.variants
    if check.show_expected:
        data["show_expected"] = True
    for key in ("of", "wrt"):
        if value := getattr(check, key):
            data[key] = value
    for key in ("step", "rtol", "atol", "lower", "upper", "seconds"):
        if (value := getattr(check, key)) is not None:
            data[key] = value
    if check.track:
        data["track"] = _Names(check.track)
    return data


def render_exercise_yaml(spec: ExerciseSpec) -> str:
    data = {
        "slug": spec.slug,
        "title": spec.title,
        "published": spec.published,
        "grade_policy": spec.grade_policy,
        "time_limit_seconds": spec.time_limit_seconds,
        "memory_limit_mb": spec.memory_limit_mb,
        **({"environment": spec.environment} if spec.environment != DEFAULT_ENVIRONMENT else {}),
        "functions": list(spec.functions),
        **({"hidden_data": _Names(hidden)} if (hidden := [d.name for d in spec.data if d.hidden]) else {}),
        "checks": [render_check(check) for check in spec.checks],
    }
    return yaml.dump(data, Dumper=_ExerciseDumper, sort_keys=False, allow_unicode=True, width=10_000)


def write_exercise_folder(*, spec: ExerciseSpec, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        EXERCISE_FILE: render_exercise_yaml(spec),
        PROMPT_FILE: spec.prompt,
        STARTER_FILE: spec.starter_code,
        REFERENCE_FILE: spec.reference_solution,
    }
    written = []
    for name, text in files.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    for data in spec.data:
        if data.content is None:
            raise ValueError(f"the bytes of data file {data.name} were not loaded")
        (folder / DATA_DIR).mkdir(exist_ok=True)
        path = folder / DATA_DIR / data.name
        path.write_bytes(data.content)
        written.append(path)
    return written
