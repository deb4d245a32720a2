"""The home, quiz and attempt pages: starting, answering, submitting, and what a
submitted attempt shows under each reveal policy."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from grader.models import Attempt, AttemptAnswer, AttemptState
from questions.models import Question, QuestionType, Quiz, RevealPolicy
from tests.factories import QuestionFactory, QuizFactory
from tests.pages.helpers import attempt_for


def questions_of(quiz: Quiz) -> dict[str, Question]:
    """The quiz's questions by type: single, multiple and numeric (see the `quiz` fixture)."""
    return {qq.question.type: qq.question for qq in quiz.quiz_questions.select_related("question")}


def right_answers(quiz: Quiz) -> dict[str, object]:
    form: dict[str, object] = {}
    for question in questions_of(quiz).values():
        name = f"question-{question.id}"
        if question.type == QuestionType.NUMERIC:
            form[name] = str(question.numeric_answer)
        else:
            form[name] = [str(c.id) for c in question.choices.all() if c.is_correct]
    return form


def wrong_answers(quiz: Quiz) -> dict[str, object]:
    single = questions_of(quiz)[QuestionType.SINGLE]
    wrong = single.choices.get(text="Wrong")
    return {f"question-{single.id}": str(wrong.id)}


def started(client, quiz: Quiz) -> Attempt:
    response = client.post(f"/quizzes/{quiz.slug}/")
    assert response.status_code == 302, response.content
    attempt = Attempt.objects.get(quiz=quiz, state=AttemptState.IN_PROGRESS)
    assert response["Location"] == f"/attempts/{attempt.pk}/"
    return attempt


