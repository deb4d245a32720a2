from __future__ import annotations

from decimal import Decimal

from grader.gradebook import gradebook_rows
from grader.services import SubmittedAnswer, attempt_start, attempt_submit


def _take(quiz, user, *, right: bool):
    attempt = attempt_start(quiz=quiz, user=user)
    single = quiz.quiz_questions.get(position=0).question
    choice = single.choices.get(is_correct=right, position=0 if right else 1)
    return attempt_submit(attempt=attempt, answers=[SubmittedAnswer(question_id=single.id, choice_ids=[choice.id])])


def test_it_reports_best_and_latest_scores_per_student(student, other_student, quiz):
    _take(quiz, student, right=True)
    _take(quiz, student, right=False)
    _take(quiz, other_student, right=False)
    rows = {row.username: row for row in gradebook_rows(quizzes=[quiz])}
    assert set(rows) == {"alice", "bob"}
    alice = rows["alice"]
    assert (alice.attempts, alice.best_score, alice.latest_score, alice.max_score) == (
        2, Decimal(1), Decimal(0), Decimal(4),
    )  # fmt: skip


def test_it_leaves_out_instructors_trying_their_quiz(student, instructor, quiz):
    _take(quiz, student, right=True)
    _take(quiz, instructor, right=True)
    assert [row.username for row in gradebook_rows(quizzes=[quiz])] == ["alice"]


def test_it_leaves_out_attempts_still_in_progress(student, quiz):
    attempt_start(quiz=quiz, user=student)
    assert list(gradebook_rows(quizzes=[quiz])) == []
