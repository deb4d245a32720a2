"""Recovery in seconds, through real processes on the default settings (heartbeat 3 s,
lease 10 s, sweep 5 s, redeliver 10 s): a worker killed with SIGKILL mid-job, a Redis
restart with messages in flight, a worker cut off from PostgreSQL, and messages sent
many times over. Each ends with every submission graded once."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection
from django.db.models import Count
from rest_framework.authtoken.models import Token

from grader.models import GradingJob, GradingResult, JobState, Submission, SubmissionStatus
from tests.exercises import SQUARE, SQUARE_REFERENCE, make_exercise
from tests.factories import UserFactory
from tests.workers.conftest import ServiceProcess, database_url_for_worker, free_port, process_env, wait_for
from tests.workers.tcp_proxy import TcpProxy
from workers.dispatch import GRADE_TASK, enqueue, queue_length
from workers.queues import grading_queue

NUMPY_QUEUE = grading_queue("numpy")

pytestmark = pytest.mark.worker

RECOVERY_TARGET_SECONDS = 20.0
SLOW_SQUARE = replace(SQUARE, slug="square-slow", time_limit_seconds=10)


def sleepy_right_answer(seconds: float) -> str:
    return f"import time\ntime.sleep({seconds})\n\ndef square(x):\n    return x * x\n"


def graded(*submission_ids: int) -> bool:
    done = Submission.objects.filter(pk__in=submission_ids, status=SubmissionStatus.GRADED).count()
    return done == len(submission_ids)


def submit(api, code: str, slug: str) -> int:
    response = api.post(f"/api/v1/exercises/{slug}/submissions/", {"code": code}, format="json")
    assert response.status_code == 202, response.content
    return int(response.json()["id"])


def assert_one_verdict_each(submission_ids: list[int]) -> None:
    verdicts = GradingResult.objects.filter(submission_id__in=submission_ids)
    assert verdicts.count() == len(submission_ids)
    assert all(verdict.score == verdict.max_score for verdict in verdicts)
    succeeded = (
        GradingJob.objects.filter(submission_id__in=submission_ids, state=JobState.SUCCEEDED)
        .values("submission_id")
        .annotate(n=Count("pk"))
    )
    assert {row["n"] for row in succeeded} == {1}


def parent_pid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


@pytest.fixture
def start_beat(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """A beat process of its own (as docker-compose runs it), so that killing a worker
    does not also stop the sweeps."""
    started: list[ServiceProcess] = []

    def start(*, env: dict[str, str] | None = None) -> ServiceProcess:
        command = [sys.executable, "-m", "celery", "-A", "workers", "beat", "--loglevel=INFO",
                   f"--schedule={tmp_path / 'beat-schedule'}"]  # fmt: skip
        beat = ServiceProcess(command, env=process_env(extra=env), log=tmp_path / "beat.log", ready="beat: Starting")
        started.append(beat)
        return beat

    yield start
    for beat in started:
        beat.stop()


def test_a_job_on_a_worker_killed_with_sigkill_is_run_again_by_another_within_20_seconds(
    start_worker, start_beat, student_api
):
    make_exercise(SLOW_SQUARE, validate=True)
    start_beat()
    workers = [start_worker(), start_worker(purge=False)]
    submission_id = submit(student_api, sleepy_right_answer(3), SLOW_SQUARE.slug)
    assert wait_for(
        lambda: GradingJob.objects.filter(submission_id=submission_id, state=JobState.RUNNING).exists(), timeout=30
    ), workers[0].output()
    first = GradingJob.objects.get(submission_id=submission_id)
    pool_process = int(first.worker.rsplit(":", 1)[1])
    victim = next(worker for worker in workers if worker.process.pid == parent_pid(pool_process))
    killed = time.time()
    victim.kill()  # kill -9 of the worker, its pool and its sandboxes, mid-job
    survivor = next(worker for worker in workers if worker is not victim)

    assert wait_for(lambda: graded(submission_id), timeout=40), survivor.output()
    retry = GradingJob.objects.get(submission_id=submission_id, state=JobState.SUCCEEDED)
    assert retry.attempt == 2
    assert retry.started_at is not None
    rerun_after = retry.started_at.timestamp() - killed
    assert rerun_after <= RECOVERY_TARGET_SECONDS, f"run again {rerun_after:.1f} s after the kill"
    first.refresh_from_db()
    assert first.state == JobState.FAILED
    assert "lease expired" in first.error
    time.sleep(2)  # a late duplicate would have to run now
    assert_one_verdict_each([submission_id])


class OwnRedis:
    """A redis-server of the test's own, without persistence, that can be down a while."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.server: ServiceProcess | None = None
        self.starts = 0

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.starts += 1
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(self.folder)]  # fmt: skip
        log = self.folder / f"redis-{self.starts}.log"
        self.server = ServiceProcess(command, env=dict(os.environ), log=log, ready="Ready to accept")

    def stop(self) -> None:
        if self.server is not None:
            self.server.kill()
            self.server = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    redis = OwnRedis(tmp_path)
    yield redis
    redis.stop()


