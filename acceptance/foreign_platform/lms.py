"""Foreign LMS: a small LTI 1.3 platform built on the `lti1p3platform` package, not on
anything of this repository, for the acceptance run (acceptance/README.md).

One course (ML101) with one link to the tool ("Week 3 quiz") and one gradebook column.
What lti1p3platform does here: the platform's registration and key set, the
third-party-initiated login redirect, the signed LtiResourceLinkRequest with its
claims, checking the tool's client assertion against the tool's key set and minting
access tokens, and the AGS handlers (bearer check, line items, scores, results).
What this file adds, because the library leaves it out: the web server and pages,
signing people in, the OIDC authorisation request checks (redirect_uri registered,
login_hint is the signed-in person, response_type, scope, response_mode, prompt), the
client assertion's iss/sub/aud/exp/jti, the score's schema and media type, the
"older timestamps do not overwrite newer ones" rule, and storage.

Everything received is appended to JSON-lines files in --data-dir (scores.jsonl,
tokens.jsonl, launches.jsonl) for the driver to read.

Run: .venv/bin/python lms.py --port 9001 --data-dir /tmp/lms (see --help).
"""
# lti1p3platform ships no type information, and lives only in this folder's own venv.
# mypy: disable-error-code="import-not-found, import-untyped, no-any-unimported, misc"

from __future__ import annotations

import argparse
import html
import json
import logging
import math
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.exceptions import (
    InvalidKeySetUrl,
    LineItemNotFoundException,
    LtiException,
    LtiServiceException,
    MissingRequiredClaim,
    PreflightRequestValidationException,
    UnsupportedGrantType,
)
from lti1p3platform.lineitem import TLineItem
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request, TRequest
from lti1p3platform.response import Response
from lti1p3platform.score import ActivityProgress, GradeProgress, TScore, UpdateScoreStatus
from lti1p3platform.service_connector import AssignmentsGradesService, TPage

logger = logging.getLogger("foreign-lms")

LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
COURSE_OFFERING = "http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCORE_MEDIA_TYPE = "application/vnd.ims.lis.v1.score+json"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SESSION_COOKIE = "foreign_lms_session"


@dataclass(frozen=True)
class Person:
    user_id: str  # the LTI `sub`: opaque and stable, as real platforms make it
    name: str
    given_name: str
    family_name: str
    email: str
    role: str


PEOPLE = {
    "ada": Person("fl-user-5f3a9c", "Ada Lovelace", "Ada", "Lovelace", "ada@foreign-lms.example", LEARNER),
    "alan": Person("fl-user-0b71d2", "Alan Turing", "Alan", "Turing", "alan@foreign-lms.example", INSTRUCTOR),
}
COURSE_ID, COURSE_TITLE, COURSE_LABEL = "ml101", "Machine learning 101", "ML101"
LINK_ID, LINK_TITLE = "week-3-quiz", "Week 3 quiz"


@dataclass
class Tool:
    """What the LMS admin typed into the "external tool" form."""

    login_url: str = ""
    launch_url: str = ""  # also the one registered redirect URI
    keyset_url: str = ""
    custom: dict[str, str] = field(default_factory=dict)


