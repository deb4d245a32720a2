"""A stand-in LMS for tests only, served over real HTTP on 127.0.0.1.

It plays the platform's half of LTI 1.3 Advantage and records what the tool sends it:
* its own RSA key and key set (`/jwks`, counting fetches);
* an OIDC authorisation endpoint (`/auth`) that answers the tool's login redirect with
  an auto-submitting form posting a signed id_token, as a browser sees it;
* a course page (`/course/<hint>`) framing the tool's login initiation, as an LMS does;
* an OAuth2 token endpoint (`/token`) that checks the tool's signed client assertion
  against the tool's published keys;
* AGS line items and scores (`/lineitems/...`), honouring the spec's rule that a score
  older than the one on record is ignored;
* an NRPS roster (`/memberships/<context>`);
* a deep-linking return (`/deep-link-return`) that verifies and keeps the tool's reply.
Any endpoint but the key set can be taken "down" (503) to test retries."""

from __future__ import annotations

import functools
import html
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from urllib.request import urlopen

from jwcrypto import jwk, jws, jwt

from lti.models import Platform
from lti.services import PlatformRegistration, platform_register

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DEEP_LINKING_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
AGS_SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
]
DELETE = object()  # as a claim override: leave the claim out


@functools.cache
def _key_material(index: int) -> dict[str, Any]:
    """RSA key pairs made once per test session (2048-bit generation is slow)."""
    return dict(jwk.JWK.generate(kty="RSA", size=2048).export_private(as_dict=True))


def new_key(kid: str, *, index: int = 0) -> jwk.JWK:
    """Key pair number `index` under the key id `kid`: the same index is the same key."""
    return jwk.JWK(**{**_key_material(index), "kid": kid, "alg": "RS256", "use": "sig"})


@dataclass
class Person:
    """A user of the platform: whoever the browser is signed in as there."""

    sub: str
    role: str = LEARNER
    name: str = "Ada Lovelace"
    given_name: str = "Ada"
    family_name: str = "Lovelace"
    email: str = "ada@example.edu"
    status: str = "Active"


