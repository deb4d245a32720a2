"""Slow clients cannot tie the site up: a hundred connections stalled mid-request leave
every other request answered at its usual speed, under `make run` and the image alike.

Behind gunicorn's sync workers (the image's server before) four such connections made
/healthz/ take over 30 s: each held a worker until its timeout.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.config.conftest import (
    LAUNCHERS,
    Site,
    compose_web_command,
    image_web_command,
    json_request,
    request,
)
from tests.workers.conftest import REPO

STALLED_CLIENTS = 100
# Usual speed here is a few milliseconds; the bound leaves room for a busy 2-core machine.
BOUND_SECONDS = 2.0
LOGIN = {"username": "alice", "password": "pass-word-123"}

_PROMISES_MORE_BODY = (
    b"POST /api/v1/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100000\r\n\r\n{"
)
_HEADERS_UNFINISHED = b"POST /api/v1/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le"


def _open_stalled(site: Site, count: int) -> list[socket.socket]:
    """Half declare a 100 kB body and send one byte of it; half never end their headers."""
    stalled: list[socket.socket] = []
    try:
        for index in range(count):
            client = socket.create_connection(("127.0.0.1", site.port), timeout=5)
            stalled.append(client)
            client.sendall(_PROMISES_MORE_BODY if index % 2 else _HEADERS_UNFINISHED)
    except BaseException:
        _close(stalled)
        raise
    return stalled


def _waiting(client: socket.socket) -> bool:
    """Still open and unanswered: the server is holding it, as a slow client expects."""
    client.setblocking(False)
    try:
        return client.recv(1) == b"never"  # an answer or a close would both be a failure
    except BlockingIOError:
        return True
    finally:
        client.setblocking(True)


def _close(clients: list[socket.socket]) -> None:
    for client in clients:
        client.close()


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_it_answers_at_usual_speed_while_a_hundred_clients_stall(start_site, student, launcher):
    site = start_site(launcher=launcher)
    token = json_request(site, "POST", "/api/v1/auth/token/", LOGIN).json()["token"]
    usual = max(request(site, "GET", "/healthz/").seconds for _ in range(3))

    stalled = _open_stalled(site, STALLED_CLIENTS)
    try:
        time.sleep(0.5)  # every stalled request has reached the server
        replies = {
            "healthz": request(site, "GET", "/healthz/"),
            "login": json_request(site, "POST", "/api/v1/auth/token/", LOGIN),
            "quizzes": json_request(site, "GET", "/api/v1/quizzes/", token=token),
        }
        still_waiting = sum(_waiting(client) for client in stalled)
    finally:
        _close(stalled)

    assert {name: reply.status for name, reply in replies.items()} == {"healthz": 200, "login": 200, "quizzes": 200}
    slowest = max(reply.seconds for reply in replies.values())
    assert slowest < BOUND_SECONDS, f"{slowest:.3f} s with {STALLED_CLIENTS} stalled clients (usual {usual:.3f} s)"
    assert still_waiting == STALLED_CLIENTS


def test_make_run_and_compose_serve_as_the_image_does():
    """The launch the test above measures is the one all three use."""
    assert image_web_command()[:3] == ["python", "-m", "config.wsgi"]
    assert compose_web_command() in (None, image_web_command())
    assert '"$BIN/python" -m config.wsgi --listen "$HOST:$PORT"' in (REPO / "scripts" / "run-dev.sh").read_text()
