"""Code grading through real processes: the API, the broker (Redis in CI, the filesystem
transport on the embedded defaults), Celery workers with their sandboxes, and the
database. Nothing accepted is lost and each submission ends with exactly one verdict,
whatever happens to workers and the broker."""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.request
from decimal import Decimal

import pytest
from django.db.models import Count
from rest_framework.authtoken.models import Token

from grader.models import GradingJob, GradingResult, JobState, Submission, SubmissionStatus
from tests.exercises import SQUARE_REFERENCE, make_exercise
from tests.factories import UserFactory
from tests.workers.conftest import ServiceProcess, process_env, wait_for

pytestmark = pytest.mark.worker

SLOW_RIGHT_ANSWER = "import time\ntime.sleep(1.2)\n\ndef square(x):\n    return x * x\n"


def graded(*submission_ids: int) -> bool:
    return Submission.objects.filter(pk__in=submission_ids, status=SubmissionStatus.GRADED).count() == len(
        submission_ids
    )


def submit(api, code: str, slug: str = "square") -> int:
    response = api.post(f"/api/v1/exercises/{slug}/submissions/", {"code": code}, format="json")
    assert response.status_code == 202, response.content
    return int(response.json()["id"])


def test_a_submission_is_graded_by_a_worker_and_visible_through_the_api(start_worker, student_api):
    make_exercise(validate=True)
    worker = start_worker()
    right = submit(student_api, SQUARE_REFERENCE)
    wrong = submit(student_api, "def square(x):\n    return x + x\n")
    broken = submit(student_api, "def square(x):\n    return x *\n")
    assert wait_for(lambda: graded(right, wrong, broken), timeout=60), worker.output()

    body = student_api.get(f"/api/v1/submissions/{right}/").json()
    assert body["status"] == "graded"
    assert body["score"] == body["max_score"] == 5
    assert all(check["passed"] for check in body["checks"])

    body = student_api.get(f"/api/v1/submissions/{wrong}/").json()
    assert 0 < body["score"] < body["max_score"]  # square(2.0) == 2.0 + 2.0 passes
    three = next(check for check in body["checks"] if check["name"] == "three")
    assert three["message"] == "got 6, not within the tolerance of the reference's value"
    hidden = next(check for check in body["checks"] if check["name"] == "hidden-negative")
    assert "2.25" not in hidden["message"]  # a hidden check never tells the expected value

    body = student_api.get(f"/api/v1/submissions/{broken}/").json()
    assert body["status"] == "graded"
    assert body["score"] == 0
    assert body["summary"].startswith("SyntaxError on line 2")


def test_killing_a_worker_mid_grade_still_ends_in_exactly_one_verdict(start_worker, student_api):
    make_exercise(validate=True)
    fast_recovery = {
        "GRADING_HEARTBEAT_SECONDS": "1",
        "GRADING_LEASE_SECONDS": "2",
        "GRADING_SWEEP_SECONDS": "1",
        "GRADING_REDELIVER_AFTER_SECONDS": "2",
        "GRADING_RETRY_BACKOFF_SECONDS": "0",
    }
    first = start_worker(env=fast_recovery)
    submission_id = submit(student_api, SLOW_RIGHT_ANSWER)
    assert wait_for(
        lambda: GradingJob.objects.filter(submission_id=submission_id, state=JobState.RUNNING).exists(), timeout=30
    ), first.output()
    first.kill()  # kill -9 of the worker, its pool and its sandboxes, mid-grade

    second = start_worker(env=fast_recovery, beat=True, purge=False)
    assert wait_for(lambda: graded(submission_id), timeout=60), second.output()
    time.sleep(2)  # let any late duplicate run to completion before counting
    assert GradingResult.objects.filter(submission_id=submission_id).count() == 1
    result = GradingResult.objects.get(submission_id=submission_id)
    assert result.score == result.max_score
    jobs = list(GradingJob.objects.filter(submission_id=submission_id).order_by("attempt"))
    assert [job.state for job in jobs][:1] == [JobState.FAILED]
    assert "lease expired" in jobs[0].error
    assert JobState.SUCCEEDED in [job.state for job in jobs]


