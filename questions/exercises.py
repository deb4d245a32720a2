"""Code exercises as plain data: the spec that files, the admin and the grader share.

`ExerciseSpec` is what an exercise file says and what an ExerciseKey snapshots. The
rules here (Python that compiles, the keys each check kind needs) are checked once and
used by the admin form, the file importer and the key builder alike.
"""

from __future__ import annotations

import ast
import hashlib
import json
import keyword
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings

from questions.models import CheckKind, Exercise, ExerciseCheck, GradePolicy
from workers.environments import DEFAULT_ENVIRONMENT, ENVIRONMENTS

SIGNATURE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(.*\)\s*(->\s*.+)?$")
CHECK_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

# Keys a check of each kind may carry beyond the common ones; anything else is a mistake.
KIND_KEYS: dict[str, frozenset[str]] = {
    CheckKind.CLOSE: frozenset({"rtol", "atol"}),
    CheckKind.FINITE: frozenset(),
    CheckKind.SCALAR: frozenset(),
    CheckKind.SHAPE: frozenset(),
    CheckKind.UNCHANGED: frozenset({"track"}),
    CheckKind.GRADIENT: frozenset({"of", "wrt", "step", "rtol", "atol"}),
    CheckKind.RANGE: frozenset({"lower", "upper"}),
    # A time check's value must also match the reference's (a fast wrong answer is no answer).
    CheckKind.TIME: frozenset({"seconds", "rtol", "atol"}),
}
# The kind-specific keys (see KIND_KEYS); a check carries only its kind's.
OPTIONAL_CHECK_KEYS = frozenset({"rtol", "atol", "lower", "upper", "seconds", "track", "of", "wrt", "step"})
DEFAULT_RTOL = {CheckKind.CLOSE: 1e-7, CheckKind.GRADIENT: 1e-4, CheckKind.TIME: 1e-6}
DEFAULT_ATOL = {CheckKind.CLOSE: 1e-9, CheckKind.GRADIENT: 1e-6, CheckKind.TIME: 1e-9}
DEFAULT_STEP = 1e-5
MAX_VARIANTS = 10
# Variant k of a check seeds its `rng` with seed + VARIANT_SEED_STRIDE * k.
VARIANT_SEED_STRIDE = 1000
# What an answer key stores, by version; part of every fingerprint, so keys validated
# under an older format are validated again. 2: gradient checks store the reference's
# finite differences (format 1 keys had none, and failed every correct gradient).
# 3: values per seeded variant, tracked inputs as values, finite and time checks' values.
KEY_FORMAT = 3


@dataclass(frozen=True, kw_only=True)
class CheckSpec:
    name: str
    kind: str
    call: str
    points: Decimal = Decimal(1)
    hidden: bool = False
    description: str = ""
    message: str = ""
    seed: int = 0
    setup: str = ""
    rtol: float | None = None
    atol: float | None = None
    lower: float | None = None
    upper: float | None = None
    seconds: float | None = None
    track: tuple[str, ...] = ()
    of: str = ""
    wrt: str = ""
    step: float | None = None
    # Checks that must pass before this one scores (a property pays only for real work).
    requires: tuple[str, ...] = ()
    # An expression of `result` and the inputs, evaluated in a run without the student's
    # code: what the check judges instead of the call's own value.
    metric: str = ""
    variants: int = 1
    show_expected: bool = False

    def call_id(self, variant: int) -> str:
        """The sandbox call (and answer-key entry) of this check's variant `variant`."""
        k = variant % self.variants
        return self.name if k == 0 else f"{self.name}@{k}"

    def variant_seed(self, variant: int) -> int:
        return self.seed + VARIANT_SEED_STRIDE * (variant % self.variants)

    @property
    def effective_rtol(self) -> float:
        return self.rtol if self.rtol is not None else DEFAULT_RTOL.get(CheckKind(self.kind), 0.0)

    @property
    def effective_atol(self) -> float:
        return self.atol if self.atol is not None else DEFAULT_ATOL.get(CheckKind(self.kind), 0.0)

    @property
    def effective_step(self) -> float:
        return self.step if self.step is not None else DEFAULT_STEP


DATA_EXTENSIONS = (".npz", ".npy", ".csv", ".parquet")
DATA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True, kw_only=True)
class DataFileSpec:
    """A data file as graded: named by its content's sha256 (the bytes travel apart)."""

    name: str
    sha256: str
    size: int
    hidden: bool = False
    # The bytes, when they come from a file or an upload; not compared (the sha256 is).
    content: bytes | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, *, name: str, content: bytes, hidden: bool = False) -> DataFileSpec:
        return cls(
            name=name, sha256=hashlib.sha256(content).hexdigest(), size=len(content), hidden=hidden, content=content
        )


