"""LTI 1.3 launch and grade passback latency through real processes.

    .venv/bin/python bench/lti_flow.py                          # SQLite + filesystem broker in a temporary folder
    .venv/bin/python bench/lti_flow.py --database postgres      # PostgreSQL + Redis
        [--launches 200] [--students 100] [--worker-concurrency 2]

--database sqlite (the default when DATABASE_URL is unset) puts a fresh SQLite file and
kombu's filesystem broker in a temporary folder. --database postgres (the default when
DATABASE_URL is set) uses DATABASE_URL and REDIS_URL, else
postgres://postgres@127.0.0.1:5432/grader_bench_lti (created when missing) and Redis
database 13; one run at a time per database (an advisory lock), since the worker purges
the broker's default queue as it starts.

Processes: gunicorn (2 sync workers) serves the tool with LTI_ALLOW_HTTP=true and
LTI_TOOL_BASE_URL at its own address; the in-repo test LMS (tests/lti/platform.py) is
served from a thread of this process on 127.0.0.1 and registered in the tool's database
before gunicorn starts; a `celery worker` on the default queue sends the grades back.
This process is the browser: requests, keeping the tool's `SameSite=None; Secure`
cookies over http on loopback as browsers do.

1. Launches: one student, N sequential launches, each in a fresh browser (no cookies):
   GET /lti/login/?...&lti1p3_new_window=1 (past the cookie check page) -> 302 to the
   platform's /auth -> its auto-post form (a signed id_token) -> POST /lti/launch/ -> 302
   -> GET the quiz page. The first launch is shown apart: it fetches the platform's key
   set (kept on the Platform row afterwards).
2. Passback: M students launch once each (shown too: on a fresh database, each makes a
   user); then, one student at a time, start and submit an attempt through the REST API
   with the session the launch opened (CSRF token from the cookie, in X-CSRFToken), and
   wait for the score to reach the platform's line item. The platform notes each score's
   arrival time as it takes it; this process polls for it. Passback.sent_at (the send
   task's start) splits the wait. The message is sent when the submit commits, before the
   API renders its answer, so a score can arrive before the submit's response is read
   (a negative time). Then: exactly one score per attempt, one sent Passback row per
   attempt, and the token requests the platform saw.

Every process started here runs in its own session and is stopped at the end, errors
included; their logs are kept (printed path) when a run fails.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import io
import os
import platform
import re
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
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import requests
from bench_database import database_ensure, database_lock  # beside this script

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

if TYPE_CHECKING:
    from tests.lti.platform import TestPlatform

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/grader_bench_lti"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
BENCH_LOCK = 0x6C746931  # PostgreSQL advisory lock: one run at a time per database
QUIZ = "loss-functions-vs-metrics"  # seed_bank's, 12 questions
# The bench's own LMS, course and placement, the same in every run: a reused database
# holds no other course of this platform whose line items (at an earlier run's port)
# would be sent grades too, fail, and make the tool leave the platform alone for a while.
ISSUER = "https://lms.bench.invalid"
CLIENT_ID = "grader-bench"
CONTEXT_ID = "bench-course"
LINK_HINT = "bench-quiz"
WEB_WORKERS = 2
SCORE_TIMEOUT_SECONDS = 30.0
DUPLICATE_GRACE_SECONDS = 2.0  # after the last score: time for a duplicate to show up


# --- Processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """A child process in its own session, logging to a file."""

    def __init__(self, name: str, command: list[str], *, log: Path) -> None:
        self.name = name
        self.log = log
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=os.environ.copy(), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_until(self, ready: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start:\n{self.output()[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (a warm shutdown for Celery), then SIGKILL to whatever is left in the session."""
        if self.alive():
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def listening(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    return check


def start_gunicorn(workdir: Path, port: int) -> Service:
    command = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
               "--workers", str(WEB_WORKERS), "--log-level", "warning"]  # fmt: skip
    server = Service("gunicorn", command, log=workdir / "gunicorn.log")
    server.wait_until(listening(port))
    return server


def start_worker(workdir: Path, concurrency: int) -> Service:
    """One `celery worker` on the default queue (where passbacks go), logging at INFO as
    deployed; --purge drops messages an earlier, interrupted run left."""
    command = [
        sys.executable, "-m", "celery", "-A", "workers", "worker", "--pool=prefork",
        f"--concurrency={concurrency}", "--queues=default", "--without-gossip", "--without-mingle",
        "--loglevel=INFO", f"--hostname=lti-bench-{uuid.uuid4().hex[:6]}@%h", "--purge",
    ]  # fmt: skip
    worker = Service("worker", command, log=workdir / "worker.log")
    worker.wait_until(lambda: " ready." in worker.output())
    return worker


