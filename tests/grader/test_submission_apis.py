from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from grader.models import GradingJob, JobState, Submission
from grader.submission_apis import SubmissionThrottle
from questions.models import Exercise, ExerciseKey, KeyStatus
from tests.exercises import SQUARE, make_exercise


def submit_url(slug: str = "square") -> str:
    return f"/api/v1/exercises/{slug}/submissions/"


@pytest.fixture(autouse=True)
def _fresh_throttle_counts() -> None:
    cache.clear()


@pytest.fixture
def exercise(db: None) -> Exercise:
    return make_exercise()


def test_it_accepts_code_with_202_and_a_queued_job(student_api, exercise, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = student_api.post(submit_url(), {"code": "def square(x):\n    return x * x\n"}, format="json")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "queued"
    assert body["score"] is None
    assert body["max_score"] == 5
    assert body["checks"] == []
    submission = Submission.objects.get(pk=body["id"])
    assert submission.user.username == "alice"
    [job] = submission.jobs.all()
    assert (job.attempt, job.state) == (1, JobState.QUEUED)
    assert len(callbacks) == 1  # the doorbell rings only once the rows are committed


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({}, "code"),
        ({"code": ""}, "code"),
        ({"code": "   \n"}, "empty"),
        ({"code": 42}, "code"),
        ({"code": ["def f(): pass"]}, "code"),
        ({"code": None}, "code"),
        ({"code": "x = 1\x00"}, "Null characters"),
        ({"code": "#" * (64 * 1024 + 1)}, "at most 65536"),
    ],
)
def test_it_refuses_bad_code_with_a_json_400_and_writes_nothing(student_api, exercise, payload, fragment):
    response = student_api.post(submit_url(), payload, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert fragment in body["detail"] or fragment in str(body["errors"])
    assert not Submission.objects.exists()
    assert not GradingJob.objects.exists()


def test_it_refuses_a_lone_surrogate(student_api, exercise):
    # Valid JSON text (an escaped lone surrogate) that is not valid UTF-8 once decoded.
    response = student_api.post(submit_url(), b'{"code": "x = 1  # \\ud800"}', content_type="application/json")
    assert response.status_code == 400, response.content
    assert "Surrogate" in response.json()["detail"]
    assert not Submission.objects.exists()


def test_it_accepts_exactly_the_size_limit(student_api, exercise):
    code = "#" * (64 * 1024)
    assert student_api.post(submit_url(), {"code": code}, format="json").status_code == 202


def test_it_counts_the_limit_in_utf8_bytes(student_api, exercise):
    code = "#" + "é" * (32 * 1024)  # 65,537 bytes in UTF-8, 32,769 characters
    response = student_api.post(submit_url(), {"code": code}, format="json")
    assert response.status_code in (400, 413)


def test_it_refuses_malformed_json(student_api, exercise):
    response = student_api.post(submit_url(), b'{"code": "x', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_it_needs_authentication(anon_api, exercise):
    assert anon_api.post(submit_url(), {"code": "x = 1"}, format="json").status_code in (401, 403)


def test_it_throttles_per_student_with_retry_after(student_api, other_student_api, exercise, monkeypatch):
    monkeypatch.setattr(SubmissionThrottle, "THROTTLE_RATES", {"submissions": "2/min"})
    for _ in range(2):
        assert student_api.post(submit_url(), {"code": "x = 1"}, format="json").status_code == 202
    refused = student_api.post(submit_url(), {"code": "x = 1"}, format="json")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert refused.json()["code"] == "throttled"
    assert other_student_api.post(submit_url(), {"code": "x = 1"}, format="json").status_code == 202
    assert Submission.objects.count() == 3
    # Reading is not throttled.
    assert student_api.get(submit_url()).status_code == 200


def test_it_refuses_an_exercise_whose_key_has_not_validated(student_api, instructor_api, db):
    exercise = make_exercise()
    ExerciseKey.objects.filter(exercise=exercise).update(status=KeyStatus.PENDING)
    # Students do not even see it; instructors see it but cannot submit yet.
    assert student_api.post(submit_url(), {"code": "x = 1"}, format="json").status_code == 404
    response = instructor_api.post(submit_url(), {"code": "x = 1"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "exercise_not_validated"


def test_it_hides_unpublished_exercises_from_students(student_api, db):
    exercise = make_exercise()
    Exercise.objects.filter(pk=exercise.pk).update(is_published=False)
    assert student_api.get("/api/v1/exercises/square/").status_code == 404
    assert student_api.post(submit_url(), {"code": "x = 1"}, format="json").status_code == 404
    assert student_api.get("/api/v1/exercises/").json()["count"] == 0


def test_detail_shows_visible_checks_and_never_hidden_ones_or_the_reference(student_api, exercise):
    response = student_api.get("/api/v1/exercises/square/")
    assert response.status_code == 200
    body = response.json()
    assert [c["name"] for c in body["checks"]] == ["three", "scalar", "vector"]
    assert body["hidden_checks"] == 1
    assert body["functions"] == [{"name": "square", "signature": "square(x) -> float"}]
    assert body["starter_code"] == SQUARE.starter_code
    text = response.content.decode()
    assert "return x * x" not in text
    assert "hidden-negative" not in text
    assert "x = -1.5" not in text
    assert "rng.normal" not in text


def test_a_student_reads_only_their_own_submissions(student_api, other_student_api, instructor_api, exercise):
    mine = student_api.post(submit_url(), {"code": "x = 1"}, format="json").json()["id"]
    assert student_api.get(f"/api/v1/submissions/{mine}/").status_code == 200
    assert other_student_api.get(f"/api/v1/submissions/{mine}/").status_code == 404
    assert instructor_api.get(f"/api/v1/submissions/{mine}/").status_code == 200
    assert student_api.get("/api/v1/submissions/999999/").status_code == 404


def test_history_lists_own_submissions_and_instructors_see_all(
    student_api, other_student_api, instructor_api, exercise
):
    student_api.post(submit_url(), {"code": "x = 1"}, format="json")
    student_api.post(submit_url(), {"code": "x = 2"}, format="json")
    other_student_api.post(submit_url(), {"code": "x = 3"}, format="json")
    assert student_api.get(submit_url()).json()["count"] == 2
    assert other_student_api.get(submit_url()).json()["count"] == 1
    everyone = instructor_api.get(submit_url()).json()
    assert everyone["count"] == 3
    assert {row["user"] for row in everyone["results"]} == {"alice", "bob"}


def test_submitting_and_polling_stay_a_handful_of_queries_off_the_answer_key(student_api, exercise):
    """The two requests a student's page repeats. Each query costs 1-2 ms of ORM work on
    the benchmark machine; the key's spec and expected values are large JSON that only
    a grading worker needs, and the student's code is not part of the response."""
    with CaptureQueriesContext(connection) as posting:
        response = student_api.post(submit_url(), {"code": "def square(x):\n    return x * x\n"}, format="json")
    assert response.status_code == 202
    with CaptureQueriesContext(connection) as polling:
        assert student_api.get(f"/api/v1/submissions/{response.json()['id']}/").status_code == 200
    # token, instructor?, exercise, key state, (savepoint) insert x2 (release)
    assert len(posting) <= 8, [query["sql"] for query in posting]
    assert len(polling) <= 3, [query["sql"] for query in polling]  # token, instructor?, submission
    for query in [*posting, *polling]:
        assert '"expected"' not in query["sql"], query["sql"]
        assert '"spec"' not in query["sql"], query["sql"]
    assert '"code"' not in polling[-1]["sql"]


def test_a_students_consecutive_submissions_get_consecutive_variants(student_api, other_student_api, exercise):
    """Variant n of every check's inputs for the n-th submission, so a replay of one
    verdict's numbers meets other inputs the next time."""
    code = {"code": "def square(x):\n    return x * x\n"}
    mine = [student_api.post(submit_url(), code, format="json").json()["id"] for _ in range(3)]
    theirs = other_student_api.post(submit_url(), code, format="json").json()["id"]

    variants = dict(Submission.objects.values_list("pk", "variant"))
    assert [variants[pk] for pk in mine] == [0, 1, 2]
    assert variants[theirs] == 0
