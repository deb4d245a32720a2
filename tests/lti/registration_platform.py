"""A stand-in LMS for LTI Dynamic Registration tests, served over real HTTP on 127.0.0.1.

Its issuer is `<base>/lms`; it serves its OpenID configuration at
`<issuer>/openid-configuration` and a registration endpoint at `<issuer>/register` that
records what the tool posts and answers with a client id (and a deployment id, as Moodle
does), or refuses. The configuration can be altered, slow, trickled a byte at a time or
oversized, to test the tool's checks and limits; `unreachable_url()` names a port
nothing listens on."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PLATFORM_CONFIGURATION_CLAIM = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION_CLAIM = "https://purl.imsglobal.org/spec/lti-tool-configuration"
DELETE = object()  # as a configuration override: leave the field out


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None


@dataclass
class RegistrationPlatform:
    __test__ = False  # not a test class, whatever pytest thinks of the name

    client_id: str = "dyn-client-1"
    deployment_id: str | None = "dyn-deployment-1"
    configuration_overrides: dict[str, Any] = field(default_factory=dict)
    configuration_status: int = 200
    configuration_delay: float = 0.0  # seconds before answering
    trickle: bool = False  # the configuration's body one byte every 50 ms
    oversized: bool = False  # a configuration of more than 256 KB
    raw_configuration: bytes | None = None  # these bytes instead of the configuration
    registration_status: int = 200
    registration_answer: dict[str, Any] | None = None  # instead of the usual answer
    received: list[ReceivedRequest] = field(default_factory=list)
    base_url: str = ""

    @contextmanager
    def serving(self) -> Iterator[RegistrationPlatform]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/lms"

    @property
    def openid_configuration_url(self) -> str:
        return f"{self.issuer}/openid-configuration"

    @property
    def registration_endpoint(self) -> str:
        return f"{self.issuer}/register"

    def configuration(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/auth",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "registration_endpoint": self.registration_endpoint,
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "scopes_supported": ["openid"],
            "response_types_supported": ["id_token"],
            PLATFORM_CONFIGURATION_CLAIM: {
                "product_family_code": "moodle",
                "version": "4.3",
                "messages_supported": [{"type": "LtiResourceLinkRequest"}, {"type": "LtiDeepLinkingRequest"}],
            },
        }
        for name, value in self.configuration_overrides.items():
            if value is DELETE:
                document.pop(name, None)
            else:
                document[name] = value
        return document

    def registration_reply(self, request_body: Any) -> dict[str, Any]:
        if self.registration_answer is not None:
            return self.registration_answer
        reply = {**(request_body if isinstance(request_body, dict) else {}), "client_id": self.client_id}
        tool_configuration = dict(reply.get(TOOL_CONFIGURATION_CLAIM) or {})
        if self.deployment_id is not None:
            tool_configuration["deployment_id"] = self.deployment_id
        reply[TOOL_CONFIGURATION_CLAIM] = tool_configuration
        return reply

    @property
    def configuration_requests(self) -> list[ReceivedRequest]:
        return [request for request in self.received if request.method == "GET"]

    @property
    def registrations(self) -> list[ReceivedRequest]:
        return [request for request in self.received if request.method == "POST"]


def unreachable_url() -> str:
    """A configuration URL on a port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/lms/openid-configuration"


def _handler_for(platform: RegistrationPlatform) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet in test output
            pass

        def _record(self, body: Any = None) -> None:
            platform.received.append(ReceivedRequest(self.command, self.path, dict(self.headers.items()), body))

        def _send(self, status: int, body: bytes, *, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if 300 <= status < 400:
                self.send_header("Location", platform.issuer + "/elsewhere")
            self.end_headers()
            self.wfile.write(body)

        def _trickle(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for index in range(len(body)):
                    self.wfile.write(body[index : index + 1])
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:  # the tool gave up and hung up
                pass

        def do_GET(self) -> None:
            self._record()
            if self.path.split("?")[0] != "/lms/openid-configuration":
                self._send(404, b"{}")
                return
            time.sleep(platform.configuration_delay)
            body = json.dumps(platform.configuration()).encode()
            if platform.oversized:
                body = json.dumps({**platform.configuration(), "padding": "x" * 300_000}).encode()
            if platform.raw_configuration is not None:
                body = platform.raw_configuration
            if platform.trickle:
                self._trickle(body)
                return
            self._send(platform.configuration_status, body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
            self._record(body)
            if self.path != "/lms/register":
                self._send(404, b"{}")
                return
            if platform.registration_status not in (200, 201):
                error = {"error": "invalid_client_metadata", "error_description": "redirect_uris are not allowed here"}
                self._send(platform.registration_status, json.dumps(error).encode())
                return
            self._send(platform.registration_status, json.dumps(platform.registration_reply(body)).encode())

    return Handler