# --- The platform ------------------------------------------------------------------------


class Arrivals:
    """When each score reached the platform (wall clock), by the platform's user id."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)

    def add(self, sub: str, at: float) -> None:
        with self.lock:
            self.times[sub].append(at)

    def of(self, sub: str) -> list[float]:
        with self.lock:
            return list(self.times.get(sub, []))


def recording_platform(arrivals: Arrivals) -> TestPlatform:
    """The test LMS, noting the time each score arrives before it handles it."""
    from tests.lti.platform import TestPlatform

    class RecordingPlatform(TestPlatform):
        def receive_score(self, lineitem: str, body: dict[str, Any], authorization: str) -> int:
            at = time.time()
            status = super().receive_score(lineitem, body, authorization)
            arrivals.add(str(body.get("userId", "")), at)
            return status

    return RecordingPlatform(issuer=ISSUER, client_id=CLIENT_ID)


def platform_prepare(lms: TestPlatform, *, tool_url: str) -> str:
    """Register the served platform with the tool at this run's port, forgetting the key set
    and token an earlier run's platform left (other keys); add the quiz's placement with a
    gradebook column. The line item's URL."""
    from django.utils import timezone

    from lti.ags import SCORE_SCOPE, access_token_forget
    from lti.keys import tool_key_current
    from lti.models import Platform

    lms.tool_login_url = tool_url + "/lti/login/"
    lms.tool_launch_url = tool_url + "/lti/launch/"
    lms.tool_keyset_url = tool_url + "/lti/jwks/"
    registered = lms.register()
    Platform.objects.filter(pk=registered.pk).update(key_set={}, key_set_fetched_at=None, key_set_tried_at=None)
    access_token_forget(platform=registered, scopes=[SCORE_SCOPE])  # Redis may hold one from an earlier run
    tool_key_current(now=timezone.now())  # as manage.py lti_register_platform does
    lineitem = lms.add_lineitem(context_id=CONTEXT_ID, label="Loss functions vs metrics", score_maximum=12)
    lms.add_link(
        LINK_HINT,
        context_id=CONTEXT_ID,
        resource_link_id="bench-quiz-link",
        title="Loss functions vs metrics",
        custom={"resource": f"quiz:{QUIZ}"},
        lineitem=lineitem,
    )
    return lineitem


def add_person(lms: TestPlatform, sub: str) -> None:
    from tests.lti.platform import Person

    lms.people[sub] = Person(sub=sub, name=f"Student {sub}", given_name="Student", family_name=sub)


# --- The browser -------------------------------------------------------------------------


