"""Recovery from faults in the middle of a burst, through real processes.

    .venv/bin/python bench/recovery.py
        [--burst 50] [--job-seconds 0.5] [--fault-after 10] [--outage 10] [--redis-down 0]
        [--scenarios none,kill,redis,postgres] [--timeout 120] [--keep]

Everything runs on loopback and is started and stopped here: a redis-server of its own
(no persistence, a free port), a TCP proxy in this process between the workers and
PostgreSQL, two `celery worker --concurrency=2` and one `celery beat` (as docker-compose
runs them), on the default recovery settings (heartbeat 3 s, lease 10 s, sweep 5 s,
redeliver 5 s). The database is DATABASE_URL, else
postgres://postgres@127.0.0.1:5432/grader_bench_recovery (created when missing; one run
at a time per database, an advisory lock): this process reaches it directly, and
creates the submissions as the API does (submission_create: the row, its job, the
message on commit); the workers reach it through the proxy.

Each scenario starts fresh processes and an empty Redis, creates --burst submissions of
an exercise whose code sleeps --job-seconds (so that jobs are in flight), and when
--fault-after of them are graded:

  none      no fault: the baseline, how long the rest of the burst takes anyway
  kill      kill -9 of the process group of a worker running jobs (its main process, its
            pool processes and their sandboxes), the other worker going on
  redis     redis-server killed (kill -9) and started again on the same port, empty
            (--redis-down seconds later): every message it held is gone
  postgres  the proxy cut (every connection closed, new ones refused, as in a restart)
            for --outage seconds, then restored

Printed per scenario: graded, lost (not graded within --timeout of the fault's end),
duplicated (a submission with more than one verdict or more than one succeeded job),
retried (jobs beyond each submission's first), the time from the fault (for redis and
postgres: from its end) until every submission is graded, and over the affected jobs
(those the killed worker was running; those whose message was in Redis; those not
graded when PostgreSQL went away) the longest and the median time from the fault (its
end) to the claim of the job that graded them and to their verdict. For postgres also
what the workers did while cut off: jobs claimed or failed, and messages still in the
queue at the end of the outage.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench_database import database_ensure, database_lock  # beside this script

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/grader_bench_recovery"
BENCH_LOCK = 0x72656376  # PostgreSQL advisory lock: one run at a time per database
WORKERS = 2
CONCURRENCY = 2
SCENARIOS = ("none", "kill", "redis", "postgres")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """A child process in its own session: stopping or killing it takes its whole tree."""

    def __init__(self, name: str, command: list[str], *, env: dict[str, str], log: Path, ready: str) -> None:
        self.name = name
        self.log = log
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while ready not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{name} did not start:\n{self.output()[-3000:]}")
            time.sleep(0.02)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        self.kill()


def children(pid: int) -> set[int]:
    found = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(entry.path, "stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                    found.add(int(entry.name))
    return found


class Fleet:
    """This run's Redis, workers and beat; `stop_all` at the end, errors included."""

    def __init__(self, workdir: Path, *, redis_port: int, worker_env: dict[str, str]) -> None:
        self.workdir = workdir
        self.redis_port = redis_port
        self.worker_env = worker_env
        self.redis: Service | None = None
        self.redis_starts = 0
        self.workers: list[Service] = []
        self.beat: Service | None = None

    def start_redis(self, *, down: float = 0.0) -> float:
        """(Re)start an empty Redis, `down` seconds after killing the running one; the
        time.time() at which it accepts connections."""
        if self.redis is not None:
            self.redis.kill()
            time.sleep(down)
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed")
        command = [binary, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(self.workdir)]  # fmt: skip
        self.redis_starts += 1
        log = self.workdir / f"redis-{self.redis_starts}.log"
        self.redis = Service("redis", command, env=dict(os.environ), log=log, ready="Ready to accept")
        return time.time()

    def start_workers(self, scenario: str) -> None:
        for n in range(WORKERS):
            name = f"{scenario}-worker-{n}-{uuid.uuid4().hex[:4]}"
            command = [
                sys.executable, "-m", "celery", "-A", "workers", "worker", "--pool=prefork",
                f"--concurrency={CONCURRENCY}", "--queues=default,grading", "--without-gossip",
                "--without-mingle", "--loglevel=INFO", f"--hostname={name}@%h",
            ]  # fmt: skip
            self.workers.append(Service(name, command, env=self.worker_env, log=self.workdir / f"{name}.log",
                                        ready=" ready."))  # fmt: skip
        command = [sys.executable, "-m", "celery", "-A", "workers", "beat", "--loglevel=INFO",
                   f"--schedule={self.workdir / (scenario + '-beat-schedule')}"]  # fmt: skip
        self.beat = Service(f"{scenario}-beat", command, env=self.worker_env, log=self.workdir / f"{scenario}-beat.log",
                            ready="beat: Starting")  # fmt: skip

    def stop_celery(self) -> None:
        for service in [*self.workers, *([self.beat] if self.beat else [])]:
            service.stop()
        self.workers, self.beat = [], None

    def stop_all(self) -> None:
        self.stop_celery()
        if self.redis is not None:
            self.redis.kill()
            self.redis = None


