"""The LTI login and launch endpoints end to end through Django's test client, with the
in-repo platform answering the OIDC redirect over real HTTP: sessions, courses, links,
the instructor's pages, deep linking, and refusals as 4xx pages that open no session."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth import SESSION_KEY
from django.http import HttpResponse
from django.test import Client, override_settings
from django.utils import timezone
from jwcrypto import jwk, jwt

from lti.keys import tool_jwks
from lti.models import Course, CourseMembership, CourseRole, ResourceLink
from questions.models import Exercise, Quiz
from tests.exercises import make_exercise
from tests.factories import QuestionFactory, QuizFactory
from tests.lti.platform import DELETE, INSTRUCTOR, Person, TestPlatform

TOOL = "http://testserver"
pytestmark = pytest.mark.usefixtures("_tool_address")


@pytest.fixture
def _tool_address() -> Iterator[None]:
    with override_settings(LTI_TOOL_BASE_URL=TOOL, LTI_HTTP_TIMEOUT_SECONDS=2, LTI_ALLOW_HTTP=True):
        yield


@pytest.fixture
def lms(db: None) -> Iterator[TestPlatform]:
    platform = TestPlatform()
    with platform.serving(issuer_is_base=True):
        platform.tool_launch_url = TOOL + "/lti/launch/"
        platform.tool_login_url = TOOL + "/lti/login/"
        platform.people = {
            "ada": Person(sub="ada"),
            "grace": Person(sub="grace", name="Grace Hopper", given_name="Grace", family_name="Hopper", email=""),
            "prof": Person(sub="prof", role=INSTRUCTOR, name="Prof Turing", given_name="Alan", family_name="Turing"),
        }
        platform.register()
        yield platform


@pytest.fixture
def published_quiz(db: None) -> Quiz:
    return QuizFactory(slug="loss-versus-metric", title="Loss versus metric", questions=[QuestionFactory()])


def launch(client: Client, lms: TestPlatform, *, hint: str, person: str, method: str = "get") -> HttpResponse:
    """Login initiation → the platform's OIDC endpoint (over HTTP) → the launch POST, in
    one browser (the client keeps its cookies). Returns the launch's response."""
    params = lms.login_params(target=lms.tool_launch_url, hint=person, message_hint=hint)
    checking = getattr(client, method)("/lti/login/", params)
    assert checking.status_code == 200, checking.content  # the cookie check page, which goes on to:
    onward = re.search(rb"location.replace\((.+?)\);", checking.content)
    assert onward is not None
    started = client.get(json.loads(onward.group(1)))
    assert started.status_code == 302, started.content
    answer = requests.get(started["Location"], timeout=5, allow_redirects=False)
    assert answer.status_code == 200, answer.text
    form = dict(re.findall(r"name='(id_token|state)' value='([^']*)'", answer.text))
    action = unescape(re.search(r"action='([^']*)'", answer.text).group(1))  # type: ignore[union-attr]
    assert urlsplit(action).path == "/lti/launch/"
    return client.post("/lti/launch/", {name: unescape(value) for name, value in form.items()})


def test_a_learner_lands_on_the_quiz_the_link_names_signed_in_with_iframe_cookies(
    lms: TestPlatform, published_quiz: Quiz, client: Client
) -> None:
    lineitem = lms.add_lineitem(context_id="course-101", label="Week 3", score_maximum=1)
    lms.add_link("week-3", custom={"resource": "quiz:loss-versus-metric"}, lineitem=lineitem)

    response = launch(client, lms, hint="week-3", person="ada")

    assert response.status_code == 302
    assert response["Location"] == "/quizzes/loss-versus-metric/"
    session_cookie = response.cookies["sessionid"]
    assert session_cookie["samesite"] == "None"
    assert session_cookie["secure"]
    membership = CourseMembership.objects.select_related("user", "course").get()
    assert membership.role == CourseRole.STUDENT
    assert membership.course.context_id == "course-101"
    assert (membership.user.first_name, membership.user.email) == ("Ada", "ada@example.edu")
    assert str(client.session[SESSION_KEY]) == str(membership.user.pk)
    link = ResourceLink.objects.get()
    assert (link.resource_link_id, link.quiz, link.lineitem_url) == ("link-1", published_quiz, lineitem)
    course = Course.objects.get()
    assert course.lineitems_url.endswith("/course-101/lineitems")
    assert course.memberships_url
    assert "frame-ancestors 'self' " + lms.base_url in response["Content-Security-Policy"]