class Lms:
    """The platform's state: its key, people's sessions, the tool, the gradebook."""

    def __init__(self, *, base_url: str, data_dir: Path) -> None:
        self.base_url = base_url
        self.issuer = base_url
        self.client_id = "foreign-lms-tool-1"
        self.deployment_id = "foreign-lms-deployment-1"
        self.data_dir = data_dir
        self.private_pem, self.public_pem = _platform_key(data_dir / "platform-key.pem")
        self.tool = Tool()
        self.sessions: dict[str, str] = {}  # cookie value -> PEOPLE key
        lineitem_url = f"{self.lineitems_url(COURSE_ID)}/1"
        self.lineitems: dict[str, TLineItem] = {
            lineitem_url: {
                "id": lineitem_url,
                "label": LINK_TITLE,
                "scoreMaximum": 100,
                "resourceLinkId": LINK_ID,
            }
        }
        self.results: dict[tuple[str, str], dict[str, Any]] = {}  # (line item, user) -> score
        self.assertion_ids: set[str] = set()
        self.lock = threading.Lock()

    def lineitems_url(self, context_id: str) -> str:
        return f"{self.base_url}/courses/{context_id}/lineitems"

    @property
    def token_url(self) -> str:
        return self.base_url + "/token"

    def registration(self) -> Registration:
        return (
            Registration()
            .set_iss(self.issuer)
            .set_client_id(self.client_id)
            .set_deployment_id(self.deployment_id)
            .set_oidc_login_url(self.tool.login_url)
            .set_launch_url(self.tool.launch_url)
            .set_tool_key_set_url(self.tool.keyset_url)
            .set_platform_public_key(self.public_pem)
            .set_platform_private_key(self.private_pem)
        )

    def conf(self) -> PlatformConf:
        # One per request: the library keeps the JWT being checked on the instance.
        return PlatformConf(registration=self.registration())

    def record(self, kind: str, entry: dict[str, Any]) -> None:
        line = json.dumps({"at": datetime.now(UTC).isoformat(), **entry}, sort_keys=True)
        with self.lock, (self.data_dir / f"{kind}.jsonl").open("a") as out:
            out.write(line + "\n")


def _platform_key(path: Path) -> tuple[str, str]:
    """The platform's RSA key pair (PEM), made on first start and kept in the data dir."""
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.write_bytes(pem)
        path.chmod(0o600)
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path.read_text(), public.decode()


# --- lti1p3platform, completed ---------------------------------------------------------


class PlatformConf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: Any) -> None:
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        return self._registration


class WsgiRequest(Request):
    """A WSGI environ as the library's request: method, query, form, JSON, headers."""

    def build_metadata(self, request: Any) -> TRequest:
        environ: dict[str, Any] = request
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        content_type = environ.get("CONTENT_TYPE", "")
        headers = {
            name[5:].replace("_", "-").title(): value for name, value in environ.items() if name.startswith("HTTP_")
        }
        headers["Content-Type"] = content_type
        form = _single(parse_qs(body.decode())) if content_type.startswith("application/x-www-form") else {}
        return {
            "method": environ["REQUEST_METHOD"],
            "form_data": form,
            "get_data": _single(parse_qs(environ.get("QUERY_STRING", ""))),
            "headers": headers,
            "content_type": content_type,
            "path": environ.get("PATH_INFO", "/"),
            "json": json.loads(body) if body and "json" in content_type else None,
        }


def _single(values: dict[str, list[str]]) -> dict[str, str]:
    return {name: items[0] for name, items in values.items()}


class OIDCLogin(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["link_id"]

    def get_redirect(self, url: str) -> Reply:
        return Reply(302, b"", headers=[("Location", url)])


class ResourceLinkLaunch(LTIAdvantageMessageLaunchAbstract):
    """The answer to the tool's OIDC authorisation request, for the signed-in `person`."""

    def __init__(self, request: WsgiRequest, conf: PlatformConf, *, lms: Lms, person: Person | None) -> None:
        super().__init__(request, conf)
        self.lms = lms
        self.person = person
        self.claims_sent: dict[str, Any] = {}

    def validate_preflight_response(self, preflight_response: dict[str, Any]) -> None:
        super().validate_preflight_response(preflight_response)  # nonce, state, redirect_uri, client_id
        query = preflight_response
        problems = [
            name
            for name, ok in (
                # OIDC: the redirect URI must be one registered for the client.
                ("redirect_uri", query.get("redirect_uri") == self.lms.tool.launch_url),
                ("response_type", query.get("response_type") == "id_token"),
                ("scope", query.get("scope") == "openid"),
                ("response_mode", query.get("response_mode") == "form_post"),
                ("prompt", query.get("prompt", "none") == "none"),
                # LTI: login_hint must be the person signed in to the platform.
                ("login_hint", self.person is not None and query.get("login_hint") == self.person.user_id),
                ("lti_message_hint", query.get("lti_message_hint") == LINK_ID),
            )
            if not ok
        ]
        if problems:
            raise PreflightRequestValidationException(", ".join(problems))

    def prepare_launch(self, preflight_response: dict[str, Any]) -> None:
        person, lms = self.person, self.lms
        assert person is not None  # checked in validate_preflight_response
        self.set_user_data(person.user_id, [person.role], person.name, person.email)
        self.set_extra_claims({"given_name": person.given_name, "family_name": person.family_name})
        self.set_launch_context_claim(COURSE_ID, [COURSE_OFFERING], COURSE_TITLE, COURSE_LABEL)
        self.set_resource_link_claim(LINK_ID, title=LINK_TITLE)
        self.set_custom_parameters_claim(dict(lms.tool.custom))
        self.set_launch_presentation_claim("iframe", return_url=f"{lms.base_url}/courses/{COURSE_ID}")
        lineitem = next(url for url, item in lms.lineitems.items() if item.get("resourceLinkId") == LINK_ID)
        self.set_ags(lms.lineitems_url(COURSE_ID), lineitem, allow_creating_lineitems=True)

    def get_launch_data(self) -> tuple[dict[str, Any], str]:
        message, state = super().get_launch_data()
        self.claims_sent = dict(message)
        return message, state

    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> Reply:
        # The library's own template (lti1p3platform.framework) is Jinja2 without
        # autoescaping, and the state comes from the tool: this one escapes.
        fields = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(str(launch_data[name]))}">'
            for name in ("id_token", "state")
        )
        page = (
            "<!doctype html><html><head><title>Launching</title></head>"
            "<body onload='document.forms[0].submit()'>"
            f'<form method="post" action="{html.escape(str(launch_data["launch_url"]))}">{fields}'
            "<noscript><button>Continue</button></noscript></form></body></html>"
        )
        return Reply.html(200, page)