# --- Setting up ---------------------------------------------------------------------------


def through_proxy(url: str, port: int) -> str:
    parts = urlsplit(url)
    auth = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=(f"{auth}@" if auth else "") + f"127.0.0.1:{port}"))


def prepare(job_seconds: float) -> tuple[Any, Any, str]:
    """Migrate; the bench's student and exercise (validated in this process); the code."""
    import io

    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from accounts.services import user_ensure
    from grader.grading import exercise_key_validate
    from grader.models import GradingJob, JobState, Submission, SubmissionStatus
    from questions.models import ExerciseKey, KeyStatus
    from questions.services import exercise_key_ensure, exercise_upsert
    from tests.exercises import SQUARE
    from workers.sandbox import sandbox_shutdown

    call_command("migrate", verbosity=0, stdout=io.StringIO())
    student = user_ensure(username="recovery-bench", password="recovery-bench-pass", instructor=False)
    exercise, _ = exercise_upsert(spec=replace(SQUARE, slug="square-recovery", time_limit_seconds=10))
    key = exercise_key_ensure(exercise=exercise)
    if key.status != KeyStatus.VALID:
        ExerciseKey.objects.filter(pk=key.pk, status=KeyStatus.RUNNING).update(status=KeyStatus.PENDING)
        if exercise_key_validate(key_id=key.pk) != KeyStatus.VALID:
            raise SystemExit("the bench exercise does not validate")
    sandbox_shutdown()
    # A run that was stopped may have left jobs queued or running: end them, so that this
    # run's sweeper does not resend them into its figures.
    left = GradingJob.objects.filter(submission__exercise=exercise, state__in=[JobState.QUEUED, JobState.RUNNING])
    Submission.objects.filter(jobs__in=left).exclude(status=SubmissionStatus.GRADED).update(
        status=SubmissionStatus.ERROR
    )
    left.update(state=JobState.FAILED, finished_at=timezone.now(), error="left by an earlier run of bench/recovery.py")
    code = f"import time\ntime.sleep({job_seconds})\n\ndef square(x):\n    return x * x\n"
    return student, exercise, code


# --- One scenario -----------------------------------------------------------------------------


@dataclass(kw_only=True)
class Outcome:
    scenario: str
    description: str = ""
    ids: list[int] = field(default_factory=list)
    fault_end: float = 0.0  # time.time()
    affected: list[int] = field(default_factory=list)
    graded: int = 0
    duplicated: int = 0
    retried: int = 0
    all_graded_after: float | None = None
    affected_after: list[float] = field(default_factory=list)  # to the verdict
    affected_started_after: list[float] = field(default_factory=list)  # to the claim of the job that graded it
    notes: list[str] = field(default_factory=list)


def graded_count(ids: list[int]) -> int:
    from grader.models import Submission, SubmissionStatus

    return Submission.objects.filter(pk__in=ids, status=SubmissionStatus.GRADED).count()


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def running_on(pool_pids: set[int]) -> list[int]:
    from grader.models import GradingJob, JobState

    jobs = GradingJob.objects.filter(state=JobState.RUNNING).values_list("submission_id", "worker")
    return [submission for submission, worker in jobs if int(worker.rsplit(":", 1)[1]) in pool_pids]


def fault_kill(fleet: Fleet, outcome: Outcome) -> None:
    def busy() -> tuple[Service, set[int], list[int]] | None:
        for worker in fleet.workers:
            pool = children(worker.process.pid)
            if jobs := running_on(pool):
                return worker, pool, jobs
        return None

    found: tuple[Service, set[int], list[int]] | None = None

    def some_worker_busy() -> bool:
        nonlocal found
        found = busy()
        return found is not None

    if not wait_until(some_worker_busy, timeout=30):
        raise RuntimeError("no worker was running a job to kill")
    assert found is not None
    victim, pool, _ = found
    outcome.fault_end = time.time()
    victim.kill()
    outcome.affected = running_on(pool)  # still running in the database: lost with the worker
    fleet.workers.remove(victim)
    outcome.description = f"kill -9 of a worker (pool of {CONCURRENCY}) running {len(outcome.affected)} job(s)"


