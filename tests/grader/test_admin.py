"""The read-only admin pages of students' records, as a staff instructor (charlie)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AbstractUser

from grader.grading import grading_job_run, submission_create
from grader.models import GradingJob, Submission
from tests.exercises import make_exercise
from workers.sandbox.protocol import CallOutcome, SandboxJob, SandboxRun

CODE = "def square(x):\n    if x < 0:\n        return x * x  # '<b>'\n    return x * x\n"
NINE = {"shape": None, "values": 9.0}


@pytest.fixture
def submission(student: AbstractUser) -> Submission:
    exercise = make_exercise(expected={"three": NINE, "hidden-negative": NINE, "vector": NINE})
    return submission_create(user=student, exercise=exercise, code=CODE)


def _printing_run(job: SandboxJob) -> SandboxRun:
    return SandboxRun(
        calls={call.id: CallOutcome(id=call.id, value=9.0) for call in job.calls}, output="rows:\n    1\n    2\n"
    )


def test_it_shows_the_code_indented_and_escaped_inside_a_pre(staff, submission):
    response = staff.get(f"/admin/grader/submission/{submission.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    escaped = "def square(x):\n    if x &lt; 0:\n        return x * x  # &#x27;&lt;b&gt;&#x27;\n    return x * x\n"
    assert f">{escaped}</pre>" in html
    assert "<br>    if x" not in html
    assert "<b>" not in html


def test_it_shows_what_the_code_printed_and_the_verdict_as_written(staff, submission):
    assert grading_job_run(job_id=GradingJob.objects.get(submission=submission).pk, runner=_printing_run).ran
    html = staff.get(f"/admin/grader/submission/{submission.pk}/change/").content.decode()
    assert ">rows:\n    1\n    2\n</pre>" in html
    assert "\nPASS three (2.00/2.00): " in html
