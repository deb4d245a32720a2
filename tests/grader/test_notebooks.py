"""grader.notebooks: reading, validating and converting notebooks, and wording verdicts
by cell. Pure functions: no database, no sandbox."""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import nbformat
import pytest

from config.errors import ServiceError
from grader.checks import CheckVerdict, Runs, Verdict
from grader.notebooks import (
    NotebookProblem,
    notebook_code,
    notebook_file_bytes,
    notebook_layout,
    notebook_locate,
    notebook_parse,
    notebook_starter,
    notebook_upload,
    notebook_validate,
    notebook_verdict,
    source_read,
)
from questions.exercises import CheckSpec
from tests.factories import make_notebook, notebook_cell
from workers.sandbox.protocol import CallOutcome, SandboxRun, StudentError

LIMIT = 1024 * 1024


def problem(notebook: dict) -> str:
    with pytest.raises(NotebookProblem) as caught:
        notebook_validate(notebook=notebook, max_bytes=LIMIT)
    return str(caught.value)


def parse_problem(data: bytes, max_bytes: int = LIMIT) -> str:
    with pytest.raises(NotebookProblem) as caught:
        notebook_parse(data=data, max_bytes=max_bytes)
    return str(caught.value)


# --- Reading ------------------------------------------------------------------------------


def test_it_parses_an_ipynb_file():
    notebook = make_notebook("x = 1\n")
    assert notebook_parse(data=json.dumps(notebook, indent=1).encode(), max_bytes=LIMIT) == notebook


def test_it_accepts_a_byte_order_mark():
    data = "\ufeff".encode() + json.dumps(make_notebook("x = 1\n")).encode()
    assert notebook_parse(data=data, max_bytes=LIMIT)["nbformat"] == 4


def test_it_says_where_malformed_json_breaks():
    message = parse_problem(b'{\n "cells": [\n  {"cell_type": "code",,}\n ]\n}')
    assert message.startswith("The notebook is not valid JSON:")
    assert "(line 3, column" in message


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "its JSON is not an object"),
        (b'"notebook"', "its JSON is not an object"),
        (b'{"nbformat": NaN}', "NaN is not a JSON value"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"", "not valid JSON"),
    ],
)
def test_it_refuses_files_that_are_no_notebook_json(data, fragment):
    assert fragment in parse_problem(data)


def test_it_refuses_a_file_over_the_limit_before_parsing_it():
    assert parse_problem(b"x" * 2049, max_bytes=2048) == "The notebook is 2049 bytes; at most 2048 are accepted."


def test_an_upload_must_be_an_ipynb_and_is_not_read_when_too_big():
    def never() -> bytes:
        raise AssertionError("read")

    with pytest.raises(NotebookProblem, match=r"'solution\.py' is not a Jupyter notebook"):
        notebook_upload(filename="solution.py", size=10, read=never, max_bytes=LIMIT)
    with pytest.raises(NotebookProblem, match="at most 1024 are accepted"):
        notebook_upload(filename="big.IPYNB", size=1025, read=never, max_bytes=1024)
    data = json.dumps(make_notebook("x = 1\n")).encode()
    assert notebook_upload(filename="Mine.IPYNB", size=len(data), read=lambda: data, max_bytes=LIMIT)["cells"]


# --- Validating ---------------------------------------------------------------------------


def test_it_refuses_nbformat_3_with_what_to_do():
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": []}]}
    message = problem(v3)
    assert "nbformat 3" in message
    assert "only nbformat 4 is accepted" in message
    assert "save it again" in message


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda nb: nb.pop("nbformat"), "no 'nbformat' version"),
        (lambda nb: nb.update(nbformat="4"), "nbformat '4'"),
        (lambda nb: nb.update(cells="x = 1"), "'cells' is not a list"),
        (lambda nb: nb.pop("metadata"), "'metadata' is a required property"),
        (lambda nb: nb["cells"][1].pop("source"), "cell 2: 'source' is a required property"),
        (lambda nb: nb["cells"][1].update(source=5), "cell 2['source']"),
        (lambda nb: nb["cells"][1].update(cell_type="python"), "cell 2: "),
        (lambda nb: nb["cells"][1].update(outputs=[{"output_type": "stream"}]), "cell 2['outputs'][0]"),
        (lambda nb: nb["cells"].append("x = 1"), "cell 3: "),
        (lambda nb: nb.update(extra=1), "Additional properties"),
    ],
)
def test_it_refuses_an_invalid_notebook_naming_the_problem(mutate, fragment):
    notebook = make_notebook(notebook_cell("# Title", cell_type="markdown"), "x = 1\n")
    mutate(notebook)
    message = problem(notebook)
    assert message.startswith(("This is not", "This notebook")), message
    assert fragment in message, message
    assert len(message) < 400


