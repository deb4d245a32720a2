"""Real-browser tests: Debian's Chromium driven by Playwright, the tool served by
pytest-django's live server, the in-repo LMS on another site (127.0.0.1 against the live
server's localhost), so the tool runs in a cross-site iframe as it does in a real LMS.

Chromium is never downloaded (`playwright install` is not used): scripts/ensure-chromium.sh
installs Debian's package, at /usr/bin/chromium."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Playwright, sync_playwright
from pytest_django.fixtures import Settings
from pytest_django.live_server_helper import LiveServer

from lti.models import Platform
from tests.lti.platform import INSTRUCTOR, Person, TestPlatform
from tests.workers.conftest import start_worker  # noqa: F401  (a fixture, shared)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
STUDENT, TEACHER = "ada", "prof"


@pytest.fixture(autouse=True)
def _sync_orm_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    # Playwright's sync API runs an event loop in this thread; Django then refuses ORM
    # calls from it as "async context", though the test code itself is synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def tool(live_server: LiveServer, settings: Settings) -> str:
    settings.LTI_TOOL_BASE_URL = live_server.url
    settings.LTI_ALLOW_HTTP = True
    settings.LTI_HTTP_TIMEOUT_SECONDS = 5
    return str(live_server.url)


@pytest.fixture
def lms(tool: str, transactional_db: None) -> Iterator[TestPlatform]:
    platform = TestPlatform()
    with platform.serving(host="127.0.0.1", issuer_is_base=True):
        platform.tool_login_url = tool + "/lti/login/"
        platform.tool_launch_url = tool + "/lti/launch/"
        platform.tool_keyset_url = tool + "/lti/jwks/"
        platform.people = {
            STUDENT: Person(sub=STUDENT),
            TEACHER: Person(sub=TEACHER, role=INSTRUCTOR, name="Alan Turing", given_name="Alan", family_name="Turing"),
        }
        registered: Platform = platform.register()
        assert registered.is_active
        yield platform


@pytest.fixture
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not at {CHROMIUM}: run scripts/ensure-chromium.sh (make test does)")
    with sync_playwright() as driver:
        yield driver


BrowserFactory = Callable[..., BrowserContext]


@pytest.fixture
def browser(playwright: Playwright, tmp_path: Path) -> Iterator[BrowserFactory]:
    """browser(third_party_cookies=True): a fresh Chromium profile. Playwright's own
    contexts block third-party cookies (as private windows do); a profile allowing them
    is Chrome's default for everyday browsing."""
    opened: list[BrowserContext] = []

    def open_browser(*, third_party_cookies: bool = True) -> BrowserContext:
        profile = tmp_path / f"profile-{len(opened)}"
        (profile / "Default").mkdir(parents=True)
        preferences = {"profile": {"cookie_controls_mode": 0 if third_party_cookies else 1}}
        (profile / "Default" / "Preferences").write_text(json.dumps(preferences))
        context = playwright.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, headless=True)
        context.set_default_timeout(20_000)
        opened.append(context)
        return context

    yield open_browser
    for context in opened:
        context.close()
