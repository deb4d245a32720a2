"""Requests to LMS platforms with limits a slow or hostile platform cannot stretch.

Every call the tool makes to a platform (key sets, tokens, scores, rosters, dynamic
registration) goes through `bounded_request`: one total deadline
(LTI_HTTP_TIMEOUT_SECONDS) for the whole body, no redirect followed (a token must not
reach an address the registration does not name), a cap on the bytes read, and no
content decoding, so the cap counts what is stored rather than what a compressed body
unpacks to. The body is read with read1(), which returns whatever has arrived: a
platform trickling one byte at a time cannot hold a full-sized read open past the
deadline.

Callers turn the three failures into their own messages; `json_document` parses a body
without letting deeply nested JSON raise RecursionError (a 500) instead of ValueError.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from django.conf import settings

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
    try:
        with requests.request(
            method, url, headers=sent_headers, timeout=timeout, stream=True, allow_redirects=False, **payload
        ) as response:
            while chunk := response.raw.read1(CHUNK_BYTES):
                received += chunk
                if len(received) > max_bytes:
                    if keep_head_of_large_body:
                        del received[max_bytes:]
                        break
                    raise HttpTooLarge(f"more than {max_bytes // 1024} KB")
                if time.monotonic() > deadline:
                    raise HttpTimeout(f"no answer within {timeout} s")
            return Answer(status=response.status_code, body=bytes(received), headers=response.headers)
    except (requests.Timeout, urllib3.exceptions.TimeoutError) as exc:
        raise HttpTimeout(f"no answer within {timeout} s") from exc
    # Reading the body goes to urllib3 directly, so its errors come unwrapped.
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise HttpUnreachable(type(exc).__name__) from exc


def json_document(body: bytes | str) -> Any:
    """The parsed JSON; ValueError for anything that is not JSON, nested too deep included."""
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