def test_a_long_schema_error_is_cut():
    notebook = make_notebook("x = 1\n")
    notebook["cells"][0]["cell_type"] = "x" * 5000
    assert len(problem(notebook)) < 400


def test_it_refuses_a_notebook_over_the_limit_as_json():
    notebook = make_notebook("x = 1\n", notebook_cell("a" * 3000, cell_type="markdown"))
    with pytest.raises(NotebookProblem, match=r"bytes as JSON; at most 2048 are accepted"):
        notebook_validate(notebook=notebook, max_bytes=2048)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("a\x00b", "NUL character"), ("a\ud800b", "lone surrogate")],
)
def test_it_refuses_text_the_database_cannot_store_anywhere_in_it(text, fragment):
    in_output = make_notebook("x = 1\n")
    in_output["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": [text]}]
    in_a_key = make_notebook("x = 1\n")
    in_a_key["metadata"][text] = 1
    assert fragment in problem(in_output)
    assert fragment in problem(in_a_key)


def test_it_validates_a_copy_and_accepts_4_5_without_cell_ids(recwarn):
    notebook = make_notebook("x = 1\n", minor=5)
    for cell in notebook["cells"]:
        del cell["id"]
    sent = copy.deepcopy(notebook)
    validated = notebook_validate(notebook=notebook, max_bytes=LIMIT)
    assert notebook == sent  # left as it was sent
    assert "id" in validated["cells"][0]
    assert not [w for w in recwarn if "nbformat" in str(w.category)]


def test_it_accepts_every_nbformat_4_minor():
    for minor in range(6):
        notebook_validate(notebook=make_notebook("x = 1\n", minor=minor), max_bytes=LIMIT)


# --- From cells to code ---------------------------------------------------------------------


def test_it_joins_the_code_cells_in_order_and_numbers_them_among_all_cells():
    notebook = make_notebook(
        notebook_cell("# Binary cross-entropy", cell_type="markdown"),
        "import numpy as np\n",
        notebook_cell("", cell_type="code"),
        notebook_cell("notes", cell_type="raw"),
        "def f(x):\n    return x",  # no final line break
        "print(f(2))\r\n",
    )
    layout = notebook_code(notebook=notebook)
    assert layout.code == "import numpy as np\ndef f(x):\n    return x\nprint(f(2))\n"
    assert layout.cell_starts == (1, 2, 4)
    assert layout.cell_numbers == (2, 5, 6)
    assert layout.skipped == ()
    assert [layout.locate(line) for line in (1, 2, 3, 4)] == [(2, 1), (5, 1), (5, 2), (6, 1)]
    assert layout.locate(0) is None


def test_a_source_may_be_one_string():
    notebook = make_notebook(notebook_cell("x = 1\n") | {"source": "x = 1\ny = 2"})
    assert notebook_code(notebook=notebook).code == "x = 1\ny = 2\n"


def test_magic_and_shell_lines_become_empty_lines_so_line_numbers_stay():
    notebook = make_notebook(
        "%matplotlib inline\nimport numpy as np\n!pip install numpy\nfiles = !ls\nt = %timeit -o f()\n  %time f()\n"
    )
    layout = notebook_code(notebook=notebook)
    assert layout.code == "\nimport numpy as np\n\n\n\n\n"
    assert [(s.cell, s.line, s.reason) for s in layout.skipped] == [
        (1, 1, "IPython magic %matplotlib"),
        (1, 3, "shell command"),
        (1, 4, "shell command"),
        (1, 5, "IPython magic"),
        (1, 6, "IPython magic %time"),
    ]