class Browser(requests.Session):
    """A browser without cookies. It sends the tool's Secure cookies over http, as browsers
    do on loopback: requests would not, so they are kept as plain ones."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = super().send(request, **kwargs)
        for cookie in self.cookies:
            cookie.secure = False
        return response


def expect(response: requests.Response, status: int, what: str) -> requests.Response:
    if response.status_code != status:
        raise RuntimeError(f"{what}: HTTP {response.status_code}, expected {status}:\n{response.text[:2000]}")
    return response


def timed(call: Callable[[], requests.Response], status: int, what: str) -> tuple[requests.Response, float]:
    started = time.perf_counter()
    response = call()
    return expect(response, status, what), time.perf_counter() - started


@dataclass(frozen=True, kw_only=True)
class LaunchTimes:
    login: float
    auth: float
    launch: float
    page: float
    total: float


LAUNCH_STEPS = {
    "login": "GET /lti/login/ (tool)",
    "auth": "GET /auth (test LMS, for reference)",
    "launch": "POST /lti/launch/ (tool)",
    "page": "GET /quizzes/<slug>/ (tool)",
    "total": "whole launch",
}


def launch(lms: TestPlatform, tool_url: str, sub: str) -> tuple[requests.Session, LaunchTimes]:
    """One launch of `sub` from the quiz's placement, in a fresh browser; the browser,
    signed in to the tool, and the time of each step."""
    browser = Browser()
    params = {
        **lms.login_params(target=lms.tool_launch_url, hint=sub, message_hint=LINK_HINT),
        "lti1p3_new_window": "1",
    }
    started = time.perf_counter()
    login, t_login = timed(lambda: browser.get(lms.tool_login_url, params=params, allow_redirects=False), 302, "login")
    location = login.headers["Location"]
    if not location.startswith(lms.auth_url + "?"):
        raise RuntimeError(f"login redirected to {location}, not the platform's /auth")
    auth, t_auth = timed(lambda: browser.get(location, allow_redirects=False), 200, "platform /auth")
    form = {
        name: html.unescape(value) for name, value in re.findall(r"name='(id_token|state)' value='([^']*)'", auth.text)
    }
    action = re.search(r"action='([^']*)'", auth.text)
    if action is None or set(form) != {"id_token", "state"}:
        raise RuntimeError(f"the platform's answer holds no launch form:\n{auth.text[:2000]}")
    posted, t_launch = timed(
        lambda: browser.post(html.unescape(action.group(1)), data=form, allow_redirects=False), 302, "launch"
    )
    if posted.headers["Location"] != f"/quizzes/{QUIZ}/":
        raise RuntimeError(f"the launch redirected to {posted.headers['Location']}, not the quiz")
    _, t_page = timed(lambda: browser.get(urljoin(tool_url, posted.headers["Location"])), 200, "quiz page")
    total = time.perf_counter() - started
    return browser, LaunchTimes(login=t_login, auth=t_auth, launch=t_launch, page=t_page, total=total)


# --- Figures -----------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def spread(values: Sequence[float]) -> str:
    return f"p50 {ms(statistics.median(values))}   p95 {ms(percentile(values, 0.95))}   max {ms(max(values))}"


def report_launches(title: str, samples: Sequence[LaunchTimes]) -> None:
    print(f"\n{title}")
    for name, label in LAUNCH_STEPS.items():
        print(f"   {label:40} {spread([getattr(sample, name) for sample in samples])}")


def report_first(first: LaunchTimes, fetches: int) -> None:
    steps = ", ".join(f"{name} {ms(getattr(first, name)).strip()}" for name in LAUNCH_STEPS if name != "total")
    print(f"\n   first launch: {ms(first.total).strip()} ({steps});")
    print(f"   the platform's key set was fetched {fetches} time(s) during it")


# --- 1: launches -------------------------------------------------------------------------


def warm_up(tool_url: str) -> None:
    """Each gunicorn worker imports the URLconf and views on its first request: not a launch's cost."""
    for _ in range(5 * WEB_WORKERS):
        expect(requests.get(tool_url + "/lti/jwks/", timeout=30), 200, "warm-up")


def launches(lms: TestPlatform, tool_url: str, n: int) -> None:
    sub = "bench-lti-repeat"
    add_person(lms, sub)
    before = lms.key_set_fetches
    _, first = launch(lms, tool_url, sub)
    first_fetches = lms.key_set_fetches - before
    samples = [launch(lms, tool_url, sub)[1] for _ in range(n)]
    report_launches(
        f"1. launches: one student, {n} sequential launches after the first, each in a fresh browser", samples
    )
    report_first(first, first_fetches)
    print(f"   key set fetches during the {n} others: {lms.key_set_fetches - before - first_fetches}")


# --- 2: passback -------------------------------------------------------------------------


def load_answers() -> list[dict[str, Any]]:
    """The quiz's right answers, as the REST API takes them."""
    from questions.models import Quiz

    quiz = Quiz.objects.get(slug=QUIZ)
    answers: list[dict[str, Any]] = []
    for placed in quiz.quiz_questions.select_related("question").prefetch_related("question__choices"):
        question = placed.question
        if question.type == "numeric":
            answers.append({"question": question.id, "value": question.numeric_answer})
        else:
            answers.append({"question": question.id, "choices": [c.id for c in question.choices.all() if c.is_correct]})
    return answers


@dataclass(frozen=True, kw_only=True)
class Passed:
    sub: str
    attempt_id: int
    sent: float  # the submit request sent (wall clock)
    answered: float  # its response read
    arrived: float  # the score at the platform


def api_post(browser: requests.Session, url: str, body: object, status: int, what: str) -> dict[str, Any]:
    headers = {"X-CSRFToken": browser.cookies.get("csrftoken") or ""}
    return dict(expect(browser.post(url, json=body, headers=headers, timeout=30), status, what).json())