def test_the_state_cookie_works_in_a_third_party_iframe(lms: TestPlatform, client: Client) -> None:
    lms.add_link("week-3")
    params = lms.login_params(target=lms.tool_launch_url, hint="ada", message_hint="week-3")
    started = client.get("/lti/login/", {**params, "lti1p3_new_window": "1"})
    (state_cookie,) = started.cookies.values()
    assert state_cookie["samesite"] == "None"
    assert state_cookie["secure"]
    assert state_cookie["httponly"]


def test_the_login_first_checks_cookies_and_offers_a_new_window(lms: TestPlatform, client: Client) -> None:
    lms.add_link("week-3")
    params = lms.login_params(target=lms.tool_launch_url, hint="ada", message_hint="week-3")
    page = client.post("/lti/login/", params)  # platforms may POST the login initiation
    assert page.status_code == 200
    assert not page.cookies  # nothing is kept before the browser proves it keeps cookies
    assert b'target="_blank"' in page.content
    assert page.get("X-Frame-Options") is None
    link = re.search(rb'id="cookie-check-new-window" href="([^"]+)"', page.content).group(1)  # type: ignore[union-attr]
    continued = client.get(unescape(link.decode()))
    assert continued.status_code == 302
    assert continued["Location"].startswith(lms.auth_url + "?")


def test_login_initiation_by_form_post_is_accepted_without_a_csrf_token(
    lms: TestPlatform, published_quiz: Quiz
) -> None:
    lms.add_link("week-3", custom={"resource": "quiz:loss-versus-metric"})
    client = Client(enforce_csrf_checks=True)
    response = launch(client, lms, hint="week-3", person="ada", method="post")
    assert response.status_code == 302


def test_name_and_email_are_kept_only_when_sent(lms: TestPlatform, published_quiz: Quiz, client: Client) -> None:
    lms.add_link("week-3", custom={"resource": "quiz:loss-versus-metric"})
    launch(client, lms, hint="week-3", person="grace")
    user = CourseMembership.objects.get().user
    assert (user.first_name, user.email) == ("Grace", "")


def test_a_link_with_no_content_tells_a_learner_to_come_back(lms: TestPlatform, client: Client) -> None:
    lms.add_link("week-3")
    response = launch(client, lms, hint="week-3", person="ada")
    assert response.status_code == 409
    assert b"not set up yet" in response.content


def test_an_unknown_resource_parameter_is_no_content(lms: TestPlatform, client: Client) -> None:
    lms.add_link("week-3", custom={"resource": "quiz:does-not-exist"})
    assert launch(client, lms, hint="week-3", person="ada").status_code == 409


def test_an_exercise_link_lands_on_the_exercise(lms: TestPlatform, client: Client) -> None:
    exercise = make_exercise()
    Exercise.objects.filter(pk=exercise.pk).update(is_published=True)
    lms.add_link("lab", custom={"resource": f"exercise:{exercise.slug}"})
    response = launch(client, lms, hint="lab", person="ada")
    assert response.status_code == 302
    assert response["Location"] == f"/exercises/{exercise.slug}/"


