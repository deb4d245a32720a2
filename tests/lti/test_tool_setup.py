"""What an LMS admin is given: the tool's URLs, the Canvas JSON, the setup page and the
registration invitations in the admin."""

from __future__ import annotations

import hashlib
import json
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client

from lti.canvas import canvas_developer_key
from lti.models import RegistrationInvite, ToolKey
from lti.tool_urls import ToolEndpoints, tool_urls
from tests.factories import PlatformFactory, UserFactory

TOOL = "https://grader.example.org"
SETUP = "/admin/lti/platform/tool-setup/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"


@pytest.fixture(autouse=True)
def _tool_base_url(settings):
    settings.LTI_TOOL_BASE_URL = TOOL


def _client_with(*codenames: str, username: str = "dana") -> Client:
    user = UserFactory(username=username, is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename, content_type__app_label="lti"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def instructor_client(instructor) -> Client:
    instructor.is_staff = True
    instructor.save()
    client = Client()
    client.force_login(instructor)
    return client


# --- the URLs ---------------------------------------------------------------------------------


def test_the_tool_urls_are_every_url_an_lms_admin_pastes():
    assert tool_urls() == {
        "Login initiation URL": f"{TOOL}/lti/login/",
        "Redirect / launch URL": f"{TOOL}/lti/launch/",
        "Deep linking URL": f"{TOOL}/lti/launch/",
        "Public keyset URL": f"{TOOL}/lti/jwks/",
        "Dynamic registration URL": f"{TOOL}/lti/register/",
    }


def test_registering_a_platform_by_command_prints_every_tool_url(db):
    out = StringIO()
    call_command(
        "lti_register_platform",
        "--issuer=https://lms.example.edu",
        "--client-id=client-42",
        "--deployment-id=dep-1",
        "--auth-login-url=https://lms.example.edu/auth",
        "--auth-token-url=https://lms.example.edu/token",
        "--keyset-url=https://lms.example.edu/jwks",
        stdout=out,
    )
    for url in tool_urls().values():
        assert url in out.getvalue()


# --- the Canvas JSON --------------------------------------------------------------------------


def test_the_canvas_developer_key_has_what_canvas_asks_for():
    endpoints = ToolEndpoints(
        login=f"{TOOL}/lti/login/",
        launch=f"{TOOL}/lti/launch/",
        jwks=f"{TOOL}/lti/jwks/",
        dynamic_registration=f"{TOOL}/lti/register/",
    )
    scopes = [AGS + "lineitem", AGS + "lineitem.readonly", AGS + "result.readonly", AGS + "score", NRPS]
    config = canvas_developer_key(endpoints=endpoints, title="Grader", description="Quizzes.", scopes=scopes)
    assert (config["title"], config["description"]) == ("Grader", "Quizzes.")
    assert config["oidc_initiation_url"] == f"{TOOL}/lti/login/"
    assert config["target_link_uri"] == f"{TOOL}/lti/launch/"
    assert config["public_jwk_url"] == f"{TOOL}/lti/jwks/"
    assert "public_jwk" not in config  # by URL, so that key rotations need nothing in Canvas
    assert config["scopes"] == scopes
    assert config["custom_fields"] == {}
    [extension] = config["extensions"]
    assert extension["platform"] == "canvas.instructure.com"
    assert extension["privacy_level"] == "public"
    assert extension["domain"] == "grader.example.org"
    placements = {item["placement"]: item for item in extension["settings"]["placements"]}
    assert {name: item["message_type"] for name, item in placements.items()} == {
        "link_selection": "LtiDeepLinkingRequest",
        "assignment_selection": "LtiDeepLinkingRequest",
        "course_navigation": "LtiResourceLinkRequest",
    }
    assert {item["target_link_uri"] for item in placements.values()} == {f"{TOOL}/lti/launch/"}


# --- the setup page ---------------------------------------------------------------------------


def test_the_setup_page_shows_what_to_paste_and_the_current_key(superuser_client):
    page = superuser_client.get(SETUP)
    assert page.status_code == 200
    html = page.content.decode()
    for url in tool_urls().values():
        assert url in html
    key = ToolKey.objects.get(is_current=True)  # made by the page if there was none
    assert key.kid in html
    assert key.public_jwk["n"] in html
    assert '<pre id="canvas-json">' in html
    assert "canvas.instructure.com" in html
    assert "/admin/lti/registrationinvite/add/" in html


def test_the_canvas_json_downloads_as_a_file(superuser_client):
    response = superuser_client.get(SETUP + "canvas.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith("attachment;")
    config = json.loads(response.content)
    assert config["oidc_initiation_url"] == f"{TOOL}/lti/login/"
    assert config["public_jwk_url"] == f"{TOOL}/lti/jwks/"


def test_whoever_may_view_platforms_sees_the_setup_page_but_may_not_invite(db):
    client = _client_with("view_platform")
    page = client.get(SETUP)
    assert page.status_code == 200
    assert "/admin/lti/registrationinvite/add/" not in page.content.decode()
    assert client.get("/admin/lti/registrationinvite/add/").status_code == 403


def test_instructors_get_403_on_the_setup_page_and_the_invitations(instructor_client):
    assert instructor_client.get(SETUP).status_code == 403
    assert instructor_client.get(SETUP + "canvas.json").status_code == 403
    assert instructor_client.get("/admin/lti/registrationinvite/").status_code == 403
    assert instructor_client.get("/admin/lti/registrationinvite/add/").status_code == 403
    assert instructor_client.post("/admin/lti/registrationinvite/add/", {"days": 7}).status_code == 403
    assert not RegistrationInvite.objects.exists()


def test_the_platform_list_and_form_link_to_the_setup_page(superuser_client):
    assert SETUP in superuser_client.get("/admin/lti/platform/").content.decode()
    platform = PlatformFactory(host="lms.example.edu")
    form = superuser_client.get(f"/admin/lti/platform/{platform.pk}/change/").content.decode()
    assert SETUP in form
    assert f"{TOOL}/lti/login/" in form


# --- invitations ------------------------------------------------------------------------------


def test_an_invitation_shows_its_link_once_and_keeps_only_a_hash(superuser_client):
    response = superuser_client.post(
        "/admin/lti/registrationinvite/add/",
        {"note": "University Moodle", "lms_origin": "", "days": 3},
    )
    assert response.status_code == 200
    url = response.context["url"]
    assert url.startswith(f"{TOOL}/lti/register/?invite=")
    assert url in response.content.decode()
    [token] = parse_qs(urlsplit(url).query)["invite"]
    invite = RegistrationInvite.objects.get()
    assert invite.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert (invite.note, (invite.expires_at - invite.created_at).days) == ("University Moodle", 3)
    assert invite.created_by.username == "root"
    detail = superuser_client.get(f"/admin/lti/registrationinvite/{invite.pk}/change/").content.decode()
    assert token not in detail
    assert token not in superuser_client.get("/admin/lti/registrationinvite/").content.decode()


def test_an_invitation_with_a_bad_lms_address_is_not_made(superuser_client):
    response = superuser_client.post(
        "/admin/lti/registrationinvite/add/", {"note": "", "lms_origin": "school.instructure.com", "days": 7}
    )
    assert response.status_code == 200
    assert "no path" in response.content.decode()  # the service's reason, on the form
    assert not RegistrationInvite.objects.exists()


def test_inviting_takes_the_right_to_add_platforms(db):
    client = _client_with("add_registrationinvite", "view_registrationinvite", "add_platform", "view_platform")
    assert client.post("/admin/lti/registrationinvite/add/", {"days": 7}).status_code == 200
    assert RegistrationInvite.objects.count() == 1
    without = _client_with("add_registrationinvite", "view_registrationinvite", username="erin")
    assert without.post("/admin/lti/registrationinvite/add/", {"days": 7}).status_code == 403
    assert RegistrationInvite.objects.count() == 1