def fault_redis(fleet: Fleet, down: float, outcome: Outcome) -> None:
    from grader.models import GradingJob, JobState

    unclaimed = list(
        GradingJob.objects.filter(submission_id__in=outcome.ids, state=JobState.QUEUED).values_list(
            "submission_id", flat=True
        )
    )
    fleet.start_redis(down=down)  # kills the running one first: its messages go with it
    outcome.fault_end = time.time()
    outcome.affected = unclaimed
    outcome.description = f"Redis killed with {len(unclaimed)} message(s) in it and started again empty" + (
        f" {down:g} s later" if down else ""
    )


def fault_postgres(proxy: Any, outage: float, outcome: Outcome) -> None:
    from grader.models import GradingJob, JobState, Submission, SubmissionStatus
    from workers.dispatch import queue_length
    from workers.queues import grading_queue

    proxy.cut()  # from here no query of the workers' reaches PostgreSQL
    cut_at = time.monotonic()
    before = dict(GradingJob.objects.filter(submission_id__in=outcome.ids).values_list("pk", "state"))
    outcome.affected = list(
        Submission.objects.filter(pk__in=outcome.ids)
        .exclude(status=SubmissionStatus.GRADED)
        .values_list("pk", flat=True)
    )
    time.sleep(max(0.0, outage - (time.monotonic() - cut_at)))
    after = dict(GradingJob.objects.filter(submission_id__in=outcome.ids).values_list("pk", "state"))
    waiting = queue_length(queue=grading_queue("numpy"))
    queued = sum(1 for state in after.values() if state == JobState.QUEUED)
    proxy.restore()
    outcome.fault_end = time.time()
    claimed = sum(1 for pk, state in after.items() if before.get(pk) == JobState.QUEUED and state != JobState.QUEUED)
    outcome.description = f"PostgreSQL cut off from the workers for {time.monotonic() - cut_at:.1f} s"
    outcome.notes.append(
        f"while cut off: {claimed} job(s) claimed or failed by the workers; {queued} queued job(s),"
        f" {waiting} message(s) still in the queue at the end (the rest held, unacknowledged, by the"
        f" {WORKERS * CONCURRENCY} pool processes)"
    )


def run_scenario(scenario: str, fleet: Fleet, proxy: Any, student: Any, exercise: Any, code: str,
                 args: argparse.Namespace) -> Outcome:  # fmt: skip
    from grader.grading import submission_create

    outcome = Outcome(scenario=scenario)
    fleet.start_redis()
    fleet.start_workers(scenario)
    try:
        outcome.ids = [submission_create(user=student, exercise=exercise, code=code).pk for _ in range(args.burst)]
        if not wait_until(lambda: graded_count(outcome.ids) >= args.fault_after, timeout=60):
            raise RuntimeError(f"{scenario}: fewer than {args.fault_after} graded within 60 s")
        if scenario == "none":
            outcome.fault_end = time.time()
            outcome.description = "no fault (the baseline: the same point of the same burst)"
        elif scenario == "kill":
            fault_kill(fleet, outcome)
        elif scenario == "redis":
            fault_redis(fleet, args.redis_down, outcome)
        else:
            fault_postgres(proxy, args.outage, outcome)
        wait_until(lambda: graded_count(outcome.ids) == len(outcome.ids), timeout=args.timeout, interval=0.1)
        time.sleep(2)  # a late duplicate would run now
        measure(outcome)
    finally:
        fleet.stop_celery()
        proxy.restore()
    return outcome


def measure(outcome: Outcome) -> None:
    from django.db.models import Count

    from grader.models import GradingJob, GradingResult, JobState, Submission

    rows = Submission.objects.filter(pk__in=outcome.ids).values_list("pk", "graded_at")
    graded_at = {pk: at.timestamp() for pk, at in rows if at is not None}
    outcome.graded = len(graded_at)
    verdicts = (
        GradingResult.objects.filter(submission_id__in=outcome.ids).values("submission_id").annotate(n=Count("pk"))
    )
    succeeded = (
        GradingJob.objects.filter(submission_id__in=outcome.ids, state=JobState.SUCCEEDED)
        .values("submission_id")
        .annotate(n=Count("pk"))
    )
    outcome.duplicated = len(
        {row["submission_id"] for row in verdicts if row["n"] > 1}
        | {row["submission_id"] for row in succeeded if row["n"] > 1}
    )
    outcome.retried = GradingJob.objects.filter(submission_id__in=outcome.ids, attempt__gt=1).count()
    if outcome.graded == len(outcome.ids):
        outcome.all_graded_after = max(graded_at.values()) - outcome.fault_end
    outcome.affected_after = [graded_at[pk] - outcome.fault_end for pk in outcome.affected if pk in graded_at]
    graded_by = GradingResult.objects.filter(submission_id__in=outcome.affected).values_list(
        "job__started_at", flat=True
    )
    outcome.affected_started_after = [at.timestamp() - outcome.fault_end for at in graded_by if at is not None]


