"""Grade passback: grades of students who came through an LMS reach its gradebook
columns, in order, exactly once per grade, whatever the platform or the queue does.
Scores go over real HTTP to the in-repo test platform; the queue's doorbell is recorded
(and rung by hand) except in the one test with a real worker at the end."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import AbstractUser, Permission
from django.test import Client, override_settings
from django.utils import timezone

from grader.grading import grading_job_run, submission_create
from grader.models import Attempt, GradingJob
from grader.services import SubmittedAnswer, attempt_start, attempt_submit
from lti import passback as passback_service
from lti.ags import SCORE_SCOPE, access_token_forget
from lti.keys import tool_jwks
from lti.models import (
    Course,
    CourseMembership,
    CourseRole,
    LtiIdentity,
    Passback,
    PassbackState,
    Platform,
    ResourceLink,
)
from lti.passback import (
    INACTIVE_PLATFORM_RECHECK_SECONDS,
    SEND_PASSBACK_TASK,
    PassbackSweepReport,
    passback_claim,
    passback_resend,
    passback_send,
    passbacks_record_for_attempt,
    passbacks_record_for_result,
    passbacks_sweep,
    retry_delay,
)
from lti.selectors import link_gradebook
from questions.models import Exercise, GradePolicy, Quiz
from tests.exercises import make_exercise
from tests.factories import UserFactory
from tests.lti.platform import TestPlatform
from tests.workers.conftest import start_worker, wait_for  # noqa: F401 (a fixture, for the worker test)
from workers.queues import Queue
from workers.sandbox.protocol import CallOutcome, SandboxJob, SandboxRun

SUB = "student-7"
pytestmark = pytest.mark.usefixtures("_lms_settings")


@pytest.fixture
def _lms_settings() -> Iterator[None]:
    with override_settings(
        LTI_ALLOW_HTTP=True,
        LTI_HTTP_TIMEOUT_SECONDS=2,
        LTI_PASSBACK_MAX_TRIES=30,
        LTI_PASSBACK_RETRY_BACKOFF_SECONDS=30,
        LTI_PASSBACK_REDELIVER_AFTER_SECONDS=60,
    ):
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


@pytest.fixture
def rung(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Passback ids whose doorbell rang (on commit, or by the sweep), in order; no message
    reaches a broker: tests deliver them by hand."""
    ids: list[int] = []

    def record(*, task: str, args: list[int], countdown: float = 0) -> bool:
        assert task == SEND_PASSBACK_TASK
        ids.append(args[0])
        return True

    monkeypatch.setattr(passback_service, "enqueue", record)
    monkeypatch.setattr(passback_service, "enqueue_on_commit", record)
    return ids


def column(
    lms: TestPlatform,
    platform: Platform,
    content: Quiz | Exercise,
    *,
    student: AbstractUser,
    role: str = CourseRole.STUDENT,
    active: bool = True,
    context_id: str = "course-101",
    lineitem: bool = True,
) -> ResourceLink:
    """A resource link showing `content` in a course of the platform where `student` (the
    platform's SUB) has `role`, with a line item at the test platform."""
    course, _ = Course.objects.get_or_create(platform=platform, context_id=context_id)
    CourseMembership.objects.update_or_create(course=course, user=student, defaults={"role": role, "is_active": active})
    LtiIdentity.objects.get_or_create(user=student, defaults={"platform": platform, "sub": SUB})
    url = lms.add_lineitem(context_id=context_id, label=str(content), score_maximum=4) if lineitem else ""
    target = {"quiz": content} if isinstance(content, Quiz) else {"exercise": content}
    return ResourceLink.objects.create(
        course=course, resource_link_id=f"link-{uuid.uuid4().hex[:6]}", lineitem_url=url, **target
    )


