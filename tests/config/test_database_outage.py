"""A database outage through the real server: 503 with Retry-After, never a 500 or
Django's HTML error or debug page, and nothing half-written.

The server reaches the test's PostgreSQL through a TCP proxy in this process, which the
test cuts (every open connection dropped, new ones refused), hangs (connections taken
but never answered) and restores; the server's psycopg sees the real errors of each.
The test itself talks to PostgreSQL directly, to set up and to check what was written.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.test import Client, override_settings
from rest_framework.authtoken.models import Token

from config.middleware import is_database_outage
from grader.models import Attempt, AttemptAnswer, AttemptState
from grader.services import attempt_start
from tests.config.conftest import Reply, Site, SiteFactory, json_request, request
from tests.factories import UserFactory
from tests.workers.conftest import database_url_for_worker
from tests.workers.tcp_proxy import TcpProxy

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="an outage of a database server: needs DATABASE_URL=postgres://…"
)

RETRY_AFTER = "5"  # OUTAGE_RETRY_AFTER_SECONDS's default


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    settings_dict = connection.settings_dict
    tcp_proxy = TcpProxy((settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432)))
    yield tcp_proxy
    tcp_proxy.close()


def _through(proxy: TcpProxy) -> str:
    url = database_url_for_worker()
    scheme_auth, rest = url.split("@", 1)
    return f"{scheme_auth}@127.0.0.1:{proxy.port}/{rest.split('/', 1)[1]}"


@pytest.fixture
def site(start_site: SiteFactory, proxy: TcpProxy) -> Site:
    return start_site(database_url=_through(proxy))


def _token_for(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def _session_cookie_for(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def _assert_unavailable_json(reply: Reply) -> None:
    assert reply.status == 503, (reply.status, reply.body[:300])
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["retry-after"] == RETRY_AFTER
    body = reply.json()
    assert body["code"] == "service_unavailable"
    assert "try again" in body["detail"]
    assert set(body) == {"detail", "code"}


def _assert_no_500s(site: Site) -> None:
    """No 500 was sent (the access log's status column); Django may still have logged the
    traceback of an error raised outside a view before the 503 replaced its page."""
    assert '" 500 ' not in site.output()


@needs_postgresql
def test_it_answers_503_json_with_retry_after_while_the_database_is_down(site, proxy, quiz, student):
    token = _token_for(student)
    cookie = _session_cookie_for(student)
    # Every server thread opens its connection, which stays open (CONN_MAX_AGE) and breaks.
    with ThreadPoolExecutor(max_workers=8) as pool:
        warm = list(pool.map(lambda _: json_request(site, "GET", "/api/v1/quizzes/", token=token), range(16)))
    assert {reply.status for reply in warm} == {200}

    proxy.cut()
    api_calls = [
        ("POST", f"/api/v1/quizzes/{quiz.slug}/attempts/", token),
        ("GET", "/api/v1/quizzes/", token),
        ("GET", "/api/v1/attempts/1/", token),
        ("POST", "/api/v1/auth/token/", None),
    ]
    for _ in range(6):  # more than the server's threads: each meets its broken connection
        for method, path, auth in api_calls:
            payload = {"username": "alice", "password": "pass-word-123"} if auth is None else None
            _assert_unavailable_json(json_request(site, method, path, payload, token=auth))

    page = request(site, "GET", f"/quizzes/{quiz.slug}/", headers={"Cookie": cookie})
    assert page.status == 503
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["retry-after"] == RETRY_AFTER
    assert b"try again" in page.body
    assert b"Traceback" not in page.body

    health = request(site, "GET", "/healthz/")
    assert health.status == 503
    assert health.json()["status"] == "unavailable"
    assert health.seconds < 2

    _assert_no_500s(site)

    # Back without a restart: the first request after the database returns succeeds.
    proxy.restore()
    started = json_request(site, "POST", f"/api/v1/quizzes/{quiz.slug}/attempts/", token=token)
    assert started.status == 201, started.body
    assert Attempt.objects.count() == 1  # the refused starts wrote nothing
    assert request(site, "GET", "/healthz/").status == 200


@needs_postgresql
def test_a_connection_breaking_mid_request_gives_503s_and_no_half_written_submit(site, proxy, quiz):
    """40 students submit at once; the database goes away while their submits run."""
    students = [UserFactory(username=f"student{n}") for n in range(40)]
    attempts = {user.pk: attempt_start(quiz=quiz, user=user) for user in students}
    tokens = {user.pk: _token_for(user) for user in students}
    done = threading.Semaphore(0)

    def submit(user_id: int) -> Reply:
        try:
            return json_request(site, "POST", f"/api/v1/attempts/{attempts[user_id].pk}/submit/",
                                {"answers": []}, token=tokens[user_id])  # fmt: skip
        finally:
            done.release()

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {user.pk: pool.submit(submit, user.pk) for user in students}
        for _ in range(10):  # the outage starts once ten submits have been answered
            done.acquire(timeout=30)
        proxy.cut()
        replies = {user_id: future.result(timeout=60) for user_id, future in futures.items()}
    proxy.restore()

    statuses = [reply.status for reply in replies.values()]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 10
    assert statuses.count(503) >= 1
    for reply in replies.values():
        if reply.status == 503:
            _assert_unavailable_json(reply)

    layout_size = len(next(iter(attempts.values())).layout)
    for user_id, attempt in attempts.items():
        attempt.refresh_from_db()
        answers = AttemptAnswer.objects.filter(attempt=attempt).count()
        if attempt.state == AttemptState.SUBMITTED:
            assert answers == layout_size
            assert attempt.score is not None
        else:
            assert attempt.state == AttemptState.IN_PROGRESS
            assert answers == 0
        if replies[user_id].status == 200:
            assert attempt.state == AttemptState.SUBMITTED
    _assert_no_500s(site)


@needs_postgresql
def test_it_answers_503_within_the_connect_timeout_when_the_database_does_not_answer(start_site, proxy, student):
    site = start_site(database_url=_through(proxy), env={"DATABASE_CONNECT_TIMEOUT": "2"})
    token = _token_for(student)
    assert json_request(site, "GET", "/api/v1/quizzes/", token=token).status == 200

    proxy.hang()
    reply = json_request(site, "GET", "/api/v1/quizzes/", token=token)
    _assert_unavailable_json(reply)
    assert reply.seconds < 6  # libpq alone would wait for an answer without end
    health = request(site, "GET", "/healthz/")
    assert health.status == 503
    assert health.seconds < 6


class _FailsOnTheWayOut:
    """A middleware whose database work on the response fails, as LtiCookiesMiddleware's
    look into the session does when the session was not loaded before the outage."""

    error: type[Exception] = OperationalError

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        self.get_response(request)
        raise self.error("the connection is closed")


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
@pytest.mark.parametrize("debug", [False, True])
def test_a_database_error_outside_the_view_also_becomes_a_503(settings, db, monkeypatch, debug, error):
    """In process, for InterfaceError and the debug page too; the real server's runs
    above take this path on the student page."""
    settings.DEBUG = debug
    monkeypatch.setattr(_FailsOnTheWayOut, "error", error)
    middleware = [*settings.MIDDLEWARE, f"{__name__}._FailsOnTheWayOut"]
    with override_settings(MIDDLEWARE=middleware):
        api = Client(raise_request_exception=False).get("/api/v1/schema/")
        page = Client(raise_request_exception=False).get("/login/")
    _assert_unavailable_json(Reply(api.status_code, {k.lower(): v for k, v in api.items()}, api.content, 0.0))
    assert page.status_code == 503
    assert page["Retry-After"] == RETRY_AFTER
    assert b"try again" in page.content


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (OperationalError("connection to server at 127.0.0.1 failed: Connection refused"), True),
        (OperationalError("database is locked"), True),
        (InterfaceError("connection already closed"), True),
        (OperationalError("no such column: questions_exercise.spec_fingerprint"), False),
        (OperationalError("no such table: grader_submission"), False),
        (ValueError("not a database error"), False),
    ],
)
def test_only_an_unreachable_database_is_an_outage_not_a_query_the_schema_cannot_answer(error: Exception, outage: bool):
    """SQLite says "no such column" with the same exception type as a refused connection:
    a bug must stay a 500 that someone sees, not pass for a 503 to retry."""
    assert is_database_outage(error) is outage
