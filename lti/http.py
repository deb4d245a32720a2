"""Requests to LMS platforms with limits a slow or hostile platform cannot stretch.

Every call the tool makes to a platform (key sets, tokens, scores, rosters, dynamic
registration) goes through `bounded_request`:
* one total deadline (LTI_HTTP_TIMEOUT_SECONDS) for the whole exchange, headers and
  body: a watchdog shuts the socket down when it passes (only the DNS lookup is outside
  it), and the body is read with read1(), which returns whatever has arrived, so a
  platform trickling bytes cannot hold a full-sized read open;
* no redirect followed (a token must not reach an address the registration does not
  name);
* a cap on the bytes read. We ask for no compression, so the cap counts what is stored;
  a platform that compresses anyway is unpacked under the same cap.

Callers turn the three failures into their own messages; `json_document` parses a body
without letting deeply nested JSON raise RecursionError (a 500) instead of ValueError.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import zlib
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
import urllib3.connection
from django.conf import settings
from requests.adapters import HTTPAdapter

CHUNK_BYTES = 16 * 1024


class HttpFailure(Exception):
    """The platform did not give a complete answer."""


class HttpTimeout(HttpFailure):
    """No complete answer within the deadline."""


class HttpUnreachable(HttpFailure):
    """No connection, or one broken off; the message names the error's type."""


class HttpTooLarge(HttpFailure):
    """The body ran over the cap."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: Mapping[str, str]


class _Watch:
    """The sockets of one request, cut when its deadline passes: per-read timeouts alone
    let a platform sending its status line and headers a byte at a time hold a request
    open for many times the deadline (the body loop checks the clock, headers do not)."""

    def __init__(self) -> None:
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.fired = False

    def add(self, sock: socket.socket | None) -> None:
        with self._lock:
            if sock is not None:
                self._sockets.append(sock)
            if self.fired:
                self._shut(sock)

    def cut(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket | None) -> None:
        # shutdown() (not close()) wakes a recv() blocked in another thread.
        try:
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# The watch of the request under way in this thread (or task): connections made for it
# hand it their sockets as they connect.
_current_watch: ContextVar[_Watch | None] = ContextVar("lti_http_watch", default=None)


def _watch_socket(sock: socket.socket | None) -> None:
    if (watch := _current_watch.get()) is not None:
        watch.add(sock)


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watch_socket(self.sock)


class _WatchedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watch_socket(self.sock)


class _WatchedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter, its connections (direct or through a proxy) watched."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


def _watched_session() -> requests.Session:
    session = requests.Session()
    adapter = _WatchedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def bounded_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    max_bytes: int,
    keep_head_of_large_body: bool = False,
    **payload: Any,
) -> Answer:
    """One request under the limits above. A body over `max_bytes` is HttpTooLarge, or
    with `keep_head_of_large_body` its first `max_bytes` (enough to read an error)."""
    timeout = settings.LTI_HTTP_TIMEOUT_SECONDS
    deadline = time.monotonic() + timeout
    received = bytearray()
    sent_headers = {**headers, "Accept-Encoding": "identity"}
    watch = _Watch()
    watching = _current_watch.set(watch)
    timer = threading.Timer(timeout, watch.cut)
    timer.daemon = True
    timer.start()
    try:
        with (
            _watched_session() as session,
            session.request(
                method, url, headers=sent_headers, timeout=timeout, stream=True, allow_redirects=False, **payload
            ) as response,
        ):
            while chunk := response.raw.read1(CHUNK_BYTES):
                received += chunk
                if len(received) > max_bytes:
                    if keep_head_of_large_body:
                        del received[max_bytes:]
                        break
                    raise HttpTooLarge(f"more than {max_bytes // 1024} KB")
                if time.monotonic() > deadline:
                    raise HttpTimeout(f"no answer within {timeout} s")
            if watch.fired:
                raise HttpTimeout(f"no answer within {timeout} s")
            body = _inflated(
                bytes(received),
                encoding=response.headers.get("Content-Encoding", ""),
                max_bytes=max_bytes,
                keep_head_of_large_body=keep_head_of_large_body,
            )
            return Answer(status=response.status_code, body=body, headers=response.headers)
    except (requests.Timeout, urllib3.exceptions.TimeoutError) as exc:
        raise HttpTimeout(f"no answer within {timeout} s") from exc
    # Reading the body goes to urllib3 directly, so its errors come unwrapped.
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        if watch.fired:
            raise HttpTimeout(f"no answer within {timeout} s") from exc
        raise HttpUnreachable(type(exc).__name__) from exc
    finally:
        timer.cancel()
        _current_watch.reset(watching)


def _inflated(body: bytes, *, encoding: str, max_bytes: int, keep_head_of_large_body: bool) -> bytes:
    """A gzip or deflate body sent although we asked for none, unpacked to at most
    `max_bytes` (a small compressed body can unpack to gigabytes). Other encodings are
    left as they came: where the body matters, it then reads as "not JSON"."""
    if encoding.strip().lower() not in ("gzip", "x-gzip", "deflate"):
        return body
    unpacker = zlib.decompressobj(wbits=32 + zlib.MAX_WBITS)  # gzip or zlib, by its header
    try:
        unpacked = unpacker.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise HttpUnreachable(f"a body that is not the {encoding.strip()} it says") from exc
    if len(unpacked) > max_bytes:
        if not keep_head_of_large_body:
            raise HttpTooLarge(f"more than {max_bytes // 1024} KB")
        return unpacked[:max_bytes]
    return unpacked


def json_document(body: bytes | str) -> Any:
    """The parsed JSON; ValueError for anything that is not JSON, nested too deep included."""
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