def page(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.content
    return response.content.decode()


# --- home and quiz pages -----------------------------------------------------------------


def test_home_lists_what_the_student_may_see(student_client, quiz, db):
    hidden = QuizFactory(title="Draft quiz", is_published=False, questions=[QuestionFactory()])
    html = page(student_client, "/")
    assert f'href="/quizzes/{quiz.slug}/"' in html
    assert quiz.title in html
    assert hidden.title not in html


def test_the_quiz_page_renders_its_description_and_offers_a_start(student_client, make_quiz):
    make_quiz(slug="intro", description="Read the **notes** first.\n\n<script>alert(1)</script>")
    html = page(student_client, "/quizzes/intro/")
    assert "Read the <strong>notes</strong> first." in html
    assert "<script>alert(1)</script>" not in html
    assert "Start the quiz" in html
    assert "You have not attempted this quiz yet." in html


def test_an_unpublished_or_unknown_quiz_is_not_found(student_client, db):
    QuizFactory(slug="draft", is_published=False, questions=[QuestionFactory()])
    assert 'role="alert"' in page(student_client, "/quizzes/draft/", status=404)
    page(student_client, "/quizzes/nope/", status=404)
    assert student_client.post("/quizzes/draft/").status_code == 404
    assert not Attempt.objects.exists()


def test_starting_opens_the_attempt_and_the_quiz_page_then_offers_to_continue(student_client, quiz):
    attempt = started(student_client, quiz)
    assert attempt.user.username == "alice"
    html = page(student_client, f"/quizzes/{quiz.slug}/")
    assert f'href="/attempts/{attempt.pk}/">Continue attempt 1</a>' in html


def test_a_refused_start_is_the_page_again_with_the_reason(student_client, make_quiz):
    quiz = make_quiz(max_attempts=1)
    attempt = started(student_client, quiz)
    student_client.post(f"/attempts/{attempt.pk}/", {})
    response = student_client.post(f"/quizzes/{quiz.slug}/")
    assert response.status_code == 403
    html = response.content.decode()
    assert re.search(r'role="alert"[^>]*>You have used all 1 attempt\(s\) allowed for this quiz\.', html)
    assert Attempt.objects.filter(quiz=quiz).count() == 1


def test_a_closed_quiz_refuses_to_start(student_client, make_quiz):
    now = timezone.now()
    quiz = make_quiz(opens_at=now - timedelta(days=2), closes_at=now - timedelta(days=1))
    response = student_client.post(f"/quizzes/{quiz.slug}/")
    assert response.status_code == 403
    assert "This quiz closed at" in response.content.decode()
    assert not Attempt.objects.exists()


# --- the attempt form -------------------------------------------------------------------


def test_the_attempt_form_has_one_labelled_control_per_answer(student_client, make_quiz):
    quiz = make_quiz(time_limit_minutes=20)
    attempt = started(student_client, quiz)
    html = page(student_client, f"/attempts/{attempt.pk}/")
    by_type = questions_of(quiz)
    assert html.count("<fieldset") == 3
    assert html.count("<legend>") == 3
    assert "<strong>Pick one.</strong>" in html  # the prompt, rendered from Markdown
    for choice in by_type[QuestionType.SINGLE].choices.all():
        assert f'type="radio" id="choice-{choice.id}"' in html
        assert f'<label for="choice-{choice.id}">{choice.text}</label>' in html
    for choice in by_type[QuestionType.MULTIPLE].choices.all():
        assert f'type="checkbox" id="choice-{choice.id}"' in html
    numeric = by_type[QuestionType.NUMERIC]
    assert f'<label for="answer-{numeric.id}">' in html
    assert f'type="number" step="any" inputmode="decimal" id="answer-{numeric.id}"' in html
    assert "Submit by <time" in html  # the deadline


def test_answering_everything_right_shows_full_marks_and_explanations(student_client, quiz):
    Quiz.objects.filter(pk=quiz.pk).update(max_attempts=1)  # after-submit reveals at once
    attempt = started(student_client, quiz)
    response = student_client.post(f"/attempts/{attempt.pk}/", right_answers(quiz))
    assert response.status_code == 302
    assert response["Location"] == f"/attempts/{attempt.pk}/"
    attempt.refresh_from_db()
    assert (attempt.state, attempt.score) == (AttemptState.SUBMITTED, 4)
    html = page(student_client, f"/attempts/{attempt.pk}/")
    assert "Score: <strong>4 / 4</strong>" in html
    assert len(re.findall(r'class="verdict correct">\s*Correct', html)) == 3
    assert "Because the first one is right." in html  # the explanation
    assert "About Right" in html  # the picked choice's feedback
    assert "<dt>Correct answer</dt><dd>0.952</dd>" in html
    assert 'name="question-' not in html  # no answer form any more


def test_wrong_answers_score_zero_and_show_the_right_ones(student_client, quiz):
    Quiz.objects.filter(pk=quiz.pk).update(max_attempts=1)  # after-submit reveals at once
    attempt = started(student_client, quiz)
    student_client.post(f"/attempts/{attempt.pk}/", wrong_answers(quiz))
    html = page(student_client, f"/attempts/{attempt.pk}/")
    assert "Score: <strong>0 / 4</strong>" in html
    assert re.search(r'class="verdict incorrect">\s*Incorrect', html)
    assert html.count("Not answered") == 2
    assert "correct answer</span>" in html
    assert "About Wrong" in html


@pytest.mark.parametrize(
    "fields",
    [
        {"reveal": RevealPolicy.NEVER},
        {"reveal": RevealPolicy.AFTER_DUE, "closes_at": timezone.now() + timedelta(days=1)},
    ],
    ids=["never", "after-due-before-the-due-date"],
)
def test_the_reveal_policy_hides_correctness_as_the_api_does(student_client, student_api, make_quiz, fields):
    quiz = make_quiz(**fields)
    attempt = started(student_client, quiz)
    student_client.post(f"/attempts/{attempt.pk}/", wrong_answers(quiz))
    html = page(student_client, f"/attempts/{attempt.pk}/")
    assert "Score: <strong>0 / 4</strong>" in html
    assert "your answer</span>" in html  # the student's own pick is theirs to see
    for secret in ("correct answer", "Correct answer", "Because the first one is right.", "About Wrong", "0.952"):
        assert secret not in html, secret
    assert not re.search(r"\b(Correct|Incorrect)\b", html)
    assert "does not show which answers were correct" in html or "shown after the due date" in html
    api = student_api.get(f"/api/v1/attempts/{attempt.pk}/").json()
    assert api["revealed"] is False
    assert all(result["correct"] is None for result in api["results"])


def test_a_quiz_with_retries_shows_the_answers_after_the_last_attempt_as_the_api_does(
    student_client, student_api, make_quiz
):
    quiz = make_quiz(reveal=RevealPolicy.AFTER_SUBMIT, max_attempts=2)
    assert "Correct answers shown: once you have used all 2 attempts</li>" in page(
        student_client, f"/quizzes/{quiz.slug}/"
    )
    first = started(student_client, quiz)
    student_client.post(f"/attempts/{first.pk}/", wrong_answers(quiz))
    html = page(student_client, f"/attempts/{first.pk}/")
    assert "Which answers were correct is shown once you have used all 2 attempts" in html
    for secret in ("correct answer", "Because the first one is right.", "About Wrong", "0.952"):
        assert secret not in html, secret
    assert student_api.get(f"/api/v1/attempts/{first.pk}/").json()["revealed"] is False
    second = started(student_client, quiz)
    student_client.post(f"/attempts/{second.pk}/", wrong_answers(quiz))
    for attempt in (first, second):
        html = page(student_client, f"/attempts/{attempt.pk}/")
        assert "correct answer</span>" in html
        assert "About Wrong" in html
        assert student_api.get(f"/api/v1/attempts/{attempt.pk}/").json()["revealed"] is True


def test_a_quiz_with_unlimited_attempts_and_no_due_date_says_it_shows_no_answers(student_client, make_quiz):
    quiz = make_quiz(reveal=RevealPolicy.AFTER_SUBMIT, max_attempts=None)
    assert "Correct answers shown: never (unlimited attempts and no due date)" in page(
        student_client, f"/quizzes/{quiz.slug}/"
    )
    attempt = started(student_client, quiz)
    student_client.post(f"/attempts/{attempt.pk}/", wrong_answers(quiz))
    html = page(student_client, f"/attempts/{attempt.pk}/")
    assert "does not show which answers were correct: it allows unlimited attempts and has no due date" in html
    assert "correct answer</span>" not in html


def test_instructors_see_the_answers_of_a_never_revealing_quiz(student_client, instructor_client, make_quiz):
    quiz = make_quiz(reveal=RevealPolicy.NEVER)
    attempt = started(student_client, quiz)
    student_client.post(f"/attempts/{attempt.pk}/", wrong_answers(quiz))
    html = page(instructor_client, f"/attempts/{attempt.pk}/")
    assert "Attempt by alice" in html
    assert "correct answer</span>" in html


# --- refusals ---------------------------------------------------------------------------


def assert_nothing_written(attempt: Attempt) -> None:
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.IN_PROGRESS
    assert attempt.score is None
    assert not AttemptAnswer.objects.filter(attempt=attempt).exists()


def test_a_choice_of_another_question_is_refused_with_400_and_nothing_written(student_client, quiz):
    attempt = started(student_client, quiz)
    by_type = questions_of(quiz)
    single, multiple = by_type[QuestionType.SINGLE], by_type[QuestionType.MULTIPLE]
    foreign = multiple.choices.first()
    response = student_client.post(
        f"/attempts/{attempt.pk}/",
        {f"question-{single.id}": str(foreign.id), f"question-{multiple.id}": [str(foreign.id)]},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html
    assert f"Choice {foreign.id} is not one of question {single.id}&#x27;s choices." in html
    assert f'href="#question-{single.id}">Question 1</a>' in html
    # The form keeps what was sent.
    assert re.search(rf'id="choice-{foreign.id}"\s+name="question-{multiple.id}" value="{foreign.id}" checked>', html)
    assert_nothing_written(attempt)


@pytest.mark.parametrize("value", ["twelve", "1,5", "0x10"])
def test_a_number_that_is_not_one_is_refused_with_400(student_client, quiz, value):
    attempt = started(student_client, quiz)
    numeric = questions_of(quiz)[QuestionType.NUMERIC]
    response = student_client.post(f"/attempts/{attempt.pk}/", {f"question-{numeric.id}": value})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a number" in html
    assert f'value="{value}"' in html
    assert 'aria-invalid="true"' in html
    assert_nothing_written(attempt)


@pytest.mark.parametrize("value", ["nan", "inf", "1e999"])
def test_a_number_that_is_not_finite_is_refused_by_the_service_with_400(student_client, quiz, value):
    attempt = started(student_client, quiz)
    numeric = questions_of(quiz)[QuestionType.NUMERIC]
    response = student_client.post(f"/attempts/{attempt.pk}/", {f"question-{numeric.id}": value})
    assert response.status_code == 400
    assert "The value must be a finite number." in response.content.decode()
    assert_nothing_written(attempt)


def test_a_choice_that_is_not_an_id_is_refused_with_400(student_client, quiz):
    attempt = started(student_client, quiz)
    single = questions_of(quiz)[QuestionType.SINGLE]
    response = student_client.post(f"/attempts/{attempt.pk}/", {f"question-{single.id}": "first"})
    assert response.status_code == 400
    assert "not one of this question" in response.content.decode()
    assert_nothing_written(attempt)


def test_two_picks_on_a_single_choice_question_are_refused(student_client, quiz):
    attempt = started(student_client, quiz)
    single = questions_of(quiz)[QuestionType.SINGLE]
    both = [str(c.id) for c in single.choices.all()[:2]]
    response = student_client.post(f"/attempts/{attempt.pk}/", {f"question-{single.id}": both})
    assert response.status_code == 400
    assert "takes a single choice" in response.content.decode()
    assert_nothing_written(attempt)


def test_a_second_submit_is_a_409_and_changes_nothing(student_client, quiz):
    attempt = started(student_client, quiz)
    student_client.post(f"/attempts/{attempt.pk}/", right_answers(quiz))
    response = student_client.post(f"/attempts/{attempt.pk}/", wrong_answers(quiz))
    assert response.status_code == 409
    html = response.content.decode()
    assert re.search(r'role="alert"[^>]*>\s*<p>This attempt was already submitted\.', html)
    assert "Score: <strong>4 / 4</strong>" in html
    attempt.refresh_from_db()
    assert attempt.score == 4


def test_a_submit_after_the_time_is_up_is_a_409(student_client, make_quiz, settings):
    settings.QUIZ_SUBMIT_GRACE_SECONDS = 0
    quiz = make_quiz(time_limit_minutes=1)
    attempt = started(student_client, quiz)
    Attempt.objects.filter(pk=attempt.pk).update(deadline_at=timezone.now() - timedelta(seconds=5))
    html = page(student_client, f"/attempts/{attempt.pk}/")
    assert "The time for this attempt is up" in html
    response = student_client.post(f"/attempts/{attempt.pk}/", right_answers(quiz))
    assert response.status_code == 409
    assert "it can no longer be submitted" in response.content.decode()
    assert_nothing_written(attempt)
    # The quiz page offers a new attempt rather than the one whose time ran out.
    assert "Start a new attempt" in page(student_client, f"/quizzes/{quiz.slug}/")


def test_another_students_attempt_is_not_found(student_client, other_student_client, other_student, quiz):
    theirs = attempt_for(other_student, quiz)
    assert 'role="alert"' in page(student_client, f"/attempts/{theirs.pk}/", status=404)
    assert student_client.post(f"/attempts/{theirs.pk}/", right_answers(quiz)).status_code == 404
    assert_nothing_written(theirs)
    page(student_client, "/attempts/999999/", status=404)


def test_instructors_read_a_students_attempt_but_cannot_answer_it(instructor_client, student, quiz):
    attempt = attempt_for(student, quiz)
    html = page(instructor_client, f"/attempts/{attempt.pk}/")
    assert "This attempt is still in progress." in html
    assert 'name="question-' not in html
    assert instructor_client.post(f"/attempts/{attempt.pk}/", right_answers(quiz)).status_code == 404
    assert_nothing_written(attempt)
