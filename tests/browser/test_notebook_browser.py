"""Notebooks in a real browser: a student signs in, downloads the starter notebook from
the exercise page, uploads a notebook, and a real worker's verdict names its cells; the
pages are also looked at on a phone's width (screenshots in the test's tmp_path)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from grader.models import CheckRun, Submission
from tests.browser.conftest import BrowserFactory
from tests.exercises import SQUARE_REFERENCE, make_exercise
from tests.factories import UserFactory, make_notebook, notebook_cell
from tests.workers.conftest import WorkerFactory

pytestmark = [pytest.mark.browser, pytest.mark.worker]
PHONE = {"width": 390, "height": 844}


def sign_in(page: Page, base: str) -> None:
    UserFactory(username="dora")
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill("dora")
    page.get_by_label("Password").fill("pass-word-123")
    page.get_by_role("button", name=re.compile("Sign in|Log in", re.IGNORECASE)).click()


def test_a_student_downloads_the_starter_notebook_and_hands_in_a_notebook(
    live_server: LiveServer, browser: BrowserFactory, start_worker: WorkerFactory, tmp_path: Path
) -> None:
    make_exercise(validate=True)
    worker = start_worker()
    page = browser().new_page()
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/exercises/square/")
    expect(page.get_by_role("heading", name="Or hand in a Jupyter notebook")).to_be_visible()
    page.screenshot(path=str(tmp_path / "exercise.png"), full_page=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the starter notebook").click()
    assert download.value.suggested_filename == "square.ipynb"
    starter = json.loads(Path(download.value.path()).read_text())
    assert [cell["cell_type"] for cell in starter["cells"]] == ["markdown", "code", "markdown"]

    notebook = make_notebook(
        notebook_cell("# My square", cell_type="markdown"),
        "print(undefined)\n",
        SQUARE_REFERENCE,
        minor=5,
    )
    mine = tmp_path / "mine.ipynb"
    mine.write_text(json.dumps(notebook, indent=1))
    page.get_by_label("Notebook (.ipynb file)").set_input_files(str(mine))
    page.get_by_role("button", name="Upload and submit for grading").click()
    expect(page.get_by_text(re.compile("cell 2 raised NameError"))).to_be_visible(timeout=60_000)
    expect(page.get_by_role("link", name="Download notebook")).to_be_visible()
    assert "5 / 5" in page.locator(".score").inner_text(), worker.output()
    page.screenshot(path=str(tmp_path / "submission.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(tmp_path / "submission-phone.png"), full_page=True)
    page.goto(f"{live_server.url}/exercises/square/")
    page.screenshot(path=str(tmp_path / "exercise-phone.png"), full_page=True)
    # Nothing wider than the phone's screen: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_check_my_work_shows_the_visible_checks_in_place_not_graded(
    live_server: LiveServer, browser: BrowserFactory, start_worker: WorkerFactory, tmp_path: Path
) -> None:
    make_exercise(validate=True)
    worker = start_worker()
    page = browser().new_page()
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/exercises/square/")
    page.locator("textarea[name=code]").evaluate(
        "(area, code) => area.nextSibling.CodeMirror.setValue(code)", "def square(x):\n    return x + x\n"
    )
    page.get_by_role("button", name="Check my work").first.click()
    panel = page.locator("#check-panel")
    expect(panel.get_by_text("not graded")).to_be_visible()
    expect(panel.get_by_role("row", name=re.compile("^three"))).to_contain_text("No", timeout=60_000)
    assert "hidden-negative" not in panel.inner_text(), worker.output()
    expect(panel.get_by_text(re.compile("checks passed"))).to_be_visible()
    assert page.url == f"{live_server.url}/exercises/square/"  # in place: the editor keeps the code
    page.screenshot(path=str(tmp_path / "check.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(tmp_path / "check-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # The page a check run has of its own (where the button leads without JavaScript).
    run = CheckRun.objects.get()
    page.goto(f"{live_server.url}/check-runs/{run.pk}/")
    expect(page.get_by_role("heading", name=re.compile("Check my work"))).to_contain_text("not graded")
    expect(page.get_by_text("1 of 3 checks passed")).to_be_visible()
    page.screenshot(path=str(tmp_path / "check-page-phone.png"), full_page=True)
    assert not Submission.objects.exists()