def report(outcome: Outcome, args: argparse.Namespace) -> None:
    n = len(outcome.ids)
    since = {"none": "that point", "kill": "the kill"}.get(outcome.scenario, "its end")
    print(f"\n{outcome.scenario}: {outcome.description}, after {args.fault_after} of {n} were graded")
    lost = n - outcome.graded
    print(f"   graded {outcome.graded}/{n}, lost {lost}, duplicated {outcome.duplicated}, retried {outcome.retried}")
    if outcome.all_graded_after is None:
        print(f"   NOT all graded within {args.timeout:g} s of the fault's end")
    else:
        print(f"   from {since} until every submission was graded: {outcome.all_graded_after:.1f} s")
    if outcome.affected_after:
        started, verdict = outcome.affected_started_after, outcome.affected_after
        print(
            f"   affected jobs ({len(outcome.affected)}): claimed again at most {max(started):.1f} s after {since}"
            f" (median {statistics.median(started):.1f} s), verdict at most {max(verdict):.1f} s"
            f" (median {statistics.median(verdict):.1f} s)"
        )
    elif outcome.scenario != "none":
        print("   affected jobs: none graded" if outcome.affected else "   affected jobs: none")
    for note in outcome.notes:
        print(f"   {note}")


def describe(args: argparse.Namespace, database_url: str) -> None:
    from django.db import connection

    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, check=False).stdout
    commit = subprocess.run(
        ["git", "--no-optional-locks", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {commit} (plus the working tree)")
    print(f"machine: nproc {os.cpu_count()}, {model}; load average before: {load}; python {platform.python_version()}")
    print(f"PostgreSQL {version} ({urlsplit(database_url).path.lstrip('/')}), {redis_version.split(' sha=')[0]}")
    print(
        f"{WORKERS} workers x concurrency {CONCURRENCY} and a beat; {args.burst} submissions sleeping"
        f" {args.job_seconds:g} s each; fault after {args.fault_after} graded"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--job-seconds", type=float, default=0.5, help="each submission's code sleeps this long")
    parser.add_argument("--fault-after", type=int, default=10, help="graded submissions before the fault")
    parser.add_argument("--outage", type=float, default=10.0, help="seconds PostgreSQL is cut off")
    parser.add_argument("--redis-down", type=float, default=0.0, help="seconds between killing and starting Redis")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds after the fault's end before giving up")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--keep", action="store_true", help="keep the logs")
    args = parser.parse_args()
    scenarios = [name for name in args.scenarios.split(",") if name]
    if unknown := set(scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)

    from tests.workers.tcp_proxy import TcpProxy

    database_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    database_ensure(database_url)
    lock = database_lock(database_url, lock=BENCH_LOCK)
    workdir = Path(tempfile.mkdtemp(prefix="grader-recovery-"))
    redis_port = free_port()
    parts = urlsplit(database_url)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    common = {
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DEBUG": "false",
        "GRADER_VAR_DIR": str(workdir),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "LOG_LEVEL": "INFO",
    }
    os.environ.update({**common, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"})
    worker_env = {**os.environ, **common, "DATABASE_URL": through_proxy(database_url, proxy.port)}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below
    fleet = Fleet(workdir, redis_port=redis_port, worker_env=worker_env)
    failed = True
    try:
        student, exercise, code = prepare(args.job_seconds)
        describe(args, database_url)
        outcomes = [run_scenario(name, fleet, proxy, student, exercise, code, args) for name in scenarios]
        for outcome in outcomes:
            report(outcome, args)
        failed = any(o.graded < len(o.ids) or o.duplicated for o in outcomes)
    finally:
        fleet.stop_all()
        proxy.close()
        lock.close()
        if failed or args.keep:
            print(f"\nlogs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if failed:
        print("FAILURE: a submission was lost or graded twice")
        sys.exit(1)


if __name__ == "__main__":
    main()
