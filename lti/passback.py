"""Grade passback (LTI AGS): every grade a student earns on linked content is posted to
the LMS gradebook column of each resource link that shows that content.

A Passback row is made in the grade's own transaction, so a grade is never stored
without its passback nor passed back without being stored; the queue is only rung once
that commits. Workers claim a row with a conditional UPDATE and a lease, post the score
with no transaction open, and complete only while the claim is still theirs (a
duplicate message, or a try whose lease ran out, changes nothing). Temporary failures
retry with backoff up to LTI_PASSBACK_MAX_TRIES (and the platform is left alone for one
backoff: its other passbacks wait without a try); a refusal ends the row as failed with
the platform's words, for an admin to fix and resend. A passback never changes the
local grade.

Order: the newest grade wins. A row whose column already has a newer grade sent or on
its way is superseded instead of sent, and every score carries its grade's time, which
the platform uses to ignore an older score arriving late (AGS).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import F, Q
from django.utils import timezone

from grader.models import Attempt, AttemptState, GradingResult, Submission
from lti.ags import PlatformRefused, PlatformUnavailable, Score, score_post
from lti.models import CourseRole, LtiIdentity, Passback, PassbackState, Platform, ResourceLink
from lti.selectors import Grade, best_grade
from questions.models import GradePolicy
from workers.dispatch import enqueue, enqueue_on_commit

logger = logging.getLogger(__name__)

# Sent by name, so that grading need not import the tasks module (lti.tasks defines it).
SEND_PASSBACK_TASK = "lti.send_passback"
MAX_BACKOFF_SECONDS = 3600
INACTIVE_PLATFORM_RECHECK_SECONDS = 600
MAX_ERROR_CHARS = 2000


# --- Recording (inside the grade's transaction) ------------------------------------------


def _lti_student(**identity_filter: object) -> tuple[int, int] | None:
    """(user id, platform id) of the grade's owner when an LMS knows them, else None: the
    one query a grade costs users who never came through an LMS. The identity row stays
    locked until the grade commits, so that two grades of one student are recorded one
    after the other and the second sees the first (its best-of is right)."""
    return (
        LtiIdentity.objects.select_for_update(of=("self",))
        .filter(**identity_filter)
        .values_list("user_id", "platform_id")
        .first()
    )


def _columns(*, platform_id: int, user_id: int, content: Q) -> list[tuple[int, str]]:
    """(link id, grade policy) of the links showing the content, with a gradebook column,
    in courses of the platform where the user is an active student."""
    rows = (
        ResourceLink.objects.filter(
            content,
            course__platform_id=platform_id,
            course__memberships__user_id=user_id,
            course__memberships__role=CourseRole.STUDENT,
            course__memberships__is_active=True,
        )
        .exclude(lineitem_url="")
        .values_list("pk", "quiz__grade_policy", "exercise__grade_policy")
    )
    return [(pk, quiz_policy or exercise_policy or GradePolicy.BEST) for pk, quiz_policy, exercise_policy in rows]


def _counted(*, policy: str, this: Grade, grades: list[Grade]) -> Grade:
    """The grade the gradebook shows after `this` one, and the time it is sent with.

    Latest: this grade. Best: the highest share of its maximum so far; sent with the newest time among
    the grades seen, so that a best recorded after a newer but lower grade (the two were
    graded at once) is not taken for the older score and dropped."""
    if policy != GradePolicy.BEST:
        return this
    best = best_grade(grades)
    return (max(grade[0] for grade in grades), best[1], best[2])


def _record(*, user_id: int, links: list[tuple[int, str]], this: Grade, grades: list[Grade], **grade: int) -> None:
    now = timezone.now()
    rows = []
    for link_id, policy in links:
        when, score, maximum = _counted(policy=policy, this=this, grades=grades)
        rows.append(
            Passback(
                resource_link_id=link_id,
                user_id=user_id,
                score_given=score,
                score_maximum=maximum,
                graded_at=when,
                next_try_at=now,
                # A message is rung on commit; the sweep rings again only if nobody has
                # claimed the row by then (see passbacks_sweep).
                lease_expires_at=now + _redeliver_after(),
                created_at=now,
                **grade,
            )
        )
    # Recording the same grade twice (a retried transaction) adds nothing: the unique
    # constraints on (link, attempt) and (link, submission) turn the insert into a no-op.
    Passback.objects.bulk_create(rows, ignore_conflicts=True)
    pending = (
        Passback.objects.filter(
            resource_link_id__in=[link_id for link_id, _ in links], state=PassbackState.PENDING, **grade
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for passback_id in pending:
        enqueue_on_commit(task=SEND_PASSBACK_TASK, args=[passback_id])


def passbacks_record_for_attempt(*, attempt: Attempt) -> None:
    """Passbacks for a quiz attempt being submitted, in the transaction that submits it
    (after the attempt's row says submitted)."""
    student = _lti_student(user_id=attempt.user_id)
    if student is None:
        return
    user_id, platform_id = student
    links = _columns(platform_id=platform_id, user_id=user_id, content=Q(quiz_id=attempt.quiz_id))
    if not links:
        return
    submitted = Attempt.objects.filter(
        user_id=user_id, quiz_id=attempt.quiz_id, state=AttemptState.SUBMITTED, score__isnull=False
    ).values_list("pk", "submitted_at", "score", "max_score")
    grades = {pk: (when, score, maximum) for pk, when, score, maximum in submitted if when and score is not None}
    if attempt.pk not in grades:
        raise ValueError(f"attempt {attempt.pk} is not submitted: record its passbacks after submitting it")
    _record(user_id=user_id, links=links, this=grades[attempt.pk], grades=list(grades.values()), attempt_id=attempt.pk)


def passbacks_record_for_result(*, result: GradingResult) -> None:
    """Passbacks for a code submission's verdict, in the transaction that stores it."""
    student = _lti_student(user__submissions=result.submission_id)
    if student is None:
        return
    user_id, platform_id = student
    exercise_id = Submission.objects.filter(pk=result.submission_id).values_list("exercise_id", flat=True).get()
    links = _columns(platform_id=platform_id, user_id=user_id, content=Q(exercise_id=exercise_id))
    if not links:
        return
    results = (
        GradingResult.objects.filter(submission__user_id=user_id, submission__exercise_id=exercise_id)
        .exclude(pk=result.pk)
        .values_list("created_at", "score", "max_score")
    )
    this = (result.created_at, result.score, result.max_score)
    _record(user_id=user_id, links=links, this=this, grades=[this, *results], submission_id=result.submission_id)


# --- Sending ---------------------------------------------------------------------------------


def _lease() -> timedelta:
    # A send makes at most four calls (a token, the score, and both again after a 401),
    # each within about twice the HTTP timeout (connecting, then reading to the deadline).
    return timedelta(seconds=8 * settings.LTI_HTTP_TIMEOUT_SECONDS + 30)


def _redeliver_after() -> timedelta:
    return timedelta(seconds=settings.LTI_PASSBACK_REDELIVER_AFTER_SECONDS)


def retry_delay(*, tries: int) -> timedelta:
    """Wait after try `tries` failed: base, 2x base, 4x base, ... at most an hour."""
    exponent = min(tries - 1, 20)  # 2**20 x any base is past the cap already
    return timedelta(seconds=min(settings.LTI_PASSBACK_RETRY_BACKOFF_SECONDS * 2**exponent, MAX_BACKOFF_SECONDS))


def passback_claim(*, passback_id: int, now: datetime) -> Passback | None:
    """Take a due passback (or one whose sender's lease ran out) for this try; None when
    it is not ours to send. The row comes with its link, course and platform."""
    due = Q(state=PassbackState.PENDING, next_try_at__lte=now) | Q(
        state=PassbackState.SENDING, lease_expires_at__lt=now
    )
    claimed = Passback.objects.filter(due, pk=passback_id).update(
        state=PassbackState.SENDING, lease_expires_at=now + _lease(), tries=F("tries") + 1
    )
    if claimed != 1:
        return None
    return Passback.objects.select_related("resource_link__course__platform").filter(pk=passback_id).first()


def _finish(*, passback: Passback, state: str, now: datetime, error: str = "") -> bool:
    """End this try: applies only while the row is still claimed by it (`tries` is the
    try's number), so a late or duplicate try changes nothing."""
    fields: dict[str, object] = {"state": state, "lease_expires_at": None, "last_error": error[:MAX_ERROR_CHARS]}
    if state == PassbackState.SENT:
        fields["sent_at"] = now
    elif state == PassbackState.PENDING:
        fields["next_try_at"] = now + retry_delay(tries=passback.tries)
    claimed_by_this_try = Q(pk=passback.pk, state=PassbackState.SENDING, tries=passback.tries)
    return Passback.objects.filter(claimed_by_this_try).update(**fields) == 1


def _newer_grade_counts(*, passback: Passback, states: tuple[str, ...]) -> bool:
    """Whether the same column holds, for the same student, a newer grade in `states`."""
    newer = Q(graded_at__gt=passback.graded_at) | Q(graded_at=passback.graded_at, pk__gt=passback.pk)
    return (
        Passback.objects.filter(newer, resource_link_id=passback.resource_link_id, user_id=passback.user_id)
        .filter(state__in=states)
        .exists()
    )


def _student_sub(*, passback: Passback) -> str | None:
    """The platform's id for the student (AGS `userId`), if the platform still knows them."""
    platform_id = passback.resource_link.course.platform_id
    return (
        LtiIdentity.objects.filter(user_id=passback.user_id, platform_id=platform_id)
        .values_list("sub", flat=True)
        .first()
    )


def passback_send(*, passback_id: int, now: datetime) -> str | None:
    """Send one passback if it is due and not taken; the state it is left in, or None when
    this call did not claim it."""
    passback = passback_claim(passback_id=passback_id, now=now)
    if passback is None:
        return None
    states = (PassbackState.PENDING, PassbackState.SENDING, PassbackState.SENT)
    if _newer_grade_counts(passback=passback, states=states):
        _finish(passback=passback, state=PassbackState.SUPERSEDED, now=now)
        return PassbackState.SUPERSEDED
    if passback.tries > settings.LTI_PASSBACK_MAX_TRIES:  # its senders kept vanishing mid-send
        _finish(passback=passback, state=PassbackState.FAILED, now=now, error=passback.last_error or "no try finished")
        return PassbackState.FAILED
    link = passback.resource_link
    sub = _student_sub(passback=passback)
    if sub is None or not link.lineitem_url:
        problem = "the LMS no longer knows this student" if sub is None else "the link has no gradebook column now"
        _finish(passback=passback, state=PassbackState.FAILED, now=now, error=problem)
        return PassbackState.FAILED
    platform = link.course.platform
    if not platform.is_active:
        # Switched off by an administrator: nothing is sent to it, and nothing is lost.
        # The row waits, its tries uncounted, and goes once the platform is active again.
        until = now + timedelta(seconds=INACTIVE_PLATFORM_RECHECK_SECONDS)
        return _defer(passback=passback, until=until, reason="the platform is inactive here; waiting for it")
    if resting_until := _platform_resting_until(platform=platform, now=now):
        return _defer(passback=passback, until=resting_until)
    score = Score(
        user_id=sub,
        score_given=passback.score_given,
        score_maximum=passback.score_maximum,
        timestamp=passback.graded_at,
    )
    try:
        score_post(platform=platform, lineitem_url=link.lineitem_url, score=score, now=now)
    except PlatformRefused as exc:
        return _refused(passback=passback, error=exc, now=now)
    except PlatformUnavailable as exc:
        _platform_rest(platform=platform, now=now)
        return _failed_for_now(passback=passback, error=str(exc), now=now)
    except Exception as exc:
        # A bug on our side must not hold the row until its lease runs out: count it as
        # a failed try (retried with backoff, then failed), and say what broke.
        logger.exception("passback %s crashed", passback.pk)
        return _failed_for_now(passback=passback, error=f"{type(exc).__name__}: {exc}", now=now)
    _finish(passback=passback, state=PassbackState.SENT, now=now)
    return PassbackState.SENT


# A platform that did not take a score for a temporary reason (no answer, 429, 5xx) is
# left alone for one backoff: the other passbacks to it wait without a try, instead of
# each spending a worker on a timeout (workers grade code too) or adding to its load.
# Kept in the cache, per process without Redis; losing it costs only those tries.


def _rest_key(*, platform: Platform) -> str:
    # The token URL is part of it: a registration pointed elsewhere starts afresh.
    digest = hashlib.sha256(platform.auth_token_url.encode()).hexdigest()[:16]
    return f"lti:platform-resting:{platform.pk}:{digest}"


def _platform_rest(*, platform: Platform, now: datetime) -> None:
    seconds = settings.LTI_PASSBACK_RETRY_BACKOFF_SECONDS
    cache.set(_rest_key(platform=platform), now + timedelta(seconds=seconds), timeout=seconds + 5)


def _platform_resting_until(*, platform: Platform, now: datetime) -> datetime | None:
    until = cache.get(_rest_key(platform=platform))
    return until if isinstance(until, datetime) and until > now else None


def _defer(*, passback: Passback, until: datetime, reason: str = "") -> str:
    """Back to pending until `until`, without counting this try."""
    fields: dict[str, object] = {"last_error": reason} if reason else {}
    Passback.objects.filter(pk=passback.pk, state=PassbackState.SENDING, tries=passback.tries).update(
        state=PassbackState.PENDING, tries=F("tries") - 1, next_try_at=until, lease_expires_at=None, **fields
    )
    return PassbackState.PENDING


def _refused(*, passback: Passback, error: PlatformRefused, now: datetime) -> str:
    if error.status == 409 and _newer_grade_counts(passback=passback, states=(PassbackState.SENT,)):
        # The platform holds a newer score, sent by a try that overtook this one.
        _finish(passback=passback, state=PassbackState.SUPERSEDED, now=now, error=str(error))
        return PassbackState.SUPERSEDED
    logger.warning("passback %s refused by the LMS: %s", passback.pk, error)
    _finish(passback=passback, state=PassbackState.FAILED, now=now, error=str(error))
    return PassbackState.FAILED


def _failed_for_now(*, passback: Passback, error: str, now: datetime) -> str:
    if passback.tries >= settings.LTI_PASSBACK_MAX_TRIES:
        logger.error("passback %s: giving up after %s tries: %s", passback.pk, passback.tries, error)
        _finish(
            passback=passback,
            state=PassbackState.FAILED,
            now=now,
            error=f"gave up after {passback.tries} tries: {error}",
        )
        return PassbackState.FAILED
    logger.info("passback %s: try %s failed, retrying later: %s", passback.pk, passback.tries, error)
    _finish(passback=passback, state=PassbackState.PENDING, now=now, error=error)
    return PassbackState.PENDING


# --- Recovering and resending -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PassbackSweepReport:
    rung: int  # due passbacks whose message was sent (again)
    lost: int  # passbacks whose sender vanished past its lease, sent again


def passbacks_sweep(*, now: datetime, limit: int = 1000) -> PassbackSweepReport:
    """Ring the queue for what the database says is due: retries whose wait is over, rows
    whose message was lost, and rows whose sender vanished mid-send. Safe anywhere, any
    time: a duplicate message finds nothing to claim.

    For a pending row, lease_expires_at is when a message was last rung for it plus
    LTI_PASSBACK_REDELIVER_AFTER_SECONDS: until then the sweep leaves it to that message,
    so a slow queue does not fill up with copies of it."""
    rung = 0
    not_rung = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)
    due = Passback.objects.filter(not_rung, state=PassbackState.PENDING, next_try_at__lte=now)
    for passback_id in list(due.order_by("next_try_at").values_list("pk", flat=True)[:limit]):
        marked = Passback.objects.filter(not_rung, pk=passback_id, state=PassbackState.PENDING).update(
            lease_expires_at=now + _redeliver_after()
        )
        if marked == 1:
            rung += enqueue(task=SEND_PASSBACK_TASK, args=[passback_id])
    # A row whose sender vanished goes back to pending with a fresh redelivery lease, so
    # that the next sweeps leave it to this message instead of ringing again each time.
    # Its try stays counted: senders that keep vanishing end it as failed.
    lost_send = Q(state=PassbackState.SENDING, lease_expires_at__lt=now)
    lost = 0
    for passback_id in list(Passback.objects.filter(lost_send).values_list("pk", flat=True)[:limit]):
        reclaimed = Passback.objects.filter(lost_send, pk=passback_id).update(
            state=PassbackState.PENDING, next_try_at=now, lease_expires_at=now + _redeliver_after()
        )
        if reclaimed == 1:
            lost += enqueue(task=SEND_PASSBACK_TASK, args=[passback_id])
    if rung or lost:
        logger.info("passback sweep: %s due passback(s) rung, %s lost send(s) resent", rung, lost)
    return PassbackSweepReport(rung=rung, lost=lost)


def passback_resend(*, passback_id: int, now: datetime) -> bool:
    """Send a failed (or sent) passback again, with a fresh count of tries; False when it
    is in neither state. A newer grade of the same column still wins: the send then
    marks this one superseded."""
    resent = Passback.objects.filter(pk=passback_id, state__in=[PassbackState.FAILED, PassbackState.SENT]).update(
        state=PassbackState.PENDING,
        tries=0,
        next_try_at=now,
        lease_expires_at=now + _redeliver_after(),
        last_error="",
    )
    if resent != 1:
        return False
    enqueue_on_commit(task=SEND_PASSBACK_TASK, args=[passback_id])
    return True
