"""A stand-in LMS for tests only: its own RSA key and key set, served over real HTTP.

It plays the platform's half of LTI 1.3: registers itself with the tool, answers the
tool's OIDC redirect by signing an id_token with the nonce it was given, and publishes
its key set at a URL the tool fetches (counting the fetches)."""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jwcrypto import jwk, jwt

from lti.models import Platform
from lti.services import PlatformRegistration, platform_register

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
DELETE = object()  # as a claim override: leave the claim out


@functools.cache
def _key_material(index: int) -> dict[str, Any]:
    """RSA key pairs made once per test session (2048-bit generation is slow)."""
    return dict(jwk.JWK.generate(kty="RSA", size=2048).export_private(as_dict=True))


def new_key(kid: str, *, index: int = 0) -> jwk.JWK:
    """Key pair number `index` under the key id `kid`: the same index is the same key."""
    return jwk.JWK(**{**_key_material(index), "kid": kid, "alg": "RS256", "use": "sig"})


class _KeySetHandler(BaseHTTPRequestHandler):
    platform: TestPlatform

    def do_GET(self) -> None:
        self.platform.key_set_fetches += 1
        if self.platform.key_set_delay:
            time.sleep(self.platform.key_set_delay)
        body = json.dumps({"keys": [key.export_public(as_dict=True) for key in self.platform.published]}).encode()
        self.send_response(self.platform.key_set_status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class TestPlatform:
    issuer: str = "https://lms.test"
    client_id: str = "tool-client-1"
    deployment_id: str = "deployment-1"
    key: jwk.JWK = field(default_factory=lambda: new_key("platform-key-1"))
    published: list[jwk.JWK] = field(default_factory=list)
    key_set_fetches: int = 0
    key_set_status: int = 200
    key_set_delay: float = 0.0
    keyset_url: str = ""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __post_init__(self) -> None:
        self.published = [self.key]

    @contextmanager
    def serving(self) -> Iterator[TestPlatform]:
        handler = type("Handler", (_KeySetHandler,), {"platform": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        self.keyset_url = f"http://127.0.0.1:{server.server_address[1]}/jwks"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()

    def register(self) -> Platform:
        platform, _ = platform_register(
            registration=PlatformRegistration(
                name="Test LMS",
                issuer=self.issuer,
                client_id=self.client_id,
                deployment_ids=[self.deployment_id],
                auth_login_url=f"{self.issuer}/auth",
                auth_token_url=f"{self.issuer}/token",
                keyset_url=self.keyset_url,
            )
        )
        return platform

    def login_params(self, *, target: str, hint: str = "user-hint") -> dict[str, str]:
        return {"iss": self.issuer, "login_hint": hint, "target_link_uri": target, "client_id": self.client_id}

    def claims(self, *, nonce: str, role: str = LEARNER, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": "student-7",
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "email": "ada@example.edu",
            CLAIM + "message_type": "LtiResourceLinkRequest",
            CLAIM + "version": "1.3.0",
            CLAIM + "deployment_id": self.deployment_id,
            CLAIM + "target_link_uri": "http://testserver/lti/launch/",
            CLAIM + "resource_link": {"id": "link-1", "title": "Week 3 quiz"},
            CLAIM + "roles": [role],
            CLAIM + "context": {"id": "course-101", "label": "ML101", "title": "Machine learning 101"},
            CLAIM + "custom": {"resource": "quiz:loss-versus-metric"},
        }
        for name, value in overrides.items():
            name = CLAIM + name[len("claim_") :] if name.startswith("claim_") else name
            if value is DELETE:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def id_token(self, claims: dict[str, Any], *, key: jwk.JWK | None = None, kid: str | None = None) -> str:
        signer = key or self.key
        header = {"alg": "RS256", "kid": kid or signer.get("kid"), "typ": "JWT"}
        token = jwt.JWT(header=header, claims=claims)
        token.make_signed_token(signer)
        return str(token.serialize())

    def rotate(self) -> None:
        self.key = new_key(f"platform-key-{uuid.uuid4().hex[:8]}", index=1)
        self.published = [self.key]


def redirect_params(location: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}
