"""The normal path through the real sandbox: values, shapes, errors, tracked inputs,
bound values, gradients, output, what a student's code can reach, recycling, forks of the
worker process and the weaker mode."""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

import workers.sandbox as sandbox
from tests.sandbox.conftest import RLIMITS
from tests.sandbox.hostile_cases import LIMITS
from workers.sandbox import SandboxConfig, SandboxMode, sandbox_check, sandbox_run, sandbox_shutdown
from workers.sandbox.protocol import (
    Limits,
    NotNumeric,
    SandboxCall,
    SandboxJob,
    SandboxUnavailable,
    StudentError,
    Termination,
)

BCE = """\
import numpy as np

def bce(y, p, eps=1e-12):
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))

def bce_each(y, p, eps=1e-12):
    p = np.clip(p, eps, 1 - eps)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))

def bce_in_place(y, p):
    np.clip(p, 0.25, 0.75, out=p)
    return bce(y, p)

def loss(w, X, y):
    return bce(y, 1 / (1 + np.exp(-X @ w)))
"""
VECTORS = "y = rng.integers(0, 2, size=50).astype(float)\np = rng.uniform(0.01, 0.99, size=50)"
MATRICES = "y = rng.integers(0, 2, size=(4, 5))\np = rng.uniform(0.01, 0.99, size=(4, 5))"
LOGISTIC = "X = rng.normal(size=(8, 3))\nw = rng.normal(size=3)\ny = rng.integers(0, 2, size=8)"


def reference_bce(y, p, eps=1e-12):
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def inputs(setup: str, seed: int) -> dict:
    namespace = {"np": np, "rng": np.random.default_rng(seed)}
    exec(setup, namespace)  # noqa: S102 - the test's own set-up, run to build the expected values
    return namespace


def run(code: str, *calls: SandboxCall, entry_points: tuple[str, ...] = (), limits: Limits = LIMITS, config=None):
    job = SandboxJob(code=code, entry_points=entry_points, calls=calls, limits=limits)
    return sandbox_run(job=job, config=config)


def test_it_computes_bce_close_to_numpy(bwrap_config):
    result = run(
        BCE,
        SandboxCall(id="vectors", setup=VECTORS, seed=1, expr="bce(y, p)"),
        SandboxCall(id="lists", setup="y = [0, 1, 1, 0]\np = [0.1, 0.8, 0.6, 0.3]", expr="bce(y, p)"),
        SandboxCall(id="matrices", setup=MATRICES, seed=2, expr="bce(y, p)"),
        SandboxCall(id="each", setup=MATRICES, seed=2, expr="bce_each(y, p)"),
        entry_points=("bce", "bce_each"),
        config=bwrap_config,
    )
    assert result.termination is Termination.COMPLETED, result
    assert result.missing == ()
    vectors = inputs(VECTORS, 1)
    assert result.calls["vectors"].value == pytest.approx(reference_bce(vectors["y"], vectors["p"]), rel=1e-12)
    assert result.calls["lists"].value == pytest.approx(reference_bce([0, 1, 1, 0], [0.1, 0.8, 0.6, 0.3]), rel=1e-12)
    matrices = inputs(MATRICES, 2)
    assert result.calls["matrices"].value == pytest.approx(reference_bce(matrices["y"], matrices["p"]), rel=1e-12)
    each = result.calls["each"].value
    assert type(each) is np.ndarray
    assert each.dtype == np.float64
    assert each.shape == (4, 5)
    y, p = matrices["y"], matrices["p"]
    np.testing.assert_allclose(each, -(y * np.log(p) + (1 - y) * np.log(1 - p)), rtol=1e-12)
    # Frames that arrive together share a timestamp, so a fast call may measure 0.
    assert all(outcome.seconds >= 0 for outcome in result.calls.values())
    assert sum(outcome.seconds for outcome in result.calls.values()) < result.run_seconds
    assert 0 < result.fork_seconds < result.run_seconds