def test_a_cell_magic_skips_its_whole_cell():
    notebook = make_notebook("x = 1\n", "\n%%time\ny = 2\n", "%%bash\nrm -rf /\n", "z = 3\n")
    layout = notebook_code(notebook=notebook)
    assert layout.code == "x = 1\nz = 3\n"
    assert layout.cell_numbers == (1, 4)
    assert [skip.describe() for skip in layout.skipped] == ["cell 2 (cell magic %%time)", "cell 3 (cell magic %%bash)"]


def test_python_that_only_looks_like_a_magic_is_kept():
    code = (
        "def ratio(a,\n"
        "          b):\n"
        "    return (a\n"
        "            % b)\n"  # a continuation: Python's modulo
        'TEMPLATE = """\n'
        "%d items\n"  # inside a string
        '!important"""\n'
        "total = 1 + \\\n"
        "    !0 if False else 2\n"  # after a backslash (a SyntaxError, left for the cell to report)
        "ok = x != y  # not a shell assignment\n"
    )
    layout = notebook_code(notebook=make_notebook(code))
    assert layout.code == code
    assert layout.skipped == ()


@pytest.mark.parametrize(
    "cells",
    [
        (),
        (notebook_cell("# Only prose", cell_type="markdown"),),
        ("", "   \n"),
        ("%matplotlib inline\n", "%%time\nx = 1\n", "!ls\n"),
    ],
    ids=["no-cells", "markdown-only", "empty-code", "only-magics"],
)
def test_a_notebook_without_code_to_run_is_refused(cells):
    notebook = make_notebook(*cells)
    notebook_validate(notebook=notebook, max_bytes=LIMIT)
    with pytest.raises(NotebookProblem, match="no code to run"):
        notebook_code(notebook=notebook)


def test_locate_maps_a_line_of_the_joined_code_to_its_cell():
    assert notebook_locate(cell_starts=(1, 4, 10), cell_numbers=(2, 3, 7), line=9) == (3, 6)
    assert notebook_locate(cell_starts=(1, 4, 10), cell_numbers=(2, 3, 7), line=10) == (7, 1)
    assert notebook_locate(cell_starts=(3,), cell_numbers=(1,), line=2) is None


# --- Hostile notebooks ----------------------------------------------------------------------


def test_code_in_markdown_raw_cells_and_outputs_never_reaches_the_sandbox():
    payload = "def binary_cross_entropy(y_true, y_pred, eps=1e-7):\n    return 0.0\n"
    code_cell = notebook_cell("x = 1\n")
    code_cell["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": [payload]},
        {"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": {"text/plain": [payload]}},
    ]
    code_cell["metadata"] = {"source": payload, "tags": ["solution"]}
    notebook = make_notebook(
        notebook_cell(payload, cell_type="markdown"),
        notebook_cell(payload, cell_type="raw"),
        code_cell,
    )
    notebook["metadata"]["source"] = payload
    notebook_validate(notebook=notebook, max_bytes=LIMIT)
    assert notebook_code(notebook=notebook).code == "x = 1\n"


def test_metadata_cannot_move_a_cell_or_its_number():
    plain = make_notebook(notebook_cell("# Title", cell_type="markdown"), "x = 1\n", "def f():\n    return 1\n")
    forged = copy.deepcopy(plain)
    for cell in forged["cells"]:
        cell["metadata"] = {"cell_number": 1, "index": 0, "collapsed": True}
    forged["cells"][1]["execution_count"] = 99
    forged["cells"][2]["execution_count"] = 1
    forged = make_notebook(*forged["cells"], minor=5)
    forged["cells"][2]["id"] = "cell-1"  # pretending to be another cell
    forged["metadata"] |= {"cell_starts": [1, 1, 1], "cells": []}
    notebook_validate(notebook=forged, max_bytes=LIMIT)
    assert notebook_code(notebook=forged) == notebook_code(notebook=plain)


# --- Source: code or a notebook -------------------------------------------------------------


