"""Access tokens and scores (LTI AGS) against the in-repo test platform, over real HTTP:
the platform checks the tool's signed assertion against the tool's published keys."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone
from jwcrypto import jwk, jwt

from lti.ags import (
    SCORE_SCOPE,
    PlatformBusy,
    PlatformRefused,
    Score,
    access_token,
    access_token_forget,
    client_assertion,
    score_post,
    scores_url,
)
from lti.keys import tool_jwks, tool_key_current
from lti.models import Platform
from tests.lti.platform import TestPlatform

pytestmark = pytest.mark.usefixtures("_plain_http_allowed")


@pytest.fixture
def _plain_http_allowed() -> Iterator[None]:
    with override_settings(LTI_ALLOW_HTTP=True, LTI_HTTP_TIMEOUT_SECONDS=2):
        yield


@pytest.fixture
def lms(db: None) -> Iterator[TestPlatform]:
    test_platform = TestPlatform()
    with test_platform.serving():
        test_platform.tool_keys = tool_jwks(now=timezone.now())["keys"]
        yield test_platform


@pytest.fixture
def platform(lms: TestPlatform) -> Iterator[Platform]:
    registered = lms.register()
    yield registered
    access_token_forget(platform=registered, scopes=[SCORE_SCOPE])


def a_score(given: str = "7.5", *, at: datetime | None = None, user: str = "student-7") -> Score:
    return Score(
        user_id=user,
        score_given=Decimal(given),
        score_maximum=Decimal(10),
        timestamp=at or timezone.now(),
    )


# --- the client assertion and the token ----------------------------------------------------


def test_the_assertion_is_signed_by_the_current_key_for_the_token_endpoint(platform):
    now = timezone.now()
    first, second = client_assertion(platform=platform, now=now), client_assertion(platform=platform, now=now)
    keys = jwk.JWKSet.from_json(json.dumps(tool_jwks(now=now)))
    parsed = jwt.JWT(jwt=first, key=keys, algs=["RS256"])
    header, claims = json.loads(parsed.header), json.loads(parsed.claims)
    assert header["kid"] == tool_key_current(now=now).kid
    assert claims["iss"] == claims["sub"] == platform.client_id
    assert claims["aud"] == platform.auth_token_url
    assert claims["exp"] - claims["iat"] == 300
    assert claims["iat"] == int(now.timestamp())
    assert claims["jti"] != json.loads(jwt.JWT(jwt=second, key=keys).claims)["jti"]  # never reused


def test_the_assertion_names_the_audience_the_platform_asks_for(platform):
    platform.auth_audience = "https://lms.test/oauth2/aud"
    payload = client_assertion(platform=platform, now=timezone.now()).split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == "https://lms.test/oauth2/aud"


def test_a_token_is_issued_for_a_verifiable_assertion_and_then_cached(lms, platform):
    token = access_token(platform=platform, scopes=[SCORE_SCOPE], now=timezone.now())
    assert lms.token_requests == 1
    assert lms.tokens_issued[0]["access_token"] == token
    assert lms.tokens_issued[0]["scope"] == SCORE_SCOPE
    assert access_token(platform=platform, scopes=[SCORE_SCOPE], now=timezone.now()) == token
    assert lms.token_requests == 1


def test_tokens_are_cached_per_scope_set(lms, platform):
    nrps = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
    score_token = access_token(platform=platform, scopes=[SCORE_SCOPE], now=timezone.now())
    roster_token = access_token(platform=platform, scopes=[nrps], now=timezone.now())
    assert score_token != roster_token
    assert lms.token_requests == 2
    access_token_forget(platform=platform, scopes=[nrps])


def test_a_client_the_platform_does_not_know_is_refused_for_good(lms, platform):
    platform.client_id = "a-client-id-the-lms-never-gave"
    with pytest.raises(PlatformRefused) as refused:
        access_token(platform=platform, scopes=[SCORE_SCOPE], now=timezone.now())
    assert refused.value.status == 401
    assert "invalid_client" in str(refused.value)
    assert platform.auth_token_url in str(refused.value)


def test_a_platform_that_is_down_is_worth_trying_again(lms, platform):
    lms.down = True
    with pytest.raises(PlatformBusy) as busy:
        access_token(platform=platform, scopes=[SCORE_SCOPE], now=timezone.now())
    assert busy.value.status == 503
    assert "down for maintenance" in str(busy.value)


def test_a_platform_that_cannot_be_reached_is_worth_trying_again(platform):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens there once the probe is closed
    platform.auth_token_url = f"http://127.0.0.1:{closed}/token"
    with pytest.raises(PlatformBusy, match="could not be reached"):
        access_token(platform=platform, scopes=[SCORE_SCOPE], now=timezone.now())


def test_no_token_is_requested_over_plain_http_unless_allowed(lms, platform):
    with override_settings(LTI_ALLOW_HTTP=False), pytest.raises(PlatformRefused, match="not an https URL"):
        access_token(platform=platform, scopes=[SCORE_SCOPE], now=timezone.now())
    assert lms.token_requests == 0


# --- scores ------------------------------------------------------------------------------------


def test_the_scores_url_goes_before_a_line_items_query():
    assert scores_url(lineitem_url="https://lms.test/c/1/lineitems/7") == "https://lms.test/c/1/lineitems/7/scores"
    assert scores_url(lineitem_url="https://lms.test/c/1/lineitems/7/") == "https://lms.test/c/1/lineitems/7/scores"
    assert (
        scores_url(lineitem_url="https://lms.test/mod/lti/services.php/2/lineitems/5/lineitem?type_id=3")
        == "https://lms.test/mod/lti/services.php/2/lineitems/5/lineitem/scores?type_id=3"
    )


def test_a_score_reaches_the_line_item_with_every_field(lms, platform):
    lineitem = lms.add_lineitem(context_id="course-101", label="Quiz", score_maximum=10)
    at = datetime(2026, 3, 1, 12, 30, 15, 250000, tzinfo=UTC)
    score_post(platform=platform, lineitem_url=lineitem, score=a_score("7.5", at=at), now=timezone.now())
    [received] = lms.scores
    assert received.lineitem == lineitem
    assert received.accepted
    assert received.body == {
        "userId": "student-7",
        "scoreGiven": 7.5,
        "scoreMaximum": 10.0,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": "2026-03-01T12:30:15.250000+00:00",
    }
    assert received.token == f"Bearer {lms.tokens_issued[0]['access_token']}"


def test_a_second_score_uses_the_cached_token(lms, platform):
    lineitem = lms.add_lineitem(context_id="course-101", label="Quiz", score_maximum=10)
    score_post(platform=platform, lineitem_url=lineitem, score=a_score("5"), now=timezone.now())
    score_post(platform=platform, lineitem_url=lineitem, score=a_score("6", user="student-8"), now=timezone.now())
    assert lms.token_requests == 1
    assert [s.body["scoreGiven"] for s in lms.scores] == [5.0, 6.0]


def test_a_line_item_with_a_query_gets_its_score(lms, platform):
    lineitem = lms.add_lineitem(context_id="course-101", label="Quiz", score_maximum=10)
    score_post(platform=platform, lineitem_url=lineitem + "?type_id=3", score=a_score(), now=timezone.now())
    assert lms.accepted_scores(lineitem=lineitem) == [lms.scores[0].body]


def test_a_token_the_platform_no_longer_takes_is_replaced_once(lms, platform):
    lineitem = lms.add_lineitem(context_id="course-101", label="Quiz", score_maximum=10)
    score_post(platform=platform, lineitem_url=lineitem, score=a_score("5"), now=timezone.now())
    lms.tokens_issued.clear()  # the platform revoked every token it gave
    score_post(platform=platform, lineitem_url=lineitem, score=a_score("6"), now=timezone.now())
    assert lms.token_requests == 2
    assert [body["scoreGiven"] for body in lms.accepted_scores(lineitem=lineitem)] == [5.0, 6.0]


def test_a_token_refused_twice_is_a_refusal_not_a_loop(lms, platform, monkeypatch):
    lineitem = lms.add_lineitem(context_id="course-101", label="Quiz", score_maximum=10)
    monkeypatch.setattr(lms, "receive_score", lambda *args: 401)
    with pytest.raises(PlatformRefused) as refused:
        score_post(platform=platform, lineitem_url=lineitem, score=a_score(), now=timezone.now())
    assert refused.value.status == 401
    assert lms.token_requests == 2


def test_the_platforms_own_words_come_with_a_refusal(lms, platform, monkeypatch):
    lineitem = lms.add_lineitem(context_id="course-101", label="Quiz", score_maximum=10)
    monkeypatch.setattr(lms, "receive_score", lambda *args: 400)
    with pytest.raises(PlatformRefused) as refused:
        score_post(platform=platform, lineitem_url=lineitem, score=a_score(), now=timezone.now())
    assert refused.value.status == 400
    assert str(refused.value) == f"The LMS's scores endpoint ({lineitem}/scores) answered HTTP 400: refused"


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_overload_and_server_errors_are_worth_trying_again(lms, platform, monkeypatch, status):
    lineitem = lms.add_lineitem(context_id="course-101", label="Quiz", score_maximum=10)
    monkeypatch.setattr(lms, "receive_score", lambda *args: status)
    with pytest.raises(PlatformBusy) as busy:
        score_post(platform=platform, lineitem_url=lineitem, score=a_score(), now=timezone.now())
    assert busy.value.status == status