def test_messages_lost_in_a_redis_restart_are_graded_within_20_seconds_of_its_return(
    own_redis, start_api, start_worker
):
    """Redis goes down for 7 s (long enough that Celery's own reconnect backoff, 2, 4,
    6 ... 30 s, would come back 5 s late) and returns empty; submissions keep coming."""
    exercise = make_exercise(SLOW_SQUARE, validate=True)
    own_redis.start()
    api_url = start_api(redis_url=own_redis.url)
    worker = start_worker(redis_url=own_redis.url, beat=True, concurrency=2)
    token = Token.objects.create(user=UserFactory(username="dora")).key

    def post() -> int:
        request = urllib.request.Request(  # noqa: S310 - our own local server
            f"{api_url}/api/v1/exercises/{exercise.slug}/submissions/",
            data=json.dumps({"code": sleepy_right_answer(0.5)}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own local server
            assert response.status == 202
            return int(json.loads(response.read())["id"])

    accepted = [post() for _ in range(12)]
    assert wait_for(lambda: GradingJob.objects.filter(submission_id__in=accepted, state=JobState.RUNNING).exists())
    own_redis.stop()  # kill -9: the queued messages are gone
    down = time.monotonic()
    accepted += [post() for _ in range(2)]  # accepted while the broker is down: committed, not sent
    time.sleep(max(0.0, 7 - (time.monotonic() - down)))
    own_redis.start()
    returned = time.time()
    accepted += [post() for _ in range(2)]  # some may go before the worker is back

    assert wait_for(lambda: graded(*accepted), timeout=45, interval=0.2), worker.output()[-5000:]
    last = max(Submission.objects.filter(pk__in=accepted).values_list("graded_at", flat=True))
    recovered = last.timestamp() - returned
    assert recovered <= RECOVERY_TARGET_SECONDS, f"all graded {recovered:.1f} s after Redis returned"
    time.sleep(2)
    assert_one_verdict_each(accepted)


def url_through(proxy: TcpProxy, database_url: str) -> str:
    parts = urlsplit(database_url)
    auth = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{auth}@127.0.0.1:{proxy.port}" if auth else f"127.0.0.1:{proxy.port}"))


@pytest.fixture
def database_proxy() -> Iterator[TcpProxy]:
    if connection.vendor != "postgresql":
        pytest.skip("cuts a TCP connection to PostgreSQL")
    settings = connection.settings_dict
    proxy = TcpProxy((settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432)))
    yield proxy
    proxy.close()


def test_a_worker_cut_off_from_the_database_keeps_the_queue_and_grades_it_once_back(
    database_proxy, start_worker, student_api
):
    """The worker reaches PostgreSQL through a proxy that the test cuts; the test (and the
    API in it) still reaches it directly and submits meanwhile."""
    make_exercise(validate=True)
    worker = start_worker(
        concurrency=2,
        beat=True,
        env={
            "DATABASE_URL": url_through(database_proxy, database_url_for_worker()),
            "GRADING_DATABASE_WAIT_SECONDS": "3",
        },
    )
    warm = submit(student_api, SQUARE_REFERENCE, SQUARE.slug)
    assert wait_for(lambda: graded(warm), timeout=30), worker.output()
    assert database_proxy.connections > 0

    database_proxy.cut()
    accepted = [submit(student_api, SQUARE_REFERENCE, SQUARE.slug) for _ in range(8)]
    time.sleep(8)  # each pool process holds a message, hands it back every 3 s, takes it again
    jobs = GradingJob.objects.filter(submission_id__in=accepted)
    assert set(jobs.values_list("state", flat=True)) == {JobState.QUEUED}  # none claimed, none failed
    waiting = queue_length(queue=NUMPY_QUEUE)
    assert waiting is not None
    assert waiting >= len(accepted) - 2  # at most one message per pool process is out of the queue
    output = worker.output()
    assert "the database is unreachable; keeping this message" in output
    assert output.count("keeping this message") < 20  # waiting, not spinning through the queue

    database_proxy.restore()
    restored = time.time()
    assert wait_for(lambda: graded(*accepted), timeout=30, interval=0.2), worker.output()[-5000:]
    last = max(Submission.objects.filter(pk__in=accepted).values_list("graded_at", flat=True))
    assert last.timestamp() - restored <= 10
    # Nothing was burned and retried: each submission's first job graded it.
    assert set(jobs.values_list("attempt", flat=True)) == {1}
    assert_one_verdict_each(accepted)


def test_a_job_sent_many_times_over_is_graded_once(start_worker, student_api):
    """What the sweeper resending sooner costs at worst: duplicate messages, some arriving
    while the job runs. Claims are conditional, so one verdict."""
    make_exercise(SLOW_SQUARE, validate=True)
    worker = start_worker(concurrency=2)
    submission_id = submit(student_api, sleepy_right_answer(1), SLOW_SQUARE.slug)
    job = GradingJob.objects.get(submission_id=submission_id)
    for _ in range(10):
        assert enqueue(task=GRADE_TASK, args=[job.pk])
    assert wait_for(lambda: graded(submission_id), timeout=30), worker.output()
    assert wait_for(lambda: queue_length(queue=NUMPY_QUEUE) == 0, timeout=15)
    time.sleep(1)
    assert_one_verdict_each([submission_id])
    assert GradingJob.objects.filter(submission_id=submission_id).count() == 1
