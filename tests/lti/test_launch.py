"""LTI 1.3 login and launch validation against the in-repo test platform (real key set
over HTTP, real signatures): what pylti1p3 checks, and what this project adds to it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.http import HttpRequest
from django.test import RequestFactory, override_settings
from django.utils import timezone

from lti.launch import Launch, LaunchRefused, launch_validate, login_redirect
from lti.models import Course, CourseMembership, CourseRole, LaunchData, LtiIdentity, Platform
from lti.services import launch_identity_ensure
from lti.tool_conf import launch_data_purge
from tests.lti.platform import DELETE, INSTRUCTOR, TestPlatform, new_key, redirect_params

TOOL = "http://testserver"
LAUNCH_URL = TOOL + "/lti/launch/"
pytestmark = pytest.mark.usefixtures("_tool_address")


@pytest.fixture
def _tool_address() -> Iterator[None]:
    with override_settings(LTI_TOOL_BASE_URL=TOOL, LTI_HTTP_TIMEOUT_SECONDS=1, LTI_ALLOW_HTTP=True):
        yield


@pytest.fixture
def lms(db: None) -> Iterator[TestPlatform]:
    platform = TestPlatform()
    with platform.serving():
        platform.register()
        yield platform


class Browser:
    """What the tool's login leaves in a browser: the state cookie and the nonce."""

    def __init__(self, lms: TestPlatform) -> None:
        params = {**lms.login_params(target=LAUNCH_URL), "lti1p3_new_window": "1"}  # past the cookie check
        request = RequestFactory().get("/lti/login/", params)
        response = login_redirect(request=request)
        assert response.status_code == 302, response
        params = redirect_params(response["Location"])
        assert response["Location"].startswith(f"{lms.auth_url}?")
        assert (params["redirect_uri"], params["client_id"]) == (LAUNCH_URL, lms.client_id)
        self.state, self.nonce = params["state"], params["nonce"]
        self.cookies = {key: morsel.value for key, morsel in response.cookies.items()}
        assert self.cookies == {f"lti1p3-{self.state}": self.state}

    def launch_request(self, token: str, *, state: str | None = None) -> HttpRequest:
        request = RequestFactory().post("/lti/launch/", {"id_token": token, "state": state or self.state})
        request.COOKIES.update(self.cookies)
        return request


def launch(lms: TestPlatform, **overrides: Any) -> Launch:
    browser = Browser(lms)
    return launch_validate(request=browser.launch_request(lms.id_token(lms.claims(nonce=browser.nonce, **overrides))))


def refusal(lms: TestPlatform, **overrides: Any) -> LaunchRefused:
    with pytest.raises(LaunchRefused) as refused:
        launch(lms, **overrides)
    return refused.value


# --- the good path ---------------------------------------------------------------------------


def test_a_learners_launch_is_validated_and_read(lms):
    result = launch(lms)
    assert (result.platform.issuer, result.deployment_id, result.sub) == (lms.issuer, lms.deployment_id, "student-7")
    assert (result.message_type, result.role) == ("LtiResourceLinkRequest", CourseRole.STUDENT)
    assert (result.context_id, result.context_title, result.resource_link_id) == (
        "course-101", "Machine learning 101", "link-1",
    )  # fmt: skip
    assert result.custom == {"resource": "quiz:loss-versus-metric"}
    assert lms.key_set_fetches == 1


def test_the_key_set_is_cached_across_launches(lms):
    launch(lms)
    launch(lms)
    assert lms.key_set_fetches == 1


@pytest.mark.parametrize(
    ("roles", "role"),
    [
        ([INSTRUCTOR], CourseRole.INSTRUCTOR),
        (["http://purl.imsglobal.org/vocab/lis/v2/membership#ContentDeveloper"], CourseRole.INSTRUCTOR),
        (["http://purl.imsglobal.org/vocab/lis/v2/membership#Administrator"], CourseRole.INSTRUCTOR),
        (["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner", INSTRUCTOR], CourseRole.INSTRUCTOR),
        (["Learner"], CourseRole.STUDENT),
    ],
)
def test_course_roles_map_to_instructor_or_student(lms, roles, role):
    assert launch(lms, claim_roles=roles).role == role


def test_a_role_outside_the_course_gives_no_access(lms):
    institution_admin = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"
    mentor = "http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"
    assert refusal(lms, claim_roles=[institution_admin, mentor]).status == 403