def take(quiz: Quiz, user: AbstractUser, *, points: int) -> Attempt:
    """Submit an attempt scoring `points` of 4 (1 for the single-choice question, 1 for
    select-all, 2 for the numeric one): 0, 1, 2, 3 or 4."""
    attempt = attempt_start(quiz=quiz, user=user)
    questions = {qq.position: qq.question for qq in quiz.quiz_questions.select_related("question")}
    single, multiple, numeric = questions[0], questions[1], questions[2]
    answers = [
        SubmittedAnswer(
            question_id=single.pk, choice_ids=[single.choices.filter(is_correct=points in (1, 3, 4))[0].pk]
        ),
        SubmittedAnswer(
            question_id=multiple.pk,
            choice_ids=list(multiple.choices.filter(is_correct=points == 4).values_list("pk", flat=True)),
        ),
        SubmittedAnswer(question_id=numeric.pk, value=0.952 if points >= 2 else 1.5),
    ]
    submitted = attempt_submit(attempt=attempt, answers=answers)
    assert submitted.score == Decimal(points)
    return submitted


NINE = {"shape": None, "values": 9.0}


def nines(job: SandboxJob) -> SandboxRun:
    """The sandbox's answer for code returning 9.0 from every call."""
    return SandboxRun(calls={call.id: CallOutcome(id=call.id, value=9.0) for call in job.calls})


def deliver(rung: list[int], *, now: datetime | None = None) -> list[str | None]:
    """Run the send task for every rung passback, in order, and forget them."""
    outcomes = [passback_send(passback_id=passback_id, now=now or timezone.now()) for passback_id in rung]
    rung.clear()
    return outcomes


def scores_at(lms: TestPlatform, link: ResourceLink) -> list[float]:
    return [body["scoreGiven"] for body in lms.accepted_scores(lineitem=link.lineitem_url)]


# --- recording --------------------------------------------------------------------------------


def test_a_submitted_attempt_sends_one_score_with_the_right_fields(lms, platform, rung, quiz, student):
    link = column(lms, platform, quiz, student=student)
    attempt = take(quiz, student, points=3)
    passback = Passback.objects.get()
    assert (passback.resource_link, passback.user, passback.attempt, passback.submission) == (
        link,
        student,
        attempt,
        None,
    )
    assert (passback.score_given, passback.score_maximum, passback.state) == (Decimal(3), Decimal(4), "pending")
    assert passback.graded_at == attempt.submitted_at
    assert rung == [passback.pk]

    assert deliver(rung) == [PassbackState.SENT]
    [score] = lms.scores
    assert score.accepted
    assert score.lineitem == link.lineitem_url
    assert score.body == {
        "userId": SUB,
        "scoreGiven": 3.0,
        "scoreMaximum": 4.0,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": attempt.submitted_at.isoformat(),
    }
    passback.refresh_from_db()
    assert (passback.state, passback.tries, passback.last_error) == (PassbackState.SENT, 1, "")
    assert passback.sent_at is not None
    assert lms.token_requests == 1


def test_a_graded_code_submission_sends_its_score(lms, platform, rung, student):
    exercise = make_exercise(expected={"three": NINE, "hidden-negative": NINE, "vector": NINE})
    link = column(lms, platform, exercise, student=student)
    submission = submission_create(user=student, exercise=exercise, code="def square(x):\n    return 9.0\n")
    grading_job_run(job_id=GradingJob.objects.get(submission=submission).pk, runner=nines)
    passback = Passback.objects.get()
    result = submission.result
    assert (passback.submission, passback.attempt, passback.resource_link) == (submission, None, link)
    assert (passback.score_given, passback.score_maximum) == (result.score, result.max_score)
    assert passback.graded_at == result.created_at
    assert deliver(rung) == [PassbackState.SENT]
    assert scores_at(lms, link) == [float(result.score)]


def test_every_linked_column_of_the_content_gets_the_grade(lms, platform, rung, quiz, student):
    first = column(lms, platform, quiz, student=student, context_id="course-101")
    second = column(lms, platform, quiz, student=student, context_id="course-202")
    take(quiz, student, points=2)
    deliver(rung)
    assert scores_at(lms, first) == scores_at(lms, second) == [2.0]


@pytest.mark.parametrize(
    ("role", "active", "lineitem"),
    [
        (CourseRole.INSTRUCTOR, True, True),  # instructors trying their quiz are not graded
        (CourseRole.STUDENT, False, True),  # the roster says the student left
        (CourseRole.STUDENT, True, False),  # the link has no gradebook column
    ],
)
def test_no_passback_without_an_active_student_and_a_column(lms, platform, rung, quiz, student, role, active, lineitem):
    column(lms, platform, quiz, student=student, role=role, active=active, lineitem=lineitem)
    take(quiz, student, points=4)
    assert not Passback.objects.exists()
    assert rung == []