@dataclass
class ReceivedScore:
    lineitem: str
    body: dict[str, Any]
    token: str
    accepted: bool  # False when older than the score on record (the AGS rule)


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
    base_url: str = ""
    keyset_url: str = ""
    # The tool's public keys, for checking its client assertions and deep-link replies:
    # fetched from tool_keyset_url when set (a live tool), else given by the test.
    tool_keyset_url: str = ""
    tool_keys: list[dict[str, Any]] = field(default_factory=list)
    tool_launch_url: str = ""
    tool_login_url: str = ""
    down: bool = False  # every endpoint but the key set answers 503
    people: dict[str, Person] = field(default_factory=dict)
    members: dict[str, list[Person]] = field(default_factory=dict)  # context id -> roster
    # Launch claims by lti_message_hint, made by the course page for a signed-in person.
    links: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens_issued: list[dict[str, Any]] = field(default_factory=list)
    token_requests: int = 0
    scores: list[ReceivedScore] = field(default_factory=list)
    results: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (lineitem, user) -> score
    lineitems: dict[str, dict[str, Any]] = field(default_factory=dict)
    deep_link_replies: list[dict[str, Any]] = field(default_factory=list)
    roster_requests: int = 0
    roster_page_size: int = 0  # 0: the whole roster in one page; else pages linked by `Link: rel=next`
    roster_next_base: str = ""  # where `rel=next` points, when not this platform (a hostile one)
    lock: threading.Lock = field(default_factory=threading.Lock)

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __post_init__(self) -> None:
        self.published = [self.key]

    # --- serving -------------------------------------------------------------------

    @contextmanager
    def serving(self, *, host: str = "127.0.0.1", issuer_is_base: bool = False) -> Iterator[TestPlatform]:
        """Serve the platform; with issuer_is_base, its issuer is its own address (for a
        browser, whose pages come from that origin)."""
        handler = type("Handler", (_Handler,), {"platform": self})
        server = ThreadingHTTPServer((host, 0), handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        self.base_url = f"http://{host}:{server.server_address[1]}"
        self.keyset_url = self.base_url + "/jwks"
        if issuer_is_base:
            self.issuer = self.base_url
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()

    @property
    def auth_url(self) -> str:
        return self.base_url + "/auth"

    @property
    def token_url(self) -> str:
        return self.base_url + "/token"

    def register(self) -> Platform:
        platform, _ = platform_register(
            registration=PlatformRegistration(
                name="Test LMS",
                issuer=self.issuer,
                client_id=self.client_id,
                deployment_ids=[self.deployment_id],
                auth_login_url=self.auth_url,
                auth_token_url=self.token_url,
                keyset_url=self.keyset_url,
            )
        )
        return platform

    # --- launches --------------------------------------------------------------------

    def login_params(self, *, target: str, hint: str = "user-hint", message_hint: str = "") -> dict[str, str]:
        params = {"iss": self.issuer, "login_hint": hint, "target_link_uri": target, "client_id": self.client_id}
        if message_hint:
            params["lti_message_hint"] = message_hint
        params["lti_deployment_id"] = self.deployment_id
        return params

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

    def services_claims(self, *, context_id: str, lineitem: str = "") -> dict[str, Any]:
        """The AGS and NRPS claims a launch from course `context_id` carries."""
        ags: dict[str, Any] = {"scope": AGS_SCOPES, "lineitems": f"{self.base_url}/{context_id}/lineitems"}
        if lineitem:
            ags["lineitem"] = lineitem
        return {
            AGS_CLAIM: ags,
            NRPS_CLAIM: {
                "context_memberships_url": f"{self.base_url}/memberships/{context_id}",
                "service_versions": ["2.0"],
            },
        }

    def add_lineitem(self, *, context_id: str, label: str, score_maximum: float, resource_link_id: str = "") -> str:
        url = f"{self.base_url}/{context_id}/lineitems/{uuid.uuid4().hex[:8]}"
        self.lineitems[url] = {
            "id": url,
            "label": label,
            "scoreMaximum": score_maximum,
            "resourceLinkId": resource_link_id,
        }
        return url

    def add_link(
        self,
        hint: str,
        *,
        context_id: str = "course-101",
        resource_link_id: str = "link-1",
        title: str = "Week 3 quiz",
        custom: dict[str, str] | None = None,
        lineitem: str = "",
        deep_linking: bool = False,
        deep_linking_settings: dict[str, Any] | None = None,
    ) -> None:
        """A placement of the tool in a course, launched from /course/<hint>;
        `deep_linking_settings` replace or (as DELETE) drop the usual request's settings."""
        extra: dict[str, Any] = {
            "claim_context": {"id": context_id, "label": context_id.upper(), "title": f"Course {context_id}"},
            "claim_custom": custom if custom is not None else DELETE,
            **self.services_claims(context_id=context_id, lineitem=lineitem),
        }
        if deep_linking:
            extra["claim_message_type"] = "LtiDeepLinkingRequest"
            extra["claim_resource_link"] = DELETE
            extra[DEEP_LINKING_CLAIM + "deep_linking_settings"] = {
                "deep_link_return_url": self.base_url + "/deep-link-return",
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"],
                "accept_multiple": True,
                "auto_create": True,
                "data": "platform-opaque-data",
            }
            for name, value in (deep_linking_settings or {}).items():
                settings = extra[DEEP_LINKING_CLAIM + "deep_linking_settings"]
                if value is DELETE:
                    settings.pop(name, None)
                else:
                    settings[name] = value
        else:
            extra["claim_resource_link"] = {"id": resource_link_id, "title": title}
        self.links[hint] = extra

    def id_token(self, claims: dict[str, Any], *, key: jwk.JWK | None = None, kid: str | None = None) -> str:
        signer = key or self.key
        header = {"alg": "RS256", "kid": kid or signer.get("kid"), "typ": "JWT"}
        token = jwt.JWT(header=header, claims=claims)
        token.make_signed_token(signer)
        return str(token.serialize())

    def rotate(self) -> None:
        self.key = new_key(f"platform-key-{uuid.uuid4().hex[:8]}", index=1)
        self.published = [self.key]

    # --- what the platform does with the tool's messages -------------------------------

    def _tool_key_set(self) -> jwk.JWKSet:
        keys = self.tool_keys
        if self.tool_keyset_url:
            with urlopen(self.tool_keyset_url, timeout=5) as response:  # noqa: S310 (a test's own URL)
                keys = json.load(response)["keys"]
        return jwk.JWKSet.from_json(json.dumps({"keys": keys}))

    def verify_tool_jwt(self, token: str, *, audience: str) -> dict[str, Any]:
        """The claims of a JWT the tool signed, or ValueError."""
        try:
            parsed = jwt.JWT(jwt=token, key=self._tool_key_set(), algs=["RS256"], expected_type="JWS")
        except (jws.InvalidJWSSignature, jwt.JWTExpired, jwt.JWTMissingKey, ValueError, KeyError) as exc:
            raise ValueError(f"bad signature: {exc}") from exc
        claims = dict(json.loads(parsed.claims))
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if audience not in audiences:
            raise ValueError(f"wrong audience {claims.get('aud')!r}")
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] < time.time():
            raise ValueError("expired")
        return claims

    def issue_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.token_requests += 1
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return 400, {"error": "invalid_request"}
        try:
            claims = self.verify_tool_jwt(form.get("client_assertion", ""), audience=self.token_url)
        except ValueError as exc:
            return 401, {"error": "invalid_client", "error_description": str(exc)}
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id or not claims.get("jti"):
            return 401, {"error": "invalid_client", "error_description": "iss/sub/jti"}
        token = {"access_token": uuid.uuid4().hex, "token_type": "Bearer", "expires_in": 3600}
        token["scope"] = form.get("scope", "")
        self.tokens_issued.append(token)
        return 200, token

    def token_scopes(self, authorization: str) -> set[str] | None:
        bearer = authorization.removeprefix("Bearer ").strip()
        for token in self.tokens_issued:
            if token["access_token"] == bearer:
                return set(str(token["scope"]).split())
        return None

    def receive_score(self, lineitem: str, body: dict[str, Any], authorization: str) -> int:
        scopes = self.token_scopes(authorization)
        if scopes is None or AGS_SCOPES[2] not in scopes:
            return 401
        user = str(body.get("userId", ""))
        with self.lock:
            previous = self.results.get((lineitem, user))
            stamp = _timestamp(body.get("timestamp"))
            accepted = previous is None or stamp >= _timestamp(previous.get("timestamp"))
            self.scores.append(ReceivedScore(lineitem=lineitem, body=body, token=authorization, accepted=accepted))
            if accepted:
                self.results[(lineitem, user)] = body
        return 200 if accepted else 409

    def accepted_scores(self, *, lineitem: str | None = None) -> list[dict[str, Any]]:
        return [s.body for s in self.scores if s.accepted and (lineitem is None or s.lineitem == lineitem)]