def test_source_read_takes_exactly_one_of_code_and_notebook():
    with pytest.raises(ServiceError) as both:
        source_read(code="x = 1", notebook=make_notebook("x = 1\n"), max_notebook_bytes=LIMIT)
    assert both.value.message == "Send either code or a notebook, not both."
    with pytest.raises(ServiceError) as neither:
        source_read(code=None, notebook=None, max_notebook_bytes=LIMIT)
    assert neither.value.errors == {"code": ["Send code, or a notebook."]}
    with pytest.raises(ServiceError) as invalid:
        source_read(code=None, notebook={"nbformat": 3}, max_notebook_bytes=LIMIT)
    assert list(invalid.value.errors) == ["notebook"]
    assert "nbformat 3" in invalid.value.message


def test_source_read_keeps_the_notebook_as_sent():
    notebook = make_notebook("%time x = 1\ny = 2\n", minor=5)
    sent = copy.deepcopy(notebook)
    source = source_read(code=None, notebook=notebook, max_notebook_bytes=LIMIT)
    assert source.notebook == sent
    assert (source.code, source.cell_starts, source.field) == ("\ny = 2\n", (1,), "notebook")
    assert source_read(code="x", notebook=None, max_notebook_bytes=LIMIT).field == "code"


def test_the_layout_is_read_again_and_numbers_code_cells_if_the_conversion_changed():
    notebook = make_notebook(notebook_cell("# T", cell_type="markdown"), "x = 1\n", "y = 2\n")
    layout = notebook_code(notebook=notebook)
    assert notebook_layout(notebook=notebook, code=layout.code, cell_starts=layout.cell_starts) == layout
    fallback = notebook_layout(notebook=notebook, code="x = 1\n\ny = 2\n", cell_starts=[1, 3])
    assert (fallback.cell_starts, fallback.cell_numbers) == ((1, 3), (1, 2))


# --- The verdict, worded by cell ------------------------------------------------------------


CHECKS = [
    CheckSpec(name="ordinary", kind="close", call="f(2.0)", points=Decimal(2)),
    CheckSpec(name="raises", kind="close", call="f(x)", setup="x = 0.0"),
    CheckSpec(name="other", kind="close", call="g(1.0)"),
    CheckSpec(name="hidden", kind="close", call="f(-1.0)", hidden=True),
]
# cell 1 markdown; cell 2 (lines 1-2): imports; cell 3 (lines 3-4): bad; cell 4 (lines 5-7): f; cell 5: g
LAYOUT_NOTEBOOK = make_notebook(
    notebook_cell("# Title", cell_type="markdown"),
    "%matplotlib inline\nimport numpy as np\n",
    "y = 1\nprint(undefined)\n",
    "def f(x):\n    y = 1 / x\n    return y\n",
    "def g(x):\n    return x\n",
)


def verdict_of(messages: list[str], *, passed: list[bool]) -> Verdict:
    return Verdict(
        checks=tuple(
            CheckVerdict(
                name=check.name,
                passed=ok,
                score=check.points if ok else Decimal(0),
                max_score=check.points,
                message=message,
            )
            for check, message, ok in zip(CHECKS, messages, passed, strict=True)
        ),
        summary="2 of 4 checks passed",
    )


def test_the_verdict_names_cells_that_raised_were_skipped_and_define_functions():
    layout = notebook_code(notebook=LAYOUT_NOTEBOOK)
    zero = StudentError(type="ZeroDivisionError", message="division by zero", line=6)
    run = SandboxRun(
        cell_errors={1: StudentError(type="NameError", message="name 'undefined' is not defined", line=4)},
        defined_at={"f": 5, "g": 8},
        calls={"raises": CallOutcome(id="raises", error=zero), "ordinary": CallOutcome(id="ordinary", value=1.0)},
    )
    verdict = verdict_of(
        ["passed", "raised ZeroDivisionError: division by zero (line 6)", "passed", "raised ZeroDivisionError"],
        passed=[True, False, True, False],
    )

    worded = notebook_verdict(
        verdict=verdict, checks=CHECKS, runs=Runs(main=run, alone={}), layout=layout, entry_points=["f", "g"]
    )

    assert worded.score == verdict.score
    assert worded.summary == (
        "2 of 4 checks passed; cell 3 raised NameError: name 'undefined' is not defined (line 2);"
        " not run, as IPython syntax: cell 2 line 1 (IPython magic %matplotlib)"
    )
    assert [check.message for check in worded.checks] == [
        "passed (`f` is defined in cell 4)",
        "raised ZeroDivisionError: division by zero (cell 4, line 2) (`f` is defined in cell 4)",
        "passed (`g` is defined in cell 5)",
        "raised ZeroDivisionError (`f` is defined in cell 4)",
    ]