def test_a_user_without_an_lms_identity_costs_one_query_and_gets_no_passback(
    lms, platform, rung, quiz, student, other_student, django_assert_num_queries
):
    column(lms, platform, quiz, student=student)  # someone else's course
    attempt = take(quiz, other_student, points=4)
    assert not Passback.objects.exists()
    with django_assert_num_queries(1):
        passbacks_record_for_attempt(attempt=attempt)
    assert rung == []


def test_a_verdict_for_a_user_without_an_lms_identity_costs_one_query(lms, platform, rung, student, other_student,
                                                                     django_assert_num_queries):  # fmt: skip
    exercise = make_exercise(expected={"three": NINE, "hidden-negative": NINE, "vector": NINE})
    column(lms, platform, exercise, student=student)
    submission = submission_create(user=other_student, exercise=exercise, code="def square(x):\n    return 9.0\n")
    grading_job_run(job_id=GradingJob.objects.get(submission=submission).pk, runner=nines)
    assert not Passback.objects.exists()
    result = submission.result
    with django_assert_num_queries(1):
        passbacks_record_for_result(result=result)


def test_recording_a_grade_twice_makes_one_passback(lms, platform, rung, quiz, student):
    column(lms, platform, quiz, student=student)
    attempt = take(quiz, student, points=1)
    passbacks_record_for_attempt(attempt=attempt)
    assert Passback.objects.count() == 1
    assert deliver(rung) == [PassbackState.SENT, None]  # the second ring finds nothing to claim
    assert len(lms.scores) == 1


@pytest.mark.parametrize(
    ("policy", "sent"), [(GradePolicy.BEST, [3.0, 3.0, 4.0]), (GradePolicy.LATEST, [3.0, 1.0, 4.0])]
)
def test_the_grade_policy_decides_the_score_sent(lms, platform, rung, quiz, student, policy, sent):
    Quiz.objects.filter(pk=quiz.pk).update(grade_policy=policy)
    link = column(lms, platform, Quiz.objects.get(pk=quiz.pk), student=student)
    for points in (3, 1, 4):
        take(quiz, student, points=points)
        deliver(rung)
    assert scores_at(lms, link) == sent
    assert lms.results[(link.lineitem_url, SUB)]["scoreGiven"] == 4.0


def test_best_is_sent_with_the_newest_time_seen(lms, platform, rung, quiz, student):
    """Two grades at once: the best is graded first but recorded second, after a lower
    grade whose passback could not see it. Sent with its own (older) time, the best would
    be superseded by the lower one; it is sent with the newest time it saw instead."""
    link = column(lms, platform, quiz, student=student)
    lower = take(quiz, student, points=1)  # its passback saw no other grade: 1
    best = take(quiz, student, points=4)
    Passback.objects.filter(attempt=best).delete()  # as if it were recorded only now ...
    Attempt.objects.filter(pk=best.pk).update(
        submitted_at=lower.submitted_at - timedelta(seconds=1)
    )  # ... graded first
    passbacks_record_for_attempt(attempt=best)
    recorded = Passback.objects.get(attempt=best)
    assert (recorded.score_given, recorded.graded_at) == (Decimal(4), lower.submitted_at)
    assert [state for state in deliver(rung) if state] == [PassbackState.SUPERSEDED, PassbackState.SENT]
    assert scores_at(lms, link) == [4.0]


def test_best_compares_shares_of_the_maximum_not_raw_points(lms, platform, rung, quiz, student):
    """The quiz's points changed between attempts: 8 of 10 beats 9 of 20."""
    column(lms, platform, quiz, student=student)
    first = take(quiz, student, points=4)
    Attempt.objects.filter(pk=first.pk).update(score=Decimal(8), max_score=Decimal(10))
    second = take(quiz, student, points=4)
    Attempt.objects.filter(pk=second.pk).update(score=Decimal(9), max_score=Decimal(20))
    Passback.objects.filter(attempt=second).delete()
    passbacks_record_for_attempt(attempt=Attempt.objects.get(pk=second.pk))
    recorded = Passback.objects.get(attempt=second)
    assert (recorded.score_given, recorded.score_maximum) == (Decimal(8), Decimal(10))
    row = link_gradebook(link=ResourceLink.objects.get(quiz=quiz))[0]
    assert (row.score, row.max_score) == (Decimal(8), Decimal(10))


