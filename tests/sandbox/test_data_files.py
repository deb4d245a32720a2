"""Exercises' data files in the real sandbox: the visible ones read-only at data/<name>
from the working directory, the hidden ones readable by set-ups alone, no other set
reachable (grader.data_files prepares them; here the sets are made by hand)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.sandbox.hostile_cases import LIMITS
from workers.sandbox import sandbox_run
from workers.sandbox.config import data_root
from workers.sandbox.launch import data_sets
from workers.sandbox.protocol import SandboxCall, SandboxData, SandboxJob, Termination


@pytest.fixture
def data_set() -> Iterator[tuple[str, Path]]:
    """A set with data/train.csv and data/weights.npy, and a hidden blob beside it."""
    digest = secrets.token_hex(16)
    root = data_sets() / digest
    (root / "data").mkdir(parents=True)
    (root / "data" / "train.csv").write_text("x,y\n1,2\n3,4\n")
    np.save(root / "data" / "weights.npy", np.array([0.5, 1.5]))
    blobs = data_root() / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    hidden = blobs / f"test-{digest}.npy"
    np.save(hidden, np.array([7.0, 8.0, 9.0]))
    yield digest, hidden
    shutil.rmtree(root, ignore_errors=True)
    hidden.unlink(missing_ok=True)


def run(code: str, calls: tuple[SandboxCall, ...], data: SandboxData, config, environment: str = "numpy"):
    job = SandboxJob(code=code, entry_points=(), calls=calls, limits=LIMITS, data=data)
    return sandbox_run(job=job, config=config, environment=environment)


def test_student_code_reads_visible_data_from_the_working_directory(bwrap_config, data_set, environment):
    digest, _hidden = data_set
    code = (
        "import numpy as np\nROWS = open('data/train.csv').read().splitlines()\nWEIGHTS = np.load('data/weights.npy')\n"
    )
    calls = (SandboxCall(id="rows", expr="float(len(ROWS))"), SandboxCall(id="sum", expr="float(WEIGHTS.sum())"))
    result = run(code, calls, SandboxData(directory=digest), bwrap_config, environment)
    assert result.termination is Termination.COMPLETED, result.output
    assert result.calls["rows"].value == 3.0
    assert result.calls["sum"].value == 2.0


PROBE = """
import os

def write_data():
    try:
        open('data/train.csv', 'a').write('5,6\\n')
        return 1.0
    except OSError:
        return 0.0

def list_other_sets():
    try:
        return float(len(os.listdir('/sandbox/data')))
    except OSError:
        return -1.0

def open_hidden_descriptors():
    opened = 0
    for fd in range(5, 40):
        try:
            os.fstat(fd)
            opened += 1
        except OSError:
            pass
    return float(opened)

def read_hidden_blob(path):
    try:
        open(path, 'rb').read(1)
        return 1.0
    except OSError:
        return 0.0
"""


def test_hidden_data_reaches_the_setups_and_nothing_else(bwrap_config, data_set, environment):
    digest, hidden = data_set
    calls = (
        # The set-up reads the hidden file; the student's function gets the values only.
        SandboxCall(id="hidden-sum", setup="y_test = np.load(hidden_data('test.npy'))", expr="float(sum(y_test))"),
        SandboxCall(id="write", expr="write_data()"),
        SandboxCall(id="list", expr="list_other_sets()"),
        SandboxCall(id="descriptors", expr="open_hidden_descriptors()"),
        SandboxCall(id="blob", expr=f"read_hidden_blob({str(hidden)!r})"),
        SandboxCall(id="no-reader", expr="float('hidden_data' in globals())"),
    )
    data = SandboxData(directory=digest, hidden=(("test.npy", str(hidden)),))
    result = run(PROBE, calls, data, bwrap_config, environment)
    assert result.termination is Termination.COMPLETED, result.output
    values = {call_id: outcome.value for call_id, outcome in result.calls.items()}
    assert values == {
        "hidden-sum": 24.0,
        "write": 0.0,  # read-only
        "list": -1.0,  # sets/ can be traversed, not listed
        "descriptors": 0.0,  # closed before the student's module loaded
        "blob": 0.0,  # blobs/ is not mounted
        "no-reader": 0.0,
    }


def test_a_set_up_asking_for_an_unknown_hidden_file_is_the_instructors_error(bwrap_config, data_set):
    digest, _hidden = data_set
    calls = (SandboxCall(id="c", setup="y = np.load(hidden_data('nope.npy'))", expr="1.0"),)
    result = run("", calls, SandboxData(directory=digest), bwrap_config)
    error = result.calls["c"].error
    assert error is not None
    assert error.in_setup
    assert error.type == "FileNotFoundError"


def test_the_sets_directory_is_traversable_but_not_listable():
    mode = os.stat(data_sets()).st_mode & 0o777
    assert mode == 0o311
