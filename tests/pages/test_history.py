"""The history page: the student's own quiz attempts and code submissions, newest first."""

from __future__ import annotations

from datetime import timedelta

from grader.models import Attempt
from tests.pages.helpers import attempt_for, submission_for


def test_it_lists_both_kinds_newest_first_with_links(student_client, student, other_student, make_quiz):
    first_quiz, second_quiz = make_quiz(title="Losses"), make_quiz(title="Metrics")
    older = attempt_for(student, first_quiz)
    newer = attempt_for(student, second_quiz)
    Attempt.objects.filter(pk=older.pk).update(started_at=newer.started_at - timedelta(minutes=5))
    attempt_for(other_student, first_quiz)
    first = submission_for(student, code="a = 1\n")
    second = submission_for(student, code="b = 2\n")
    theirs = submission_for(other_student)

    response = student_client.get("/history/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index(f'href="/attempts/{newer.pk}/"') < html.index(f'href="/attempts/{older.pk}/"')
    assert html.index(f'href="/submissions/{second.pk}/"') < html.index(f'href="/submissions/{first.pk}/"')
    assert html.count('href="/attempts/') == 2
    assert f'href="/submissions/{theirs.pk}/"' not in html
    assert "Square a number" in html
    assert "Waiting for a grader" in html


def test_an_empty_history_says_so(student_client):
    html = student_client.get("/history/").content.decode()
    assert "You have not attempted a quiz yet." in html
    assert "You have not submitted code yet." in html