class Gradebook(AssignmentsGradesService):
    """AGS for one course: the library checks the bearer token and routes; this stores."""

    def __init__(self, request: WsgiRequest, conf: PlatformConf, *, lms: Lms, context_id: str) -> None:
        super().__init__(request, conf, lms.lineitems_url(context_id))
        self.lms = lms
        self.prefix = lms.lineitems_url(context_id) + "/"

    def _items(self) -> list[TLineItem]:
        return [item for url, item in self.lms.lineitems.items() if url.startswith(self.prefix)]

    def find_lineitems(
        self,
        page: int = 1,
        limit: int | None = None,
        line_item_id: str | None = None,
        resource_link_id: str | None = None,
        resource_id: str | None = None,
        tag: str | None = None,
        **ignored: Any,
    ) -> TPage:
        wanted = {"resourceLinkId": resource_link_id, "resourceId": resource_id, "tag": tag}
        items = [i for i in self._items() if all(v is None or i.get(k) == v for k, v in wanted.items())]
        return {"content": items, "has_next": False, "next": None}

    def find_lineitem(self, line_item_id: str) -> TLineItem:
        item = self.lms.lineitems.get(line_item_id)
        if item is None or not line_item_id.startswith(self.prefix):
            raise LineItemNotFoundException(line_item_id)
        return item

    def create_lineitem(self, creation_data: TLineItem) -> TLineItem:
        with self.lms.lock:
            url = f"{self.prefix}{len(self.lms.lineitems) + 1}"
            item: TLineItem = {**creation_data, "id": url}
            self.lms.lineitems[url] = item
        return item

    def update_lineitem(self, update_data: TLineItem) -> TLineItem:
        current = self.find_lineitem(update_data["id"])
        current.update(update_data)
        return current

    def delete_lineitem(self, line_item_id: str) -> None:
        self.find_lineitem(line_item_id)
        self.lms.lineitems.pop(line_item_id, None)

    def get_results(
        self, line_item_id: str, page: int = 1, limit: int | None = None, user_id: str | None = None, **ignored: Any
    ) -> TPage:
        item = self.find_lineitem(line_item_id)
        results = [
            {
                "id": f"{line_item_id}/results/{user}",
                "scoreOf": line_item_id,
                "userId": user,
                "resultScore": score.get("scoreGiven"),
                "resultMaximum": score.get("scoreMaximum", item.get("scoreMaximum")),
                "comment": score.get("comment"),
            }
            for (url, user), score in self.lms.results.items()
            if url == line_item_id and user_id in (None, user)
        ]
        return {"content": results, "has_next": False, "next": None}

    def update_score(self, line_item_id: str, score: TScore) -> UpdateScoreStatus:
        """The library's TODO ("validate score") done, and the AGS timestamp rule: a score
        older than the one on record is not applied (409)."""
        self.find_lineitem(line_item_id)
        body: dict[str, Any] = dict(score) if isinstance(score, dict) else {}
        if problems := score_problems(body):
            raise LtiServiceException("invalid score: " + "; ".join(problems), 400)
        user = str(body["userId"])
        if user not in {person.user_id for person in PEOPLE.values()}:
            return UpdateScoreStatus.NOTAPPLIED
        with self.lms.lock:
            previous = self.lms.results.get((line_item_id, user))
            if previous is not None and _instant(previous["timestamp"]) > _instant(body["timestamp"]):
                return UpdateScoreStatus.OLD_TIMESTAMP
            self.lms.results[(line_item_id, user)] = body
        return UpdateScoreStatus.SUCCESS


