"""Code grading end to end through real processes: latency at low load, throughput in a burst.

    .venv/bin/python bench/grading_e2e.py                          # embedded: SQLite + filesystem broker
    .venv/bin/python bench/grading_e2e.py --database postgres      # PostgreSQL + Redis
        [--sequential 200] [--burst 1000] [--exercise binary-cross-entropy]
        [--compare-exercise mse-versus-mae] [--poll-ms 1] [--settings config.settings.local]

--database embedded (the default when DATABASE_URL is unset) puts a fresh SQLite file and
kombu's filesystem broker in a temporary folder, as on a laptop without services.
--database postgres (the default when DATABASE_URL is set) uses DATABASE_URL and REDIS_URL,
else postgres://postgres@127.0.0.1:5432/grader_bench (created when missing) and Redis
database 14; one run at a time per database (an advisory lock), since a run purges the
broker's queues. The bench migrates and seeds the database, validates the exercises' keys
in this process (the reference solution runs in the sandbox) and raises the submission
throttle.

Processes: gunicorn (2 sync workers) serves the API; Celery workers (`celery -A workers
worker --pool=prefork`) grade in their sandboxes (GRADER_SANDBOX applies); this process is
the client, and reads through the ORM what the workers store (GradingJob times,
GradingResult.timings) to break the time down and to check that nothing was lost.

1. Low load: one worker process (concurrency 1); N sequential submissions of the exercise's
   reference solution; time from sending the POST to the verdict being visible on
   GET /api/v1/submissions/{id}/, polled every --poll-ms.
2. Where that time goes, per submission, and the CPU each process spent on it.
3. Burst: N submissions graded by one `celery worker --concurrency=2` (two pool processes):
   drained (created through the API with no worker running, then the worker starts: first
   claim to last verdict) and concurrent (4 client threads POST while the worker grades:
   first POST to last verdict). For --exercise and again for --compare-exercise, with the
   exercise's own compute (plain numpy in this process) for comparison.
4. The machine, the database, the broker and the date (printed first).

CPU per submission comes from /proc, sampled every 0.25 s: each process with the children
it reaped (a sandbox's job processes), grouped by the process trees this bench started;
"other" is whatever else the machine ran meanwhile (on a shared machine, rerun when it is
not near zero). --settings runs every process with another settings module, e.g. one on
PYTHONPATH that imports config.settings.local and changes one setting, to measure a change
without editing the project. Every process started here runs in its own session and is
killed at the end, errors included.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import itertools
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_database import database_ensure, database_lock  # beside this script

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PASSWORD = "bench-pass-123"  # noqa: S105 - throwaway accounts in the bench's own database
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/grader_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
TARGET_P50_MS = 50.0
TARGET_P95_MS = 150.0
TARGET_PER_SECOND = 100.0
CLIENT_THREADS = 4
BURST_CONCURRENCY = 2
WEB_WORKERS = 2
STALL_SECONDS = 60.0  # no new verdict for this long while waiting: give up
BENCH_LOCK = 0x67726164  # PostgreSQL advisory lock: one run at a time per database
WORKER, SANDBOXES, API, BENCH = "Celery worker", "sandboxes", "gunicorn", "bench client"
CPU_GROUPS = (WORKER, SANDBOXES, API, "PostgreSQL", "Redis", BENCH, "other")


# --- Processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """A child process in its own session: stopping it takes its pool processes and
    sandboxes along."""

    def __init__(self, name: str, command: list[str], *, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self.started = time.monotonic()
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until(self, ready: Callable[[], bool], timeout: float = 60.0) -> float:
        """Seconds from the start until `ready()`; raises with the log's tail if it exits first."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start:\n{self.output()[-3000:]}")
            time.sleep(0.02)
        return time.monotonic() - self.started

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM (a warm shutdown for Celery), then SIGKILL to whatever is left in the session."""
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


class Fleet:
    """Everything this bench started, stopped in reverse order at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.services: list[Service] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> Service:
        service = Service(name, command, env=env, log=self.workdir / f"{name}.log")
        self.services.append(service)
        return service

    def stop(self, service: Service) -> None:
        service.stop()
        self.services.remove(service)

    def stop_workers(self) -> None:
        for service in [s for s in self.services if s.name.startswith("worker-")]:
            self.stop(service)

    def stop_all(self) -> None:
        while self.services:
            self.stop(self.services[-1])

    def roots(self) -> dict[int, str]:
        """The process trees whose CPU is counted by name."""
        roots = {os.getpid(): BENCH}
        for service in self.services:
            roots[service.process.pid] = WORKER if service.name.startswith("worker-") else API
        return roots

    def api(self, web_workers: int) -> int:
        port = free_port()
        command = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
                   "--workers", str(web_workers), "--log-level", "warning"]  # fmt: skip
        server = self.start("gunicorn", command, env={**os.environ, "LOG_LEVEL": "WARNING"})

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
            return True

        server.wait_until(listening)
        return port

    def worker(self, *, concurrency: int, purge: bool) -> tuple[Service, float]:
        """One `celery worker` process with `concurrency` pool processes, and its start-up seconds.
        Logging at INFO, as deployed (docker-compose.yml), into a file."""
        name = f"worker-{uuid.uuid4().hex[:6]}"
        command = [
            sys.executable, "-m", "celery", "-A", "workers", "worker", "--pool=prefork",
            f"--concurrency={concurrency}", f"--queues=default,{grading_queues()}", "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO", f"--hostname={name}@%h",
        ]  # fmt: skip
        if purge:
            command.append("--purge")
        service = self.start(name, command, env={**os.environ, "LOG_LEVEL": "INFO"})
        return service, service.wait_until(lambda: " ready." in service.output())


