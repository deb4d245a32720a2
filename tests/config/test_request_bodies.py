"""Request bodies through the real server: chunked ones are read (Django alone, behind
gunicorn or runserver, read them as empty: 400 "This field is required"), and the size
caps hold for every way of sending a body."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator

import pytest
from django.conf import settings

from grader.models import Submission
from tests.config.conftest import Reply, Site, request
from tests.exercises import make_exercise

LOGIN = {"username": "alice", "password": "pass-word-123"}


def _chunked(site: Site, path: str, chunks: list[bytes], *, token: str | None = None) -> Reply:
    """POST with Transfer-Encoding: chunked and no Content-Length, one chunk per item."""
    connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=15)
    headers = {"Content-Type": "application/json", "Accept": "application/json", "Transfer-Encoding": "chunked"}
    if token is not None:
        headers["Authorization"] = f"Token {token}"

    def body() -> Iterator[bytes]:
        yield from chunks

    try:
        connection.request("POST", path, body=body(), headers=headers, encode_chunked=True)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data, 0.0)


def _in_pieces(payload: object, size: int) -> list[bytes]:
    raw = json.dumps(payload).encode()
    return [raw[start : start + size] for start in range(0, len(raw), size)]


@pytest.fixture
def site(start_site, student) -> Site:
    return start_site()


def test_it_reads_a_chunked_body(site):
    reply = _chunked(site, "/api/v1/auth/token/", _in_pieces(LOGIN, 7))
    assert reply.status == 200, reply.body
    assert len(reply.json()["token"]) == 40


def test_it_reads_a_chunked_code_submission(site, student):
    exercise = make_exercise()
    token = _chunked(site, "/api/v1/auth/token/", _in_pieces(LOGIN, 64)).json()["token"]
    code = "def square(x):\n    return x * x\n"
    reply = _chunked(
        site, f"/api/v1/exercises/{exercise.slug}/submissions/", _in_pieces({"code": code}, 5), token=token
    )
    assert reply.status == 202, reply.body
    assert Submission.objects.get(pk=reply.json()["id"]).code == code


def test_it_refuses_a_chunked_body_over_the_api_cap_with_its_json_413(site):
    padding = "x" * (settings.API_MAX_BODY_BYTES + 1)
    reply = _chunked(site, "/api/v1/auth/token/", _in_pieces({**LOGIN, "padding": padding}, 16 * 1024))
    assert reply.status == 413
    assert reply.json()["code"] == "request_too_large"


def test_it_refuses_a_declared_length_over_the_api_cap_with_its_json_413(site):
    body = json.dumps({**LOGIN, "padding": "x" * settings.API_MAX_BODY_BYTES}).encode()
    reply = request(site, "POST", "/api/v1/auth/token/", body=body, headers={"Content-Type": "application/json"})
    assert reply.status == 413
    assert reply.json()["code"] == "request_too_large"


def test_it_refuses_a_huge_declared_length_before_reading_the_body(site):
    """The server's own cap (4 x the API's) answers from the headers alone."""
    with socket.create_connection(("127.0.0.1", site.port), timeout=10) as client:
        client.sendall(
            b"POST /api/v1/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\n\r\n{"
        )
        answer = client.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
