from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone

from grader.models import Attempt, AttemptAnswer, AttemptState
from questions.models import Quiz, QuizQuestion, RevealPolicy
from questions.services import bank_import
from tests.factories import QuestionFactory, QuizFactory

SEEDED_QUIZ_DIR = Path(__file__).resolve().parents[2] / "questions" / "bank" / "loss-functions-vs-metrics"


def start_url(quiz: Quiz) -> str:
    return f"/api/v1/quizzes/{quiz.slug}/attempts/"


def submit(api, attempt_id: int, answers: object, **kwargs):
    return api.post(f"/api/v1/attempts/{attempt_id}/submit/", {"answers": answers}, format="json", **kwargs)


def right_answers(quiz: Quiz) -> list[dict]:
    """The correct answer to every question of the quiz."""
    answers = []
    for qq in quiz.quiz_questions.select_related("question"):
        question = qq.question
        if question.type == "numeric":
            answers.append({"question": question.id, "value": question.numeric_answer})
        else:
            correct = [c.id for c in question.choices.all() if c.is_correct]
            answers.append({"question": question.id, "choices": correct})
    return answers


@pytest.fixture
def single_attempt(quiz) -> Quiz:
    """The quiz allowing one attempt each, so that its after-submit reveal is immediate."""
    Quiz.objects.filter(pk=quiz.pk).update(max_attempts=1)
    quiz.refresh_from_db()
    return quiz


@pytest.fixture
def started(student_api, quiz) -> dict:
    response = student_api.post(start_url(quiz))
    assert response.status_code == 201, response.json()
    return response.json()


# --- starting ------------------------------------------------------------------------


def test_it_starts_an_attempt(student_api, quiz):
    response = student_api.post(start_url(quiz))
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "in_progress"
    assert body["number"] == 1
    assert body["results"] == []
    assert len(body["questions"]) == 3
    assert Attempt.objects.get(id=body["id"]).user.username == "alice"


def test_it_sets_a_deadline_from_the_time_limit(student_api, make_quiz):
    quiz = make_quiz(time_limit_minutes=20)
    body = student_api.post(start_url(quiz)).json()
    attempt = Attempt.objects.get(id=body["id"])
    assert attempt.deadline_at == attempt.started_at + timedelta(minutes=20)


def test_it_caps_the_deadline_at_the_due_date(student_api, make_quiz):
    closes = timezone.now() + timedelta(minutes=5)
    quiz = make_quiz(time_limit_minutes=60, closes_at=closes)
    attempt = Attempt.objects.get(id=student_api.post(start_url(quiz)).json()["id"])
    assert attempt.deadline_at == closes


def test_it_refuses_a_second_attempt_while_one_is_open(student_api, quiz, started):
    response = student_api.post(start_url(quiz))
    assert response.status_code == 409
    assert response.json()["code"] == "attempt_in_progress"
    assert response.json()["attempt"] == started["id"]


def test_it_enforces_maximum_attempts(student_api, make_quiz):
    quiz = make_quiz(max_attempts=1)
    first = student_api.post(start_url(quiz)).json()
    submit(student_api, first["id"], [])
    response = student_api.post(start_url(quiz))
    assert response.status_code == 403
    assert response.json() == {
        "detail": "You have used all 1 attempt(s) allowed for this quiz.",
        "code": "max_attempts_reached",
    }


def test_it_refuses_before_opening_and_after_closing(student_api, make_quiz):
    now = timezone.now()
    early = make_quiz(opens_at=now + timedelta(hours=1))
    late = make_quiz(opens_at=now - timedelta(days=2), closes_at=now - timedelta(days=1))
    assert student_api.post(start_url(early)).json()["code"] == "quiz_not_open"
    response = student_api.post(start_url(late))
    assert response.status_code == 403
    assert response.json()["code"] == "quiz_closed"
    assert not Attempt.objects.exists()


def test_it_hides_unpublished_quizzes_when_starting(student_api, db):
    quiz = QuizFactory(is_published=False, questions=[QuestionFactory()])
    assert student_api.post(start_url(quiz)).status_code == 404


# --- submitting ----------------------------------------------------------------------


def test_it_scores_a_perfect_submission_with_explanations(student_api, quiz, single_attempt, started):
    response = submit(student_api, started["id"], right_answers(quiz))
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["score"], body["max_score"], body["revealed"]) == ("submitted", 4.0, 4.0, True)
    assert [r["correct"] for r in body["results"]] == [True, True, True]
    single = body["results"][0]
    assert single["explanation"] == "Because the first one is right."
    assert single["feedback"][0]["feedback"] == "About Right"
    assert body["results"][2]["correct_value"] == 0.952