def data_file_problem(*, name: str, size: int, max_bytes: int) -> str | None:
    if not DATA_NAME.match(name) or ".." in name:
        return f"{name!r} is not a plain file name (letters, digits, '.', '_', '-')."
    if not name.lower().endswith(DATA_EXTENSIONS):
        return f"{name!r} is not one of the data formats: {', '.join(DATA_EXTENSIONS)}."
    if size > max_bytes:
        return f"{name} is {size} bytes; a data file may have at most {max_bytes} (EXERCISE_DATA_MAX_BYTES)."
    return None


@dataclass(frozen=True, kw_only=True)
class ExerciseSpec:
    slug: str
    title: str
    prompt: str
    functions: tuple[str, ...]
    reference_solution: str
    starter_code: str = ""
    time_limit_seconds: int = 5
    memory_limit_mb: int = 512
    environment: str = DEFAULT_ENVIRONMENT
    published: bool = False
    grade_policy: str = GradePolicy.BEST.value  # which submission an LMS gradebook shows; not graded on
    checks: tuple[CheckSpec, ...] = field(default_factory=tuple)
    data: tuple[DataFileSpec, ...] = field(default_factory=tuple)

    @property
    def entry_points(self) -> tuple[str, ...]:
        return tuple(name for signature in self.functions if (name := signature_name(signature)))

    @property
    def max_score(self) -> Decimal:
        return sum((check.points for check in self.checks), Decimal(0))


def signature_name(signature: str) -> str | None:
    match = SIGNATURE.match(signature)
    return match.group(1) if match else None


def _compile_problem(source: str, *, mode: str, what: str) -> str | None:
    try:
        compile(source, what, mode)
    except SyntaxError as exc:
        return f"{what} is not valid Python ({exc.msg}, line {exc.lineno})."
    except ValueError as exc:  # NUL bytes
        return f"{what} is not valid Python ({exc})."
    return None


def _is_identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def check_problems(*, check: CheckSpec, present: frozenset[str]) -> dict[str, str]:
    """{field: problem} for one check; `present` names the optional keys it carries."""
    problems: dict[str, str] = {}
    if not CHECK_NAME.match(check.name):
        problems["name"] = "A check name uses lowercase letters, digits and hyphens, e.g. 'random-cases'."
    if check.kind not in CheckKind.values:
        problems["kind"] = f"Unknown check kind {check.kind!r}; one of {', '.join(CheckKind.values)}."
        return problems
    kind = CheckKind(check.kind)
    extra = present - KIND_KEYS[kind]
    for key in sorted(extra):
        problems[key] = f"A {kind} check has no {key!r}; remove it."
    if not check.call.strip():
        problems["call"] = "A check needs a call: a Python expression using the student's functions."
    elif problem := _compile_problem(check.call.strip(), mode="eval", what="call"):
        problems["call"] = problem
    if check.setup and (problem := _compile_problem(check.setup, mode="exec", what="setup")):
        problems["setup"] = problem
    if check.metric and (problem := _compile_problem(check.metric.strip(), mode="eval", what="metric")):
        problems["metric"] = problem
    if check.metric and kind in (CheckKind.UNCHANGED, CheckKind.GRADIENT):
        problems["metric"] = f"{kind.capitalize()} checks judge the call itself; they take no metric."
    if not 1 <= check.variants <= MAX_VARIANTS:
        problems["variants"] = f"Variants are between 1 and {MAX_VARIANTS}."
    if not all(CHECK_NAME.match(name) for name in check.requires):
        problems["requires"] = "Required checks are named by their check names, e.g. 'random-cases'."
    elif check.name in check.requires:
        problems["requires"] = "A check cannot require itself."
    if check.points < 0:
        problems["points"] = "Points must be zero or more."
    for key in ("rtol", "atol", "seconds", "step"):
        value = getattr(check, key)
        if value is not None and not (math.isfinite(value) and value >= 0):
            problems[key] = f"{key} must be a finite number of zero or more."
    for key in ("lower", "upper"):
        value = getattr(check, key)
        if value is not None and not math.isfinite(value):
            problems[key] = f"{key} must be a finite number."
    problems.update(_kind_problems(check=check, kind=kind))
    return problems


