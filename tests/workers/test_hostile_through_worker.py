"""The hostile submissions of tests/sandbox/hostile_cases.py, replayed through the whole
pipeline: the API, the broker, one real Celery worker process with its sandbox, and the
database. Each step becomes an exercise whose checks are the step's calls; the student's
code goes in through the API like any submission.

Per step: a verdict ("graded", never a grader "error") within the time limit plus the
pipeline's own latency, the probes that must find nothing (value 0.0) pass, and no
secret of the worker (its SECRET_KEY, a variable in its environment) or of an earlier
submission appears anywhere in what is stored. After every case the same worker grades
a normal submission with full marks."""

from __future__ import annotations

import math
import time

import pytest

from grader.models import Submission, SubmissionStatus
from grader.submission_apis import SubmissionThrottle
from questions.exercises import CheckSpec, ExerciseSpec
from tests.exercises import SQUARE, SQUARE_REFERENCE, make_exercise
from tests.sandbox.hostile_cases import CASES, CODE_SECRET, HOST_SECRET_NAME, HOST_SECRET_VALUE, HostileCase, Step
from tests.workers.conftest import CANARY_SECRET, wait_for

pytestmark = pytest.mark.worker

MIB = 1024 * 1024
# Queueing, claiming, starting a zygote after a recycle and storing, on a busy CI machine.
PIPELINE_SLACK_SECONDS = 8.0


def _check_name(call_id: str) -> str:
    return call_id.lower().replace("_", "-")


def _exercise_for(case: HostileCase, number: int, step: Step) -> str:
    checks = []
    for call in step.calls:
        value = step.expect.values.get(call.id)
        common = {"name": _check_name(call.id), "call": call.expr, "setup": call.setup, "seed": call.seed}
        if value is not None and math.isfinite(value):
            checks.append(CheckSpec(kind="range", lower=value, upper=value, **common))
        else:
            checks.append(CheckSpec(kind="time", seconds=step.limits.wall_seconds, **common))
    slug = f"hostile-{case.id}-{number}".replace("_", "-")
    make_exercise(
        ExerciseSpec(
            slug=slug,
            title=f"Hostile: {case.id} #{number}",
            prompt=case.why,
            functions=tuple(f"{name}()" for name in step.entry_points) or ("anything()",),
            reference_solution="pass\n",
            time_limit_seconds=max(1, math.ceil(step.limits.wall_seconds)),
            memory_limit_mb=max(256, step.limits.memory_bytes // MIB),
            published=True,
            checks=tuple(checks),
        )
    )
    return slug


def _submit(api, slug: str, code: str) -> int:
    response = api.post(f"/api/v1/exercises/{slug}/submissions/", {"code": code}, format="json")
    assert response.status_code == 202, response.content
    return int(response.json()["id"])


def _stored_text(submission_id: int) -> str:
    submission = Submission.objects.select_related("result").get(pk=submission_id)
    result = submission.result
    return "\n".join([result.summary, result.output, *(check["message"] for check in result.checks)])


def test_hostile_submissions_get_clean_verdicts_through_a_real_worker(start_worker, student_api, monkeypatch):
    monkeypatch.setattr(SubmissionThrottle, "THROTTLE_RATES", {"submissions": "100000/min"})
    make_exercise(SQUARE, validate=True)
    worker = start_worker(env={HOST_SECRET_NAME: HOST_SECRET_VALUE})
    failures: list[str] = []
    for case in CASES:
        for number, step in enumerate(case.steps, start=1):
            slug = _exercise_for(case, number, step)
            started = time.monotonic()
            submission_id = _submit(student_api, slug, step.code)
            limit = step.limits.wall_seconds + step.expect.slack_seconds + PIPELINE_SLACK_SECONDS
            done = wait_for(
                lambda sid=submission_id: Submission.objects.filter(
                    pk=sid, status__in=[SubmissionStatus.GRADED, SubmissionStatus.ERROR]
                ).exists(),
                timeout=limit,
            )
            seconds = time.monotonic() - started
            submission = Submission.objects.get(pk=submission_id)
            where = f"{case.id} step {number}"
            if not done or submission.status != SubmissionStatus.GRADED:
                failures.append(f"{where}: status {submission.status} after {seconds:.1f} s")
                continue
            text = _stored_text(submission_id)
            for secret in (CANARY_SECRET, HOST_SECRET_VALUE) + ((CODE_SECRET,) if number > 1 else ()):
                if secret in text:
                    failures.append(f"{where}: the verdict shows a secret ({secret[:12]}…)")
            must_find_nothing = {_check_name(c) for c, value in step.expect.values.items() if value == 0.0}
            for check in submission.result.checks:
                if check["name"] in must_find_nothing and not check["passed"]:
                    failures.append(f"{where}: probe {check['name']} found something: {check['message']}")
        normal = _submit(student_api, "square", SQUARE_REFERENCE)
        assert wait_for(lambda sid=normal: Submission.objects.filter(pk=sid, status="graded").exists(), timeout=30), (
            f"after {case.id} the worker graded nothing:\n{worker.output()[-3000:]}"
        )
        result = Submission.objects.get(pk=normal).result
        if result.score != result.max_score:
            failures.append(f"after {case.id}: a correct submission scored {result.score}: {result.summary}")
    assert worker.process.poll() is None, "the worker died"
    assert not failures, "\n".join(failures)
    assert len(SQUARE.checks) == 4