def test_an_instructor_chooses_what_a_bare_link_shows_and_sees_the_students(
    lms: TestPlatform, published_quiz: Quiz, client: Client
) -> None:
    lms.add_link("week-3")
    launch(Client(), lms, hint="week-3", person="ada")  # a student, before anything is chosen

    response = launch(client, lms, hint="week-3", person="prof")
    link = ResourceLink.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/lti/links/{link.pk}/"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"Ada Lovelace" in page.content
    assert b"Not submitted" in page.content

    chosen = client.post(f"/lti/links/{link.pk}/", {"resource": "quiz:loss-versus-metric"})
    assert chosen.status_code == 302
    link.refresh_from_db()
    assert link.quiz == published_quiz
    assert launch(Client(), lms, hint="week-3", person="ada")["Location"] == "/quizzes/loss-versus-metric/"


def test_choosing_unpublished_content_is_refused_and_nothing_changes(lms: TestPlatform, client: Client) -> None:
    QuizFactory(slug="draft", is_published=False)
    lms.add_link("week-3")
    launch(client, lms, hint="week-3", person="prof")
    link = ResourceLink.objects.get()
    response = client.post(f"/lti/links/{link.pk}/", {"resource": "quiz:draft"})
    assert response.status_code == 400
    assert b"not published content" in response.content
    link.refresh_from_db()
    assert link.quiz is None


def test_a_learner_reaching_the_instructor_page_is_refused(
    lms: TestPlatform, published_quiz: Quiz, client: Client
) -> None:
    lms.add_link("week-3", custom={"resource": "quiz:loss-versus-metric"})
    launch(client, lms, hint="week-3", person="ada")
    link = ResourceLink.objects.get()
    assert client.get(f"/lti/links/{link.pk}/").status_code == 403
    assert client.post(f"/lti/links/{link.pk}/", {"resource": "quiz:loss-versus-metric"}).status_code == 403


def test_instructors_of_one_course_see_nothing_of_another(
    lms: TestPlatform, published_quiz: Quiz, client: Client
) -> None:
    lms.add_link("a", context_id="course-a", resource_link_id="link-a")
    lms.add_link("b", context_id="course-b", resource_link_id="link-b")
    launch(Client(), lms, hint="b", person="prof")  # prof teaches B too, via another session
    lms.people["prof-a"] = Person(sub="prof-a", role=INSTRUCTOR)
    launch(client, lms, hint="a", person="prof-a")
    other = ResourceLink.objects.get(resource_link_id="link-b")
    assert client.get(f"/lti/links/{other.pk}/").status_code == 403


def test_a_refused_launch_is_a_4xx_page_and_opens_no_session(lms: TestPlatform, client: Client) -> None:
    lms.add_link("week-3")
    params = lms.login_params(target=lms.tool_launch_url, hint="ada", message_hint="week-3")
    client.get("/lti/login/", params)
    response = client.post("/lti/launch/", {"id_token": "not-a-jwt", "state": "whatever"})
    assert 400 <= response.status_code < 500
    assert b"<h1>This launch was refused</h1>" in response.content
    assert SESSION_KEY not in client.session
    assert response.get("X-Frame-Options") is None  # shown in the LMS's iframe


def test_a_login_for_an_unregistered_platform_is_a_4xx_page(db: None, client: Client) -> None:
    response = client.get(
        "/lti/login/",
        {"iss": "https://nobody.test", "login_hint": "x", "target_link_uri": TOOL + "/lti/launch/", "client_id": "c"},
    )
    assert response.status_code == 403
    assert b"not registered" in response.content


def test_the_launch_endpoint_takes_only_posts(client: Client) -> None:
    assert client.get("/lti/launch/").status_code == 405