def test_it_decodes_scalars_arrays_and_specials_exactly(bwrap_config):
    result = run(
        "import numpy as np\n",
        SandboxCall(id="int", expr="3"),
        SandboxCall(id="np_float32", expr="np.float32(0.1)"),
        SandboxCall(id="np_int", expr="np.int64(-7)"),
        SandboxCall(id="zero_d", expr="np.array(2.5)"),
        SandboxCall(id="nan", expr="float('nan')"),
        SandboxCall(id="inf", expr="-np.inf"),
        SandboxCall(id="float16", expr="np.array([1.5, np.inf, np.nan], dtype=np.float16)"),
        SandboxCall(id="uint8", expr="np.arange(6, dtype=np.uint8).reshape(2, 3)"),
        SandboxCall(id="bools", expr="np.array([True, False])"),
        SandboxCall(id="big_endian", expr="np.arange(3, dtype='>i4')"),
        SandboxCall(id="fortran", expr="np.asfortranarray(np.arange(6.0).reshape(2, 3))"),
        SandboxCall(id="empty", expr="np.zeros((0, 3))"),
        SandboxCall(id="none", expr="None"),
        SandboxCall(id="text", expr="'0.5'"),
        config=bwrap_config,
    )
    values = {key: outcome.value for key, outcome in result.calls.items()}
    assert values["int"] == 3.0
    assert type(values["int"]) is float
    assert values["np_float32"] == float(np.float32(0.1))
    assert values["np_int"] == -7.0
    assert values["zero_d"] == 2.5
    assert math.isnan(values["nan"])
    assert values["inf"] == -math.inf
    np.testing.assert_array_equal(values["float16"], np.array([1.5, np.inf, np.nan], dtype=np.float16))
    assert values["float16"].dtype == np.float16
    np.testing.assert_array_equal(values["uint8"], np.arange(6, dtype=np.uint8).reshape(2, 3))
    assert values["uint8"].dtype == np.uint8
    assert values["bools"].dtype == np.bool_
    assert values["bools"].tolist() == [True, False]
    assert values["big_endian"].tolist() == [0, 1, 2]
    assert values["big_endian"].dtype == np.dtype("<i4")
    np.testing.assert_array_equal(values["fortran"], np.arange(6.0).reshape(2, 3))
    assert values["empty"].shape == (0, 3)
    assert values["none"] == NotNumeric(type_name="NoneType")
    assert values["text"] == NotNumeric(type_name="str")


def test_it_reports_the_values_of_tracked_inputs(bwrap_config):
    result = run(
        BCE,
        SandboxCall(id="pure", setup=VECTORS, seed=3, expr="bce(y, p)", track=("y", "p")),
        SandboxCall(id="mutating", setup=VECTORS, seed=3, expr="bce_in_place(y, p)", track=("y", "p")),
        SandboxCall(id="lists", setup="y = [1, 0, 1]\np = (0.5, 0.25, 1.0)", expr="bce(y, p)", track=("y", "p")),
        SandboxCall(id="odd", setup="y = [1, 'a']\np = {'k': 1}", expr="len(p)", track=("y", "p", "absent")),
        config=bwrap_config,
    )
    assert result.termination is Termination.COMPLETED, result
    built = inputs(VECTORS, 3)
    pure, mutating = result.calls["pure"], result.calls["mutating"]
    assert set(pure.inputs_before) == set(pure.inputs_after) == {"y", "p"}
    for name in ("y", "p"):
        # Exactly the set-up's arrays, before and after a call that leaves them alone.
        np.testing.assert_array_equal(pure.inputs_before[name], built[name])
        np.testing.assert_array_equal(pure.inputs_after[name], built[name])
        assert pure.inputs_after[name].dtype == built[name].dtype
        # Same seed, same set-up: the same inputs before the call.
        np.testing.assert_array_equal(mutating.inputs_before[name], built[name])
    np.testing.assert_array_equal(mutating.inputs_after["y"], built["y"])
    np.testing.assert_array_equal(mutating.inputs_after["p"], np.clip(built["p"], 0.25, 0.75))
    # Lists and tuples arrive as the arrays they hold.
    lists = result.calls["lists"]
    assert lists.inputs_before["y"].dtype == np.int64
    assert lists.inputs_before["y"].tolist() == [1, 0, 1]
    assert lists.inputs_after["p"].tolist() == [0.5, 0.25, 1.0]
    # Anything else (and a name the set-up never bound) as not numeric.
    odd = result.calls["odd"]
    assert odd.inputs_before["y"] == NotNumeric(type_name="ndarray[<U21]")
    assert odd.inputs_before["p"] == NotNumeric(type_name="dict")
    assert odd.inputs_after["absent"] == NotNumeric(type_name="NoneType")