def _kind_problems(*, check: CheckSpec, kind: CheckKind) -> dict[str, str]:
    if kind == CheckKind.RANGE:
        if check.lower is None and check.upper is None:
            return {"lower": "A range check needs a lower bound, an upper bound, or both."}
        if check.lower is not None and check.upper is not None and check.lower > check.upper:
            return {"upper": "The upper bound is below the lower bound."}
    if kind == CheckKind.TIME and not check.seconds:
        return {"seconds": "A time check needs the seconds the call may take (more than 0)."}
    if kind == CheckKind.UNCHANGED:
        if not check.track:
            return {"track": "An unchanged check needs the input names to track, e.g. 'y_true, y_pred'."}
        if not all(_is_identifier(name) for name in check.track):
            return {"track": "Tracked names must be Python identifiers bound by the setup."}
    if kind == CheckKind.GRADIENT:
        if not check.of.strip():
            return {"of": "A gradient check needs `of`: the function's value as an expression of `wrt`."}
        if problem := _compile_problem(check.of.strip(), mode="eval", what="of"):
            return {"of": problem}
        if not _is_identifier(check.wrt):
            return {"wrt": "A gradient check needs `wrt`: the name of the input to perturb."}
        if check.step is not None and check.step <= 0:
            return {"step": "The finite-difference step must be more than 0."}
    return {}


def exercise_problems(*, spec: ExerciseSpec) -> dict[str, str]:
    """{field: problem} for the exercise's own fields (not its checks)."""
    problems: dict[str, str] = {}
    if not spec.functions:
        problems["functions"] = "An exercise asks for at least one function, e.g. 'mse(y_true, y_pred) -> float'."
    for signature in spec.functions:
        if signature_name(signature) is None:
            problems["functions"] = f"{signature!r} is not a signature like 'name(arg, other=1.0) -> float'."
            break
    if len(set(spec.entry_points)) != len(spec.entry_points):
        problems["functions"] = "Each function is listed once."
    if problem := _compile_problem(spec.reference_solution, mode="exec", what="reference solution"):
        problems["reference_solution"] = problem
    if spec.starter_code and (problem := _compile_problem(spec.starter_code, mode="exec", what="starter code")):
        problems["starter_code"] = problem
    if not 1 <= spec.time_limit_seconds <= 60:
        problems["time_limit_seconds"] = "The time limit is between 1 and 60 seconds."
    if not 256 <= spec.memory_limit_mb <= 4096:
        problems["memory_limit_mb"] = "The memory limit is between 256 and 4096 MB."
    names = [data.name for data in spec.data]
    if len(set(names)) != len(names):
        problems["data"] = "Each data file has its own name."
    for data in spec.data:
        if problem := data_file_problem(name=data.name, size=data.size, max_bytes=settings.EXERCISE_DATA_MAX_BYTES):
            problems["data"] = problem
            break
    if spec.environment not in ENVIRONMENTS:
        known = ", ".join(ENVIRONMENTS)
        problems["environment"] = f"There is no environment {spec.environment!r}; the environments are {known}."
    return problems


def checks_problems(*, checks: Sequence[CheckSpec], entry_points: Sequence[str] | None = None) -> list[str]:
    """Problems that span checks (and, given the exercise's functions, each call's form)."""
    problems = []
    names = [check.name for check in checks]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(f"Check names must be unique; repeated: {', '.join(duplicates)}.")
    known = set(names)
    for check in checks:
        if unknown := [name for name in check.requires if name not in known]:
            problems.append(f"Check {check.name!r} requires {', '.join(unknown)}, which no check is called.")
    if cycle := requires_cycle(checks=checks):
        problems.append(f"Checks cannot require each other in a circle: {' -> '.join(cycle)}.")
    if entry_points is not None:
        for check in checks:
            if check.call.strip() and (problem := call_problem(call=check.call, entry_points=entry_points)):
                problems.append(f"Check {check.name!r}: {problem}")
    if not checks:
        problems.append("An exercise needs at least one check.")
    elif sum((check.points for check in checks), Decimal(0)) <= 0:
        problems.append("The checks must be worth some points in all.")
    return problems


def requires_cycle(*, checks: Sequence[CheckSpec]) -> list[str]:
    """A circle of `requires` as names (first repeated last), or [] when there is none."""
    needs = {check.name: [name for name in check.requires if name != check.name] for check in checks}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str]:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done or name not in needs:
            return []
        for required in needs[name]:
            if cycle := visit(required, [*path, name]):
                return cycle
        done.add(name)
        return []

    for name in needs:
        if cycle := visit(name, []):
            return cycle
    return []


