"""Quiz API latency and throughput through a real gunicorn server.

    .venv/bin/python bench/quiz_api.py [--attempts 200] [--clients 4]

Uses DATABASE_URL / REDIS_URL when set (e.g. PostgreSQL), otherwise a fresh SQLite file in
a temporary folder. Prints p50/p95/max per request kind, sequentially (one client), and
the submit throughput with several concurrent clients.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Client:
    def __init__(self, port: int, token: str | None = None):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.token = token

    def call(self, method: str, path: str, body: object = None) -> tuple[int, Any, float]:
        headers = {"Content-Type": "application/json", "Host": "127.0.0.1"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        payload = json.dumps(body) if body is not None else None
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
        except (http.client.HTTPException, ConnectionError):
            self.connection.close()  # the server closed a kept-alive connection: retry once
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        return response.status, json.loads(data) if data else None, elapsed


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"{name:28} n={len(ms):5}  p50={statistics.median(ms):7.2f} ms  p95={p95:7.2f} ms  max={ms[-1]:7.2f} ms"


def prepare(users: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.services import user_ensure
    from questions.models import Quiz

    call_command("migrate", verbosity=0)
    call_command("seed_bank", verbosity=0)
    Quiz.objects.filter(slug="loss-functions-vs-metrics").update(max_attempts=None, time_limit_minutes=None)
    for n in range(users):
        user_ensure(username=f"bench{n}", password="bench-pass-123", instructor=False)


def right_answers(quiz: dict[str, Any], solutions: dict[int, Any]) -> list[dict[str, Any]]:
    return [solutions[q["id"]] for q in quiz["questions"]]


def load_solutions() -> dict[int, dict[str, Any]]:
    from questions.models import Question

    solutions: dict[int, dict[str, Any]] = {}
    for question in Question.objects.prefetch_related("choices"):
        if question.type == "numeric":
            solutions[question.id] = {"question": question.id, "value": question.numeric_answer}
        else:
            correct = [c.id for c in question.choices.all() if c.is_correct]
            solutions[question.id] = {"question": question.id, "choices": correct}
    return solutions


def token_for(port: int, username: str) -> str:
    status, body, _ = Client(port).call(
        "POST", "/api/v1/auth/token/", {"username": username, "password": "bench-pass-123"}
    )
    assert status == 200, body
    return str(body["token"])


def one_attempt(client: Client, solutions: dict[int, Any], timings: dict[str, list[float]]) -> None:
    status, attempt, t_start = client.call("POST", "/api/v1/quizzes/loss-functions-vs-metrics/attempts/")
    assert status == 201, attempt
    answers = right_answers(attempt, solutions)
    status, result, t_submit = client.call("POST", f"/api/v1/attempts/{attempt['id']}/submit/", {"answers": answers})
    assert status == 200, result
    assert result["score"] == result["max_score"], result
    timings["POST attempts (start)"].append(t_start)
    timings["POST submit (12 answers)"].append(t_submit)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--attempts", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--web-workers", type=int, default=2)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    os.environ.setdefault("GRADER_VAR_DIR", str(workdir))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DEBUG"] = "false"
    os.environ["LOGIN_THROTTLE_RATE"] = "100000/min"
    prepare(users=args.clients + 1)
    solutions = load_solutions()

    from django.conf import settings

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.web_workers), "--log-level", "warning"],
        cwd=REPO, env=os.environ.copy(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        python = platform.python_version()
        print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {python}")
        print(f"database: {engine}; gunicorn sync workers: {args.web_workers}; quiz: 12 questions")

        timings: dict[str, list[float]] = {
            "GET quiz detail": [],
            "POST attempts (start)": [],
            "POST submit (12 answers)": [],
        }
        client = Client(port, token_for(port, "bench0"))
        for _ in range(10):  # warm up connections and caches
            client.call("GET", "/api/v1/quizzes/loss-functions-vs-metrics/")
        for _ in range(args.attempts):
            _, _, elapsed = client.call("GET", "/api/v1/quizzes/loss-functions-vs-metrics/")
            timings["GET quiz detail"].append(elapsed)
            one_attempt(client, solutions, timings)
        print("\nsequential, one client:")
        for name, values in timings.items():
            print("  " + summary(name, values))

        concurrent: dict[str, list[float]] = {"POST attempts (start)": [], "POST submit (12 answers)": []}
        lock = threading.Lock()
        per_client = max(1, args.attempts // args.clients)

        def run(n: int) -> Callable[[], None]:
            def body() -> None:
                local: dict[str, list[float]] = {k: [] for k in concurrent}
                worker_client = Client(port, token_for(port, f"bench{n + 1}"))
                for _ in range(per_client):
                    one_attempt(worker_client, solutions, local)
                with lock:
                    for key, values in local.items():
                        concurrent[key].extend(values)

            return body

        threads = [threading.Thread(target=run(n)) for n in range(args.clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        total = per_client * args.clients
        print(f"\n{args.clients} concurrent clients, {total} attempts started and submitted in {wall:.2f} s:")
        print(f"  throughput: {total / wall:.1f} submitted attempts/s ({2 * total / wall:.1f} requests/s)")
        for name, values in concurrent.items():
            print("  " + summary(name, values))
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