def test_bound_values_reach_the_call_exactly(bwrap_config):
    """How a metric receives the student's `result`: decoded data bound after the set-up
    (and over any name it binds), in a child that holds no student code."""
    result_array = np.array([[0.1, -2.5], [np.nan, 7.0]])
    bind = {"result": result_array, "scale": 0.1}
    result = run(
        "",
        SandboxCall(id="array", setup="result = 'overwritten'", expr="result * 1", bind=bind),
        SandboxCall(id="float", expr="scale", bind=bind),
        SandboxCall(id="seeded", setup="x = rng.normal(size=3)", seed=5, expr="x @ result[0, :1].repeat(3)", bind=bind),
        SandboxCall(id="writable", expr="(result.__setitem__((0, 0), 1.0), result[0, 0])[1]", bind=bind),
        config=bwrap_config,
    )
    assert result.termination is Termination.COMPLETED, result
    np.testing.assert_array_equal(result.calls["array"].value, result_array)
    assert result.calls["float"].value == 0.1
    x = inputs("x = rng.normal(size=3)", 5)["x"]
    assert result.calls["seeded"].value == pytest.approx(float(x @ np.full(3, 0.1)), rel=1e-15)
    assert result.calls["writable"].value == 1.0


def test_it_returns_perturbed_values_for_gradient_checks(bwrap_config):
    step = 1e-5
    call = SandboxCall(id="grad", setup=LOGISTIC, seed=4, expr="loss(w, X, y)", fd_of="loss(w, X, y)", fd_wrt="w")
    result = run(BCE, call, config=bwrap_config)
    outcome = result.calls["grad"]
    data = inputs(LOGISTIC, 4)
    X, w, y = data["X"], data["w"], data["y"]

    def loss(weights):
        return reference_bce(y, 1 / (1 + np.exp(-X @ weights)))

    expected = []
    for i in range(3):
        for sign in (1, -1):
            moved = w.copy()
            moved[i] += sign * step
            expected.append(loss(moved))
    assert outcome.fd_values == pytest.approx(expected, rel=1e-12)
    gradient = [(expected[2 * i] - expected[2 * i + 1]) / (2 * step) for i in range(3)]
    sigmoid = 1 / (1 + np.exp(-X @ w))
    np.testing.assert_allclose(gradient, X.T @ (sigmoid - y) / len(y), rtol=1e-5)


def test_it_reports_student_errors_with_their_lines(bwrap_config):
    syntax = run("def f(:\n    pass\n", SandboxCall(id="c", expr="f()"), entry_points=("f",), config=bwrap_config)
    assert syntax.module_error == StudentError(
        type="SyntaxError", message=syntax.module_error.message, line=1, in_setup=False
    )
    assert syntax.calls == {}
    assert syntax.termination is Termination.COMPLETED
    # The message is the SyntaxError's own, without str()'s "(submission.py, line 1)":
    # the line is said once, by `line`.
    assert syntax.module_error.message == "invalid syntax"
    unclosed = run("x = (1,\n", config=bwrap_config)
    assert unclosed.module_error == StudentError(type="SyntaxError", message="'(' was never closed", line=1)
    indented = run("def f():\nreturn 1\n", config=bwrap_config)
    assert indented.module_error is not None
    assert indented.module_error.type == "IndentationError"
    assert "submission.py" not in indented.module_error.message
    assert indented.module_error.line == 2

    code = "def ok():\n    return 1.0\n\ndef broken(x):\n    y = x + 1\n    return y / 0\n"
    result = run(
        code,
        SandboxCall(id="broken", expr="broken(1)"),
        SandboxCall(id="missing", expr="absent()"),
        SandboxCall(id="setup_fails", setup="x = 1 / 0", expr="ok()"),
        SandboxCall(id="ok", expr="ok()"),
        entry_points=("ok", "broken", "absent"),
        config=bwrap_config,
    )
    assert result.missing == ("absent",)
    assert result.calls["broken"].error == StudentError(type="ZeroDivisionError", message="division by zero", line=6)
    assert result.calls["missing"].error.type == "NameError"
    assert result.calls["setup_fails"].error.in_setup
    assert result.calls["ok"].value == 1.0
    assert 'File "submission.py", line 6, in broken' in result.output
    assert "harness" not in result.output
    assert "runtime" not in result.output

    at_import = run("x = 1\nraise ValueError('no')\n", config=bwrap_config)
    assert at_import.module_error == StudentError(type="ValueError", message="no", line=2)


