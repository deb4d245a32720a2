"""The seeded exercises as a grading worker sees them, for tests that grade code against
them through the real sandbox: each answer key built once, as validation builds it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from grader.checks import Verdict, expected_from_reference, judge, judge_every_variant, limits_for, run_checks
from grader.data_files import data_set_prepare
from grader.grading import sandbox_runner
from questions.exercise_files import parse_exercise_folder
from questions.exercises import CheckSpec, ExerciseSpec, grading_spec, grading_spec_checks
from workers.sandbox import sandbox_run
from workers.sandbox.protocol import Limits, SandboxData, SandboxJob, SandboxRun

BANK = Path(__file__).resolve().parents[2] / "questions" / "bank" / "exercises"
SLUGS = sorted(folder.name for folder in BANK.iterdir() if (folder / "exercise.yaml").is_file())


def runner(job: SandboxJob) -> SandboxRun:
    """The numpy environment's sandbox."""
    return sandbox_run(job=job)


def runner_for(environment: str, data: SandboxData | None = None) -> Callable[[SandboxJob], SandboxRun]:
    return sandbox_runner(environment=environment, data=data)


@dataclass(frozen=True)
class Key:
    spec: ExerciseSpec
    checks: list[CheckSpec]
    expected: dict[str, Any]
    limits: Limits
    reference: Verdict  # the reference judged on every variant

    @property
    def runner(self) -> Callable[[SandboxJob], SandboxRun]:
        """The sandbox of the exercise's environment, with its data files."""
        return runner_for(self.spec.environment, data=data_set_prepare(files=self.spec.data))


@cache
def key(slug: str) -> Key:
    """The exercise's answer key as validation builds it, from the snapshotted spec."""
    spec = parse_exercise_folder(BANK / slug)
    checks = grading_spec_checks(spec=grading_spec(spec=spec))
    limits = limits_for(time_limit_seconds=spec.time_limit_seconds, memory_limit_mb=spec.memory_limit_mb)
    runs = run_checks(
        runner=runner_for(spec.environment, data=data_set_prepare(files=spec.data)),
        code=spec.reference_solution,
        checks=checks,
        entry_points=spec.entry_points,
        limits=limits,
        reference=True,
    )
    expected = expected_from_reference(checks=checks, runs=runs)
    reference = judge_every_variant(checks=checks, expected=expected, runs=runs, limits=limits)
    return Key(spec=spec, checks=checks, expected=expected, limits=limits, reference=reference)


def grade(slug: str, code: str, *, variant: int = 0) -> Verdict:
    """`code` graded as a submission is (fresh timed inputs answered by the reference)."""
    k = key(slug)
    runs = run_checks(
        runner=k.runner,
        code=code,
        checks=k.checks,
        entry_points=k.spec.entry_points,
        limits=k.limits,
        variant=variant,
        reference_code=k.spec.reference_solution,
    )
    return judge(checks=k.checks, expected=k.expected, runs=runs, limits=k.limits, variant=variant)


def passed(verdict: Verdict) -> set[str]:
    return {check.name for check in verdict.checks if check.passed}
