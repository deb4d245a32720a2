from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from config.errors import ServiceError
from grader.models import Attempt, AttemptAnswer, AttemptState
from grader.services import SubmittedAnswer, attempt_start, attempt_submit, attempts_expire_overdue


def race(action: Callable[[], object], *, threads: int = 4) -> list[object]:
    """Run `action` in several threads released at the same moment; collect results or errors."""
    barrier = threading.Barrier(threads)
    outcomes: list[object] = []

    def run() -> None:
        barrier.wait()
        try:
            outcomes.append(action())
        except ServiceError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_it_scores_a_submit_race_exactly_once(student, quiz):
    attempt = attempt_start(quiz=quiz, user=student)
    single = quiz.quiz_questions.get(position=0).question
    answers = [SubmittedAnswer(question_id=single.id, choice_ids=[single.choices.get(is_correct=True).id])]

    outcomes = race(lambda: attempt_submit(attempt=Attempt.objects.get(id=attempt.id), answers=answers))

    assert sum(isinstance(o, Attempt) for o in outcomes) == 1
    assert sorted(o for o in outcomes if isinstance(o, str)) == ["already_submitted"] * 3
    assert AttemptAnswer.objects.filter(attempt=attempt).count() == 3
    assert Attempt.objects.get(id=attempt.id).score == 1


@pytest.mark.django_db(transaction=True)
def test_it_starts_one_attempt_when_starts_race(student, quiz):
    outcomes = race(lambda: attempt_start(quiz=quiz, user=student))
    assert sum(isinstance(o, Attempt) for o in outcomes) == 1
    assert {o for o in outcomes if isinstance(o, str)} <= {"attempt_in_progress"}
    assert Attempt.objects.filter(user=student).count() == 1


def test_it_expires_overdue_attempts_once(student, other_student, make_quiz, settings):
    settings.QUIZ_SUBMIT_GRACE_SECONDS = 0
    quiz = make_quiz(time_limit_minutes=5)
    overdue = attempt_start(quiz=quiz, user=student)
    current = attempt_start(quiz=quiz, user=other_student)
    Attempt.objects.filter(id=overdue.id).update(deadline_at=timezone.now() - timedelta(minutes=1))

    assert attempts_expire_overdue(now=timezone.now()) == 1
    assert attempts_expire_overdue(now=timezone.now()) == 0
    overdue.refresh_from_db()
    assert (overdue.state, overdue.score, overdue.submitted_at) == (AttemptState.EXPIRED, 0, None)
    current.refresh_from_db()
    assert current.state == AttemptState.IN_PROGRESS


def test_it_lets_a_student_restart_after_an_unsubmitted_attempt_ran_out(student, make_quiz, settings):
    settings.QUIZ_SUBMIT_GRACE_SECONDS = 0
    quiz = make_quiz(time_limit_minutes=5, max_attempts=2)
    first = attempt_start(quiz=quiz, user=student)
    Attempt.objects.filter(id=first.id).update(deadline_at=timezone.now() - timedelta(seconds=1))
    second = attempt_start(quiz=quiz, user=student)
    assert second.number == 2
    first.refresh_from_db()
    assert first.state == AttemptState.EXPIRED
    with pytest.raises(ServiceError) as refused:
        attempt_submit(attempt=first, answers=[])
    assert refused.value.code == "time_limit_exceeded"


def test_it_does_not_expire_attempts_without_a_deadline(student, quiz):
    attempt = attempt_start(quiz=quiz, user=student)
    assert attempt.deadline_at is None
    assert attempts_expire_overdue(now=timezone.now() + timedelta(days=365)) == 0


def test_it_says_time_is_up_when_the_sweep_ended_the_attempt_first(student, make_quiz):
    quiz = make_quiz(time_limit_minutes=5)
    stale = attempt_start(quiz=quiz, user=student)
    # The sweep ends it between the request loading the attempt and claiming it.
    Attempt.objects.filter(id=stale.id).update(state=AttemptState.EXPIRED, ended_at=timezone.now(), score=0)
    with pytest.raises(ServiceError) as refused:
        attempt_submit(attempt=stale, answers=[])
    assert refused.value.code == "time_limit_exceeded"
    assert not AttemptAnswer.objects.exists()


def test_it_names_the_open_attempt_when_a_start_loses_a_race(student, quiz):
    first = attempt_start(quiz=quiz, user=student)
    with pytest.raises(ServiceError) as refused:
        attempt_start(quiz=quiz, user=student)
    assert refused.value.extra == {"attempt": first.id}