def test_a_leading_byte_order_mark_is_refused_by_the_child_itself(bwrap_config):
    """Why sandbox_job drops it (tests/grader/test_run_checks.py runs such a submission)."""
    result = run("\ufeffdef f():\n    return 1.0\n", SandboxCall(id="c", expr="f()"), config=bwrap_config)

    assert result.module_error is not None
    assert result.module_error.type == "SyntaxError"


# Walks every frame up the stack, at import and during a call, through the values in
# each frame's locals (dicts, lists, tuples, sets, objects' __dict__; not modules), and
# counts what it finds: the set-up's source text (a comment only the set-up holds), the
# seed, and a call of this job (a dict with its id) that still holds "setup" or "seed".
# As a control it also counts this job's calls it found at all: their expressions stay
# reachable, by design (docs/sandbox.md, "What a student's code can learn"). The needles
# are built at run time: this source is itself on the stack.
SNOOP = """
import sys
import types


def _scan(frame):
    setup_text = "SETUP-" + "MARKER-5d1e"
    seed = 982451000 + 653
    found = {"setup": 0, "seed": 0, "calls": 0}
    seen = set()
    own = globals()

    def walk(value, depth):
        if depth > 10 or id(value) in seen or value is own:
            return
        seen.add(id(value))
        if isinstance(value, str):
            found["setup"] += setup_text in value
        elif isinstance(value, (bytes, bytearray)):
            found["setup"] += setup_text.encode() in value
        elif type(value) is int:
            found["seed"] += value == seed
        elif isinstance(value, dict):
            if str(value.get("id", "")).startswith("probe-"):
                found["calls"] += 1
                found["setup"] += "setup" in value
                found["seed"] += "seed" in value
            for key, item in list(value.items()):
                walk(key, depth + 1)
                walk(item, depth + 1)
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in list(value):
                walk(item, depth + 1)
        elif not isinstance(value, types.ModuleType) and isinstance(getattr(value, "__dict__", None), dict):
            walk(vars(value), depth + 1)

    while frame is not None:
        walk(frame.f_locals, 0)
        frame = frame.f_back
    return found


AT_IMPORT = _scan(sys._getframe())


def hits(when, what):
    found = AT_IMPORT if when == "import" else _scan(sys._getframe(1))
    return float(found[what])
"""
PROBE_SETUP = "# SETUP-MARKER-5d1e: only the set-up's source holds this line\nx = rng.normal(size=3)\n"
PROBE_SEED = 982451653


def test_the_setup_source_and_seed_are_out_of_reach_once_the_students_module_runs(bwrap_config):
    calls = [
        SandboxCall(id=f"probe-{when}-{what}", setup=PROBE_SETUP, seed=PROBE_SEED, expr=f"hits({when!r}, {what!r})")
        for when in ("import", "call")
        for what in ("setup", "seed", "calls")
    ]

    result = run(SNOOP, *calls, config=bwrap_config)

    assert result.termination is Termination.COMPLETED, result
    found = {call_id: outcome.value for call_id, outcome in result.calls.items()}
    assert {call_id: value for call_id, value in found.items() if not call_id.endswith("-calls")} == {
        "probe-import-setup": 0.0,
        "probe-import-seed": 0.0,
        "probe-call-setup": 0.0,
        "probe-call-seed": 0.0,
    }, result.output
    # The control: the walk reached every call of the job (during a call, also the frame
    # the harness is building for it, which carries the call's id).
    assert found["probe-import-calls"] == 6.0
    assert found["probe-call-calls"] >= 6.0
    # And it would see each of them: in what stays reachable (an expression, the inputs).
    planted = (
        "x = rng.normal(size=3)\n"
        f"seed_copy = {PROBE_SEED}\n"
        "call_copy = {'id': 'probe-copy', 'setup': '', 'seed': 0}\n"
    )
    control = run(
        SNOOP,
        *(
            # The call names the planted inputs: a call's namespace holds only what it uses.
            SandboxCall(
                id=f"probe-{what}",
                setup=planted,
                expr=f"hits('call', {what!r}) + 0 * len((seed_copy, call_copy, x))  # SETUP-MARKER-5d1e",
            )
            for what in ("setup", "seed")
        ),
        config=bwrap_config,
    )
    assert control.calls["probe-setup"].value >= 2.0  # the expressions' comment, the planted call's "setup"
    assert control.calls["probe-seed"].value >= 2.0  # the planted seed, the planted call's "seed"