# --- order --------------------------------------------------------------------------------------


def test_an_older_grade_is_never_sent_over_a_newer_one(lms, platform, rung, quiz, student):
    Quiz.objects.filter(pk=quiz.pk).update(grade_policy=GradePolicy.LATEST)
    link = column(lms, platform, quiz, student=student)
    take(quiz, student, points=4)
    take(quiz, student, points=1)
    older, newer = rung
    assert passback_send(passback_id=newer, now=timezone.now()) == PassbackState.SENT
    assert passback_send(passback_id=older, now=timezone.now()) == PassbackState.SUPERSEDED
    assert [s.body["scoreGiven"] for s in lms.scores] == [1.0]  # the older was never sent
    assert scores_at(lms, link) == [1.0]


def test_an_older_grade_waiting_behind_a_newer_one_is_superseded_and_the_newer_still_sent(
    lms, platform, rung, quiz, student
):
    Quiz.objects.filter(pk=quiz.pk).update(grade_policy=GradePolicy.LATEST)
    link = column(lms, platform, quiz, student=student)
    take(quiz, student, points=4)
    take(quiz, student, points=2)
    assert deliver(rung) == [PassbackState.SUPERSEDED, PassbackState.SENT]
    assert scores_at(lms, link) == [2.0]
    assert len(lms.scores) == 1