def test_deep_linking_returns_signed_resource_links_with_line_items(
    lms: TestPlatform, published_quiz: Quiz, client: Client
) -> None:
    exercise = make_exercise()
    Exercise.objects.filter(pk=exercise.pk).update(is_published=True)
    lms.add_link("add-content", deep_linking=True)

    response = launch(client, lms, hint="add-content", person="prof")
    assert response.status_code == 302
    assert response["Location"] == "/lti/deep-link/"
    picker = client.get("/lti/deep-link/")
    assert picker.status_code == 200
    assert b"Loss versus metric" in picker.content

    reply = client.post("/lti/deep-link/", {"resource": ["quiz:loss-versus-metric", f"exercise:{exercise.slug}"]})
    assert reply.status_code == 200
    action = re.search(rb'id="deep-link-return" method="post" action="([^"]+)"', reply.content).group(1).decode()  # type: ignore[union-attr]
    token = re.search(rb'name="JWT" value="([^"]+)"', reply.content).group(1).decode()  # type: ignore[union-attr]
    assert action == lms.base_url + "/deep-link-return"
    keys = jwk.JWKSet.from_json(json.dumps(tool_jwks(now=timezone.now())))
    claims = json.loads(jwt.JWT(jwt=token, key=keys, algs=["RS256"]).claims)
    assert (claims["iss"], claims["aud"]) == (lms.client_id, lms.issuer)
    assert claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] == "LtiDeepLinkingResponse"
    assert claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] == "platform-opaque-data"
    items = claims["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
    assert [item["custom"]["resource"] for item in items] == ["quiz:loss-versus-metric", f"exercise:{exercise.slug}"]
    assert items[0]["lineItem"]["label"] == "Loss versus metric"
    assert items[0]["lineItem"]["scoreMaximum"] > 0
    assert all(item["type"] == "ltiResourceLink" and item["url"] == TOOL + "/lti/launch/" for item in items)


def test_a_deep_linking_request_is_answered_once(lms: TestPlatform, published_quiz: Quiz, client: Client) -> None:
    lms.add_link("add-content", deep_linking=True)
    launch(client, lms, hint="add-content", person="prof")
    assert client.post("/lti/deep-link/", {"resource": "quiz:loss-versus-metric"}).status_code == 200
    again = client.post("/lti/deep-link/", {"resource": "quiz:loss-versus-metric"})  # a reload, a second tab
    assert again.status_code == 403
    assert b"No content request" in again.content


def test_a_platform_that_does_not_say_it_takes_several_items_gets_one(
    lms: TestPlatform, published_quiz: Quiz, client: Client
) -> None:
    exercise = make_exercise()
    Exercise.objects.filter(pk=exercise.pk).update(is_published=True)
    lms.add_link("add-content", deep_linking=True, deep_linking_settings={"accept_multiple": DELETE})
    launch(client, lms, hint="add-content", person="prof")
    two = client.post("/lti/deep-link/", {"resource": ["quiz:loss-versus-metric", f"exercise:{exercise.slug}"]})
    assert two.status_code == 400
    assert client.post("/lti/deep-link/", {"resource": "quiz:loss-versus-metric"}).status_code == 200


@pytest.mark.parametrize(
    "return_url", ["javascript:alert(document.domain)", "data:text/html,hi", "https://a b/", "x" * 10, ""]
)
def test_a_return_url_that_is_not_a_web_address_is_refused(lms: TestPlatform, client: Client, return_url: str) -> None:
    # The reply is a form the browser posts to the return URL, with the instructor's session.
    lms.add_link("add-content", deep_linking=True, deep_linking_settings={"deep_link_return_url": return_url})
    response = launch(client, lms, hint="add-content", person="prof")
    assert response.status_code == 400
    assert SESSION_KEY not in client.session


def test_deep_linking_needs_a_choice_and_is_for_instructors(lms: TestPlatform, client: Client) -> None:
    lms.add_link("add-content", deep_linking=True)
    launch(client, lms, hint="add-content", person="prof")
    empty = client.post("/lti/deep-link/", {})
    assert empty.status_code == 400
    assert b"Choose at least one" in empty.content

    learner = Client()
    response = launch(learner, lms, hint="add-content", person="ada")
    assert response.status_code == 403
    assert SESSION_KEY not in learner.session
    assert Client().get("/lti/deep-link/").status_code == 403
