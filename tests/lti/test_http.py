"""Requests to platforms under limits (lti.http), against a real local HTTP server that
answers slowly, trickles, sends too much or sends JSON nested too deep, and what the
callers (tokens, scores, rosters, key sets) make of each."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings

from lti.ags import DEFAULT_TOKEN_SECONDS, MAX_TOKEN_SECONDS, PlatformBusy, _token_from
from lti.http import Answer, HttpTimeout, HttpTooLarge, HttpUnreachable, bounded_request, json_document
from lti.platform_keys import KeySetUnavailable, fetch_key_set

DEEP = b"[" * 100_000 + b"]" * 100_000


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/slow-headers":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for n in range(40):  # each line well within the per-read timeout
                self.wfile.write(f"X-Slow-{n}: y\r\n".encode())
                self.wfile.flush()
                time.sleep(0.1)
            self.wfile.write(b"Content-Length: 0\r\n\r\n")
            return
        if self.path == "/until-closed":  # a body that ends when the connection does
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.1)
            return
        if self.path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Length", "400")
            self.end_headers()
            for _ in range(400):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.01)
            return
        if self.path in ("/gzip", "/gzip-bomb"):
            size = 1000 if self.path == "/gzip" else 50_000_000
            body = gzip.compress(b'{"keys": [' + b" " * size + b"]}")
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        body = {"/large": b"x" * 100_000, "/deep": DEEP, "/small": b'{"keys": []}'}[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@override_settings(LTI_HTTP_TIMEOUT_SECONDS=1)
def test_a_trickled_body_is_given_up_on_at_the_total_deadline(server):
    # Each byte comes well within the per-read timeout; only a total deadline stops it.
    started = time.monotonic()
    with pytest.raises(HttpTimeout):
        bounded_request(method="GET", url=f"{server}/trickle", headers={}, max_bytes=10_000)
    assert time.monotonic() - started < 2.5


@override_settings(LTI_HTTP_TIMEOUT_SECONDS=1)
@pytest.mark.parametrize("path", ["/slow-headers", "/until-closed"])
def test_headers_or_a_close_delimited_body_trickled_are_cut_at_the_deadline(server, path):
    # Headers are read before the body loop looks at the clock; a body that ends with the
    # connection would look complete once the watchdog shuts the socket: both are timeouts.
    started = time.monotonic()
    with pytest.raises(HttpTimeout):
        bounded_request(method="GET", url=f"{server}{path}", headers={}, max_bytes=10_000)
    assert time.monotonic() - started < 2


def test_a_body_over_the_cap_is_refused_or_cut_to_its_head(server):
    with pytest.raises(HttpTooLarge, match="more than 64 KB"):
        bounded_request(method="GET", url=f"{server}/large", headers={}, max_bytes=64 * 1024)
    answer = bounded_request(
        method="GET", url=f"{server}/large", headers={}, max_bytes=64 * 1024, keep_head_of_large_body=True
    )
    assert answer.body == b"x" * 64 * 1024


def test_a_compressed_body_sent_anyway_is_unpacked_under_the_cap(server):
    answer = bounded_request(method="GET", url=f"{server}/gzip", headers={}, max_bytes=64 * 1024)
    assert json_document(answer.body) == {"keys": []}
    # 50 MB of JSON packs into about 50 KB: under the cap as sent, far over it unpacked.
    with pytest.raises(HttpTooLarge):
        bounded_request(method="GET", url=f"{server}/gzip-bomb", headers={}, max_bytes=256 * 1024)


def test_a_closed_port_is_unreachable():
    with pytest.raises(HttpUnreachable, match="ConnectionError"):
        bounded_request(method="GET", url="http://127.0.0.1:9/", headers={}, max_bytes=1024)


def test_json_nested_too_deep_is_not_json_rather_than_a_crash():
    with pytest.raises(ValueError, match="nested"):
        json_document(DEEP)
    assert json_document(b'{"a": [1]}') == {"a": [1]}


@override_settings(LTI_ALLOW_HTTP=True)
def test_a_key_set_nested_too_deep_is_unavailable(server):
    with pytest.raises(KeySetUnavailable, match="is not JSON"):
        fetch_key_set(url=f"{server}/deep")
    assert fetch_key_set(url=f"{server}/small") == {"keys": []}


# --- what a token endpoint says about its token's lifetime (pure logic) ---------------------


def _token_answer(body: bytes) -> Answer:
    return Answer(status=200, body=body, headers={})


@pytest.mark.parametrize(
    ("expires_in", "kept"),
    [
        (b"3600", 3600),
        (b"0.5", 1),
        (b"1e12", MAX_TOKEN_SECONDS),  # a revoked token would otherwise be sent for ages
        (b"Infinity", DEFAULT_TOKEN_SECONDS),  # Python's json reads it; int() of it would raise
        (b"NaN", DEFAULT_TOKEN_SECONDS),
        (b"-5", DEFAULT_TOKEN_SECONDS),
        (b"true", DEFAULT_TOKEN_SECONDS),
        (b'"3600"', DEFAULT_TOKEN_SECONDS),
    ],
)
def test_a_token_lifetime_is_believed_only_within_reason(expires_in, kept):
    body = b'{"access_token": "abc", "expires_in": ' + expires_in + b"}"
    assert _token_from(_token_answer(body), what="The LMS") == ("abc", kept)


def test_a_token_answer_nested_too_deep_is_worth_trying_again():
    with pytest.raises(PlatformBusy, match="usable access_token"):
        _token_from(_token_answer(DEEP), what="The LMS")