def test_a_redis_restart_with_jobs_queued_loses_none(private_redis, start_api, start_worker):
    exercise = make_exercise(validate=True)
    redis_url = private_redis()
    api_url = start_api(redis_url=redis_url)
    student = UserFactory(username="dora")
    token = Token.objects.create(user=student).key

    def post(code: str) -> int:
        request = urllib.request.Request(  # noqa: S310 - our own local server
            f"{api_url}/api/v1/exercises/{exercise.slug}/submissions/",
            data=json.dumps({"code": code}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own local server
            assert response.status == 202
            return int(json.loads(response.read())["id"])

    accepted = [post(SQUARE_REFERENCE) for _ in range(10)]  # no worker yet: all wait in Redis
    redis_url = private_redis()  # restart: Redis keeps nothing on disk, the messages are gone
    accepted += [post(SQUARE_REFERENCE) for _ in range(5)]  # and the API goes on accepting

    worker = start_worker(
        redis_url=redis_url,
        beat=True,
        concurrency=2,
        env={"GRADING_SWEEP_SECONDS": "1", "GRADING_REDELIVER_AFTER_SECONDS": "2"},
    )
    assert wait_for(lambda: graded(*accepted), timeout=90), worker.output()
    assert GradingResult.objects.filter(submission_id__in=accepted).count() == len(accepted)
    assert all(r.score == r.max_score for r in GradingResult.objects.filter(submission_id__in=accepted))


def test_a_burst_of_200_submissions_is_graded_none_lost_or_duplicated(start_worker, student_api, other_student_api):
    make_exercise(validate=True)
    worker = start_worker(concurrency=2)
    with pytest.MonkeyPatch.context() as patch:
        from grader.submission_apis import SubmissionThrottle

        patch.setattr(SubmissionThrottle, "THROTTLE_RATES", {"submissions": "1000/min"})
        accepted = [submit(api, SQUARE_REFERENCE) for api in (student_api, other_student_api) for _ in range(100)]
    assert len(set(accepted)) == 200
    assert wait_for(lambda: graded(*accepted), timeout=180, interval=0.5), worker.output()[-5000:]
    assert GradingResult.objects.filter(submission_id__in=accepted).count() == 200
    per_submission = (
        GradingJob.objects.filter(submission_id__in=accepted, state=JobState.SUCCEEDED)
        .values("submission_id")
        .annotate(n=Count("pk"))
    )
    assert {row["n"] for row in per_submission} == {1}
    assert sum(r.score for r in GradingResult.objects.filter(submission_id__in=accepted)) == Decimal(5 * 200)


def test_a_worker_that_cannot_build_its_sandbox_refuses_to_start(start_worker, tmp_path):
    command = [
        sys.executable, "-m", "celery", "-A", "workers", "worker", "--pool=solo",
        "--queues=default,grading.numpy", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    env = process_env(extra={"GRADER_SANDBOX": "bubblewrap", "GRADER_SANDBOX_BWRAP": "/nonexistent/bwrap"})
    process = ServiceProcess(command, env=env, log=tmp_path / "refusing.log", ready=None)
    assert process.process.wait(timeout=60) != 0
    output = process.output()
    assert "cannot build its sandbox" in output
    assert "/nonexistent/bwrap" in output
    assert " ready." not in output


@pytest.mark.parametrize("broker", ["refusing", "silent"])
def test_the_api_accepts_submissions_while_redis_is_down_or_hung(start_api, broker):
    """A 202 does not wait on the broker: a Redis that refuses connections, or accepts
    them and never answers, costs the request a few seconds at most; the committed job
    is resent by the sweeper once the broker is back."""
    exercise = make_exercise()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    if broker == "refusing":
        listener.close()
    else:
        listener.listen(16)  # accepts (the kernel completes the handshake), never answers
    try:
        api_url = start_api(redis_url=f"redis://127.0.0.1:{port}/0")
        token = Token.objects.create(user=UserFactory(username="erin")).key
        request = urllib.request.Request(  # noqa: S310 - our own local server
            f"{api_url}/api/v1/exercises/{exercise.slug}/submissions/",
            data=json.dumps({"code": SQUARE_REFERENCE}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
            method="POST",
        )
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            assert response.status == 202
            submission_id = int(json.loads(response.read())["id"])
        assert time.monotonic() - started < 15
    finally:
        listener.close()
    job = GradingJob.objects.get(submission_id=submission_id)
    assert job.state == JobState.QUEUED  # committed, waiting for the sweeper to resend it