def attempt_and_wait(
    browser: requests.Session,
    tool_url: str,
    sub: str,
    answers: list[dict[str, Any]],
    arrivals: Arrivals,
    worker: Service,
) -> Passed:
    attempt = api_post(browser, f"{tool_url}/api/v1/quizzes/{QUIZ}/attempts/", {}, 201, "start an attempt")
    before = len(arrivals.of(sub))
    sent = time.time()
    result = api_post(
        browser, f"{tool_url}/api/v1/attempts/{attempt['id']}/submit/", {"answers": answers}, 200, "submit"
    )
    answered = time.time()
    if result["score"] != result["max_score"]:
        raise RuntimeError(f"attempt {attempt['id']} scored {result['score']} of {result['max_score']}")
    while len(arrived := arrivals.of(sub)) == before:
        if not worker.alive() or time.time() - answered > SCORE_TIMEOUT_SECONDS:
            raise RuntimeError(
                f"no score for attempt {attempt['id']} after {time.time() - answered:.0f} s"
                f" (worker {'running' if worker.alive() else 'exited'}):\n{worker.output()[-3000:]}"
            )
        time.sleep(0.001)
    return Passed(sub=sub, attempt_id=int(attempt["id"]), sent=sent, answered=answered, arrived=arrived[before])


def passback(lms: TestPlatform, tool_url: str, arrivals: Arrivals, worker: Service, m: int) -> bool:
    """Section 2; False when a score is missing or duplicated."""
    from lti.models import LtiIdentity

    subs = [f"bench-lti-student-{n}" for n in range(m)]
    known = LtiIdentity.objects.filter(platform__issuer=lms.issuer, sub__in=subs).count()
    browsers = {}
    first_launches = []
    for sub in subs:
        add_person(lms, sub)
        browsers[sub], times = launch(lms, tool_url, sub)
        first_launches.append(times)
    made = f"{m - known} new to the tool: a user, identity and membership made"
    report_launches(f"   first launch of each of the {m} students ({made})", first_launches)

    answers = load_answers()
    tokens_before = lms.token_requests
    passed = [attempt_and_wait(browsers[sub], tool_url, sub, answers, arrivals, worker) for sub in subs]
    time.sleep(DUPLICATE_GRACE_SECONDS)
    report_passback(passed, len(answers))
    return check_passback(lms, passed, tokens=lms.token_requests - tokens_before)


def report_passback(passed: Sequence[Passed], questions: int) -> None:
    from lti.models import Passback

    print(
        f"\n2. passback: {len(passed)} students one after another, each starting and submitting an attempt"
        f" ({questions} answers) through the REST API, then waiting for the score at the platform"
    )
    print(f"   submit response -> score at the platform   {spread([p.arrived - p.answered for p in passed])}")
    print(f"   submit sent -> score at the platform       {spread([p.arrived - p.sent for p in passed])}")
    print(f"   the submit itself (REST API)               {spread([p.answered - p.sent for p in passed])}")
    started = dict(
        Passback.objects.filter(attempt_id__in=[p.attempt_id for p in passed]).values_list("attempt_id", "sent_at")
    )
    # sent_at is the send task's start (the `now` it claims the row with), in the worker.
    task = [(p, at.timestamp()) for p in passed if (at := started.get(p.attempt_id)) is not None]
    print("   where it goes (wall clocks of this machine's processes):")
    print(f"     submit response -> send task starts      {spread([at - p.answered for p, at in task])}")
    print(f"     send task start -> score at the platform {spread([p.arrived - at for p, at in task])}")


def check_passback(lms: TestPlatform, passed: Sequence[Passed], *, tokens: int) -> bool:
    from django.conf import settings

    from lti.models import Passback, PassbackState

    counts: dict[int, int] = defaultdict(int)
    for p in passed:
        counts[len(lms_scores_of(lms, p.sub))] += 1
    rows = Passback.objects.filter(attempt_id__in=[p.attempt_id for p in passed])
    states: dict[str, int] = defaultdict(int)
    per_attempt: dict[int, int] = defaultdict(int)
    for attempt_id, state in rows.values_list("attempt_id", "state"):
        states[state] += 1
        per_attempt[attempt_id] += 1
    scores = ", ".join(f"{attempts} with {n} score{'' if n == 1 else 's'}" for n, attempts in sorted(counts.items()))
    print(f"   scores at the platform: {len(lms.scores)} for {len(passed)} attempts ({scores})")
    print(f"   Passback rows: {len(rows)} for {len(passed)} attempts, {dict(states)}")
    distinct = len({s.token for s in lms.scores})
    cache = "Redis, shared" if settings.REDIS_URL else "per process: at most one per pool process"
    print(f"   token requests the platform saw: {tokens}; distinct tokens on the scores: {distinct} (cache: {cache})")
    ok = (
        set(counts) == {1}
        and len(per_attempt) == len(passed)
        and set(per_attempt.values()) == {1}
        and dict(states) == {PassbackState.SENT: len(passed)}
        and all(s.accepted for s in lms.scores)
    )
    if not ok:
        print("   FAILURE: not exactly one accepted score and one sent Passback row per attempt")
    return ok