def test_it_scores_wrong_and_unanswered_questions_zero(student_api, quiz, single_attempt, started):
    single = quiz.quiz_questions.get(position=0).question
    wrong = single.choices.get(is_correct=False, position=1)
    body = submit(student_api, started["id"], [{"question": single.id, "choices": [wrong.id]}]).json()
    assert body["score"] == 0
    assert [r["answered"] for r in body["results"]] == [True, False, False]
    assert body["results"][0]["correct_choices"] == [single.choices.get(is_correct=True).id]
    assert body["results"][0]["feedback"] == [{"choice": wrong.id, "feedback": "About Wrong"}]


def test_it_accepts_numeric_values_within_tolerance(student_api, quiz, started):
    numeric = quiz.quiz_questions.get(position=2).question
    body = submit(student_api, started["id"], [{"question": numeric.id, "value": 0.9523}]).json()
    assert body["score"] == 2.0


def test_it_refuses_a_second_submit(student_api, quiz, started):
    assert submit(student_api, started["id"], right_answers(quiz)).status_code == 200
    response = submit(student_api, started["id"], [])
    assert response.status_code == 409
    assert response.json()["code"] == "already_submitted"
    assert Attempt.objects.get(id=started["id"]).score == 4


def test_it_keeps_submitted_attempts_unchanged(student_api, quiz, started):
    submit(student_api, started["id"], right_answers(quiz))
    before = list(AttemptAnswer.objects.values())
    submit(student_api, started["id"], [])
    assert list(AttemptAnswer.objects.values()) == before


@pytest.mark.parametrize(
    ("answers", "field", "fragment"),
    [
        ([{"question": 999999, "choices": []}], "answers[0].question", "not part of this quiz"),
        ("not a list", "answers", "Expected a list"),
        ([{"question": "abc", "choices": []}], "answers[0].question", "valid integer"),
        ([{"choices": [1]}], "answers[0].question", "required"),
        ([{"question": 1}], "answers[0]", "either"),
        ([{"question": 1, "choices": [1], "value": 1.0}], "answers[0]", "either"),
        ([{"question": 1, "value": "abc"}], "answers[0].value", "valid number"),
        ([{"question": 1, "choices": "abc"}], "answers[0].choices", "Expected a list"),
        (["nope"], "answers[0]", "dictionary"),
    ],
)
def test_it_rejects_malformed_answers(student_api, started, answers, field, fragment):
    response = submit(student_api, started["id"], answers)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["errors"], body
    assert fragment in " ".join(body["errors"][field])
    assert fragment in body["detail"]


def _questions(quiz: Quiz):
    return [qq.question for qq in quiz.quiz_questions.order_by("position")]


def test_it_rejects_a_choice_from_another_question(student_api, quiz, started):
    single, multiple, _ = _questions(quiz)
    foreign = multiple.choices.first()
    body = submit(student_api, started["id"], [{"question": single.id, "choices": [foreign.id]}]).json()
    assert body["errors"] == {
        "answers[0].choices": [f"Choice {foreign.id} is not one of question {single.id}'s choices."]
    }


def test_it_rejects_answers_of_the_wrong_kind(student_api, quiz, started):
    single, _, numeric = _questions(quiz)
    body = submit(
        student_api,
        started["id"],
        [{"question": single.id, "value": 1.0}, {"question": numeric.id, "choices": [1]}],
    ).json()
    assert set(body["errors"]) == {"answers[0].value", "answers[1].choices"}


def test_it_rejects_two_choices_for_a_single_choice_question(student_api, quiz, started):
    single = _questions(quiz)[0]
    ids = list(single.choices.values_list("id", flat=True))[:2]
    response = submit(student_api, started["id"], [{"question": single.id, "choices": ids}])
    assert response.status_code == 400
    assert "takes a single choice" in response.json()["detail"]


def test_it_rejects_a_question_answered_twice(student_api, quiz, started):
    single = _questions(quiz)[0]
    answer = {"question": single.id, "choices": []}
    response = submit(student_api, started["id"], [answer, answer])
    assert response.json()["errors"] == {"answers[1].question": [f"Question {single.id} is answered more than once."]}