def test_the_seed_cannot_be_read_from_the_inputs_generator(bwrap_config):
    code = (
        "import sys\n"
        "def f(x):\n"
        "    generator = sys._getframe(1).f_globals.get('rng')  # the call's namespace: its inputs\n"
        "    return float(generator.bit_generator.seed_seq.entropy) if generator is not None else -1.0\n"
    )
    result = run(code, SandboxCall(id="c", setup=PROBE_SETUP, seed=PROBE_SEED, expr="f(x)"), config=bwrap_config)

    assert result.calls["c"].value != float(PROBE_SEED)


def test_it_captures_and_cuts_output(bwrap_config):
    limits = dataclasses.replace(LIMITS, output_kept_bytes=100)
    result = run(
        "import sys\nprint('hello')\nsys.stderr.write('warn\\n')\ndef talk():\n    print('é' * 500)\n    return 1\n",
        SandboxCall(id="c", expr="talk()"),
        limits=limits,
        config=bwrap_config,
    )
    assert result.termination is Termination.COMPLETED
    assert result.output.startswith("hello\nwarn\né")
    assert len(result.output.encode()) <= 100
    assert result.output_truncated


def test_it_runs_an_empty_job(bwrap_config):
    result = sandbox_run(job=SandboxJob(code="", entry_points=(), calls=()), config=bwrap_config)
    assert result.termination is Termination.COMPLETED
    assert result.module_error is None
    assert result.calls == {}


def test_it_passes_big_jobs_and_results_without_deadlock(bwrap_config):
    big = "x = " + repr(list(range(200_000))) + "\n"  # about 1.5 MB of code
    limits = dataclasses.replace(LIMITS, result_bytes=16 * 1024 * 1024, wall_seconds=10.0, cpu_seconds=10)
    result = run(
        big + "import numpy as np\n",
        SandboxCall(id="c", expr="np.array(x, dtype=np.int64)"),
        limits=limits,
        config=bwrap_config,
    )
    assert result.termination is Termination.COMPLETED, result.termination_detail
    np.testing.assert_array_equal(result.calls["c"].value, np.arange(200_000))


def test_it_recycles_the_zygote_after_its_quota(bwrap_config):
    config = dataclasses.replace(bwrap_config, recycle_after_jobs=2)
    job = SandboxJob(code="", entry_points=(), calls=(SandboxCall(id="c", expr="1.0"),), limits=LIMITS)
    sandbox_run(job=job, config=config)
    first = sandbox._zygotes.get("numpy")
    sandbox_run(job=job, config=config)
    assert sandbox._zygotes.get("numpy") is None  # retired after its second job
    sandbox_run(job=job, config=config)
    assert sandbox._zygotes.get("numpy") is not None
    assert sandbox._zygotes.get("numpy") is not first
    sandbox_shutdown()


def test_it_replaces_a_zygote_that_died(bwrap_config):
    job = SandboxJob(code="", entry_points=(), calls=(SandboxCall(id="c", expr="1.0"),), limits=LIMITS)
    sandbox_run(job=job, config=bwrap_config)
    dead = sandbox._zygotes.get("numpy")
    dead.proc.kill()
    dead.proc.wait()
    result = sandbox_run(job=job, config=bwrap_config)
    assert result.calls["c"].value == 1.0
    assert sandbox._zygotes.get("numpy") is not dead


