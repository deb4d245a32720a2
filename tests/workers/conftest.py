"""Real processes for tests: Celery workers (`celery -A workers worker`), an API server and
a Redis server of the test's own, all pointed at the test database and started and
stopped by the test."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from workers.queues import Queue, grading_queue

NUMPY_QUEUE = grading_queue("numpy")

REPO = Path(__file__).resolve().parents[2]
# The worker's environment holds this secret; no submission may ever see it.
CANARY_SECRET = "canary-secret-" + uuid.uuid4().hex


def database_url_for_worker() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], object], *, timeout: float = 30.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


class ServiceProcess:
    """A child process in its own session (so the whole tree can be killed at once)."""

    def __init__(self, command: list[str], *, env: dict[str, str], log: Path, ready: str | None):
        self.log = log
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        if ready is not None and not wait_for(lambda: ready in self.output() or self.process.poll() is not None,
                                              timeout=60):  # fmt: skip
            self.kill()
            pytest.fail(f"{command[:4]} did not start:\n{self.output()}")
        if self.process.poll() is not None:
            pytest.fail(f"{command[:4]} exited at start ({self.process.returncode}):\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL to the process and everything it started: a machine losing power."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
        # Anything the process left behind in its session goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def process_env(*, redis_url: str | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url_for_worker(),
        "REDIS_URL": settings.REDIS_URL if redis_url is None else redis_url,
        "SECRET_KEY": CANARY_SECRET,
        **(extra or {}),
    }


WorkerFactory = Callable[..., ServiceProcess]


@pytest.fixture
def start_worker(transactional_db: None, tmp_path: Path) -> Iterator[WorkerFactory]:
    """start_worker(concurrency=1, beat=False, queues=(default, grading), env={...}, purge=True)"""
    if "memory" in str(connection.settings_dict["NAME"]):
        pytest.fail("worker tests need a database that another process can open")
    started: list[ServiceProcess] = []

    def start(
        *,
        concurrency: int = 1,
        beat: bool = False,
        queues: tuple[str, ...] = (Queue.DEFAULT, NUMPY_QUEUE),
        env: dict[str, str] | None = None,
        redis_url: str | None = None,
        purge: bool = True,
    ) -> ServiceProcess:
        name = f"test-{uuid.uuid4().hex[:8]}"
        command = [
            sys.executable, "-m", "celery", "-A", "workers", "worker",
            "--pool=prefork", f"--concurrency={concurrency}", f"--queues={','.join(queues)}",
            "--without-gossip", "--without-mingle", "--loglevel=INFO", f"--hostname={name}@%h",
        ]  # fmt: skip
        if purge:
            command.append("--purge")
        if beat:
            command += ["--beat", f"--schedule={tmp_path / (name + '-beat')}"]
        worker = ServiceProcess(
            command,
            env=process_env(redis_url=redis_url, extra=env),
            log=tmp_path / f"{name}.log",
            ready=" ready.",
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def celery_worker(start_worker: WorkerFactory) -> ServiceProcess:
    return start_worker()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A Redis server of this test's own, which it may stop and start again; returns a
    function that (re)starts it and gives its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    servers: list[ServiceProcess] = []

    def start() -> str:
        for server in servers:
            server.kill()
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(tmp_path)]  # fmt: skip
        servers.append(
            ServiceProcess(command, env=dict(os.environ), log=tmp_path / "redis.log", ready="Ready to accept")
        )
        return f"redis://127.0.0.1:{port}/0"

    yield start
    for server in servers:
        server.kill()


@pytest.fixture
def start_api(transactional_db: None, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """start_api(redis_url=...) serves the API from its own process; returns its base URL."""
    started: list[ServiceProcess] = []

    def start(*, redis_url: str | None = None) -> str:
        port = free_port()
        command = [sys.executable, "manage.py", "runserver", "--noreload", "--nothreading", f"127.0.0.1:{port}"]
        started.append(
            ServiceProcess(
                command,
                env=process_env(redis_url=redis_url),
                log=tmp_path / f"api-{port}.log",
                ready="Quit the server with",
            )
        )
        return f"http://127.0.0.1:{port}"

    yield start
    for server in started:
        server.stop()