def test_it_writes_nothing_when_any_answer_is_invalid(student_api, quiz, started):
    answers = [*right_answers(quiz), {"question": 999999, "choices": []}]
    assert submit(student_api, started["id"], answers).status_code == 400
    attempt = Attempt.objects.get(id=started["id"])
    assert attempt.state == AttemptState.IN_PROGRESS
    assert attempt.score is None
    assert not AttemptAnswer.objects.exists()


def test_it_rejects_malformed_json(student_api, started):
    response = student_api.post(
        f"/api/v1/attempts/{started['id']}/submit/", data='{"answers": [', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_it_rejects_non_finite_numbers(student_api, quiz, started):
    numeric = _questions(quiz)[2]
    body = '{"answers": [{"question": ID, "value": NaN}]}'.replace("ID", str(numeric.id))
    response = student_api.post(f"/api/v1/attempts/{started['id']}/submit/", data=body, content_type="application/json")
    assert response.status_code == 400


def test_it_rejects_other_content_types(student_api, started):
    response = student_api.post(
        f"/api/v1/attempts/{started['id']}/submit/", data="answers=1", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


@override_settings(API_MAX_BODY_BYTES=2048)
def test_it_rejects_oversized_bodies(student_api, started):
    answers = [{"question": 1, "choices": list(range(1, 100))}] * 20
    response = submit(student_api, started["id"], answers)
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


def test_it_rejects_too_many_answers(student_api, started):
    response = submit(student_api, started["id"], [{"question": n, "choices": []} for n in range(1, 502)])
    assert response.status_code == 400
    assert "answers" in response.json()["errors"]


def test_it_refuses_submits_after_the_time_limit(student_api, make_quiz, settings):
    settings.QUIZ_SUBMIT_GRACE_SECONDS = 30
    quiz = make_quiz(time_limit_minutes=10)
    started = student_api.post(start_url(quiz)).json()
    Attempt.objects.filter(id=started["id"]).update(deadline_at=timezone.now() - timedelta(seconds=31))
    response = submit(student_api, started["id"], right_answers(quiz))
    assert response.status_code == 409
    assert response.json()["code"] == "time_limit_exceeded"
    assert Attempt.objects.get(id=started["id"]).state == AttemptState.IN_PROGRESS


def test_it_accepts_submits_within_the_grace_period(student_api, make_quiz, settings):
    settings.QUIZ_SUBMIT_GRACE_SECONDS = 30
    quiz = make_quiz(time_limit_minutes=10)
    started = student_api.post(start_url(quiz)).json()
    Attempt.objects.filter(id=started["id"]).update(deadline_at=timezone.now() - timedelta(seconds=5))
    assert submit(student_api, started["id"], right_answers(quiz)).status_code == 200


# --- reveal policy -------------------------------------------------------------------


HIDDEN = ("correct", "score", "max_score", "correct_choices", "correct_value", "explanation", "feedback", "readings")


def test_it_hides_correctness_when_the_policy_says_never(student_api, make_quiz):
    quiz = make_quiz(reveal=RevealPolicy.NEVER)
    started = student_api.post(start_url(quiz)).json()
    body = submit(student_api, started["id"], right_answers(quiz)).json()
    assert body["revealed"] is False
    assert body["score"] == 4.0
    for result in body["results"]:
        assert all(result[key] is None for key in HIDDEN)
    assert student_api.get(f"/api/v1/attempts/{started['id']}/").json()["revealed"] is False


def test_it_reveals_after_the_due_date_and_its_grace_period(student_api, make_quiz, settings):
    settings.QUIZ_SUBMIT_GRACE_SECONDS = 30
    quiz = make_quiz(reveal=RevealPolicy.AFTER_DUE, closes_at=timezone.now() + timedelta(hours=1))
    started = student_api.post(start_url(quiz)).json()
    assert submit(student_api, started["id"], right_answers(quiz)).json()["revealed"] is False
    # Just past the due date others may still submit late: answers stay hidden.
    Quiz.objects.filter(id=quiz.id).update(closes_at=timezone.now() - timedelta(seconds=10))
    assert student_api.get(f"/api/v1/attempts/{started['id']}/").json()["revealed"] is False
    Quiz.objects.filter(id=quiz.id).update(closes_at=timezone.now() - timedelta(seconds=31))
    body = student_api.get(f"/api/v1/attempts/{started['id']}/").json()
    assert body["revealed"] is True
    assert body["results"][0]["explanation"] == "Because the first one is right."


def test_after_submit_with_retries_reveals_only_after_the_last_allowed_attempt(
    student_api, other_student_api, make_quiz
):
    quiz = make_quiz(reveal=RevealPolicy.AFTER_SUBMIT, max_attempts=3)
    ids = []
    for _ in range(2):
        ids.append(student_api.post(start_url(quiz)).json()["id"])
        body = submit(student_api, ids[-1], right_answers(quiz)).json()
        assert body["revealed"] is False  # a next attempt could copy them
        assert all(result[key] is None for result in body["results"] for key in HIDDEN)
    ids.append(student_api.post(start_url(quiz)).json()["id"])
    assert student_api.get(f"/api/v1/attempts/{ids[0]}/").json()["revealed"] is False  # the third is open
    body = submit(student_api, ids[-1], right_answers(quiz)).json()
    assert body["revealed"] is True
    assert body["results"][0]["explanation"] == "Because the first one is right."
    assert student_api.get(f"/api/v1/attempts/{ids[0]}/").json()["revealed"] is True
    # Another student's attempts are counted for them alone.
    theirs = other_student_api.post(start_url(quiz)).json()["id"]
    assert submit(other_student_api, theirs, right_answers(quiz)).json()["revealed"] is False


def test_the_seeded_quiz_keeps_its_answers_until_the_last_of_its_attempts(student_api, db):
    bank_import(paths=[SEEDED_QUIZ_DIR])
    quiz = Quiz.objects.get(slug="loss-functions-vs-metrics")
    assert (quiz.reveal, quiz.max_attempts) == (RevealPolicy.AFTER_SUBMIT, 3)
    revealed = []
    for _ in range(3):
        attempt = student_api.post(start_url(quiz)).json()["id"]
        revealed.append(submit(student_api, attempt, right_answers(quiz)).json()["revealed"])
    assert revealed == [False, False, True]


def test_after_submit_with_retries_reveals_after_the_due_date_and_its_grace_period(student_api, make_quiz, settings):
    settings.QUIZ_SUBMIT_GRACE_SECONDS = 30
    quiz = make_quiz(reveal=RevealPolicy.AFTER_SUBMIT, max_attempts=3, closes_at=timezone.now() + timedelta(hours=1))
    started = student_api.post(start_url(quiz)).json()
    assert submit(student_api, started["id"], right_answers(quiz)).json()["revealed"] is False
    Quiz.objects.filter(id=quiz.id).update(closes_at=timezone.now() - timedelta(seconds=10))
    assert student_api.get(f"/api/v1/attempts/{started['id']}/").json()["revealed"] is False
    Quiz.objects.filter(id=quiz.id).update(closes_at=timezone.now() - timedelta(seconds=31))
    assert student_api.get(f"/api/v1/attempts/{started['id']}/").json()["revealed"] is True


def test_after_submit_with_unlimited_attempts_and_no_due_date_never_reveals(student_api, instructor_api, make_quiz):
    quiz = make_quiz(reveal=RevealPolicy.AFTER_SUBMIT, max_attempts=None)
    started = student_api.post(start_url(quiz)).json()
    assert submit(student_api, started["id"], right_answers(quiz)).json()["revealed"] is False
    assert instructor_api.get(f"/api/v1/attempts/{started['id']}/").json()["revealed"] is True


def test_after_submit_with_a_single_attempt_reveals_at_once(student_api, make_quiz):
    quiz = make_quiz(reveal=RevealPolicy.AFTER_SUBMIT, max_attempts=1)
    started = student_api.post(start_url(quiz)).json()
    assert submit(student_api, started["id"], right_answers(quiz)).json()["revealed"] is True


def test_it_reveals_to_instructors_regardless_of_policy(student_api, instructor_api, make_quiz):
    quiz = make_quiz(reveal=RevealPolicy.NEVER)
    started = student_api.post(start_url(quiz)).json()
    submit(student_api, started["id"], right_answers(quiz))
    assert instructor_api.get(f"/api/v1/attempts/{started['id']}/").json()["revealed"] is True


def test_it_reveals_nothing_while_in_progress(student_api, started):
    body = student_api.get(f"/api/v1/attempts/{started['id']}/").json()
    assert (body["revealed"], body["results"]) == (False, [])


# --- shuffling -----------------------------------------------------------------------


def test_it_shuffles_stably_per_attempt(student_api, other_student_api, db):
    questions = [QuestionFactory(choices=[(f"c{i}", i == 0) for i in range(6)]) for _ in range(8)]
    quiz = QuizFactory(questions=questions, shuffle_questions=True, shuffle_choices=True)
    orders = []
    for api in (student_api, other_student_api):
        started = api.post(start_url(quiz)).json()
        again = api.get(f"/api/v1/attempts/{started['id']}/").json()
        assert again["questions"] == started["questions"]
        orders.append([q["id"] for q in started["questions"]])
        assert sorted(orders[-1]) == sorted(q.id for q in questions)
    canonical = [q.id for q in questions]
    # 8! orders: the chance that both attempts match the authored order is negligible.
    assert orders[0] != canonical or orders[1] != canonical


# --- who sees what -------------------------------------------------------------------


def test_it_shows_an_attempt_to_its_owner_and_instructors_only(
    student_api, other_student_api, instructor_api, anon_api, started
):
    url = f"/api/v1/attempts/{started['id']}/"
    assert student_api.get(url).status_code == 200
    assert instructor_api.get(url).json()["user"] == "alice"
    assert other_student_api.get(url).status_code == 404
    assert other_student_api.get(url).json()["detail"] == f"There is no attempt {started['id']}."
    assert anon_api.get(url).status_code == 401


def test_it_lets_only_the_owner_submit(other_student_api, instructor_api, anon_api, quiz, started):
    for api, status in ((other_student_api, 404), (instructor_api, 404), (anon_api, 401)):
        assert submit(api, started["id"], right_answers(quiz)).status_code == status
    assert Attempt.objects.get(id=started["id"]).state == AttemptState.IN_PROGRESS


def test_it_lists_every_attempt_for_instructors(student_api, other_student_api, instructor_api, quiz):
    student_api.post(start_url(quiz))
    other_student_api.post(start_url(quiz))
    everyone = instructor_api.get(start_url(quiz)).json()
    assert {a["user"] for a in everyone["results"]} == {"alice", "bob"}
    own = student_api.get(start_url(quiz)).json()
    assert [a["user"] for a in own["results"]] == ["alice"]


def test_it_answers_404_for_unknown_attempts(student_api, db):
    assert student_api.get("/api/v1/attempts/424242/").status_code == 404


# --- what an attempt keeps when the quiz is edited ------------------------------------


def test_it_keeps_a_submitted_attempt_when_the_quiz_is_edited(student_api, quiz, single_attempt, started):
    single = _questions(quiz)[0]
    right = single.choices.get(is_correct=True)
    submit(student_api, started["id"], right_answers(quiz))
    before = student_api.get(f"/api/v1/attempts/{started['id']}/").json()

    # The instructor moves the correct flag, changes points and adds a question.
    single.choices.update(is_correct=False)
    single.choices.filter(position=1).update(is_correct=True)
    type(single).objects.filter(id=single.id).update(points=5)
    QuizQuestion.objects.create(quiz=quiz, question=QuestionFactory(), position=9)

    after = student_api.get(f"/api/v1/attempts/{started['id']}/").json()
    assert after["score"] == before["score"] == 4.0
    assert [q["id"] for q in after["questions"]] == [q["id"] for q in before["questions"]]
    assert after["results"][0]["correct"] is True
    assert after["results"][0]["correct_choices"] == [right.id]
    assert after["questions"][0]["points"] == 1.0


def test_it_keeps_an_open_attempts_questions_when_the_quiz_changes(student_api, quiz, started):
    QuizQuestion.objects.create(quiz=quiz, question=QuestionFactory(), position=9)
    body = submit(student_api, started["id"], right_answers(quiz)[:3]).json()
    assert len(body["results"]) == 3
    assert (body["score"], body["max_score"]) == (4.0, 4.0)


def test_it_uses_points_set_for_the_quiz(student_api, quiz):
    QuizQuestion.objects.filter(quiz=quiz, position=0).update(points=10)
    started = student_api.post(start_url(quiz)).json()
    assert started["max_score"] == 13.0
    assert started["questions"][0]["points"] == 10.0
    assert submit(student_api, started["id"], right_answers(quiz)).json()["score"] == 13.0


def test_it_rejects_booleans_as_numbers(student_api, quiz, started):
    numeric = _questions(quiz)[2]
    response = submit(student_api, started["id"], [{"question": numeric.id, "value": True}])
    assert response.status_code == 400
    assert "answers[0].value" in response.json()["errors"]
