"""Registering LMS platforms and the tool's signing keys (LTI 1.3, first part)."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.test import Client, override_settings
from django.utils import timezone
from jwcrypto import jwk, jwt

from lti.keys import tool_jwks, tool_key_current, tool_key_rotate
from lti.models import Deployment, Platform, ToolKey
from tests.factories import UserFactory

PRIVATE_PARTS = {"d", "p", "q", "dp", "dq", "qi"}
REGISTER = [
    "--issuer=https://lms.example.edu",
    "--client-id=client-42",
    "--deployment-id=dep-1",
    "--auth-login-url=https://lms.example.edu/auth",
    "--auth-token-url=https://lms.example.edu/token",
    "--keyset-url=https://lms.example.edu/jwks",
]


def _register(*extra: str) -> str:
    out = StringIO()
    call_command("lti_register_platform", *REGISTER, *extra, stdout=out)
    return out.getvalue()


def _sign(key: ToolKey) -> str:
    private = jwk.JWK.from_pem(key.private_key_pem.encode())
    token = jwt.JWT(header={"alg": "RS256", "kid": key.kid}, claims={"iss": "tool"})
    token.make_signed_token(private)
    return str(token.serialize())


def _verifies(token: str, published: dict[str, object]) -> bool:
    keys = jwk.JWKSet.from_json(json.dumps(published))
    try:
        jwt.JWT(jwt=token, key=keys)
    except Exception:
        return False
    return True


# --- keys ----------------------------------------------------------------------------------


def test_the_first_use_creates_one_key_and_publishes_only_its_public_half(db):
    now = timezone.now()
    key = tool_key_current(now=now)
    assert tool_key_current(now=now) == key
    published = tool_jwks(now=now)
    [public] = published["keys"]
    assert public["kid"] == key.kid
    assert (public["kty"], public["alg"], public["use"]) == ("RSA", "RS256", "sig")
    assert not PRIVATE_PARTS & public.keys()
    assert _verifies(_sign(key), published)


def test_a_rotated_key_stays_published_until_it_expires(db):
    now = timezone.now()
    old = tool_key_current(now=now)
    signed_before = _sign(old)
    with override_settings(LTI_RETIRED_KEY_DAYS=3):
        new = tool_key_rotate(now=now)
    assert tool_key_current(now=now) == new
    assert [key["kid"] for key in tool_jwks(now=now)["keys"]] == [new.kid, old.kid]
    assert _verifies(signed_before, tool_jwks(now=now + timedelta(days=2)))
    assert [key["kid"] for key in tool_jwks(now=now + timedelta(days=3, seconds=1))["keys"]] == [new.kid]
    assert not _verifies(signed_before, tool_jwks(now=now + timedelta(days=3, seconds=1)))


def test_there_is_never_a_second_current_key(db):
    key = tool_key_current(now=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        ToolKey.objects.create(
            kid="other", private_key_pem="", public_jwk={}, created_at=timezone.now(), is_current=True
        )
    assert ToolKey.objects.get(is_current=True) == key


def test_the_key_set_is_served_as_cacheable_json(client, db):
    response = client.get("/lti/jwks/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "max-age=300" in response["Cache-Control"]
    [public] = response.json()["keys"]
    assert public["kid"] == ToolKey.objects.get(is_current=True).kid
    assert client.post("/lti/jwks/").status_code == 405


# --- lti_register_platform ----------------------------------------------------------------------


@override_settings(LTI_TOOL_BASE_URL="https://grader.example.org")
def test_registering_a_platform_prints_the_tool_urls(db):
    out = _register("--name=Example LMS")
    platform = Platform.objects.get()
    assert (platform.name, platform.issuer, platform.client_id) == (
        "Example LMS",
        "https://lms.example.edu",
        "client-42",
    )
    assert list(platform.deployments.values_list("deployment_id", flat=True)) == ["dep-1"]
    assert "Registered Example LMS" in out
    assert "https://grader.example.org/lti/jwks/" in out
    assert ToolKey.objects.filter(is_current=True).exists()


def test_registering_again_updates_and_adds_deployments_without_duplicates(db):
    _register()
    out = _register("--deployment-id=dep-2", "--auth-token-url=https://lms.example.edu/oauth2/token")
    assert out.startswith("Updated")
    platform = Platform.objects.get()
    assert platform.auth_token_url == "https://lms.example.edu/oauth2/token"
    assert sorted(platform.deployments.values_list("deployment_id", flat=True)) == ["dep-1", "dep-2"]
    _register()
    assert Platform.objects.count() == 1
    assert Deployment.objects.count() == 2


def test_plain_http_endpoints_are_refused(db):
    with pytest.raises(CommandError, match="keyset_url: Use https"):
        call_command(
            "lti_register_platform", *REGISTER[:-1], "--keyset-url=http://lms.example.edu/jwks", stdout=StringIO()
        )
    with override_settings(LTI_ALLOW_HTTP=True):
        call_command(
            "lti_register_platform", *REGISTER[:-1], "--keyset-url=http://lms.example.edu/jwks", stdout=StringIO()
        )
    assert Platform.objects.get().keyset_url == "http://lms.example.edu/jwks"


def test_a_bad_registration_is_refused_with_the_reason_and_writes_nothing(db):
    with pytest.raises(CommandError, match="keyset_url: Enter a full https URL"):
        call_command("lti_register_platform", *REGISTER[:-1], "--keyset-url=not a url", stdout=StringIO())
    assert not Platform.objects.exists()
    assert not Deployment.objects.exists()


@pytest.mark.parametrize(
    ("issuer", "reason"),
    [
        ("https://a * b@evil.test", "exactly as the platform sends it"),  # CSP would read `*` as a source
        ("https://lms.example.edu@evil.test", "user name"),
        ("https://lms.example.edu/?x=1", "no query"),
        ("https://lms.example.edu/#x", "no query"),
        ("lms.example.edu", "exactly as the platform sends it"),
        ("http://lms.example.edu", "Use https"),
    ],
)
def test_an_issuer_that_is_not_a_plain_https_url_is_refused(db, issuer, reason):
    with pytest.raises(CommandError, match=f"issuer: .*{reason}"):
        call_command("lti_register_platform", f"--issuer={issuer}", *REGISTER[1:], stdout=StringIO())
    assert not Platform.objects.exists()


def test_frame_origins_are_added_by_the_command_and_kept(db):
    out = _register("--frame-origin=https://School.instructure.com/")
    assert "frame the tool from: https://school.instructure.com" in out
    _register("--frame-origin=https://other.instructure.com")
    _register()
    assert Platform.objects.get().frame_origins.splitlines() == [
        "https://school.instructure.com",
        "https://other.instructure.com",
    ]


@pytest.mark.parametrize(
    "origin", ["https://*.instructure.com", "https://school.instructure.com/courses", "*", "http://school.edu"]
)
def test_a_frame_origin_that_is_not_exactly_an_origin_is_refused(db, origin):
    with pytest.raises(CommandError, match="frame_origins"):
        _register(f"--frame-origin={origin}")
    assert not Platform.objects.exists()


# --- the admin -------------------------------------------------------------------------


@pytest.fixture
def superuser_client(db: None) -> Client:
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@override_settings(LTI_TOOL_BASE_URL="https://grader.example.org")
def test_the_platform_page_shows_what_to_give_the_lms(superuser_client):
    _register()
    platform = Platform.objects.get()
    page = superuser_client.get(f"/admin/lti/platform/{platform.pk}/change/")
    assert page.status_code == 200
    assert "https://grader.example.org/lti/jwks/" in page.content.decode()


def test_the_admin_edits_frame_origins_and_refuses_wildcards(superuser_client):
    _register()
    platform = Platform.objects.get()
    url = f"/admin/lti/platform/{platform.pk}/change/"
    form = {
        "name": platform.name,
        "is_active": "on",
        "issuer": platform.issuer,
        "client_id": platform.client_id,
        "auth_login_url": platform.auth_login_url,
        "auth_token_url": platform.auth_token_url,
        "keyset_url": platform.keyset_url,
        "auth_audience": "",
        "deployments-TOTAL_FORMS": "0",
        "deployments-INITIAL_FORMS": "0",
    }
    refused = superuser_client.post(url, {**form, "frame_origins": "https://*.instructure.com"})
    assert refused.status_code == 200
    assert "is not an origin" in refused.content.decode()
    saved = superuser_client.post(url, {**form, "frame_origins": " https://School.instructure.com/ \n\n"})
    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert Platform.objects.get().frame_origins == "https://school.instructure.com"


def test_instructors_cannot_register_platforms(instructor: AbstractUser):
    instructor.is_staff = True
    instructor.save()
    client = Client()
    client.force_login(instructor)
    assert client.get("/admin/lti/platform/").status_code == 403
    assert client.get("/admin/lti/toolkey/").status_code == 403


def test_the_key_admin_rotates_and_never_shows_a_private_key(superuser_client):
    old = tool_key_current(now=timezone.now())
    listing = superuser_client.get("/admin/lti/toolkey/")
    assert listing.status_code == 200
    detail = superuser_client.get(f"/admin/lti/toolkey/{old.pk}/change/").content.decode()
    assert "PRIVATE KEY" not in detail
    response = superuser_client.post(
        "/admin/lti/toolkey/", {"action": "rotate", "_selected_action": [old.pk]}, follow=True
    )
    assert response.status_code == 200
    new = ToolKey.objects.get(is_current=True)
    assert new != old
    old.refresh_from_db()
    assert old.retired_at is not None
    assert old.expires_at is not None
