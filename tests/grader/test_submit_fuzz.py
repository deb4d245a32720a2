"""Property: whatever JSON a student sends to submit, the answer is 200 or a 4xx JSON
error, never a 500, and a refused submit writes nothing."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from grader.models import Attempt, AttemptAnswer, AttemptState

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def answer_entries(question_ids: list[int], choice_ids: list[int]):
    """Entries that look right: real ids mixed with foreign ones, in the right or wrong slot."""
    ids = st.sampled_from(question_ids) | st.integers(min_value=-5, max_value=10**6) | JSON_SCALARS
    choices = st.lists(st.sampled_from(choice_ids) | st.integers(min_value=-5, max_value=10**6), max_size=5)
    return st.fixed_dictionaries(
        {"question": ids},
        optional={"choices": choices | ANY_JSON, "value": st.floats(allow_nan=False, allow_infinity=False) | ANY_JSON},
    )


def valid_answers(questions):
    """A well-formed answer to a random subset of the questions, in random order."""

    def answer_for(question):
        if question.type == "numeric":
            return st.builds(lambda v: {"question": question.id, "value": v}, st.floats(-1e6, 1e6))
        ids = [c.id for c in question.choices.all()]
        size = 1 if question.type == "single" else len(ids)
        picked = st.lists(st.sampled_from(ids), unique=True, max_size=size)
        return st.builds(lambda c: {"question": question.id, "choices": c}, picked)

    subset = st.lists(st.sampled_from(questions), unique_by=lambda q: q.id)
    return subset.flatmap(lambda qs: st.tuples(*(answer_for(q) for q in qs)).map(list))


@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_it_never_fails_on_any_submit_body(student_api, quiz, data):
    questions = [qq.question for qq in quiz.quiz_questions.all()]
    question_ids = [q.id for q in questions]
    choice_ids = [c.id for q in questions for c in q.choices.all()]
    body = data.draw(
        st.fixed_dictionaries({"answers": valid_answers(questions)})
        | st.fixed_dictionaries({"answers": st.lists(answer_entries(question_ids, choice_ids), max_size=6)})
        | ANY_JSON
    )
    Attempt.objects.filter(quiz=quiz).delete()
    attempt_id = student_api.post(f"/api/v1/quizzes/{quiz.slug}/attempts/").json()["id"]

    response = student_api.post(
        f"/api/v1/attempts/{attempt_id}/submit/", data=json.dumps(body), content_type="application/json"
    )

    event(f"status {response.status_code}")
    assert response.status_code in (200, 400), response.content
    assert response["Content-Type"].startswith("application/json")
    attempt = Attempt.objects.get(id=attempt_id)
    if response.status_code == 400:
        assert response.json()["detail"]
        assert attempt.state == AttemptState.IN_PROGRESS
        assert not AttemptAnswer.objects.filter(attempt=attempt).exists()
    else:
        assert attempt.state == AttemptState.SUBMITTED
        assert AttemptAnswer.objects.filter(attempt=attempt).count() == len(questions)
