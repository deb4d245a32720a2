"""What truthful scores cost in the sandbox: one seeded exercise graded in this process
through the real sandbox, the metric run and the judge (no database, no broker).

    .venv/bin/python bench/truthful_grading.py [--runs 30] [--exercise binary-cross-entropy]

Prints the median and p95 of grading the reference solution as a submission two ways:
time checks on the key's inputs (as before fresh timed inputs), and on inputs drawn from a
seed secret to the submission, which the reference answers in a child of its own (what the
worker does). Also the key's validation (every variant, the reference's runs) and the
check-strength report. Every graded run must score full marks, or the script stops.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")


def _timed(repeat: int, work: Callable[[], object]) -> list[float]:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return seconds


def _line(label: str, seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{label:<48} median {statistics.median(seconds) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--exercise", default="binary-cross-entropy")
    args = parser.parse_args()

    import django

    django.setup()
    from grader.checks import expected_from_reference, judge, judge_every_variant, limits_for, run_checks
    from grader.strength import strength_report
    from questions.exercise_files import parse_exercise_folder
    from questions.exercises import grading_spec, grading_spec_checks
    from workers.sandbox import sandbox_run, sandbox_shutdown
    from workers.sandbox.protocol import SandboxJob, SandboxRun

    def runner(job: SandboxJob) -> SandboxRun:
        return sandbox_run(job=job)

    spec = parse_exercise_folder(REPO / "questions" / "bank" / "exercises" / args.exercise)
    checks = grading_spec_checks(spec=grading_spec(spec=spec))
    limits = limits_for(time_limit_seconds=spec.time_limit_seconds, memory_limit_mb=spec.memory_limit_mb)
    expected: dict[str, object] = {}

    def validate() -> None:
        runs = run_checks(
            runner=runner,
            code=spec.reference_solution,
            checks=checks,
            entry_points=spec.entry_points,
            limits=limits,
            reference=True,
        )
        expected.clear()
        expected.update(expected_from_reference(checks=checks, runs=runs))
        verdict = judge_every_variant(checks=checks, expected=expected, runs=runs, limits=limits)
        assert verdict.score == verdict.max_score, verdict

    def grade(*, fresh: bool) -> Callable[[], None]:
        def work() -> None:
            runs = run_checks(
                runner=runner,
                code=spec.reference_solution,
                checks=checks,
                entry_points=spec.entry_points,
                limits=limits,
                reference_code=spec.reference_solution if fresh else None,
            )
            verdict = judge(checks=checks, expected=expected, runs=runs, limits=limits)
            assert verdict.score == verdict.max_score, verdict

        return work

    def report() -> None:
        strength_report(
            runner=runner,
            checks=checks,
            expected=expected,
            entry_points=spec.entry_points,
            limits=limits,
            reference=spec.reference_solution,
            starter=spec.starter_code,
        )

    validate()  # warms the zygote
    print(f"{args.exercise}: {len(checks)} checks, {args.runs} runs each; {platform.machine()}, {os.cpu_count()} CPUs")
    print(_line("grade, time checks on the key's inputs", _timed(args.runs, grade(fresh=False))))
    print(_line("grade, fresh timed inputs + the reference's run", _timed(args.runs, grade(fresh=True))))
    print(_line("validate the key (every variant)", _timed(max(3, args.runs // 5), validate)))
    print(_line("check-strength report (starter + 8 candidates)", _timed(max(3, args.runs // 5), report)))
    sandbox_shutdown()


if __name__ == "__main__":
    main()
