"""The LTI flow in a real browser: a course page of the in-repo LMS frames the tool; the
student logs in through OIDC, lands on the quiz or exercise, submits, and the grade
arrives at the LMS's AGS endpoint exactly once, sent by a real worker process. Also:
deep linking, roster sync, and a browser that blocks third-party cookies."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import FrameLocator, Page, expect

from lti.models import Passback, PassbackState, ResourceLink
from questions.models import Exercise
from tests.browser.conftest import STUDENT, TEACHER, BrowserFactory
from tests.exercises import make_exercise
from tests.factories import NumericQuestionFactory, QuestionFactory, QuizFactory
from tests.lti.platform import Person, TestPlatform
from tests.workers.conftest import WorkerFactory

pytestmark = [pytest.mark.browser, pytest.mark.worker]
WORKER_ENV = {"LTI_ALLOW_HTTP": "true", "LTI_HTTP_TIMEOUT_SECONDS": "5"}


def wait_until(condition: Callable[[], object], *, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def open_course(page: Page, lms: TestPlatform, *, link: str, person: str) -> FrameLocator:
    page.goto(f"{lms.base_url}/course/{link}?as={person}")
    return page.frame_locator("#tool")


def test_a_student_takes_a_quiz_in_the_lms_and_the_score_arrives_once(
    lms: TestPlatform, browser: BrowserFactory, start_worker: WorkerFactory
) -> None:
    QuizFactory(
        slug="loss-versus-metric",
        title="Loss versus metric",
        questions=[QuestionFactory(title="Accuracy as a loss"), NumericQuestionFactory(title="Accuracy of 952/1000")],
    )
    lineitem = lms.add_lineitem(context_id="course-101", label="Week 3", score_maximum=3)
    lms.add_link("week-3", custom={"resource": "quiz:loss-versus-metric"}, lineitem=lineitem)
    worker = start_worker(env=WORKER_ENV)

    page = browser().new_page()
    tool = open_course(page, lms, link="week-3", person=STUDENT)
    expect(tool.get_by_role("heading", name="Loss versus metric")).to_be_visible()
    tool.get_by_role("button", name="Start the quiz").click()
    tool.get_by_label("Right").check()
    tool.get_by_role("spinbutton").fill("0.952")
    tool.get_by_role("button", name=re.compile("Submit")).click()
    expect(tool.get_by_text(re.compile(r"3 / 3"))).to_be_visible()

    assert wait_until(lambda: lms.accepted_scores(lineitem=lineitem)), worker.output()
    time.sleep(1.0)  # anything sent twice would have arrived by now
    (score,) = lms.accepted_scores(lineitem=lineitem)
    assert score["userId"] == STUDENT
    assert (score["scoreGiven"], score["scoreMaximum"]) == (3, 3)
    assert (score["activityProgress"], score["gradingProgress"]) == ("Completed", "FullyGraded")
    assert len(lms.scores) == 1
    assert Passback.objects.get().state == PassbackState.SENT


def test_a_student_solves_an_exercise_in_the_lms_graded_by_a_real_worker(
    lms: TestPlatform, browser: BrowserFactory, start_worker: WorkerFactory
) -> None:
    exercise = make_exercise(validate=True)  # the answer key, validated through the real sandbox
    Exercise.objects.filter(pk=exercise.pk).update(is_published=True)
    lineitem = lms.add_lineitem(context_id="course-101", label="Lab", score_maximum=1)
    lms.add_link("lab", custom={"resource": f"exercise:{exercise.slug}"}, lineitem=lineitem)
    worker = start_worker(env=WORKER_ENV)

    page = browser().new_page()
    tool = open_course(page, lms, link="lab", person=STUDENT)
    expect(tool.get_by_role("heading", name=exercise.title)).to_be_visible()
    tool.locator(".CodeMirror").click()
    tool.locator("textarea[name=code]").evaluate(
        "(area, code) => area.nextSibling.CodeMirror.setValue(code)", "def square(x):\n    return x * x\n"
    )
    tool.get_by_role("button", name=re.compile("Submit")).click()
    expect(tool.get_by_text(re.compile("Graded", re.IGNORECASE)).first).to_be_visible(timeout=60_000)

    assert wait_until(lambda: lms.accepted_scores(lineitem=lineitem)), worker.output()
    time.sleep(1.0)
    (score,) = lms.accepted_scores(lineitem=lineitem)
    assert score["userId"] == STUDENT
    assert score["scoreGiven"] == score["scoreMaximum"]
    assert len(lms.scores) == 1


def test_an_instructor_adds_a_quiz_by_deep_linking_and_students_land_on_it(
    lms: TestPlatform, browser: BrowserFactory
) -> None:
    QuizFactory(slug="loss-versus-metric", title="Loss versus metric", questions=[QuestionFactory()])
    lms.add_link("add-content", deep_linking=True)

    page = browser().new_page()
    tool = open_course(page, lms, link="add-content", person=TEACHER)
    tool.get_by_label("Loss versus metric").check()
    tool.get_by_role("button", name="Add to the course").click()
    expect(tool.get_by_role("heading", name="Content added")).to_be_visible()

    (reply,) = lms.deep_link_replies
    (item,) = reply["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
    assert item["custom"] == {"resource": "quiz:loss-versus-metric"}
    assert item["lineItem"]["scoreMaximum"] == 1
    # The LMS makes the link and its gradebook column from the item, as Moodle and Canvas do.
    lineitem = lms.add_lineitem(context_id="course-101", label=item["lineItem"]["label"], score_maximum=1)
    lms.add_link("week-3", resource_link_id="dl-1", custom=item["custom"], lineitem=lineitem)
    student = browser().new_page()
    expect(
        open_course(student, lms, link="week-3", person=STUDENT).get_by_role("heading", name="Loss versus metric")
    ).to_be_visible()


def test_an_instructor_syncs_the_roster_and_sees_who_has_not_submitted(
    lms: TestPlatform, browser: BrowserFactory
) -> None:
    QuizFactory(slug="loss-versus-metric", title="Loss versus metric", questions=[QuestionFactory()])
    lms.add_link("week-3", custom={"resource": "quiz:loss-versus-metric"})
    lms.members["course-101"] = [
        lms.people[TEACHER],
        Person(sub="s1", name="Grace Hopper", given_name="Grace", family_name="Hopper"),
        Person(sub="s2", name="Edsger Dijkstra", given_name="Edsger", family_name="Dijkstra"),
    ]

    page = browser().new_page()
    tool = open_course(page, lms, link="week-3", person=TEACHER)
    expect(tool.get_by_role("heading", name="Students", exact=True)).to_be_visible()
    tool.get_by_role("button", name="Sync the roster from the LMS").click()
    expect(tool.get_by_role("status").filter(has_text="Roster synced")).to_be_visible()
    table = tool.get_by_role("table")
    expect(table.get_by_role("row", name=re.compile("Grace Hopper"))).to_contain_text("Not submitted")
    expect(table.get_by_role("row", name=re.compile("Edsger Dijkstra"))).to_contain_text("Not submitted")


def test_a_browser_blocking_third_party_cookies_continues_in_a_new_window(
    lms: TestPlatform, browser: BrowserFactory
) -> None:
    QuizFactory(slug="loss-versus-metric", title="Loss versus metric", questions=[QuestionFactory()])
    lms.add_link("week-3", custom={"resource": "quiz:loss-versus-metric"})

    context = browser(third_party_cookies=False)
    page = context.new_page()
    tool = open_course(page, lms, link="week-3", person=STUDENT)
    with context.expect_page() as opened:
        tool.get_by_role("link", name="Open the activity in a new window").click()
    window = opened.value
    expect(window.get_by_role("heading", name="Loss versus metric")).to_be_visible()
    expect(window.get_by_role("button", name="Start the quiz")).to_be_visible()


def test_a_learner_cannot_reach_the_instructor_page(lms: TestPlatform, browser: BrowserFactory) -> None:
    QuizFactory(slug="loss-versus-metric", title="Loss versus metric", questions=[QuestionFactory()])
    lms.add_link("week-3", custom={"resource": "quiz:loss-versus-metric"})
    page = browser().new_page()
    tool = open_course(page, lms, link="week-3", person=STUDENT)
    expect(tool.get_by_role("heading", name="Loss versus metric")).to_be_visible()
    link = ResourceLink.objects.get()
    frame = page.frame(url=re.compile("/quizzes/"))
    assert frame is not None
    response = frame.goto(f"{lms.tool_launch_url.removesuffix('/lti/launch/')}/lti/links/{link.pk}/")
    assert response is not None
    assert response.status == 403