def _timestamp(value: object) -> datetime:
    return datetime.fromisoformat(str(value))


class _Handler(BaseHTTPRequestHandler):
    platform: TestPlatform

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes | str, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, value: object, content_type: str = "application/json") -> None:
        self._send(status, json.dumps(value), content_type)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _route(self, method: str) -> Callable[[], None] | None:
        path = urlsplit(self.path).path
        platform = self.platform
        if method == "GET" and path == "/jwks":
            return self._jwks
        if platform.down:
            return lambda: self._json(503, {"error": "down for maintenance"})
        if method == "GET" and path == "/auth":
            return self._auth
        if method == "GET" and path.startswith("/course/"):
            return self._course
        if method == "POST" and path == "/token":
            return self._token
        if method == "POST" and path.endswith("/scores"):
            return self._score
        if path.endswith("/lineitems") and method in ("GET", "POST"):
            return self._lineitems
        if method == "GET" and path.startswith("/memberships/"):
            return self._memberships
        if method == "POST" and path == "/deep-link-return":
            return self._deep_link_return
        return None

    def do_GET(self) -> None:
        (self._route("GET") or (lambda: self._json(404, {"error": "not found"})))()

    def do_POST(self) -> None:
        (self._route("POST") or (lambda: self._json(404, {"error": "not found"})))()

    def _jwks(self) -> None:
        platform = self.platform
        platform.key_set_fetches += 1
        if platform.key_set_delay:
            time.sleep(platform.key_set_delay)
        self._json(platform.key_set_status, {"keys": [key.export_public(as_dict=True) for key in platform.published]})

    def _course(self) -> None:
        """The LMS's course page: the tool in an iframe, started by login initiation."""
        platform = self.platform
        hint = urlsplit(self.path).path.removeprefix("/course/")
        person = platform.people.get(parse_qs(urlsplit(self.path).query).get("as", [""])[0])
        if hint not in platform.links or person is None:
            self._send(404, "no such link or person", "text/plain")
            return
        target = platform.tool_launch_url
        params = platform.login_params(target=target, hint=person.sub, message_hint=hint)
        src = html.escape(platform.tool_login_url + "?" + urlencode(params))
        page = (
            "<!doctype html><html><head><title>Course</title></head><body>"
            f"<h1>Course page</h1><iframe id='tool' title='Tool' src='{src}' "
            "style='width:100%;height:900px' allow='clipboard-write'></iframe></body></html>"
        )
        self._send(200, page, "text/html; charset=utf-8")

    def _auth(self) -> None:
        """OIDC authorisation: check the tool's request, sign the launch, post it back."""
        platform = self.platform
        query = {name: values[0] for name, values in parse_qs(urlsplit(self.path).query).items()}
        person = platform.people.get(query.get("login_hint", ""))
        link = platform.links.get(query.get("lti_message_hint", ""))
        problems = [
            name
            for name, ok in (
                ("client_id", query.get("client_id") == platform.client_id),
                ("redirect_uri", query.get("redirect_uri") == platform.tool_launch_url),
                ("response_type", query.get("response_type") == "id_token"),
                ("scope", query.get("scope") == "openid"),
                ("response_mode", query.get("response_mode") == "form_post"),
                ("login_hint", person is not None),
                ("lti_message_hint", link is not None),
            )
            if not ok
        ]
        if problems or person is None or link is None:
            self._send(400, f"bad authorisation request: {', '.join(problems)}", "text/plain")
            return
        claims = platform.claims(
            nonce=query.get("nonce", ""),
            role=person.role,
            sub=person.sub,
            name=person.name,
            given_name=person.given_name,
            family_name=person.family_name,
            email=person.email,
            claim_target_link_uri=platform.tool_launch_url,
            **link,
        )
        token = platform.id_token(claims)
        page = (
            "<!doctype html><html><body onload='document.forms[0].submit()'>"
            f"<form method='post' action='{html.escape(query['redirect_uri'])}'>"
            f"<input type='hidden' name='id_token' value='{html.escape(token)}'>"
            f"<input type='hidden' name='state' value='{html.escape(query.get('state', ''))}'>"
            "<noscript><button>Continue</button></noscript></form></body></html>"
        )
        self._send(200, page, "text/html; charset=utf-8")

    def _token(self) -> None:
        form = {name: values[0] for name, values in parse_qs(self._body().decode()).items()}
        status, body = self.platform.issue_token(form)
        self._json(status, body)

    def _score(self) -> None:
        lineitem = "http://" + self.headers["Host"] + urlsplit(self.path).path.removesuffix("/scores")
        if self.headers.get("Content-Type", "").split(";")[0] != "application/vnd.ims.lis.v1.score+json":
            self._json(415, {"error": "score media type expected"})
            return
        try:
            body = json.loads(self._body())
        except ValueError:
            self._json(400, {"error": "not JSON"})
            return
        status = self.platform.receive_score(lineitem, body, self.headers.get("Authorization", ""))
        self._json(status, {} if status == 200 else {"error": "refused"})

    def _lineitems(self) -> None:
        platform = self.platform
        if platform.token_scopes(self.headers.get("Authorization", "")) is None:
            self._json(401, {"error": "no token"})
            return
        context_id = urlsplit(self.path).path.strip("/").split("/")[0]
        if self.command == "POST":
            body = json.loads(self._body())
            url = platform.add_lineitem(
                context_id=context_id,
                label=str(body.get("label", "")),
                score_maximum=float(body.get("scoreMaximum", 0)),
                resource_link_id=str(body.get("resourceLinkId", "")),
            )
            self._json(201, platform.lineitems[url], "application/vnd.ims.lis.v2.lineitem+json")
            return
        query = parse_qs(urlsplit(self.path).query)
        wanted = query.get("resource_link_id", [None])[0]
        items = [
            item
            for url, item in platform.lineitems.items()
            if url.startswith(f"{platform.base_url}/{context_id}/") and wanted in (None, item["resourceLinkId"])
        ]
        self._json(200, items, "application/vnd.ims.lis.v2.lineitemcontainer+json")

    def _memberships(self) -> None:
        platform = self.platform
        platform.roster_requests += 1
        scopes = platform.token_scopes(self.headers.get("Authorization", ""))
        if scopes is None or "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly" not in scopes:
            self._json(401, {"error": "no token with the NRPS scope"})
            return
        context_id = urlsplit(self.path).path.removeprefix("/memberships/")
        page = int(parse_qs(urlsplit(self.path).query).get("page", ["0"])[0])
        members = [
            {
                "status": person.status,
                "user_id": person.sub,
                "name": person.name,
                "given_name": person.given_name,
                "family_name": person.family_name,
                "email": person.email,
                "roles": [person.role],
            }
            for person in platform.members.get(context_id, [])
        ]
        size = platform.roster_page_size or len(members) or 1
        body = {"id": self.path, "context": {"id": context_id}, "members": members[page * size : (page + 1) * size]}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.ims.lti-nrps.v2.membershipcontainer+json")
        if (page + 1) * size < len(members):
            base = platform.roster_next_base or platform.base_url
            self.send_header("Link", f'<{base}/memberships/{context_id}?page={page + 1}>; rel="next"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _deep_link_return(self) -> None:
        platform = self.platform
        form = {name: values[0] for name, values in parse_qs(self._body().decode()).items()}
        try:
            claims = platform.verify_tool_jwt(form.get("JWT", ""), audience=platform.issuer)
        except ValueError as exc:
            self._send(400, f"deep-linking reply refused: {exc}", "text/plain")
            return
        platform.deep_link_replies.append(claims)
        self._send(200, "<!doctype html><html><body><h1>Content added</h1></body></html>", "text/html")


def redirect_params(location: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}