def _later(seconds: float = 11) -> None:
    """As if the last key-set fetch was `seconds` ago (LTI_KEYSET_REFRESH_SECONDS is 10)."""
    Platform.objects.update(key_set_tried_at=timezone.now() - timedelta(seconds=seconds))


def test_a_platform_that_rotated_its_key_is_fetched_again_once(lms):
    launch(lms)
    lms.rotate()
    _later()
    assert launch(lms).sub == "student-7"
    assert lms.key_set_fetches == 2


def test_a_stored_key_set_is_fetched_again_when_old(lms):
    launch(lms)
    Platform.objects.update(key_set_fetched_at=timezone.now() - timedelta(hours=2))
    _later()
    launch(lms)
    assert lms.key_set_fetches == 2


def test_a_clock_a_little_off_is_tolerated(lms):
    now = int(time.time())
    assert launch(lms, iat=now + 30, exp=now - 30).sub == "student-7"


# --- refusals -----------------------------------------------------------------------------


def test_every_refusal_leaves_a_log_line(lms, caplog):
    with caplog.at_level("WARNING", logger="lti.launch"):
        refusal(lms, aud="another-tool")
        with pytest.raises(LaunchRefused):
            login_redirect(
                request=RequestFactory().get("/lti/login/", {"iss": "https://x.test", "target_link_uri": LAUNCH_URL})
            )
    messages = [record.getMessage() for record in caplog.records]
    assert any(message.startswith("LTI launch refused (403)") for message in messages)
    assert any(message.startswith("LTI login refused") and "https://x.test" in message for message in messages)


def test_a_forged_signature_is_refused(lms):
    browser = Browser(lms)
    forger = new_key(str(lms.key.get("kid")), index=2)  # the platform's kid, another key
    token = lms.id_token(lms.claims(nonce=browser.nonce), key=forger)
    with pytest.raises(LaunchRefused) as refused:
        launch_validate(request=browser.launch_request(token))
    assert refused.value.status == 401
    assert "signature" in refused.value.message


def test_an_unknown_key_id_refetches_at_most_once_in_a_while(lms):
    launch(lms)
    _later()
    stranger = new_key("made-up-kid", index=2)
    for _ in range(3):
        browser = Browser(lms)
        token = lms.id_token(lms.claims(nonce=browser.nonce), key=stranger)
        with pytest.raises(LaunchRefused):
            launch_validate(request=browser.launch_request(token))
    assert lms.key_set_fetches == 2  # the first launch, then one refresh for the unknown kid


def test_a_forged_launch_does_not_spend_the_nonce_of_the_real_one(lms):
    browser = Browser(lms)
    forged = lms.id_token(lms.claims(nonce=browser.nonce), key=new_key(str(lms.key.get("kid")), index=2))
    with pytest.raises(LaunchRefused):
        launch_validate(request=browser.launch_request(forged))
    expired = lms.id_token(lms.claims(nonce=browser.nonce, iat=int(time.time()) - 900, exp=int(time.time()) - 600))
    with pytest.raises(LaunchRefused):
        launch_validate(request=browser.launch_request(expired))
    assert not LaunchData.objects.filter(key__startswith="lti1p3-launch-").exists()  # no claims kept
    genuine = lms.id_token(lms.claims(nonce=browser.nonce))
    assert launch_validate(request=browser.launch_request(genuine)).sub == "student-7"


def test_a_token_from_another_browsers_login_is_refused(lms):
    """Both logins are real; the token was issued for the victim's, the state and cookie
    are the attacker's."""
    victim, attacker = Browser(lms), Browser(lms)
    token = lms.id_token(lms.claims(nonce=victim.nonce))
    with pytest.raises(LaunchRefused) as refused:
        launch_validate(request=attacker.launch_request(token))
    assert refused.value.status == 401
    assert launch_validate(request=victim.launch_request(token)).sub == "student-7"


def test_login_state_expires_in_minutes_not_a_day(lms):
    browser = Browser(lms)
    row = LaunchData.objects.get(key=f"lti1p3-nonce-{browser.nonce}")
    assert row.expires_at < timezone.now() + timedelta(minutes=11)


def test_a_replayed_launch_is_refused(lms):
    browser = Browser(lms)
    token = lms.id_token(lms.claims(nonce=browser.nonce))
    launch_validate(request=browser.launch_request(token))
    with pytest.raises(LaunchRefused) as refused:
        launch_validate(request=browser.launch_request(token))
    assert refused.value.status == 401
    assert "already used" in refused.value.message