def call_problem(*, call: str, entry_points: Sequence[str]) -> str | None:
    """A call must return what one of the student's functions returned: anything computed
    from that result inside the sandbox (float(...), np.mean(...), a difference) could be
    altered by the student's code, so it belongs in a metric, computed outside."""
    try:
        tree = ast.parse(call.strip(), mode="eval")
    except SyntaxError:
        return None  # reported by check_problems
    node = tree.body
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in entry_points:
        return None
    functions = ", ".join(entry_points) or "the exercise's functions"
    return (
        f"the call must be a call of one of the student's functions ({functions}), e.g. 'fit(X, y)'; "
        "compute anything from its result in `metric` (with `result`), which runs outside the student's code."
    )


def check_to_spec(*, check: ExerciseCheck) -> CheckSpec:
    return CheckSpec(
        name=check.name,
        kind=check.kind,
        call=check.call,
        points=check.points,
        hidden=check.is_hidden,
        description=check.description,
        message=check.failure_message,
        seed=check.seed,
        setup=check.setup,
        rtol=check.rtol,
        atol=check.atol,
        lower=check.lower,
        upper=check.upper,
        seconds=check.seconds,
        track=track_names(check.track),
        of=check.of,
        wrt=check.wrt,
        step=check.step,
        requires=track_names(check.requires),
        metric=check.metric,
        variants=check.variants,
        show_expected=check.show_expected,
    )


def track_names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def exercise_to_spec(*, exercise: Exercise) -> ExerciseSpec:
    return ExerciseSpec(
        slug=exercise.slug,
        title=exercise.title,
        prompt=exercise.prompt,
        functions=tuple(line.strip() for line in exercise.functions.splitlines() if line.strip()),
        reference_solution=exercise.reference_solution,
        starter_code=exercise.starter_code,
        time_limit_seconds=exercise.time_limit_seconds,
        memory_limit_mb=exercise.memory_limit_mb,
        environment=exercise.environment,
        data=tuple(
            DataFileSpec(name=file.name, sha256=file.blob_id, size=file.blob.size, hidden=file.is_hidden)
            for file in exercise.data_files.select_related("blob").defer("blob__content").order_by("name")
        ),
        published=exercise.is_published,
        grade_policy=exercise.grade_policy,
        checks=tuple(check_to_spec(check=check) for check in exercise.checks.order_by("position", "id")),
    )


def grading_spec(*, spec: ExerciseSpec) -> dict[str, Any]:
    """What grading depends on, as JSON: snapshotted into a key and fingerprinted.

    Title, prompt, starter code and publication are left out: editing them does not
    require validating the exercise again.
    """
    return {
        "key_format": KEY_FORMAT,
        "functions": list(spec.functions),
        "entry_points": list(spec.entry_points),
        "time_limit_seconds": spec.time_limit_seconds,
        "memory_limit_mb": spec.memory_limit_mb,
        # Named only when not the default, so that the keys of exercises written before
        # environments existed keep their fingerprints (and stay valid).
        **({"environment": spec.environment} if spec.environment != DEFAULT_ENVIRONMENT else {}),
        # Likewise named only when there are data files: by content, so that editing a
        # file makes a new key (and the old key still finds the bytes it was made with).
        **(
            {"data": [{"name": d.name, "sha256": d.sha256, "size": d.size, "hidden": d.hidden} for d in spec.data]}
            if spec.data
            else {}
        ),
        "reference_solution": spec.reference_solution,
        "checks": [
            {**asdict(check), "points": str(check.points), "track": list(check.track), "requires": list(check.requires)}
            for check in spec.checks
        ],
    }


def grading_spec_data(*, spec: dict[str, Any]) -> list[DataFileSpec]:
    """The data files a snapshotted grading spec reads (names and contents' sha256)."""
    return [DataFileSpec(**entry) for entry in spec.get("data", [])]


def grading_spec_environment(*, spec: dict[str, Any]) -> str:
    """The environment a snapshotted grading spec runs in."""
    return str(spec.get("environment", DEFAULT_ENVIRONMENT))


def grading_spec_checks(*, spec: dict[str, Any]) -> list[CheckSpec]:
    """The checks of a snapshotted grading spec, as CheckSpecs again."""
    return [
        CheckSpec(
            **{
                **check,
                "points": Decimal(check["points"]),
                "track": tuple(check["track"]),
                "requires": tuple(check.get("requires", ())),
            }
        )
        for check in spec["checks"]
    ]


def grading_spec_max_score(*, spec: dict[str, Any]) -> Decimal:
    """Every check's points: what a submission graded with this spec is out of."""
    return sum((Decimal(check["points"]) for check in spec["checks"]), Decimal(0))


def fingerprint(*, spec: dict[str, Any]) -> str:
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
