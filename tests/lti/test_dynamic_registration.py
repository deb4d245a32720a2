"""LTI Dynamic Registration: /lti/register/ against a stand-in platform over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from config.errors import ServiceError
from lti.dynamic_registration import (
    RegistrationFailed,
    invite_create,
    platform_configuration_read,
)
from lti.models import Deployment, Platform, RegistrationInvite, ToolKey
from lti.validation import web_origin
from tests.factories import PlatformFactory, UserFactory
from tests.lti.registration_platform import (
    DELETE,
    PLATFORM_CONFIGURATION_CLAIM,
    TOOL_CONFIGURATION_CLAIM,
    RegistrationPlatform,
    unreachable_url,
)

TOOL = "https://grader.example.org"
AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"


@pytest.fixture(autouse=True)
def _tool_settings(settings):
    settings.LTI_TOOL_BASE_URL = TOOL
    settings.LTI_ALLOW_HTTP = True  # the stand-in platform speaks plain http on 127.0.0.1
    settings.LTI_HTTP_TIMEOUT_SECONDS = 1


@pytest.fixture
def platform() -> Iterator[RegistrationPlatform]:
    with RegistrationPlatform().serving() as serving:
        yield serving


def _invite(**fields) -> str:
    _, token = invite_create(created_by_id=None, now=timezone.now(), **fields)
    return token


@pytest.fixture
def invite(db) -> str:
    return _invite()


def _register(platform: RegistrationPlatform, invite: str, *, client: Client | None = None, **params: str):
    query = {"openid_configuration": platform.openid_configuration_url, "registration_token": "reg-token-1"}
    return (client or Client()).get("/lti/register/", {"invite": invite, **query, **params})


def _page(response) -> str:
    return response.content.decode()


# --- success -----------------------------------------------------------------------------


def test_it_registers_the_platform_and_its_deployment(platform, invite):
    response = _register(platform, invite)
    assert response.status_code == 200, _page(response)
    registered = Platform.objects.get()
    assert (registered.issuer, registered.client_id) == (platform.issuer, "dyn-client-1")
    assert registered.auth_login_url == f"{platform.issuer}/auth"
    assert registered.auth_token_url == f"{platform.issuer}/token"
    assert registered.keyset_url == f"{platform.issuer}/jwks"
    assert registered.name == "Moodle at 127.0.0.1:" + platform.base_url.rsplit(":", 1)[1]
    assert list(registered.deployments.values_list("deployment_id", flat=True)) == ["dyn-deployment-1"]
    assert "org.imsglobal.lti.close" in _page(response)
    assert "(window.opener || window.parent).postMessage" in _page(response)
    used = RegistrationInvite.objects.get()
    assert used.used_at is not None
    assert used.platform == registered
    assert ToolKey.objects.filter(is_current=True).exists()  # the key set the platform is told about is not empty


def test_the_registration_request_is_what_the_spec_asks_for(platform, invite):
    _register(platform, invite)
    [request] = platform.registrations
    body = request.body
    assert request.headers["Content-Type"] == "application/json"
    assert body["application_type"] == "web"
    assert body["response_types"] == ["id_token"]
    assert sorted(body["grant_types"]) == ["client_credentials", "implicit"]
    assert body["initiate_login_uri"] == f"{TOOL}/lti/login/"
    assert body["redirect_uris"] == [f"{TOOL}/lti/launch/"]
    assert body["jwks_uri"] == f"{TOOL}/lti/jwks/"
    assert body["token_endpoint_auth_method"] == "private_key_jwt"
    assert body["client_name"]
    assert set(body["scope"].split(" ")) == {
        AGS + "lineitem",
        AGS + "lineitem.readonly",
        AGS + "result.readonly",
        AGS + "score",
        NRPS,
    }
    tool = body[TOOL_CONFIGURATION_CLAIM]
    assert tool["domain"] == "grader.example.org"
    assert tool["target_link_uri"] == f"{TOOL}/lti/launch/"
    assert {"iss", "sub", "name", "given_name", "family_name", "email"} <= set(tool["claims"])
    messages = {message["type"]: message for message in tool["messages"]}
    assert set(messages) == {"LtiResourceLinkRequest", "LtiDeepLinkingRequest"}
    assert messages["LtiDeepLinkingRequest"]["target_link_uri"] == f"{TOOL}/lti/launch/"
    assert {"link_selection", "assignment_selection"} <= set(messages["LtiDeepLinkingRequest"]["placements"])


def test_the_registration_token_is_the_bearer_of_both_requests(platform, invite):
    _register(platform, invite)
    assert [request.headers.get("Authorization") for request in platform.received] == [
        "Bearer reg-token-1",
        "Bearer reg-token-1",
    ]


def test_without_a_registration_token_no_authorization_is_sent(platform, invite):
    response = _register(platform, invite, registration_token="")
    assert response.status_code == 200
    assert [request.headers.get("Authorization") for request in platform.received] == [None, None]


def test_registering_the_same_issuer_and_client_again_updates_it(platform, invite):
    _register(platform, invite)
    platform.configuration_overrides = {"token_endpoint": f"{platform.issuer}/oauth2/token"}
    platform.deployment_id = "dyn-deployment-2"
    response = _register(platform, _invite())
    assert response.status_code == 200
    assert "updated its registration" in _page(response)
    registered = Platform.objects.get()
    assert registered.auth_token_url == f"{platform.issuer}/oauth2/token"
    assert sorted(registered.deployments.values_list("deployment_id", flat=True)) == [
        "dyn-deployment-1",
        "dyn-deployment-2",
    ]


def test_a_platform_that_gives_no_deployment_id_is_registered_without_one(platform, invite):
    platform.deployment_id = None  # Canvas: deployments come when the tool is installed
    response = _register(platform, invite)
    assert response.status_code == 200
    assert Platform.objects.get().client_id == "dyn-client-1"
    assert not Deployment.objects.exists()
    assert "no deployment id" in _page(response)


def test_the_lms_address_of_the_invitation_becomes_a_frame_origin(platform, db):
    response = _register(platform, _invite(lms_origin="https://school.instructure.com"))
    assert response.status_code == 200
    assert Platform.objects.get().frame_origins == "https://school.instructure.com"
    assert "https://school.instructure.com" in response["Content-Security-Policy"]


# --- framing ------------------------------------------------------------------------------


def test_the_page_may_be_framed_by_the_registering_platform(platform, invite):
    stranger = Client().get("/lti/register/", {"openid_configuration": platform.openid_configuration_url})
    assert platform.base_url not in stranger["Content-Security-Policy"]  # no invitation: no extra origin
    response = _register(platform, invite)
    policy = response["Content-Security-Policy"]
    assert policy.startswith("frame-ancestors 'self'")
    assert platform.base_url in policy.split()
    assert "X-Frame-Options" not in response


def test_a_failure_page_is_framed_by_the_platform_too(platform, db):
    response = _register(platform, "no-such-invitation")
    assert response.status_code == 403
    assert platform.base_url in response["Content-Security-Policy"].split()


def test_an_origin_in_a_header_is_rebuilt_from_its_parts():
    assert web_origin("https://evil.test;script-src*@lms.example.edu/x") == "https://lms.example.edu"
    assert web_origin("https://evil.test; script-src *@lms.example.edu/x") is None  # whitespace
    # urlsplit reads lms.example.edu, urllib3 (which connects) evil.test: no origin at all.
    assert web_origin("https://evil.test\\@lms.example.edu/x") is None
    assert web_origin("https://LMS.example.edu:8443/path?q") == "https://lms.example.edu:8443"
    assert web_origin("javascript:alert(1)") is None
    assert web_origin("https://lms.example.edu:port/") is None


# --- invitations ------------------------------------------------------------------------------


def test_an_invitation_registers_once(platform, invite):
    assert _register(platform, invite).status_code == 200
    again = _register(platform, invite)
    assert again.status_code == 410
    assert "used already" in _page(again)
    assert len(platform.registrations) == 1


def test_an_expired_invitation_is_refused_before_anything_is_fetched(platform, db):
    token = _invite()
    RegistrationInvite.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _register(platform, token)
    assert response.status_code == 410
    assert "expired" in _page(response)
    assert platform.received == []
    assert not Platform.objects.exists()


def test_an_unknown_invitation_is_refused_before_anything_is_fetched(platform, db):
    response = _register(platform, "made-up")
    assert response.status_code == 403
    assert "not known" in _page(response)
    assert platform.received == []


def test_without_an_invitation_a_stranger_is_refused(platform, db, caplog):
    response = Client().get("/lti/register/", {"openid_configuration": platform.openid_configuration_url})
    assert response.status_code == 403
    assert "?invite=" in _page(response)
    assert platform.received == []
    assert "LTI dynamic registration refused (403)" in caplog.text


def test_an_instructor_without_lti_permissions_is_refused(platform, instructor):
    client = Client()
    client.force_login(instructor)
    response = client.get("/lti/register/", {"openid_configuration": platform.openid_configuration_url})
    assert response.status_code == 403
    assert platform.received == []


def test_a_failed_registration_gives_the_invitation_back(platform, invite):
    platform.registration_status = 400
    refused = _register(platform, invite)
    assert refused.status_code == 400
    assert "redirect_uris are not allowed here" in _page(refused)  # the platform's own words
    assert RegistrationInvite.objects.get().used_at is None
    platform.registration_status = 201
    assert _register(platform, invite).status_code == 200
    assert Platform.objects.count() == 1


def test_invitations_name_an_lms_address_not_a_page(db):
    with pytest.raises(ServiceError, match="lms_origin"):
        invite_create(created_by_id=None, now=timezone.now(), lms_origin="https://school.instructure.com/courses")
    with pytest.raises(ServiceError, match="days"):
        invite_create(created_by_id=None, now=timezone.now(), days=0)
    invitation, token = invite_create(created_by_id=None, now=timezone.now(), lms_origin="https://School.edu/")
    assert invitation.lms_origin == "https://school.edu"
    assert token not in invitation.token_hash
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)


# --- a signed-in administrator -----------------------------------------------------------------


@pytest.fixture
def lti_admin(db) -> Client:
    user = UserFactory(username="dana", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_platform", content_type__app_label="lti"))
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_an_administrator_confirms_before_anything_is_registered(platform, lti_admin):
    query = {"openid_configuration": platform.openid_configuration_url, "registration_token": "reg-token-1"}
    confirm = lti_admin.get("/lti/register/", query)
    assert confirm.status_code == 200
    assert 'method="post"' in _page(confirm)
    assert platform.received == []  # a link alone registers nothing
    csrf = confirm.cookies["csrftoken"].value
    done = lti_admin.post("/lti/register/", {**query, "csrfmiddlewaretoken": csrf})
    assert done.status_code == 200, _page(done)
    assert Platform.objects.get().issuer == platform.issuer
    assert platform.registrations[0].headers["Authorization"] == "Bearer reg-token-1"


def test_the_administrators_confirmation_is_never_framed(platform, lti_admin):
    # Registered platforms may frame invitation pages, but not a page an administrator's
    # click acts on: one could otherwise trick the administrator into registering another.
    PlatformFactory(host="registered.example.edu")
    confirm = lti_admin.get("/lti/register/", {"openid_configuration": platform.openid_configuration_url})
    assert confirm.status_code == 200
    assert confirm["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" not in confirm
    csrf = confirm.cookies["csrftoken"].value
    refused = lti_admin.post("/lti/register/", {"openid_configuration": "not a url", "csrfmiddlewaretoken": csrf})
    assert refused.status_code == 400
    assert refused["X-Frame-Options"] == "DENY"


def test_an_administrators_registration_needs_the_csrf_token(platform, lti_admin):
    response = lti_admin.post("/lti/register/", {"openid_configuration": platform.openid_configuration_url})
    assert response.status_code == 403
    assert platform.received == []


# --- the platform's configuration ---------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"issuer": "http://lms.example.edu"}, "does not start with that issuer"),
        ({"issuer": "{base}/lm"}, "does not start with that issuer"),  # a prefix, but not of the path
        ({"issuer": DELETE}, "lacks issuer"),
        ({"authorization_endpoint": DELETE}, "lacks authorization_endpoint"),
        ({"token_endpoint": ""}, "lacks token_endpoint"),
        ({"jwks_uri": DELETE}, "lacks jwks_uri"),
        ({"registration_endpoint": DELETE}, "lacks registration_endpoint"),
        ({PLATFORM_CONFIGURATION_CLAIM: DELETE}, "lacks https://purl.imsglobal.org/spec/lti-platform-configuration"),
        ({"jwks_uri": "not a url"}, "is not a web address"),
    ],
)
def test_a_configuration_the_spec_does_not_allow_is_refused(platform, invite, overrides, message):
    platform.configuration_overrides = {
        name: value.format(base=platform.base_url) if isinstance(value, str) else value
        for name, value in overrides.items()
    }
    response = _register(platform, invite)
    assert response.status_code == 400
    assert message in _page(response)
    assert platform.registrations == []
    assert not Platform.objects.exists()
    assert RegistrationInvite.objects.get().used_at is None


def test_the_issuer_may_be_the_configuration_urls_parent_with_a_slash():
    document = {
        "issuer": "https://lms.example.edu/",
        "authorization_endpoint": "https://lms.example.edu/auth",
        "token_endpoint": "https://lms.example.edu/token",
        "jwks_uri": "https://lms.example.edu/jwks",
        "registration_endpoint": "https://lms.example.edu/register",
        PLATFORM_CONFIGURATION_CLAIM: {"product_family_code": "canvas"},
    }
    read = platform_configuration_read(url="https://lms.example.edu/api/openid-configuration", document=document)
    assert read.issuer == "https://lms.example.edu/"
    with pytest.raises(RegistrationFailed, match="does not start with that issuer"):
        platform_configuration_read(url="https://lms.example.edu.evil.test/openid-configuration", document=document)


def test_plain_http_is_refused_unless_allowed(platform, invite, settings):
    settings.LTI_ALLOW_HTTP = False
    response = _register(platform, invite)
    assert response.status_code == 400
    assert "must use https" in _page(response)
    assert platform.received == []


def test_a_plain_http_endpoint_in_an_https_configuration_is_refused(settings):
    settings.LTI_ALLOW_HTTP = False
    document = {
        "issuer": "https://lms.example.edu",
        "authorization_endpoint": "https://lms.example.edu/auth",
        "token_endpoint": "https://lms.example.edu/token",
        "jwks_uri": "https://lms.example.edu/jwks",
        "registration_endpoint": "http://lms.example.edu/register",  # the token would travel in clear
        PLATFORM_CONFIGURATION_CLAIM: {},
    }
    with pytest.raises(RegistrationFailed, match=r"registration_endpoint .* must use https"):
        platform_configuration_read(url="https://lms.example.edu/openid-configuration", document=document)


def test_a_missing_configuration_address_says_where_to_paste_the_link(invite):
    response = Client().get("/lti/register/", {"invite": invite})
    assert response.status_code == 400
    assert "no openid_configuration parameter" in _page(response)


def test_an_unreachable_platform_is_a_4xx_page(invite):
    response = Client().get("/lti/register/", {"invite": invite, "openid_configuration": unreachable_url()})
    assert response.status_code == 400
    assert "could not be reached" in _page(response)


def test_a_slow_platform_is_given_up_on(platform, invite):
    platform.configuration_delay = 2
    response = _register(platform, invite)
    assert response.status_code == 400
    assert "did not answer within 1 s" in _page(response)


def test_a_platform_trickling_its_configuration_is_given_up_on_at_the_deadline(platform, invite):
    platform.trickle = True
    started = time.monotonic()
    response = _register(platform, invite)
    assert response.status_code == 400
    assert "did not answer within 1 s" in _page(response)
    assert time.monotonic() - started < 2.5


def test_an_oversized_configuration_is_refused(platform, invite):
    platform.oversized = True
    response = _register(platform, invite)
    assert response.status_code == 400
    assert "more than 256 KB" in _page(response)


def test_a_configuration_nested_too_deep_is_a_4xx_page_not_a_500(platform, invite):
    platform.raw_configuration = b"[" * 50_000 + b"]" * 50_000
    response = _register(platform, invite)
    assert response.status_code == 400
    assert "did not send JSON" in _page(response)


def test_a_redirect_is_not_followed(platform, invite):
    platform.configuration_status = 302
    response = _register(platform, invite)
    assert response.status_code == 400
    assert "redirects are not followed" in _page(response)
    assert len(platform.received) == 1


# --- the platform's answer to the registration -------------------------------------------------


@pytest.mark.parametrize("status", [401, 422, 500, 503])
def test_a_platform_refusing_the_registration_is_a_4xx_page(platform, invite, status):
    platform.registration_status = status
    response = _register(platform, invite)
    assert response.status_code == 400
    assert f"refused the registration (HTTP {status}" in _page(response)
    assert not Platform.objects.exists()


def test_an_answer_without_a_client_id_is_refused(platform, invite):
    platform.registration_answer = {TOOL_CONFIGURATION_CLAIM: {"deployment_id": "d"}}
    response = _register(platform, invite)
    assert response.status_code == 400
    assert "gave no client_id" in _page(response)
    assert not Platform.objects.exists()