def test_a_nonce_the_tool_never_issued_is_refused(lms):
    browser = Browser(lms)
    token = lms.id_token(lms.claims(nonce="invented-by-the-attacker"))
    with pytest.raises(LaunchRefused) as refused:
        launch_validate(request=browser.launch_request(token))
    assert refused.value.status == 401


def test_a_launch_from_another_browser_is_refused(lms):
    """The state cookie binds the launch to the browser that began the login."""
    browser = Browser(lms)
    token = lms.id_token(lms.claims(nonce=browser.nonce))
    request = RequestFactory().post("/lti/launch/", {"id_token": token, "state": browser.state})
    with pytest.raises(LaunchRefused) as refused:
        launch_validate(request=request)
    assert refused.value.status == 401
    assert "browser" in refused.value.message


@pytest.mark.parametrize("aud", ["another-tool", ["another-tool", "tool-client-1"]])
def test_a_launch_for_another_audience_is_refused(lms, aud):
    assert refusal(lms, aud=aud).status in {401, 403}


def test_several_audiences_need_our_azp(lms):
    assert refusal(lms, aud=["tool-client-1", "other"]).status == 401
    assert launch(lms, aud=["tool-client-1", "other"], azp="tool-client-1").sub == "student-7"
    assert refusal(lms, azp="someone-else").status == 401


def test_an_expired_launch_is_refused(lms):
    now = int(time.time())
    refused = refusal(lms, iat=now - 600, exp=now - 120)
    assert refused.status == 401
    assert "expired" in refused.message


def test_a_launch_issued_in_the_future_is_refused(lms):
    assert "future" in refusal(lms, iat=int(time.time()) + 600).message


@pytest.mark.parametrize("bad", [DELETE, "soon", float("nan"), float("inf"), True])
@pytest.mark.parametrize("name", ["exp", "iat"])
def test_a_launch_without_proper_times_is_refused(lms, name, bad):
    assert refusal(lms, **{name: bad}).status == 400


@pytest.mark.parametrize(
    "overrides",
    [{"sub": "s" * 256}, {"sub": "a\x00b"}, {"sub": 42}, {"claim_context": {"id": "c" * 256}}, {"name": "A\x00"}],
    ids=["long-sub", "nul-sub", "number-sub", "long-context", "nul-name"],
)
def test_identifiers_that_do_not_fit_are_refused(lms, overrides):
    assert refusal(lms, **overrides).status == 400


def test_long_or_odd_names_are_cut_to_fit(lms):
    user, course, _ = launch_identity_ensure(
        launch=launch(lms, email="e" * 300 + "@x.org", given_name="Ada", claim_context={"id": "c", "title": "T" * 400})
    )
    assert len(user.email) == 254
    assert user.first_name == "Ada"
    assert len(course.title) == 255


def test_nul_in_a_login_request_is_refused(lms):
    params = {**lms.login_params(target=LAUNCH_URL), "login_hint": "a\x00b"}
    with pytest.raises(LaunchRefused) as refused:
        login_redirect(request=RequestFactory().get("/lti/login/", params))
    assert refused.value.status == 400


def test_an_unknown_issuer_is_refused_at_login(db):
    stranger = TestPlatform(issuer="https://unknown.test")
    request = RequestFactory().get("/lti/login/", stranger.login_params(target=LAUNCH_URL))
    with pytest.raises(LaunchRefused) as refused:
        login_redirect(request=request)
    assert refused.value.status == 403
    assert "not registered" in refused.value.message


def test_an_unknown_client_is_refused_at_login(lms):
    params = {**lms.login_params(target=LAUNCH_URL), "client_id": "someone-else"}
    with pytest.raises(LaunchRefused) as refused:
        login_redirect(request=RequestFactory().get("/lti/login/", params))
    assert refused.value.status == 403


def test_a_login_for_another_site_is_refused(lms):
    with pytest.raises(LaunchRefused) as refused:
        login_redirect(request=RequestFactory().get("/lti/login/", lms.login_params(target="https://evil.test/x")))
    assert refused.value.status == 400


def test_an_unknown_issuer_in_the_launch_is_refused(lms):
    assert refusal(lms, iss="https://unknown.test").status == 403


def test_an_unregistered_deployment_is_refused(lms):
    refused = refusal(lms, claim_deployment_id="deployment-9")
    assert refused.status == 403
    assert "deployment-9" in refused.message