def test_a_conflict_after_a_newer_score_went_out_is_a_supersession(
    lms: TestPlatform,
    platform: Platform,
    rung: list[int],
    quiz: Quiz,
    student: AbstractUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two tries racing: the older one checked before the newer one was sent, and reaches
    the platform after it; the platform refuses it (409) for its older timestamp."""
    Quiz.objects.filter(pk=quiz.pk).update(grade_policy=GradePolicy.LATEST)
    column(lms, platform, quiz, student=student)
    take(quiz, student, points=4)
    take(quiz, student, points=2)
    older, newer = rung
    assert passback_send(passback_id=newer, now=timezone.now()) == PassbackState.SENT
    real_check = passback_service._newer_grade_counts
    checks: list[object] = []

    def checked_before_the_newer_was_sent(**kwargs: object) -> bool:
        checks.append(kwargs)
        return len(checks) > 1 and real_check(**kwargs)

    monkeypatch.setattr(passback_service, "_newer_grade_counts", checked_before_the_newer_was_sent)
    assert passback_send(passback_id=older, now=timezone.now()) == PassbackState.SUPERSEDED
    assert [s.accepted for s in lms.scores] == [True, False]
    assert "HTTP 409" in Passback.objects.get(pk=older).last_error


# --- failures, retries and the sweep ---------------------------------------------------------


def test_a_platform_that_is_down_gets_the_score_once_it_is_back(lms, platform, rung, quiz, student):
    link = column(lms, platform, quiz, student=student)
    attempt = take(quiz, student, points=3)
    [passback_id] = rung
    lms.down = True
    now = timezone.now()
    assert deliver(rung, now=now) == [PassbackState.PENDING]
    passback = Passback.objects.get(pk=passback_id)
    assert (passback.state, passback.tries) == (PassbackState.PENDING, 1)
    assert passback.next_try_at == now + timedelta(seconds=30)
    assert "HTTP 503" in passback.last_error
    assert passback_send(passback_id=passback_id, now=now + timedelta(seconds=29)) is None  # not due yet
    assert passbacks_sweep(now=now + timedelta(seconds=29)).rung == 0

    later = now + timedelta(seconds=31)
    assert passbacks_sweep(now=later).rung == 1
    assert passbacks_sweep(now=later + timedelta(seconds=1)).rung == 0  # its message is on its way
    assert deliver(rung, now=later) == [PassbackState.PENDING]
    passback.refresh_from_db()
    assert passback.next_try_at == later + timedelta(seconds=60)  # the wait doubles

    lms.down = False
    back = later + timedelta(seconds=61)
    passbacks_sweep(now=back)
    assert deliver(rung, now=back) == [PassbackState.SENT]
    passback.refresh_from_db()
    assert (passback.state, passback.tries, passback.last_error) == (PassbackState.SENT, 3, "")
    assert scores_at(lms, link) == [3.0]
    assert [s.accepted for s in lms.scores] == [True]
    attempt.refresh_from_db()
    assert attempt.score == Decimal(3)


def test_a_platform_that_did_not_answer_is_left_alone_for_one_backoff(
    lms: TestPlatform,
    platform: Platform,
    rung: list[int],
    quiz: Quiz,
    student: AbstractUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first_link = column(lms, platform, quiz, student=student, context_id="course-101")
    second_link = column(lms, platform, quiz, student=student, context_id="course-202")
    take(quiz, student, points=2)
    posts: list[str] = []
    real_post = passback_service.score_post

    def counted_post(**kwargs: object) -> None:
        posts.append(str(kwargs["lineitem_url"]))
        real_post(**kwargs)

    monkeypatch.setattr(passback_service, "score_post", counted_post)
    lms.down = True
    now = timezone.now()
    assert deliver(rung, now=now) == [PassbackState.PENDING, PassbackState.PENDING]
    assert len(posts) == 1  # the second did not wait on the platform too
    tried, waited = Passback.objects.order_by("-tries")
    assert (tried.tries, waited.tries) == (1, 0)  # waiting is not a try
    assert tried.next_try_at == waited.next_try_at == now + timedelta(seconds=30)

    lms.down = False
    later = now + timedelta(seconds=31)
    assert passbacks_sweep(now=later).rung == 2
    assert deliver(rung, now=later) == [PassbackState.SENT, PassbackState.SENT]
    assert scores_at(lms, first_link) == scores_at(lms, second_link) == [2.0]


def test_retries_wait_longer_each_time_up_to_an_hour():
    assert [retry_delay(tries=n).total_seconds() for n in (1, 2, 3, 4, 7, 8, 30, 500)] == [
        30, 60, 120, 240, 1920, 3600, 3600, 3600,
    ]  # fmt: skip


def test_retries_run_out_into_failed(lms, platform, rung, quiz, student):
    column(lms, platform, quiz, student=student)
    take(quiz, student, points=3)
    [passback_id] = rung
    lms.down = True
    now = timezone.now()
    with override_settings(LTI_PASSBACK_MAX_TRIES=3):
        for _ in range(3):
            state = passback_send(passback_id=passback_id, now=now)
            now += timedelta(hours=1)
    assert state == PassbackState.FAILED
    passback = Passback.objects.get(pk=passback_id)
    assert (passback.state, passback.tries) == (PassbackState.FAILED, 3)
    assert passback.last_error.startswith("gave up after 3 tries: ")
    assert passbacks_sweep(now=now + timedelta(days=1)).rung == 0  # a failed passback waits for an admin


def test_a_refusal_fails_at_once_and_leaves_the_grade_alone(lms, platform, rung, quiz, student):
    column(lms, platform, quiz, student=student)
    attempt = take(quiz, student, points=3)
    Platform.objects.filter(pk=platform.pk).update(client_id="a-client-id-the-lms-never-gave")
    assert deliver(rung) == [PassbackState.FAILED]
    passback = Passback.objects.get()
    assert (passback.state, passback.tries) == (PassbackState.FAILED, 1)
    assert "HTTP 401: invalid_client" in passback.last_error
    attempt.refresh_from_db()
    assert (attempt.state, attempt.score, attempt.max_score) == ("submitted", Decimal(3), Decimal(4))
    assert lms.scores == []


def test_a_refused_score_fails_with_the_platforms_words(lms, platform, rung, quiz, student, monkeypatch):
    column(lms, platform, quiz, student=student)
    take(quiz, student, points=3)
    monkeypatch.setattr(lms, "receive_score", lambda *args: 400)
    assert deliver(rung) == [PassbackState.FAILED]
    assert Passback.objects.get().last_error.endswith("answered HTTP 400: refused")


def test_a_second_delivery_of_the_same_message_sends_nothing_more(lms, platform, rung, quiz, student):
    column(lms, platform, quiz, student=student)
    take(quiz, student, points=3)
    [passback_id] = rung
    now = timezone.now()
    assert passback_claim(passback_id=passback_id, now=now) is not None  # a worker is on it
    assert passback_send(passback_id=passback_id, now=now) is None  # the duplicate finds it taken
    assert lms.scores == []
    assert Passback.objects.get(pk=passback_id).tries == 1


def test_a_sender_lost_mid_send_is_replaced_once_its_lease_runs_out(lms, platform, rung, quiz, student):
    link = column(lms, platform, quiz, student=student)
    take(quiz, student, points=3)
    [passback_id] = rung
    rung.clear()
    now = timezone.now()
    lost = passback_claim(passback_id=passback_id, now=now)  # ... and then the worker died
    assert lost is not None
    assert passbacks_sweep(now=now + timedelta(seconds=10)).lost == 0
    after_lease = lost.lease_expires_at + timedelta(seconds=1)
    assert passbacks_sweep(now=after_lease).lost == 1
    # Until that message is taken, later sweeps leave the row to it (a slow queue would
    # otherwise fill with copies).
    assert passbacks_sweep(now=after_lease + timedelta(seconds=5)) == PassbackSweepReport(rung=0, lost=0)
    assert rung == [passback_id]
    assert deliver(rung, now=after_lease) == [PassbackState.SENT]
    assert Passback.objects.get(pk=passback_id).tries == 2
    assert scores_at(lms, link) == [3.0]


def test_the_sweep_rings_a_passback_whose_message_was_lost(lms, platform, rung, quiz, student):
    column(lms, platform, quiz, student=student)
    take(quiz, student, points=3)
    rung.clear()  # the broker lost the message
    now = timezone.now()
    assert passbacks_sweep(now=now).rung == 0  # its message may still be on its way
    assert passbacks_sweep(now=now + timedelta(seconds=61)).rung == 1
    assert deliver(rung) == [PassbackState.SENT]


def test_nothing_is_sent_to_an_inactive_platform_and_nothing_is_lost(lms, platform, rung, quiz, student):
    link = column(lms, platform, quiz, student=student)
    Platform.objects.filter(pk=platform.pk).update(is_active=False)
    take(quiz, student, points=3)
    now = timezone.now()
    assert deliver(rung, now=now) == [PassbackState.PENDING]
    waiting = Passback.objects.get()
    assert (waiting.tries, waiting.last_error) == (0, "the platform is inactive here; waiting for it")
    assert lms.scores == []
    assert lms.token_requests == 0
    Platform.objects.filter(pk=platform.pk).update(is_active=True)
    later = now + timedelta(seconds=INACTIVE_PLATFORM_RECHECK_SECONDS + 1)
    assert passbacks_sweep(now=later).rung == 1
    assert deliver(rung, now=later) == [PassbackState.SENT]
    assert scores_at(lms, link) == [3.0]


# --- resending, and the admin --------------------------------------------------------------------


def test_a_failed_passback_is_resent_with_a_fresh_count_of_tries(lms, platform, rung, quiz, student):
    link = column(lms, platform, quiz, student=student)
    take(quiz, student, points=3)
    Platform.objects.filter(pk=platform.pk).update(client_id="a-client-id-the-lms-never-gave")
    deliver(rung)
    passback = Passback.objects.get()
    Platform.objects.filter(pk=platform.pk).update(client_id=lms.client_id)  # the admin fixed it

    assert passback_resend(passback_id=passback.pk, now=timezone.now())
    passback.refresh_from_db()
    assert (passback.state, passback.tries, passback.last_error) == (PassbackState.PENDING, 0, "")
    assert deliver(rung) == [PassbackState.SENT]
    assert scores_at(lms, link) == [3.0]
    Passback.objects.filter(pk=passback.pk).update(state=PassbackState.SUPERSEDED)
    assert not passback_resend(passback_id=passback.pk, now=timezone.now())  # only failed or sent ones
    assert rung == []


@pytest.fixture
def superuser_client(db: None) -> Client:
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_the_admin_lists_passbacks_per_student_and_resends_failed_ones(
    lms, platform, rung, quiz, student, superuser_client
):
    link = column(lms, platform, quiz, student=student)
    take(quiz, student, points=3)
    Platform.objects.filter(pk=platform.pk).update(client_id="a-client-id-the-lms-never-gave")
    deliver(rung)
    passback = Passback.objects.get()

    listing = superuser_client.get("/admin/lti/passback/", {"state": "failed"})
    assert listing.status_code == 200
    page = listing.content.decode()
    for shown in (student.username, str(link.course), str(link), "3.00 / 4.00", "Failed", "invalid_client"):
        assert shown in page
    assert (
        superuser_client.get(f"/admin/lti/passback/?resource_link__course__id__exact={link.course_id}").status_code
        == 200
    )

    Platform.objects.filter(pk=platform.pk).update(client_id=lms.client_id)
    response = superuser_client.post(
        "/admin/lti/passback/", {"action": "resend", "_selected_action": [passback.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "1 passback(s) queued to be sent again." in response.content.decode()
    assert deliver(rung) == [PassbackState.SENT]
    assert scores_at(lms, link) == [3.0]


def test_instructors_do_not_see_passbacks(instructor):
    instructor.is_staff = True
    instructor.save()
    client = Client()
    client.force_login(instructor)
    assert client.get("/admin/lti/passback/").status_code == 403


def test_viewing_passbacks_does_not_allow_resending_them(lms, platform, rung, quiz, student):
    column(lms, platform, quiz, student=student)
    take(quiz, student, points=3)
    Platform.objects.filter(pk=platform.pk).update(client_id="a-client-id-the-lms-never-gave")
    deliver(rung)
    passback = Passback.objects.get()
    viewer = UserFactory(username="dana", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_passback"))
    client = Client()
    client.force_login(viewer)
    assert client.get("/admin/lti/passback/").status_code == 200
    client.post("/admin/lti/passback/", {"action": "resend", "_selected_action": [passback.pk]})
    assert Passback.objects.get(pk=passback.pk).state == PassbackState.FAILED
    assert rung == []


def test_the_grade_policy_is_set_in_the_quiz_and_exercise_admin(superuser_client, quiz):
    from tests.questions.test_exercise_admin import ADD_URL, _form

    assert 'name="grade_policy"' in superuser_client.get(f"/admin/questions/quiz/{quiz.pk}/change/").content.decode()
    response = superuser_client.post(
        ADD_URL, _form(checks=[{"name": "two", "call": "cube(2.0)"}], grade_policy="latest")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    latest = Exercise.objects.get(slug="cube")
    assert latest.grade_policy == GradePolicy.LATEST
    response = superuser_client.post(ADD_URL, _form(checks=[{"name": "two", "call": "cube(2.0)"}], slug="cube-2"))
    assert response.status_code == 302, response.content.decode()[:2000]
    unsaid = Exercise.objects.get(slug="cube-2")
    assert unsaid.grade_policy == GradePolicy.BEST  # a form without it keeps the default
    assert unsaid.spec_fingerprint == latest.spec_fingerprint  # grading does not depend on it


# --- through a real worker -----------------------------------------------------------------------


@pytest.mark.worker
def test_a_worker_delivers_a_submitted_attempts_score_to_the_lms(lms, start_worker, quiz, student):  # noqa: F811
    platform = lms.register()
    link = column(lms, platform, quiz, student=student)
    worker = start_worker(queues=(Queue.DEFAULT,), env={"LTI_ALLOW_HTTP": "true", "LTI_HTTP_TIMEOUT_SECONDS": "5"})
    take(quiz, student, points=3)  # committed: the doorbell rings on commit
    assert wait_for(lambda: Passback.objects.filter(state=PassbackState.SENT).exists(), timeout=60), worker.output()
    assert scores_at(lms, link) == [3.0]
    assert lms.scores[0].body["userId"] == SUB
    access_token_forget(platform=platform, scopes=[SCORE_SCOPE])
