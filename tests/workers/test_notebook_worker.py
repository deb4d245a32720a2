"""Real notebooks for the seeded binary-cross-entropy exercise, graded by a real worker:
the API takes them, a Celery worker runs their code cells in its sandbox, and the verdict
names cells. Hostile notebooks gain nothing from code outside their code cells or from
forged metadata."""

from __future__ import annotations

import copy
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from grader.models import GradingResult
from tests.exercises import bank_spec, make_exercise
from tests.factories import make_notebook, notebook_cell
from tests.workers.conftest import wait_for
from tests.workers.test_grading_worker import graded

pytestmark = pytest.mark.worker

BCE = "binary-cross-entropy"
RIGHT = (
    "def binary_cross_entropy(y_true, y_pred, eps=1e-7):\n"
    "    y = np.asarray(y_true, dtype=float)\n"
    "    p = np.clip(np.asarray(y_pred, dtype=float), eps, 1.0 - eps)\n"
    "    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))\n"
)
# No clipping: right on ordinary inputs, infinite on predictions of exactly 0 or 1.
UNCLIPPED = RIGHT.replace("np.clip(np.asarray(y_pred, dtype=float), eps, 1.0 - eps)", "np.asarray(y_pred, float)")


def right_notebook() -> dict:
    return make_notebook(
        notebook_cell("# Binary cross-entropy\n\nMy solution.", cell_type="markdown"),
        "%matplotlib inline\nimport numpy as np\n",
        RIGHT,
        "print(binary_cross_entropy([1, 0], [0.9, 0.3]))\n",
        minor=5,
    )


def submit_notebook(api, notebook: dict) -> int:
    response = api.post(f"/api/v1/exercises/{BCE}/submissions/", {"notebook": notebook}, format="json")
    assert response.status_code == 202, response.content
    return int(response.json()["id"])


def upload_notebook(api, notebook: dict) -> int:
    file = SimpleUploadedFile("bce.ipynb", json.dumps(notebook, indent=1).encode())
    response = api.post(f"/api/v1/exercises/{BCE}/submissions/", {"file": file}, format="multipart")
    assert response.status_code == 202, response.content
    return int(response.json()["id"])


def test_notebooks_for_the_seeded_exercise_are_graded_cell_by_cell(start_worker, student_api):
    make_exercise(bank_spec(BCE), validate=True)
    worker = start_worker()  # before submitting: a worker starts by purging its queues
    right = upload_notebook(student_api, right_notebook())
    failing = submit_notebook(
        student_api,
        make_notebook(
            notebook_cell("# Work in progress", cell_type="markdown"),
            "import numpy as np\n",
            UNCLIPPED,
            "x = 1\nprint(oops)\n",  # raises: the next cells still run
            "%%time\nbinary_cross_entropy([1], [0.5])\n",
            "!pip install numpy\nprint('done')\n",
        ),
    )
    same_as_code = student_api.post(
        f"/api/v1/exercises/{BCE}/submissions/", {"code": "import numpy as np\n" + UNCLIPPED}, format="json"
    ).json()["id"]
    assert wait_for(lambda: graded(right, failing, same_as_code), timeout=120), worker.output()

    body = student_api.get(f"/api/v1/submissions/{right}/").json()
    assert body["source"] == "notebook"
    assert body["score"] == body["max_score"] == 10, body
    assert body["output"] == "0.2310177297982793\n"
    assert (
        body["summary"] == "9 of 9 checks passed; not run, as IPython syntax: cell 2 line 1 (IPython magic %matplotlib)"
    )
    assert all(check["message"] == "passed (`binary_cross_entropy` is defined in cell 3)" for check in body["checks"])

    body = student_api.get(f"/api/v1/submissions/{failing}/").json()
    code = student_api.get(f"/api/v1/submissions/{same_as_code}/").json()
    assert 0 < body["score"] == code["score"] < body["max_score"], (body, code)  # what the function earned
    assert [c["passed"] for c in body["checks"]] == [c["passed"] for c in code["checks"]]
    assert body["summary"].startswith(
        code["summary"] + "; cell 4 raised NameError: name 'oops' is not defined (line 2)"
    )
    assert "cell 5 (cell magic %%time), cell 6 line 1 (shell command)" in body["summary"]
    assert "done\n" in body["output"]  # the cell after the raising one ran
    clipped = next(check for check in body["checks"] if check["name"] == "certain-predictions-clipped")
    assert not clipped["passed"]
    assert clipped["message"].endswith("(`binary_cross_entropy` is defined in cell 3)")


def test_code_outside_code_cells_and_forged_metadata_gain_nothing(start_worker, student_api):
    make_exercise(bank_spec(BCE), validate=True)
    spec = bank_spec(BCE)
    hidden = make_notebook(
        notebook_cell(f"```python\n{RIGHT}```", cell_type="markdown"),
        notebook_cell(RIGHT, cell_type="raw"),
        notebook_cell("import numpy as np\n" + spec.starter_code),
    )
    hidden["cells"][2]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": [RIGHT]}]
    hidden["cells"][2]["metadata"] = {"source": RIGHT}
    hidden["metadata"]["source"] = RIGHT

    plain = right_notebook()
    forged = copy.deepcopy(plain)
    for number, cell in enumerate(forged["cells"]):
        cell["metadata"] = {"cell_number": 1, "index": 99 - number}
        cell["id"] = f"cell-{len(forged['cells']) - number}"
        if cell["cell_type"] == "code":
            cell["execution_count"] = 42
    forged["metadata"] |= {"cell_starts": [1, 1], "defined_at": {"binary_cross_entropy": 1}}

    worker = start_worker()
    ids = [submit_notebook(student_api, notebook) for notebook in (hidden, plain, forged)]
    assert wait_for(lambda: graded(*ids), timeout=120), worker.output()
    hidden_result, plain_result, forged_result = (GradingResult.objects.get(submission_id=i) for i in ids)

    assert hidden_result.score == 0  # only the starter's code ran
    assert "NotImplementedError" in hidden_result.checks[0]["message"]
    assert forged_result.score == plain_result.score == plain_result.max_score
    assert forged_result.checks == plain_result.checks
    assert forged_result.summary == plain_result.summary
