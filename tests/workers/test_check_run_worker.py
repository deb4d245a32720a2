""" "Check my work" end to end: the API queues a check run, a real worker runs the visible
checks in its sandbox, the student polls the verdict. The hidden check's set-up prints a
marker: it shows in a graded submission's output, and never in a check run's, because
hidden checks are not sent to the sandbox at all. Nothing is recorded as a grade."""

from __future__ import annotations

from dataclasses import replace

import pytest

from grader.models import CheckRun, CheckRunStatus, GradingResult, Submission
from lti.models import Passback
from tests.exercises import SQUARE, make_exercise
from tests.factories import make_notebook, notebook_cell
from tests.workers.conftest import wait_for
from tests.workers.test_grading_worker import graded, submit

pytestmark = pytest.mark.worker

MARKER = "HIDDEN-SETUP-RAN"
PROBED = replace(
    SQUARE,
    checks=tuple(
        replace(check, setup=f"print({MARKER!r})\n{check.setup}") if check.hidden else check for check in SQUARE.checks
    ),
)
WRONG = "def square(x):\n    return x + x\n"


def check(api, body: dict) -> int:
    response = api.post("/api/v1/exercises/square/checks/", body, format="json")
    assert response.status_code == 202, response.content
    return int(response.json()["id"])


def finished(*run_ids: int) -> bool:
    done = (CheckRunStatus.DONE, CheckRunStatus.ERROR)
    return CheckRun.objects.filter(pk__in=run_ids, status__in=done).count() == len(run_ids)


def test_check_my_work_runs_the_visible_checks_only_and_records_no_grade(start_worker, student_api):
    make_exercise(PROBED, validate=True)
    worker = start_worker()
    code_run = check(student_api, {"code": WRONG})
    notebook_run = check(
        student_api,
        {"notebook": make_notebook(notebook_cell("# Mine", cell_type="markdown"), "print(nope)\n", WRONG)},
    )
    assert wait_for(lambda: finished(code_run, notebook_run), timeout=60), worker.output()

    body = student_api.get(f"/api/v1/check-runs/{code_run}/").json()
    assert (body["status"], body["graded"]) == ("done", False), body
    assert [c["name"] for c in body["checks"]] == ["three", "scalar", "vector"]
    assert [c["passed"] for c in body["checks"]] == [False, True, False]
    assert body["summary"] == "1 of 3 checks passed"
    assert MARKER not in body["output"]

    body = student_api.get(f"/api/v1/check-runs/{notebook_run}/").json()
    assert body["summary"].startswith("1 of 3 checks passed; cell 2 raised NameError: name 'nope' is not defined")
    assert body["checks"][1]["message"] == "passed (`square` is defined in cell 3)"

    assert not Submission.objects.exists()
    assert not GradingResult.objects.exists()
    assert not Passback.objects.exists()

    # The probe works: grading runs the hidden check, and its set-up prints the marker.
    submission_id = submit(student_api, WRONG)
    assert wait_for(lambda: graded(submission_id), timeout=60), worker.output()
    assert MARKER in GradingResult.objects.get(submission_id=submission_id).output