def test_a_forked_worker_process_builds_its_own_zygote(bwrap_config):
    job = SandboxJob(code="", entry_points=(), calls=(SandboxCall(id="c", expr="2.0"),), limits=LIMITS)
    sandbox_run(job=job, config=bwrap_config)
    parent_zygote = sandbox._zygotes.get("numpy")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # a Celery prefork child, in miniature
        try:
            inherited = sandbox._zygotes.get("numpy")
            result = sandbox_run(job=job, config=bwrap_config)
            report = {
                "value": result.calls["c"].value,
                "inherited": inherited is not None,
                "own": sandbox._zygotes.get("numpy").proc.pid != parent_zygote.proc.pid,
            }
            sandbox_shutdown()
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    report = json.loads(os.read(read_end, 1000))
    os.close(read_end)
    os.waitpid(pid, 0)
    assert report == {"value": 2.0, "inherited": False, "own": True}
    assert sandbox._zygotes.get("numpy") is parent_zygote  # untouched by the child
    assert sandbox_run(job=job, config=bwrap_config).calls["c"].value == 2.0


def test_it_refuses_clearly_without_bwrap():
    config = SandboxConfig(mode=SandboxMode.BUBBLEWRAP, bwrap="/nonexistent/bwrap")
    with pytest.raises(SandboxUnavailable, match=r"/nonexistent/bwrap.*GRADER_SANDBOX=rlimits"):
        sandbox_check(config)


def test_it_explains_refused_user_namespaces(tmp_path):
    fake = tmp_path / "bwrap"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --version ]; then echo "bubblewrap 0.8.0"; exit 0; fi\n'
        "echo 'bwrap: No permissions to creating new namespace, likely because the kernel does not allow "
        "non-privileged user namespaces.' >&2\n"
        "exit 1\n"
    )
    fake.chmod(0o755)
    with pytest.raises(SandboxUnavailable, match=r"user namespaces are refused.*GRADER_SANDBOX=rlimits.*bwrap said"):
        sandbox_check(SandboxConfig(mode=SandboxMode.BUBBLEWRAP, bwrap=str(fake)))


def test_it_reads_its_configuration_from_the_environment(monkeypatch):
    monkeypatch.setenv("GRADER_SANDBOX", "rlimits")
    monkeypatch.setenv("GRADER_SANDBOX_BWRAP", "/opt/bwrap")
    monkeypatch.setenv("GRADER_SANDBOX_RECYCLE_JOBS", "7")
    assert SandboxConfig.from_env() == SandboxConfig(mode=SandboxMode.RLIMITS, bwrap="/opt/bwrap", recycle_after_jobs=7)
    monkeypatch.setenv("GRADER_SANDBOX", "docker")
    with pytest.raises(ImproperlyConfigured, match="GRADER_SANDBOX"):
        SandboxConfig.from_env()


def test_the_weaker_mode_still_locks_the_child_down(bwrap_config):
    code = (
        "import os, socket\n"
        "def attempts():\n"
        "    done = 0\n"
        "    for attempt in (os.fork, lambda: socket.socket(), lambda: os.kill(os.getppid(), 9)):\n"
        "        try:\n"
        "            attempt()\n"
        "            done += 1\n"
        "        except OSError:\n"
        "            pass\n"
        "    return float(done)\n"
    )
    result = run(
        code,
        SandboxCall(id="attempts", expr="attempts()"),
        SandboxCall(id="env", expr="float(len(os.environ))"),
        SandboxCall(id="uid", expr="float(os.getuid())"),
        SandboxCall(id="cwd", expr="float(len(os.listdir('.')))"),
        SandboxCall(id="numpy", expr="__import__('numpy').arange(3.0).sum()"),
        config=RLIMITS,
    )
    try:
        assert result.termination is Termination.COMPLETED, result
        values = {key: outcome.value for key, outcome in result.calls.items()}
        assert values["attempts"] == 0.0
        assert values["env"] == 0.0
        assert values["cwd"] == 0.0
        assert values["numpy"] == 3.0
        if os.geteuid() == 0:
            assert values["uid"] == 65534.0  # never root, even when the worker is
    finally:
        sandbox_shutdown()