def score_problems(score: dict[str, Any]) -> list[str]:
    """What makes a Score not one (AGS 2.0 score publish service, media type schema)."""
    problems = []
    if not isinstance(score.get("userId"), str) or not score["userId"]:
        problems.append("userId must be a non-empty string")
    if score.get("activityProgress") not in {p.value for p in ActivityProgress}:
        problems.append(f"activityProgress {score.get('activityProgress')!r} is not an AGS value")
    if score.get("gradingProgress") not in {p.value for p in GradeProgress}:
        problems.append(f"gradingProgress {score.get('gradingProgress')!r} is not an AGS value")
    try:
        _instant(score.get("timestamp"))
    except ValueError as exc:
        problems.append(f"timestamp: {exc}")
    if "scoreGiven" in score:
        if not _number(score["scoreGiven"]) or score["scoreGiven"] < 0:
            problems.append("scoreGiven must be a number >= 0")
        if not _number(score.get("scoreMaximum")) or score["scoreMaximum"] <= 0:
            problems.append("scoreMaximum must be a number > 0 when scoreGiven is sent")
    return problems


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _instant(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("missing, or not an ISO 8601 string")
    stamp = datetime.fromisoformat(value)
    if stamp.tzinfo is None:
        raise ValueError("an ISO 8601 timestamp with a time zone is required")
    return stamp


# --- the web server -----------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def html(cls, status: int, page: str) -> Reply:
        return cls(status, page.encode(), "text/html; charset=utf-8")

    @classmethod
    def json(cls, status: int, value: object, content_type: str = "application/json") -> Reply:
        return cls(status, json.dumps(value).encode(), content_type)

    @classmethod
    def text(cls, status: int, message: str) -> Reply:
        return cls(status, message.encode())


STATUS_TEXT = {200: "OK", 201: "Created", 204: "No Content", 302: "Found", 400: "Bad Request", 401: "Unauthorized"}
STATUS_TEXT |= {403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict"}
STATUS_TEXT |= {415: "Unsupported Media Type", 500: "Internal Server Error"}


class App:
    def __init__(self, lms: Lms) -> None:
        self.lms = lms

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            reply = self.route(environ)
        except Exception:
            logger.exception("error answering %s %s", environ["REQUEST_METHOD"], environ.get("PATH_INFO"))
            reply = Reply.text(500, "internal error")
        headers = [("Content-Type", reply.content_type), ("Content-Length", str(len(reply.body))), *reply.headers]
        start_response(f"{reply.status} {STATUS_TEXT.get(reply.status, '')}", headers)
        return [reply.body]

    def route(self, environ: dict[str, Any]) -> Reply:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        request = WsgiRequest(environ)
        parts = path.strip("/").split("/")
        if path == "/jwks" and method == "GET":
            return Reply.json(200, self.lms.conf().get_jwks())
        if path == "/registration" and method == "GET":
            return self.registration()
        if path == "/admin/tool":
            return self.admin_tool(request)
        if path == "/auth" and method in ("GET", "POST"):
            return self.auth(request, environ)
        if path == "/token" and method == "POST":
            return self.token(request)
        if parts[:1] == ["courses"] and len(parts) >= 2:
            return self.course_route(request, environ, parts[1], parts[2:])
        return Reply.text(404, "not found")

    def course_route(self, request: WsgiRequest, environ: dict[str, Any], context_id: str, rest: list[str]) -> Reply:
        if context_id != COURSE_ID:
            return Reply.text(404, "no such course")
        if not rest and request.method == "GET":
            return self.course_page(request, environ)
        if rest == ["links", LINK_ID, "launch"] and request.method == "GET":
            return self.launch_link(environ)
        if rest[:1] == ["lineitems"]:
            return self.ags(request, context_id, rest[1:])
        return Reply.text(404, "not found")

    # --- pages ---

    def signed_in(self, environ: dict[str, Any]) -> tuple[str, Person] | None:
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        morsel = cookie.get(SESSION_COOKIE)
        key = self.lms.sessions.get(morsel.value) if morsel else None
        return (key, PEOPLE[key]) if key else None

    def course_page(self, request: WsgiRequest, environ: dict[str, Any]) -> Reply:
        headers = []
        chosen = request.get_data.get("as", "")
        if chosen in PEOPLE:  # the demo's sign-in: "as" whom the browser is signed in
            session = secrets.token_urlsafe(24)
            self.lms.sessions[session] = chosen
            # SameSite=None: the tool's OIDC redirect back to /auth runs in the iframe,
            # after a cross-site redirect, where Chromium withholds Lax cookies.
            headers.append(("Set-Cookie", f"{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=None; Secure"))
            who: tuple[str, Person] | None = (chosen, PEOPLE[chosen])
        else:
            who = self.signed_in(environ)
        if who is None:
            choices = " or ".join(f'<a href="?as={key}">{html.escape(p.name)}</a>' for key, p in PEOPLE.items())
            return Reply.html(200, f"<!doctype html><title>Sign in</title><p>Sign in as {choices}.</p>")
        person = who[1]
        lineitem = next(url for url, item in self.lms.lineitems.items() if item.get("resourceLinkId") == LINK_ID)
        result = self.lms.results.get((lineitem, person.user_id))
        grade = (
            f"{result['scoreGiven']} / {result['scoreMaximum']} ({result['gradingProgress']})"
            if result and "scoreGiven" in result
            else "no grade yet"
        )
        page = (
            f"<!doctype html><html lang='en'><head><title>{COURSE_LABEL} - Foreign LMS</title></head><body>"
            f"<header>Foreign LMS - signed in as {html.escape(person.name)}</header>"
            f"<h1>{COURSE_LABEL}: {COURSE_TITLE}</h1>"
            f"<ul><li><a href='/courses/{COURSE_ID}/links/{LINK_ID}/launch' target='tool'>{LINK_TITLE}</a>"
            f" - <span id='grade'>your grade: {html.escape(grade)}</span></li></ul>"
            "<iframe name='tool' title='Tool' style='width:100%;height:900px;border:1px solid #888'"
            " allow='clipboard-write'></iframe></body></html>"
        )
        reply = Reply.html(200, page)
        reply.headers.extend(headers)
        return reply

    def launch_link(self, environ: dict[str, Any]) -> Reply:
        """Third-party initiated login: send the browser to the tool's login URL."""
        who = self.signed_in(environ)
        if who is None:
            return Reply.text(401, "sign in first")
        if not self.lms.tool.login_url:
            return Reply.text(409, "no tool is configured: an admin fills in /admin/tool")
        login = OIDCLogin(WsgiRequest(environ), self.lms.conf())
        login.set_lti_message_hint(link_id=LINK_ID)
        reply: Reply = login.initiate_login(who[1].user_id)
        return reply

    def registration(self) -> Reply:
        """What an admin gives the tool (the values a real LMS shows on its tool page)."""
        lms = self.lms
        return Reply.json(
            200,
            {
                "issuer": lms.issuer,
                "client_id": lms.client_id,
                "deployment_id": lms.deployment_id,
                "auth_login_url": lms.base_url + "/auth",
                "auth_token_url": lms.token_url,
                "keyset_url": lms.base_url + "/jwks",
            },
        )

    def admin_tool(self, request: WsgiRequest) -> Reply:
        """The admin's "external tool" form: the tool's URLs and the link's custom parameters."""
        tool = self.lms.tool
        if request.method == "POST":
            form = request.form_data
            custom = dict(line.split("=", 1) for line in form.get("custom", "").splitlines() if "=" in line)
            tool.login_url, tool.launch_url = form.get("login_url", ""), form.get("launch_url", "")
            tool.keyset_url, tool.custom = form.get("keyset_url", ""), {k.strip(): v.strip() for k, v in custom.items()}
            logger.info("tool configured: %s", tool)
            return Reply(302, b"", headers=[("Location", "/admin/tool")])
        rows = "".join(
            f"<p><label>{label} <input name='{name}' value='{html.escape(value)}' size='60'></label></p>"
            for label, name, value in (
                ("Login initiation URL", "login_url", tool.login_url),
                ("Redirect (launch) URL", "launch_url", tool.launch_url),
                ("Public keyset URL", "keyset_url", tool.keyset_url),
            )
        )
        custom_text = html.escape("\n".join(f"{k}={v}" for k, v in tool.custom.items()))
        page = (
            "<!doctype html><title>External tool</title><h1>External tool</h1><form method='post'>"
            f"{rows}<p><label>Custom parameters <textarea name='custom'>{custom_text}</textarea></label></p>"
            "<button>Save</button></form>"
        )
        return Reply.html(200, page)

    # --- LTI endpoints ---

    def auth(self, request: WsgiRequest, environ: dict[str, Any]) -> Reply:
        who = self.signed_in(environ)
        launch = ResourceLinkLaunch(request, self.lms.conf(), lms=self.lms, person=who[1] if who else None)
        try:
            reply: Reply = launch.lti_launch()
        except PreflightRequestValidationException as exc:
            detail = str(exc) or "nonce, state, redirect_uri or client_id"
            self.lms.record("launches", {"refused": detail, "request": request.get_data or request.form_data})
            return Reply.text(400, f"bad authorisation request: {detail}")
        self.lms.record("launches", {"claims": launch.claims_sent})
        return reply

    def token(self, request: WsgiRequest) -> Reply:
        """OAuth2 client credentials with a JWT client assertion (IMS Security Framework)."""
        form = request.form_data
        conf = self.lms.conf()
        status, body, claims = 200, {}, {}
        try:
            if form.get("client_assertion_type") != JWT_BEARER:
                raise MissingRequiredClaim(f"client_assertion_type must be {JWT_BEARER}")
            body = dict(conf.get_access_token(form))  # grant type, parameters, signature
            claims = conf.tool_validate_and_decode(form["client_assertion"])
            self.check_assertion(claims)
        except (MissingRequiredClaim, KeyError) as exc:
            status, body = 400, {"error": "invalid_request", "error_description": str(exc)}
        except UnsupportedGrantType:
            status, body = 400, {"error": "unsupported_grant_type"}
        except (LtiException, InvalidKeySetUrl, jwt.PyJWTError) as exc:
            status, body = 401, {"error": "invalid_client", "error_description": str(exc) or type(exc).__name__}
        granted = body.get("scope", "") if status == 200 else ""
        assertion = {name: claims.get(name) for name in ("iss", "sub", "aud")}
        entry = {"status": status, "requested": form.get("scope", ""), "granted": granted, "assertion": assertion}
        self.lms.record("tokens", entry if status == 200 else {**entry, "error": body})
        return Reply.json(status, body)

    def check_assertion(self, claims: dict[str, Any]) -> None:
        """What lti1p3platform leaves unchecked (it decodes with verify_aud off, and reads
        no iss, sub or jti): a client assertion is for this platform's token endpoint,
        from this client, fresh, and used once."""
        lms = self.lms
        aud = claims.get("aud")
        audiences: list[Any] = aud if isinstance(aud, list) else [aud]
        if lms.token_url not in audiences and lms.issuer not in audiences:
            raise LtiException(f"client assertion audience {claims.get('aud')!r} is not {lms.token_url}")
        if claims.get("iss") != lms.client_id or claims.get("sub") != lms.client_id:
            raise LtiException("client assertion iss and sub must be the client id")
        if not _number(claims.get("exp")) or claims["exp"] < time.time():
            raise LtiException("client assertion has no exp, or has expired")
        jti = claims.get("jti")
        with lms.lock:
            if not isinstance(jti, str) or not jti or jti in lms.assertion_ids:
                raise LtiException("client assertion jti missing or already used")
            lms.assertion_ids.add(jti)

    def ags(self, request: WsgiRequest, context_id: str, rest: list[str]) -> Reply:
        service = Gradebook(request, self.lms.conf(), lms=self.lms, context_id=context_id)
        lineitem = f"{self.lms.lineitems_url(context_id)}/{rest[0]}" if rest else ""
        method = request.method
        handlers: dict[tuple[int, str, str], Callable[..., Response]] = {
            (0, "", "GET"): service.handle_get_lineitems,
            (0, "", "POST"): service.handle_create_lineitem,
            (1, "", "GET"): service.handle_get_lineitem,
            (1, "", "PUT"): service.handle_update_lineitem,
            (1, "", "DELETE"): service.handle_delete_lineitem,
            (2, "scores", "POST"): service.handle_update_score,
            (2, "results", "GET"): service.handle_get_results,
        }
        handler = handlers.get((len(rest), rest[1] if len(rest) == 2 else "", method or ""))
        if handler is None:
            return Reply.text(404 if len(rest) > 2 else 405, "no such AGS operation")
        kwargs = {"line_item_id": lineitem} if rest else {}
        if rest[1:] == ["scores"]:
            return self.score(request, service, handler, kwargs)
        return self.wrap(self.call(service, handler, kwargs))

    def score(
        self, request: WsgiRequest, service: Gradebook, handler: Callable[..., Response], kwargs: dict[str, Any]
    ) -> Reply:
        """POST .../scores: the library's handler, with the media type and the score scope
        checked (the library lets a token with any AGS scope post scores), all recorded."""
        media_type = (request.content_type or "").split(";")[0].strip()
        if media_type != SCORE_MEDIA_TYPE:
            response = Response(None, 415, f"Content-Type must be {SCORE_MEDIA_TYPE}")
        elif not self.token_has_scope(request, SCORE_SCOPE):
            response = Response(None, 401, "a bearer token with the score scope is required")
        else:
            response = self.call(service, handler, kwargs)
        entry = {
            "lineitem": kwargs["line_item_id"],
            "status": response.code,
            "applied": response.code in (200, 201),
            "message": response.message,
            "content_type": request.content_type,
            "score": request.json,
        }
        self.lms.record("scores", entry)
        logger.info("score %s for %s: %s", response.code, kwargs["line_item_id"], request.json)
        return self.wrap(response)

    def token_has_scope(self, request: WsgiRequest, scope: str) -> bool:
        auth = str(request.headers.get("Authorization", "")).split()
        if len(auth) != 2 or auth[0].lower() != "bearer":
            return False
        try:
            return bool(self.lms.conf().validate_token(auth[1], [scope]))
        except (LtiException, jwt.PyJWTError):
            return False

    def call(self, service: Gradebook, handler: Callable[..., Response], kwargs: dict[str, Any]) -> Response:
        try:
            response: Response = service.handle_resp(handler, **kwargs)
        except (LtiException, jwt.PyJWTError) as exc:
            # The library's bearer check raises PyJWT's errors on a malformed or forged
            # token instead of answering 401.
            return Response(None, 401, f"invalid access token: {exc}")
        except ValueError as exc:  # a body that is not JSON
            return Response(None, 400, f"unreadable request: {exc}")
        return response

    def wrap(self, response: Response) -> Reply:
        if 200 <= response.code < 300:
            result = response.result
            if isinstance(result, dict) and "content" in result:
                result = result["content"]
            body = b"" if result is None else json.dumps(result).encode()
            return Reply(response.code, body, response.media_type)
        return Reply.json(response.code, {"error": response.message})


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="localhost", help="the host name people and the tool reach it by")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True, help="its key and the JSON-lines records")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s foreign-lms %(message)s", stream=sys.stdout)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    lms = Lms(base_url=f"http://{args.host}:{args.port}", data_dir=args.data_dir)
    server = make_server(args.host, args.port, App(lms), server_class=ThreadingServer, handler_class=QuietHandler)
    logger.info("Foreign LMS on %s (registration values at %s/registration)", lms.base_url, lms.base_url)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
