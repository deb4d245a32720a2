"""The seeded scikit-learn and PyTorch exercises graded end to end by real workers, each
environment from its own queue: a worker that does not consume an environment's queue
never sees its jobs, and one that does grades them (data files included)."""

from __future__ import annotations

import time

import pytest

from grader.models import GradingJob, JobState, Submission, SubmissionStatus
from tests.exercises import bank_spec, make_exercise
from tests.workers.conftest import NUMPY_QUEUE, wait_for
from workers.queues import Queue, grading_queue

pytestmark = pytest.mark.worker

SKLEARN = "sklearn-loss-versus-accuracy"
TORCH = "torch-bce-with-logits"


def reference(slug: str) -> str:
    return bank_spec(slug).reference_solution


def submit(api, slug: str, code: str) -> int:
    response = api.post(f"/api/v1/exercises/{slug}/submissions/", {"code": code}, format="json")
    assert response.status_code == 202, response.content
    return int(response.json()["id"])


def status(submission_id: int) -> str:
    return Submission.objects.values_list("status", flat=True).get(pk=submission_id)


def test_each_environment_is_graded_from_its_own_queue(start_worker, student_api):
    make_exercise(bank_spec(SKLEARN), validate=True)
    make_exercise(bank_spec(TORCH), validate=True)
    numpy_only = start_worker(queues=(Queue.DEFAULT, NUMPY_QUEUE))
    sklearn = submit(student_api, SKLEARN, reference(SKLEARN))
    torch = submit(student_api, TORCH, reference(TORCH))
    time.sleep(3)  # the numpy worker is up and idle: it must not take them
    assert status(sklearn) == status(torch) == SubmissionStatus.QUEUED, numpy_only.output()
    assert GradingJob.objects.filter(submission_id__in=[sklearn, torch], state=JobState.QUEUED).count() == 2

    both = start_worker(queues=(grading_queue("scientific"), grading_queue("torch")), purge=False)
    assert wait_for(lambda: status(sklearn) == status(torch) == SubmissionStatus.GRADED, timeout=180), both.output()

    body = student_api.get(f"/api/v1/submissions/{sklearn}/").json()
    assert body["score"] == body["max_score"] == 10, body
    body = student_api.get(f"/api/v1/submissions/{torch}/").json()
    assert body["score"] == body["max_score"] == 12, body


def test_a_wrong_torch_answer_gets_its_feedback(start_worker, student_api):
    make_exercise(bank_spec(TORCH), validate=True)
    naive = reference(TORCH).replace(
        "    return F.binary_cross_entropy_with_logits(logits, targets)",
        "    p = torch.sigmoid(logits)\n    return -(targets * torch.log(p) + (1 - targets) * torch.log(1 - p)).mean()",
    )
    worker = start_worker(queues=(Queue.DEFAULT, grading_queue("torch")))
    submission = submit(student_api, TORCH, naive)
    assert wait_for(lambda: status(submission) == SubmissionStatus.GRADED, timeout=120), worker.output()
    body = student_api.get(f"/api/v1/submissions/{submission}/").json()
    checks = {check["name"]: check for check in body["checks"]}
    assert not checks["extreme-logits-value"]["passed"]
    assert checks["random-logits"]["passed"]
    assert 0 < body["score"] < body["max_score"]