def test_an_inactive_platform_cannot_launch(lms):
    lms_row = lms.register()
    lms_row.is_active = False
    lms_row.save()
    assert refusal(lms).status == 403


@pytest.mark.parametrize(
    "overrides",
    [
        {"sub": DELETE},
        {"claim_roles": DELETE},
        {"claim_version": "1.1"},
        {"claim_message_type": DELETE},
        {"claim_message_type": "LtiSubmissionReviewRequest"},
        {"claim_resource_link": DELETE},
        {"claim_context": DELETE},
        {"claim_deployment_id": DELETE},
    ],
    ids=lambda overrides: ",".join(f"{k}={'missing' if v is DELETE else v}" for k, v in overrides.items()),
)
def test_a_launch_missing_what_lti_requires_is_refused(lms, overrides):
    assert 400 <= refusal(lms, **overrides).status < 500


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.eyJpc3MiOjF9."])
def test_garbage_is_refused_not_a_crash(lms, token):
    browser = Browser(lms)
    with pytest.raises(LaunchRefused) as refused:
        launch_validate(request=browser.launch_request(token))
    assert 400 <= refused.value.status < 500


def test_an_unreachable_key_set_is_a_clear_refusal_and_not_hammered(lms):
    lms.key_set_status = 503
    refused = refusal(lms)
    assert "key set" in refused.message
    assert "503" in refused.message
    assert "moments ago" in refusal(lms).message  # within LTI_KEYSET_REFRESH_SECONDS: no new request
    assert lms.key_set_fetches == 1
    lms.key_set_status = 200
    _later()
    assert launch(lms).sub == "student-7"


def test_a_key_set_that_hangs_is_given_up_on(lms):
    lms.key_set_delay = 3  # LTI_HTTP_TIMEOUT_SECONDS is 1 here
    started = time.monotonic()
    refused = refusal(lms)
    assert time.monotonic() - started < 2.5
    assert "could not be fetched" in refused.message


def test_login_state_lives_in_the_database_until_used(lms):
    browser = Browser(lms)
    assert LaunchData.objects.filter(key=f"lti1p3-nonce-{browser.nonce}").exists()
    launch_validate(request=browser.launch_request(lms.id_token(lms.claims(nonce=browser.nonce))))
    assert not LaunchData.objects.filter(key=f"lti1p3-nonce-{browser.nonce}").exists()


# --- users and courses --------------------------------------------------------------------


def test_a_launch_maps_to_one_user_and_course_with_the_role_it_says(lms):
    user, course, membership = launch_identity_ensure(launch=launch(lms))
    again, same_course, _ = launch_identity_ensure(launch=launch(lms, claim_roles=[INSTRUCTOR]))
    assert again == user
    assert same_course == course
    assert (course.title, course.label) == ("Machine learning 101", "ML101")
    assert (user.first_name, user.last_name, user.email) == ("Ada", "Lovelace", "ada@example.edu")
    assert not user.has_usable_password()
    membership.refresh_from_db()
    assert membership.role == CourseRole.INSTRUCTOR  # the latest launch decides
    assert LtiIdentity.objects.count() == 1
    assert CourseMembership.objects.count() == 1


def test_name_and_email_are_kept_only_when_sent(lms):
    user, _, _ = launch_identity_ensure(
        launch=launch(lms, name=DELETE, given_name=DELETE, family_name=DELETE, email=DELETE)
    )
    assert (user.first_name, user.last_name, user.email) == ("", "", "")


def test_the_same_sub_from_two_platforms_is_two_users(lms):
    first, _, _ = launch_identity_ensure(launch=launch(lms))
    other = TestPlatform(issuer="https://other-lms.test")
    with other.serving():
        other.register()
        second, course, _ = launch_identity_ensure(launch=launch(other))
    assert first != second
    assert Course.objects.count() == 2
    assert course.platform.issuer == "https://other-lms.test"


def test_expired_login_state_is_purged(db):
    now = timezone.now()
    LaunchData.objects.create(key="lti1p3-nonce-old", value=True, expires_at=now - timedelta(seconds=1))
    LaunchData.objects.create(key="lti1p3-nonce-new", value=True, expires_at=now + timedelta(minutes=5))
    assert launch_data_purge(now=now) == 1
    assert list(LaunchData.objects.values_list("key", flat=True)) == ["lti1p3-nonce-new"]