def test_a_one_cell_notebook_s_module_error_is_said_by_cell():
    layout = notebook_code(notebook=make_notebook(notebook_cell("# T", cell_type="markdown"), "x = 1\nx +\n"))
    run = SandboxRun(module_error=StudentError(type="SyntaxError", message="invalid syntax", line=2))
    verdict = verdict_of(["not run"] * 4, passed=[False] * 4)
    worded = notebook_verdict(
        verdict=verdict, checks=CHECKS, runs=Runs(main=run, alone={}), layout=layout, entry_points=["f", "g"]
    )
    assert worded.summary == "cell 2 raised SyntaxError: invalid syntax (line 2)"
    assert {check.message for check in worded.checks} == {"not run"}


def test_forged_definition_lines_only_word_feedback():
    layout = notebook_code(notebook=LAYOUT_NOTEBOOK)
    run = SandboxRun(defined_at={"f": 10_000, "g": 1})
    verdict = verdict_of(["passed"] * 4, passed=[True] * 4)
    worded = notebook_verdict(
        verdict=verdict, checks=CHECKS, runs=Runs(main=run, alone={}), layout=layout, entry_points=["f", "g"]
    )
    assert worded.score == verdict.score
    assert worded.checks[2].message == "passed (`g` is defined in cell 2)"


def test_a_long_list_of_skipped_lines_is_cut():
    layout = notebook_code(notebook=make_notebook("x = 1\n" + "!ls\n" * 20))
    verdict = verdict_of(["passed"] * 4, passed=[True] * 4)
    worded = notebook_verdict(
        verdict=verdict, checks=CHECKS, runs=Runs(main=SandboxRun(), alone={}), layout=layout, entry_points=["f"]
    )
    assert worded.summary.endswith("cell 1 line 9 (shell command) and 12 more")


# --- Starter notebooks and files --------------------------------------------------------------


def starter() -> dict:
    return notebook_starter(
        slug="square",
        prompt="# Square\n\nWrite `square(x)`.\n",
        starter_code="def square(x):\n    raise NotImplementedError\n",
        functions=["square(x) -> float"],
        exercise_url="https://grader.example/exercises/square/",
        api_url="https://grader.example/api/v1/exercises/square/submissions/",
    )


def test_the_starter_notebook_is_a_valid_notebook_that_opens_in_jupyter():
    notebook = starter()
    nbformat.validate(nbformat.reads(notebook_file_bytes(notebook=notebook).decode(), as_version=4))
    prompt, code, submitting = notebook["cells"]
    assert (prompt["cell_type"], code["cell_type"], submitting["cell_type"]) == ("markdown", "code", "markdown")
    assert "".join(prompt["source"]) == "# Square\n\nWrite `square(x)`."
    text = "".join(submitting["source"])
    assert "https://grader.example/exercises/square/" in text
    assert "-F file=@square.ipynb https://grader.example/api/v1/exercises/square/submissions/" in text
    assert "`square(x) -> float`" in text


def test_the_starter_notebook_is_the_same_file_every_time_and_runs_as_its_starter_code():
    assert notebook_file_bytes(notebook=starter()) == notebook_file_bytes(notebook=starter())
    layout = notebook_code(notebook=starter())
    assert layout.code == "def square(x):\n    raise NotImplementedError\n"
    assert layout.cell_numbers == (2,)


def test_a_file_is_written_as_jupyter_writes_it():
    data = notebook_file_bytes(notebook={"b": 1, "a": ["é"]})
    assert data == '{\n "a": [\n  "é"\n ],\n "b": 1\n}\n'.encode()