# --- CPU accounting ------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CPU_SAMPLE_SECONDS = 0.25


@dataclass(kw_only=True)
class Tracked:
    """One process (pid and start time) as seen by the samples of a CpuMeter, in seconds of CPU."""

    group: str
    parent: int
    own_first: float
    children_first: float
    own_last: float
    children_last: float
    gone: bool = False


def machine_cpu() -> tuple[float, float]:
    """Busy and total CPU seconds of the machine (all cores) since boot."""
    with open("/proc/stat") as stat:
        ticks = [int(n) for n in stat.readline().split()[1:9]]
    busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]
    return busy / CLOCK_TICKS, sum(ticks) / CLOCK_TICKS


def read_processes() -> dict[tuple[int, int], tuple[int, str, float, float]]:
    """(pid, start time) -> (parent pid, name, own CPU seconds, reaped children's CPU seconds)."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # it exited meanwhile
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()  # fields[0] is field 3 of proc(5)
        own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        children = (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
        found[(int(entry.name), int(fields[19]))] = (int(fields[1]), name, own, children)
    return found


class CpuMeter:
    """CPU per process group over a window, from /proc sampled every CPU_SAMPLE_SECONDS.

    A process counts its own CPU and that of the children it reaped (a zygote's job
    processes live ~0.1 s, between samples), minus what was already counted of those
    children while they were sampled; a process that exits without being reaped by one
    that is counted (a recycled sandbox) loses at most its last interval. "other" is the
    machine's busy time that no group accounts for: processes this bench did not start.
    """

    def __init__(self, roots: dict[int, str]) -> None:
        self.roots = roots
        self.tracked: dict[tuple[int, int], Tracked] = {}
        self.stopping = threading.Event()
        self.machine_first = machine_cpu()
        self.machine_last = self.machine_first
        self.at = time.time()
        self.sample(first=True)
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def group(self, pid: int, parents: dict[int, tuple[int, str]]) -> str:
        in_sandbox = False
        current = pid
        while current > 1 and current in parents:
            ppid, name = parents[current]
            in_sandbox = in_sandbox or name == "bwrap"
            if current in self.roots:
                label = self.roots[current]
                return SANDBOXES if in_sandbox and label == WORKER else label
            current = ppid
        name = parents[pid][1]
        return "PostgreSQL" if name == "postgres" else "Redis" if name.startswith("redis-server") else "other"

    def sample(self, *, first: bool = False) -> None:
        processes = read_processes()
        parents = {pid: (ppid, name) for (pid, _), (ppid, name, _, _) in processes.items()}
        for key, (ppid, _, own, children) in processes.items():
            seen = self.tracked.get(key)
            if seen is None:
                # Born since the last sample: all its CPU is in the window (unless this is the first).
                self.tracked[key] = Tracked(
                    group=self.group(key[0], parents),
                    parent=ppid,
                    own_first=own if first else 0.0,
                    children_first=children if first else 0.0,
                    own_last=own,
                    children_last=children,
                )
            else:
                seen.own_last, seen.children_last, seen.parent = own, children, ppid
        for key, seen in self.tracked.items():
            seen.gone = key not in processes

    def loop(self) -> None:
        while not self.stopping.wait(CPU_SAMPLE_SECONDS):
            self.sample()

    def stop(self) -> CpuUse:
        self.stopping.set()
        self.thread.join()
        self.sample()
        self.machine_last = machine_cpu()
        counted_children: dict[int, float] = defaultdict(float)  # per parent pid: its sampled, exited children
        for seen in self.tracked.values():
            if seen.gone:
                counted_children[seen.parent] += seen.own_last + seen.children_last
        spent: dict[str, float] = defaultdict(float)
        for (pid, _), seen in self.tracked.items():
            reaped = seen.children_last - seen.children_first
            # This bench reaps the services it stops: its own CPU only.
            children = 0.0 if seen.group == BENCH else max(0.0, reaped - counted_children.get(pid, 0.0))
            spent[seen.group] += seen.own_last - seen.own_first + children
        busy = self.machine_last[0] - self.machine_first[0]
        spent["other"] += busy - sum(spent.values())
        return CpuUse(spent=dict(spent), busy=busy, capacity=self.machine_last[1] - self.machine_first[1], at=self.at)


@dataclass(frozen=True, kw_only=True)
class CpuUse:
    spent: dict[str, float]  # CPU seconds per group
    busy: float  # the machine's busy CPU seconds
    capacity: float  # cores x seconds
    at: float  # when the window started (wall clock)

    def report(self, graded: int, indent: str, *, ceiling: bool = True) -> None:
        """CPU-ms per graded submission by group; with `ceiling`, the rate the cores allow at that cost."""
        cores = os.cpu_count() or 1
        per = {name: self.spent.get(name, 0.0) * 1000 / graded for name in CPU_GROUPS}
        total = sum(per.values())
        parts = " + ".join(f"{name} {per[name]:.1f}" for name in CPU_GROUPS if abs(per[name]) >= 0.05)
        print(f"{indent}CPU per graded submission, ms: {parts} = {total:.1f}")
        limit = f"; at {total:.1f} CPU-ms each, {cores} cores grade at most {cores * 1000 / total:.0f}/s"
        print(f"{indent}machine busy {self.busy / self.capacity:.0%} of {cores} cores{limit if ceiling else ''}")


# --- The API client ----------------------------------------------------------------------


class Client:
    """One HTTP connection. gunicorn's sync workers close it after each response (they do
    not keep connections alive), so http.client opens a new one for the next request."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.token = token

    def call(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json", "Host": "127.0.0.1"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        payload = json.dumps(body) if body is not None else None
        try:
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
        except (http.client.HTTPException, ConnectionError):
            self.connection.close()  # the server closed a kept-alive connection: retry once
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None


def token_for(port: int, username: str) -> str:
    status, body = Client(port).call("POST", "/api/v1/auth/token/", {"username": username, "password": PASSWORD})
    assert status == 200, body
    return str(body["token"])


def submit(client: Client, slug: str, code: str) -> int:
    status, body = client.call("POST", f"/api/v1/exercises/{slug}/submissions/", {"code": code})
    assert status == 202, body
    return int(body["id"])


@dataclass(frozen=True, kw_only=True)
class Sample:
    """One sequential submission as the client saw it (wall clock, time.time())."""

    submission_id: int
    sent: float
    accepted: float  # the 202 read
    visible: float  # the GET showing the verdict read
    polls: int


def submit_and_wait(client: Client, slug: str, code: str, poll_seconds: float, worker: Service) -> Sample:
    sent = time.time()
    submission_id = submit(client, slug, code)
    accepted = time.time()
    polls = 0
    while True:
        if worker.process.poll() is not None or time.time() - sent > STALL_SECONDS:
            raise RuntimeError(
                f"submission {submission_id} not graded after {time.time() - sent:.0f} s"
                f" (worker {'exited' if worker.process.poll() is not None else 'running'}):\n"
                f"{worker.output()[-3000:]}"
            )
        time.sleep(poll_seconds)
        status, body = client.call("GET", f"/api/v1/submissions/{submission_id}/")
        polls += 1
        assert status == 200, body
        if body["status"] in ("graded", "error"):
            break
    visible = time.time()
    assert body["status"] == "graded", body
    assert body["score"] == body["max_score"], body
    return Sample(submission_id=submission_id, sent=sent, accepted=accepted, visible=visible, polls=polls)


@dataclass(frozen=True, kw_only=True)
class Posted:
    ids: list[int]
    latencies: list[float]
    first_sent: float
    last_accepted: float


def post_many(port: int, tokens: Sequence[str], slug: str, code: str, total: int) -> Posted:
    """`total` submissions from one thread per token, each POSTing as fast as it can."""
    ids: list[int] = []
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    shares = [total // len(tokens) + (1 if n < total % len(tokens) else 0) for n in range(len(tokens))]

    def run(token: str, count: int) -> None:
        client = Client(port, token)
        mine: list[int] = []
        times: list[float] = []
        try:
            for _ in range(count):
                started = time.perf_counter()
                mine.append(submit(client, slug, code))
                times.append(time.perf_counter() - started)
        except BaseException as exc:
            errors.append(exc)
        with lock:
            ids.extend(mine)
            latencies.extend(times)

    threads = [threading.Thread(target=run, args=pair) for pair in zip(tokens, shares, strict=True)]
    first_sent = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return Posted(ids=sorted(ids), latencies=latencies, first_sent=first_sent, last_accepted=time.time())


# --- What the workers stored -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Graded:
    """One graded submission, from the database (wall clock)."""

    submission_id: int
    enqueued: float  # GradingJob.enqueued_at: in the POST, before its transaction commits
    claimed: float  # GradingJob.started_at: the worker's claim, as grading_job_run starts
    stored: float  # GradingResult.created_at (= finished_at): the verdict about to be written
    worker: str  # host:pid of the pool process
    timings: dict[str, float]


def graded_records(ids: Sequence[int]) -> list[Graded]:
    """The verdicts of `ids`, after checking each has exactly one, from one job, at full marks."""
    from grader.models import GradingJob, GradingResult, JobState, Submission, SubmissionStatus

    wanted = set(ids)
    assert len(wanted) == len(ids), "the API returned a submission id twice"
    low, high = min(ids), max(ids)
    results = [
        result
        for result in GradingResult.objects.filter(submission_id__gte=low, submission_id__lte=high).select_related(
            "job"
        )
        if result.submission_id in wanted
    ]
    jobs: dict[int, list[str]] = defaultdict(list)
    job_rows = GradingJob.objects.filter(submission_id__gte=low, submission_id__lte=high)
    for submission_id, state in job_rows.values_list("submission_id", "state"):
        if submission_id in wanted:
            jobs[submission_id].append(state)
    statuses = Submission.objects.filter(pk__gte=low, pk__lte=high).values_list("pk", "status")
    not_graded = [pk for pk, status in statuses if pk in wanted and status != SubmissionStatus.GRADED]
    assert len(results) == len(wanted), f"{len(wanted)} submissions but {len(results)} results"
    assert {r.submission_id for r in results} == wanted, "a submission has no result"
    assert not not_graded, f"{len(not_graded)} submissions not graded, e.g. {not_graded[:5]}"
    retried = {pk: states for pk, states in jobs.items() if states != [JobState.SUCCEEDED]}
    assert not retried, f"{len(retried)} submissions needed more than one job, e.g. {list(retried.items())[:3]}"
    partial = [r.submission_id for r in results if r.score != r.max_score]
    assert not partial, f"{len(partial)} verdicts below full marks, e.g. {partial[:5]}"
    graded = []
    for r in results:
        assert r.job.started_at is not None, f"job {r.job.pk} has a verdict but no start"
        graded.append(
            Graded(
                submission_id=r.submission_id,
                enqueued=r.job.enqueued_at.timestamp(),
                claimed=r.job.started_at.timestamp(),
                stored=r.created_at.timestamp(),
                worker=r.job.worker,
                timings={name: float(value) for name, value in r.timings.items()},
            )
        )
    return graded


def wait_graded(ids: Sequence[int], timeout: float) -> None:
    """Until every submission in `ids` is graded (this bench is the database's only client,
    so the id range holds its submissions and nothing else)."""
    from django.db.models import Count

    from grader.models import Submission, SubmissionStatus

    deadline = time.monotonic() + timeout
    progress, progressed = -1, time.monotonic()
    while True:
        rows = Submission.objects.filter(pk__gte=min(ids), pk__lte=max(ids)).values("status").annotate(n=Count("pk"))
        counts = {row["status"]: row["n"] for row in rows}
        graded = counts.get(SubmissionStatus.GRADED, 0)
        if counts.get(SubmissionStatus.ERROR):
            raise RuntimeError(f"{counts[SubmissionStatus.ERROR]} submissions ended in a grader error")
        if graded >= len(ids):
            return
        now = time.monotonic()
        if graded != progress:
            progress, progressed = graded, now
        if now > deadline or now - progressed > STALL_SECONDS:
            raise RuntimeError(
                f"{graded} of {len(ids)} graded, none for {now - progressed:.0f} s: {counts}"
                " (a message lost? another run of this bench purging the same broker?)"
            )
        time.sleep(0.05)


# --- Figures -----------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def spread(values: Sequence[float]) -> str:
    return f"p50 {ms(statistics.median(values))}   p95 {ms(percentile(values, 0.95))}   max {ms(max(values))}"


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def pool_gaps(records: Sequence[Graded]) -> list[float]:
    """Per pool process, from storing one verdict to claiming the next job."""
    by_process: dict[str, list[Graded]] = defaultdict(list)
    for record in records:
        by_process[record.worker].append(record)
    gaps = []
    for jobs in by_process.values():
        jobs.sort(key=lambda record: record.claimed)
        gaps += [later.claimed - earlier.stored for earlier, later in itertools.pairwise(jobs)]
    return gaps


# --- Setting up ----------------------------------------------------------------------------


def configure(args: argparse.Namespace, workdir: Path) -> None:
    """The environment of this process and of every process it starts."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": args.settings,
            "DEBUG": "false",
            "GRADER_VAR_DIR": str(workdir),
            "SUBMISSION_THROTTLE_RATE": "1000000/min",
            "LOGIN_THROTTLE_RATE": "100000/min",
            "LOG_LEVEL": "WARNING",
        }
    )
    if args.database == "embedded":
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("REDIS_URL", None)
    else:
        os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
        os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
        database_ensure(os.environ["DATABASE_URL"])
        args.lock = database_lock(os.environ["DATABASE_URL"], lock=BENCH_LOCK)


@dataclass(frozen=True, kw_only=True)
class ExerciseUnderTest:
    slug: str
    code: str  # the reference solution, submitted as is
    checks: int
    compute: float  # seconds: set-ups, module and calls with plain numpy in this process


def grading_queues() -> str:
    """The grading queues of the environments this machine has, comma-separated."""
    from workers.environments import environments_installed

    return ",".join(environment.queue for environment in environments_installed())


def exercise_compute(*, code: str, spec: dict[str, Any], samples: int = 20) -> float:
    """The exercise's own work, without the sandbox: each check's set-up and call (not the
    finite differences of gradient checks) on the reference, in this process; the median.
    The environment's packages come first on sys.path (its modules imported before the
    clock starts, as the zygote has them) and the data set is the working directory."""
    import importlib

    import numpy as np

    from grader.data_files import data_set_prepare
    from questions.exercises import grading_spec_checks, grading_spec_data, grading_spec_environment
    from workers.environments import environment_get, environment_site
    from workers.sandbox.launch import data_sets

    environment = environment_get(grading_spec_environment(spec=spec))
    site = environment_site(environment)
    if site is not None and str(site) not in sys.path:
        sys.path.insert(0, str(site))
    for name in environment.preload:
        importlib.import_module(name)
    data = data_set_prepare(files=grading_spec_data(spec=spec))
    hidden = dict(data.hidden) if data else {}
    cwd = os.getcwd()
    if data:
        os.chdir(data_sets() / data.directory)
    checks = grading_spec_checks(spec=spec)
    times = []
    try:
        for _ in range(samples):
            started = time.perf_counter()
            module: dict[str, Any] = {"__name__": "submission"}
            exec(compile(code, "submission.py", "exec"), module)  # noqa: S102 - the bank's reference solution
            for check in checks:
                inputs: dict[str, Any] = {
                    "np": np,
                    "rng": np.random.default_rng(check.seed),
                    "hidden_data": lambda name: open(hidden[name], "rb"),  # noqa: SIM115
                }
                exec(compile(check.setup, "<setup>", "exec"), inputs)  # noqa: S102
                eval(compile(check.call, "<check>", "eval"), {**module, **inputs})  # noqa: S307
            times.append(time.perf_counter() - started)
    finally:
        os.chdir(cwd)
    return statistics.median(times)


def prepare(*, slugs: Sequence[str], users: Sequence[str]) -> dict[str, ExerciseUnderTest]:
    """Migrate, seed, create the users and validate the exercises' keys in this process."""
    import logging

    import django

    django.setup()
    from django.core.management import call_command

    logging.getLogger("kombu.connection").setLevel(logging.ERROR)  # "No hostname was supplied" (filesystem)

    from accounts.services import user_ensure
    from grader.grading import exercise_key_validate
    from questions.models import Exercise, ExerciseKey, KeyStatus
    from questions.selectors import exercise_current_key
    from workers.sandbox import sandbox_shutdown

    call_command("migrate", verbosity=0)
    call_command("seed_bank", verbosity=0, stdout=io.StringIO())
    for username in users:
        user_ensure(username=username, password=PASSWORD, instructor=False)
    exercises = {}
    for slug in slugs:
        exercise = Exercise.objects.get(slug=slug)
        key = exercise_current_key(exercise=exercise)
        assert key is not None, f"{slug} has no answer key"
        if key.status != KeyStatus.VALID:
            # No worker runs yet: a key left running was claimed by a bench that was killed.
            ExerciseKey.objects.filter(pk=key.pk, status=KeyStatus.RUNNING).update(status=KeyStatus.PENDING)
            exercise_key_validate(key_id=key.pk)
            key.refresh_from_db()
        if key.status != KeyStatus.VALID:
            raise SystemExit(f"{slug}: the reference solution does not validate: {key.summary}")
        exercises[slug] = ExerciseUnderTest(
            slug=slug,
            code=exercise.reference_solution,
            checks=len(key.spec["checks"]),
            compute=exercise_compute(code=exercise.reference_solution, spec=key.spec),
        )
    sandbox_shutdown()  # the workers build their own
    return exercises


APP_PACKAGES = ("accounts", "config", "grader", "questions", "workers")


def code_changed_since(moment: float) -> list[str]:
    """The application's Python files modified after `moment` (others editing during a run)."""
    return sorted(
        str(path.relative_to(REPO))
        for package in APP_PACKAGES
        for path in (REPO / package).rglob("*.py")
        if path.stat().st_mtime > moment
    )


def code_version() -> str:
    """The commit, and whether the application's code differs from it (read-only git calls)."""
    git = ["git", "--no-optional-locks", "-C", str(REPO)]
    try:
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", *APP_PACKAGES], check=False)
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit.stdout.strip() + (" with uncommitted changes to the application" if dirty.returncode else "")


def describe_setup(args: argparse.Namespace) -> None:
    import numpy as np
    from django.conf import settings
    from django.db import connection

    from workers.sandbox import SandboxConfig

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        db = settings.DATABASES["default"]
        database = f"PostgreSQL {version} (database {db['NAME']} on {db['HOST']})"
    else:
        import sqlite3

        database = f"SQLite {sqlite3.sqlite_version} (a fresh file in a temporary folder)"
    if settings.REDIS_URL:
        import redis

        info = redis.Redis.from_url(settings.REDIS_URL).info("server")
        broker = f"Redis {info['redis_version']} ({settings.REDIS_URL})"
    else:
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        broker = f"kombu filesystem transport, polling interval {options.get('polling_interval', 1.0):g} s"
    sandbox = SandboxConfig.from_env()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; code: {code_version()}")
    print(f"machine: {os.cpu_count()} cores ({model}), {memory:.1f} GiB RAM, {platform.platform()}")
    print(f"  load average before the bench: {load}")
    print(f"python {platform.python_version()}, numpy {np.__version__}; settings {args.settings}")
    print(f"database: {database}")
    print(f"broker: {broker}")
    print(f"sandbox: {sandbox.mode} ({sandbox.bwrap})")
    print(
        f"API: gunicorn, {WEB_WORKERS} sync workers;"
        f" the client polls GET /submissions/{{id}}/ every {args.poll_ms:g} ms"
    )


# --- 1 and 2: low load -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LowLoad:
    samples: list[Sample]
    records: list[Graded]
    startup: float
    cpu: CpuUse


def low_load(fleet: Fleet, port: int, token: str, exercise: ExerciseUnderTest, args: argparse.Namespace) -> LowLoad:
    worker, startup = fleet.worker(concurrency=1, purge=True)
    try:
        client = Client(port, token)
        poll = args.poll_ms / 1000
        for _ in range(args.warmup):  # the sandbox's first jobs, connections, caches
            submit_and_wait(client, exercise.slug, exercise.code, poll, worker)
        meter = CpuMeter(fleet.roots())
        samples = [submit_and_wait(client, exercise.slug, exercise.code, poll, worker) for _ in range(args.sequential)]
        cpu = meter.stop()
    finally:
        fleet.stop(worker)
    records = graded_records([sample.submission_id for sample in samples])
    return LowLoad(samples=samples, records=records, startup=startup, cpu=cpu)


def report_low_load(exercise: ExerciseUnderTest, run: LowLoad) -> None:
    by_id = {record.submission_id: record for record in run.records}
    pairs = [(sample, by_id[sample.submission_id]) for sample in run.samples]
    e2e = [s.visible - s.sent for s in run.samples]
    p50, p95 = statistics.median(e2e) * 1000, percentile(e2e, 0.95) * 1000
    print(
        f"\n1. end to end at low load: {exercise.slug} ({exercise.checks} checks, the reference solution),"
        f" {len(run.samples)} sequential submissions;\n   one Celery worker process (prefork, concurrency 1,"
        f" ready {run.startup:.1f} s after starting)"
    )
    print(f"   POST -> verdict visible on GET   {spread(e2e)}")
    print(
        f"   targets: p50 <= {TARGET_P50_MS:g} ms ({verdict(p50 <= TARGET_P50_MS)}),"
        f" p95 <= {TARGET_P95_MS:g} ms ({verdict(p95 <= TARGET_P95_MS)})"
    )

    api = [s.accepted - s.sent for s, _ in pairs]
    queue = [g.timings["queue"] for _, g in pairs]
    sandbox = [g.timings["sandbox"] for _, g in pairs]
    checks = [g.timings["checks"] for _, g in pairs]
    rest = [
        s.visible - s.sent - a - q - sb - c
        for (s, _), a, q, sb, c in zip(pairs, api, queue, sandbox, checks, strict=True)
    ]

    def row(label: str, values: Sequence[float]) -> None:
        print(
            f"   {label:50} median {ms(statistics.median(values))}   mean {ms(statistics.mean(values))}"
            f"   p95 {ms(percentile(values, 0.95))}"
        )

    print("\n2. where the time goes, per submission (medians need not add up; means do)")
    row("API: POST round trip", api)
    row("queue wait: timings.queue (enqueue -> claim)", queue)
    row("sandbox: timings.sandbox", sandbox)
    row("  of which fork/start: timings.fork", [g.timings["fork"] for _, g in pairs])
    row("checks: timings.checks (judging the run)", checks)
    row("storing + visibility: the rest", rest)
    row("end to end", e2e)
    print(
        f"   the same as a timeline without overlaps (timings.queue starts inside the POST, median"
        f" {ms(statistics.median(s.accepted - g.enqueued for s, g in pairs)).strip()} before its 202):"
    )
    row("POST round trip", api)
    row("202 read -> claim (negative: claimed before)", [g.claimed - s.accepted for s, g in pairs])
    row("claim -> sandbox start, checks end -> storing", [g.stored - g.claimed - g.timings["sandbox"]
                                                          - g.timings["checks"] for _, g in pairs])  # fmt: skip
    row("sandbox", sandbox)
    row("checks", checks)
    row("storing -> verdict seen by a GET", [s.visible - g.stored for s, g in pairs])
    polls = statistics.median(s.polls for s in run.samples)
    print(
        f"   the exercise's own compute, plain numpy in this process: {ms(exercise.compute).strip()};"
        f" GETs per submission while waiting: median {polls:g}"
    )
    print("   CPU, including the polling GETs (gunicorn, PostgreSQL, this client):")
    run.cpu.report(graded=len(run.samples), indent="   ", ceiling=False)


# --- 3: bursts ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Burst:
    posted: Posted
    records: list[Graded]
    first: float  # the first claim (drained) or the first POST (concurrent)
    last: float  # the last verdict stored
    cpu: CpuUse
    graded_in_cpu_window: int

    @property
    def per_second(self) -> float:
        return len(self.records) / (self.last - self.first)


def burst_drain(fleet: Fleet, port: int, tokens: Sequence[str], exercise: ExerciseUnderTest, n: int) -> Burst:
    """Submissions created through the API with no worker running; then one worker with two
    pool processes drains them."""
    from grader.models import Submission, SubmissionStatus

    posted = post_many(port, tokens, exercise.slug, exercise.code, n)
    queued = Submission.objects.filter(pk__in=posted.ids, status=SubmissionStatus.QUEUED)
    assert queued.count() == n, "a submission was graded with no worker running"
    fleet.worker(concurrency=BURST_CONCURRENCY, purge=False)
    meter = CpuMeter(fleet.roots())
    wait_graded(posted.ids, timeout=max(120.0, n * 1.5))
    cpu = meter.stop()
    records = graded_records(posted.ids)
    return Burst(
        posted=posted,
        records=records,
        first=min(r.claimed for r in records),
        last=max(r.stored for r in records),
        cpu=cpu,
        graded_in_cpu_window=sum(1 for r in records if r.stored >= cpu.at),
    )


def burst_concurrent(fleet: Fleet, port: int, tokens: Sequence[str], exercise: ExerciseUnderTest, n: int) -> Burst:
    """Client threads submit while the (running, warm) worker grades."""
    meter = CpuMeter(fleet.roots())
    posted = post_many(port, tokens, exercise.slug, exercise.code, n)
    wait_graded(posted.ids, timeout=max(120.0, n * 1.5))
    cpu = meter.stop()
    records = graded_records(posted.ids)
    return Burst(
        posted=posted,
        records=records,
        first=posted.first_sent,
        last=max(r.stored for r in records),
        cpu=cpu,
        graded_in_cpu_window=len(records),
    )


def report_burst(burst: Burst, *, drained: bool) -> None:
    records, n = burst.records, len(burst.records)
    posted = burst.posted
    post_rate = n / (posted.last_accepted - posted.first_sent)
    if drained:
        print(
            f"   drained: {n} created through the API first ({CLIENT_THREADS} client threads, no worker running,"
            f" {post_rate:.0f} accepted/s), then the worker started"
        )
        label = "first claim -> last verdict"
    else:
        print(f"   concurrent: {CLIENT_THREADS} client threads POST while the worker grades")
        label = "first POST -> last verdict"
    print(
        f"     {label:28} {burst.last - burst.first:6.2f} s: {burst.per_second:6.1f} graded/s"
        f"   (target >= {TARGET_PER_SECOND:g}/s: {verdict(burst.per_second >= TARGET_PER_SECOND)})"
    )
    if not drained:
        print(f"     POST round trip              {spread(posted.latencies)}   ({post_rate:.0f} accepted/s)")
        print(f"     queue wait                   {spread([r.timings['queue'] for r in records])}")
    in_worker = [r.stored - r.claimed for r in records]
    print(
        f"     per job, claim -> storing    median {ms(statistics.median(in_worker))}:"
        f" sandbox {ms(statistics.median(r.timings['sandbox'] for r in records)).strip()}"
        f" (fork {ms(statistics.median(r.timings['fork'] for r in records)).strip()}),"
        f" checks {ms(statistics.median(r.timings['checks'] for r in records)).strip()}"
    )
    print(f"     storing -> next claim, per pool process: {spread(pool_gaps(records))}")
    processes: dict[str, int] = defaultdict(int)
    for record in records:
        processes[record.worker] += 1
    busy = sum(in_worker) / (len(processes) * (burst.last - min(r.claimed for r in records)))
    print(
        f"     {len(processes)} pool processes ({' + '.join(str(c) for c in sorted(processes.values()))} jobs),"
        f" inside grading_job_run {busy:.0%} of the time from the first claim"
    )
    burst.cpu.report(graded=burst.graded_in_cpu_window, indent="     ")
    print(f"     none lost or duplicated: {n} results, one job and one verdict per submission, all full marks")


# --- Main --------------------------------------------------------------------------------


def run(args: argparse.Namespace, fleet: Fleet) -> None:
    slugs = list(dict.fromkeys([args.exercise] + ([args.compare_exercise] if args.compare_exercise else [])))
    users = ["e2e-sequential"] + [f"e2e-burst-{n}" for n in range(CLIENT_THREADS)]
    exercises = prepare(slugs=slugs if args.burst else slugs[:1], users=users)
    describe_setup(args)
    port = fleet.api(WEB_WORKERS)
    tokens = {username: token_for(port, username) for username in users}

    if args.sequential:
        exercise = exercises[args.exercise]
        report_low_load(exercise, low_load(fleet, port, tokens["e2e-sequential"], exercise, args))

    if not args.burst:
        return
    burst_tokens = [tokens[f"e2e-burst-{n}"] for n in range(CLIENT_THREADS)]
    print(
        f"\n3. burst: {args.burst} submissions graded by one `celery worker --concurrency={BURST_CONCURRENCY}`"
        f" (prefork: {BURST_CONCURRENCY} pool processes, prefetch 1 each)"
    )
    for slug in slugs:
        exercise = exercises[slug]
        print(
            f"\n   {slug} ({exercise.checks} checks, the reference solution;"
            f" its own compute, plain numpy in this process: {ms(exercise.compute).strip()})"
        )
        fleet.stop_workers()
        report_burst(burst_drain(fleet, port, burst_tokens, exercise, args.burst), drained=True)
        report_burst(burst_concurrent(fleet, port, burst_tokens, exercise, args.burst), drained=False)
    fleet.stop_workers()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument(
        "--database",
        choices=["embedded", "postgres"],
        default="postgres" if os.environ.get("DATABASE_URL") else "embedded",
        help="embedded: SQLite + filesystem broker in a temporary folder; postgres: DATABASE_URL and REDIS_URL "
        f"(default {DEFAULT_DATABASE_URL} and {DEFAULT_REDIS_URL})",
    )
    parser.add_argument("--sequential", type=int, default=200, help="submissions at low load (0: skip)")
    parser.add_argument("--warmup", type=int, default=10, help="sequential submissions before measuring")
    parser.add_argument("--burst", type=int, default=1000, help="submissions per burst (0: skip)")
    parser.add_argument("--exercise", default="binary-cross-entropy")
    parser.add_argument("--compare-exercise", default="mse-versus-mae", help="a cheaper one, also burst ('': none)")
    parser.add_argument("--poll-ms", type=float, default=1.0, help="pause between GETs while waiting for a verdict")
    parser.add_argument("--settings", default="config.settings.local", help="DJANGO_SETTINGS_MODULE for every process")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, SQLite, broker)")
    args = parser.parse_args()
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)

    workdir = Path(tempfile.mkdtemp(prefix="grader-e2e-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below
    fleet = Fleet(workdir)
    failed = True
    started = time.time()
    try:
        configure(args, workdir)
        run(args, fleet)
        failed = False
        if changed := code_changed_since(started):
            print(f"\nnote: the application's code changed during the run: {', '.join(changed)}")
    finally:
        fleet.stop_all()
        if (failed or args.keep) and any(workdir.iterdir()):
            print(f"\nlogs and data kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