def lms_scores_of(lms: TestPlatform, sub: str) -> list[dict[str, Any]]:
    return [s.body for s in lms.scores if s.body.get("userId") == sub]


# --- Setting up --------------------------------------------------------------------------


def configure(args: argparse.Namespace, workdir: Path, tool_port: int) -> None:
    """The environment of this process and of every process it starts."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DEBUG": "false",
            "GRADER_VAR_DIR": str(workdir),
            "LOG_LEVEL": "WARNING",
            "LTI_ALLOW_HTTP": "true",
            "LTI_TOOL_BASE_URL": f"http://127.0.0.1:{tool_port}",
        }
    )
    if args.database == "sqlite":
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("REDIS_URL", None)
    else:
        os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
        os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
        database_ensure(os.environ["DATABASE_URL"])
        args.lock = database_lock(os.environ["DATABASE_URL"], lock=BENCH_LOCK)


def prepare() -> None:
    import logging

    import django

    django.setup()
    from django.core.management import call_command

    from questions.models import Quiz

    logging.getLogger("kombu.connection").setLevel(logging.ERROR)  # "No hostname was supplied" (filesystem)
    call_command("migrate", verbosity=0)
    call_command("seed_bank", verbosity=0, stdout=io.StringIO())
    Quiz.objects.filter(slug=QUIZ).update(max_attempts=None, time_limit_minutes=None)


def describe_setup(args: argparse.Namespace) -> None:
    from django.conf import settings
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        database = f"PostgreSQL {version} (database {settings.DATABASES['default']['NAME']})"
    else:
        import sqlite3

        database = f"SQLite {sqlite3.sqlite_version} (a fresh file in a temporary folder)"
    if settings.REDIS_URL:
        import redis

        info = redis.Redis.from_url(settings.REDIS_URL).info("server")
        broker = f"Redis {info['redis_version']} ({settings.REDIS_URL}), also the cache"
    else:
        interval = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("polling_interval", 1.0)
        broker = f"kombu filesystem transport, polling every {interval:g} s; per-process memory cache"
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; code: {code_version()}")
    print(f"machine: {platform.node()}, {os.cpu_count()} cores ({model}), {platform.platform()}; load {load_average()}")
    print(f"python {platform.python_version()}; database: {database}")
    print(f"broker: {broker}")
    print(
        f"tool: gunicorn, {WEB_WORKERS} sync workers; worker: celery prefork, concurrency"
        f" {args.worker_concurrency}, default queue; test LMS: a thread of this process"
    )


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine shows in them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def code_version() -> str:
    git = ["git", "--no-optional-locks", "-C", str(REPO)]
    try:
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", "lti", "grader", "config"], check=False)
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit.stdout.strip() + (" with uncommitted changes to lti/grader/config" if dirty.returncode else "")


# --- Main --------------------------------------------------------------------------------


def run(args: argparse.Namespace, workdir: Path, tool_port: int, services: list[Service]) -> bool:
    prepare()
    describe_setup(args)
    tool_url = f"http://127.0.0.1:{tool_port}"
    arrivals = Arrivals()
    lms = recording_platform(arrivals)
    with lms.serving():
        platform_prepare(lms, tool_url=tool_url)
        services.append(start_gunicorn(workdir, tool_port))
        warm_up(tool_url)
        launches(lms, tool_url, args.launches)
        if not args.students:
            return True
        worker = start_worker(workdir, args.worker_concurrency)
        services.append(worker)
        return passback(lms, tool_url, arrivals, worker, args.students)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres"],
        default="postgres" if os.environ.get("DATABASE_URL") else "sqlite",
        help="sqlite: SQLite + filesystem broker in a temporary folder; postgres: DATABASE_URL and REDIS_URL "
        f"(default {DEFAULT_DATABASE_URL} and {DEFAULT_REDIS_URL})",
    )
    parser.add_argument("--launches", type=int, default=200, help="sequential launches of one student")
    parser.add_argument("--students", type=int, default=100, help="students submitting an attempt each (0: skip)")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="pool processes (deployed default: 2)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, SQLite, broker)")
    args = parser.parse_args()
    if args.launches < 1:
        parser.error("--launches must be at least 1")
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)

    workdir = Path(tempfile.mkdtemp(prefix="grader-lti-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below
    services: list[Service] = []
    ok = False
    try:
        tool_port = free_port()
        configure(args, workdir, tool_port)
        ok = run(args, workdir, tool_port, services)
        print(f"\nload average after the bench: {load_average()}")
    finally:
        for service in reversed(services):
            service.stop()
        if (not ok or args.keep) and any(workdir.iterdir()):
            print(f"\nlogs and data kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
