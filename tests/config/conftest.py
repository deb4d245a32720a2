"""The site served by a real server process, started the way `make run` and the image
start it, pointed at the test database; and plain HTTP helpers to talk to it."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.workers.conftest import REPO, ServiceProcess, free_port, process_env

LAUNCHERS = ("image", "make run")
# These tests log in and submit more often than a person would; the throttles are tested
# elsewhere, and their counts (in Redis) outlive a test.
UNTHROTTLED = {f"{name}_THROTTLE_RATE": "1000/min" for name in ("LOGIN", "LOGIN_USERNAME", "SUBMISSION")}


def image_web_command() -> list[str]:
    """The Dockerfile's CMD, which the compose file's web service spells out too."""
    lines = (REPO / "Dockerfile").read_text().splitlines()
    cmd = next(line for line in lines if line.startswith("CMD "))
    return list(json.loads(cmd.removeprefix("CMD ")))


def compose_web_command() -> list[str] | None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    command = compose["services"]["web"].get("command")
    return None if command is None else [str(part) for part in command]


def _image_command(port: int) -> list[str]:
    command = image_web_command()
    assert command[0] == "python", command
    listen = command.index("--listen") + 1
    return [sys.executable, *command[1:listen], f"127.0.0.1:{port}", *command[listen + 1 :]]


def _make_run_bin(folder: Path) -> Path:
    """A BIN for scripts/run-dev.sh: this Python, and a `celery` that only waits (the
    worker is not what these tests are about, and must not consume their messages)."""
    folder.mkdir(exist_ok=True)
    for name, body in (("python", f'exec "{sys.executable}" "$@"'), ("celery", "exec sleep 300")):
        script = folder / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    return folder


@dataclass
class Site:
    url: str
    port: int
    server: ServiceProcess
    launcher: str

    def output(self) -> str:
        return self.server.output()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    site: Site,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 15.0,
) -> Reply:
    """One request on a fresh connection, timed from connect to the last body byte."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    return Reply(
        status=response.status,
        headers={key.lower(): value for key, value in response.getheaders()},
        body=data,
        seconds=time.monotonic() - started,
    )


def json_request(site: Site, method: str, path: str, payload: Any = None, *, token: str | None = None) -> Reply:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Token {token}"
    body = None if payload is None else json.dumps(payload).encode()
    return request(site, method, path, body=body, headers=headers)


def _stop(site: Site) -> None:
    if site.launcher == "make run":
        # Ctrl-C in the terminal: the script's traps stop the worker after the server.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(site.server.process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            site.server.process.wait(timeout=20)
    site.server.stop()


SiteFactory = Callable[..., Site]


@pytest.fixture
def start_site(transactional_db: None, tmp_path: Path) -> Iterator[SiteFactory]:
    """start_site(launcher="image" | "make run", database_url=..., env={...}) -> Site"""
    started: list[Site] = []

    def start(*, launcher: str = "image", database_url: str | None = None, env: dict[str, str] | None = None) -> Site:
        port = free_port()
        extra = {"PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO", **UNTHROTTLED, **(env or {})}
        if database_url is not None:
            extra["DATABASE_URL"] = database_url
        if launcher == "image":
            command = _image_command(port)
        elif launcher == "make run":
            bin_folder = _make_run_bin(tmp_path / f"bin-{port}")
            command = ["bash", str(REPO / "scripts" / "run-dev.sh")]
            extra.update({"BIN": str(bin_folder), "HOST": "127.0.0.1", "PORT": str(port)})
        else:
            raise ValueError(launcher)
        server = ServiceProcess(
            command,
            env=process_env(extra=extra),
            log=tmp_path / f"site-{port}.log",
            ready=f"Serving on http://127.0.0.1:{port}",
        )
        site = Site(url=f"http://127.0.0.1:{port}", port=port, server=server, launcher=launcher)
        started.append(site)
        return site

    yield start
    for site in started:
        _stop(site)
