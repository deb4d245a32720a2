"""The hostile suite for scores: the cheapest code that might score points it should not,
graded on the seeded exercises through the real sandbox, the metric run and the judge.

Each case states what the submission deserves. Those that once scored more (a constant,
replayed feedback, a shortcut on the timed input, forged frames, a tampered harness,
hijacked builtins, frame introspection) are kept here so that they never score again.
"""

from __future__ import annotations

import re

import pytest

from grader.checks import Verdict, judge, run_checks
from tests.grader.seeded import grade, key, passed

BCE = "binary-cross-entropy"
LOGREG = "logistic-regression-by-gradient-descent"
GRADIENT = "accuracy-zero-gradient"

CORRECT_BCE = """
import numpy as np

def binary_cross_entropy(y_true, y_pred, eps=1e-7):
    y = np.asarray(y_true, dtype=float)
    p = np.clip(np.asarray(y_pred, dtype=float), eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
"""

SLOW_BCE = """
import math

def binary_cross_entropy(y_true, y_pred, eps=1e-7):
    import numpy as np
    ys = np.asarray(y_true, dtype=float).ravel().tolist()
    ps = np.asarray(y_pred, dtype=float).ravel().tolist()
    total = 0.0
    for y, p in zip(ys, ps):
        p = min(max(p, eps), 1 - eps)
        total -= y * math.log(p) + (1 - y) * math.log(1 - p)
    return total / len(ys)
"""


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("def binary_cross_entropy(y_true, y_pred, eps=1e-7):\n    return 0.0\n", id="returns-0"),
        pytest.param(
            "import numpy as np\ndef binary_cross_entropy(y_true, y_pred, eps=1e-7):\n    return np.empty(0)\n",
            id="empty-array",
        ),
        pytest.param(
            "import numpy as np\ndef binary_cross_entropy(y_true, y_pred, eps=1e-7):\n    return np.float64('nan')\n",
            id="nan",
        ),
        pytest.param(
            "import numpy as np\ndef binary_cross_entropy(y_true, y_pred, eps=1e-7):\n    return np.zeros(())\n",
            id="zero-d-array",
        ),
        pytest.param(
            "import os\ntry:\n    os.kill(os.getppid(), 9)\nexcept OSError:\n    pass\n"
            "def binary_cross_entropy(y_true, y_pred, eps=1e-7):\n    return 0.0\n",
            id="kills-its-parent",
        ),
        pytest.param(
            "import os\ntry:\n    os.fork()\nexcept OSError:\n    pass\n"
            "def binary_cross_entropy(y_true, y_pred, eps=1e-7):\n    return 0.0\n",
            id="forks-at-import",
        ),
        pytest.param(CORRECT_BCE.replace("return float(-np.mean(", "return float(np.mean("), id="wrong-sign"),
        pytest.param(CORRECT_BCE.replace("-np.mean(", "-np.sum("), id="sum-instead-of-mean"),
    ],
)
def test_non_solutions_of_binary_cross_entropy_score_nothing(code: str):
    """Once 4/10 (finite, scalar, unchanged and time paid for doing nothing), 3/10 for an
    empty array."""
    verdict = grade(BCE, code)

    assert verdict.score == 0, [(c.name, c.message) for c in verdict.checks if c.passed]


def test_a_property_that_passed_alone_says_what_it_waits_for():
    verdict = grade(BCE, "def binary_cross_entropy(y_true, y_pred, eps=1e-7):\n    return 0.0\n")
    finite = next(check for check in verdict.checks if check.name == "certain-predictions-finite")

    assert finite.message == "not scored until certain-predictions-clipped passes (this check on its own: passed)"


def test_a_shortcut_on_the_timed_input_loses_the_time_check():
    """`if len(y) >= 1e5: return 0.0` on top of a slow loop once scored 10/10."""
    shortcut = SLOW_BCE.replace("    total = 0.0\n", "    if len(ys) >= 1e5:\n        return 0.0\n    total = 0.0\n")
    verdict = grade(BCE, shortcut)

    assert passed(verdict) == {check.name for check in key(BCE).checks} - {"a-million-elements"}
    assert "a fast wrong answer does not count" in verdict.checks[-1].message


def test_the_slow_loop_itself_earns_everything_but_speed():
    verdict = grade(BCE, SLOW_BCE)

    assert verdict.score == verdict.max_score - 1
    assert "more than the 0.5 s allowed" in verdict.checks[-1].message


FORGE = """
import json, os, struct

def _frame(obj):
    payload = json.dumps(obj).encode()
    os.write(4, struct.pack(">I", len(payload)) + payload)

def forge(value):
    _frame({"t": "module", "missing": []})
    for call_id in CALLS:
        frame = {"t": "call", "id": call_id, "v": {"k": "f", "v": float(value).hex()}}
        if call_id == "inputs-unchanged":
            same = {"k": "f", "v": "0x0p+0"}
            frame["ib"] = {"y_true": same, "y_pred": same}
            frame["ia"] = {"y_true": same, "y_pred": same}
        _frame(frame)
"""


def test_forged_result_frames_earn_nothing():
    """Frames written at import for every call, then an end frame: the grader reads them
    as the calls' answers, which are as good as returning the constant."""
    calls = [check.call_id(0) for check in key(BCE).checks]
    code = (
        f"CALLS = {calls!r}\n" + FORGE + "forge(0.6931471805599453)\n_frame({'t': 'end'})\nos._exit(0)\n"
        "def binary_cross_entropy(y_true, y_pred, eps=1e-7):\n    return 0.0\n"
    )
    verdict = grade(BCE, code)

    assert verdict.score == 0


def test_a_forged_time_frame_before_a_protocol_violation_does_not_count():
    """The time check's own run: a correct-looking frame, then garbage. A run that broke
    down proves nothing about its speed."""
    # Inside the timed function: the right value at once, then a broken frame.
    code = (
        CORRECT_BCE
        + FORGE
        + "def _violate():\n    os.write(4, b'\\x00\\x00\\x00\\x03{{{')\n"
        + "_real = binary_cross_entropy\n"
        "def binary_cross_entropy(y_true, y_pred, eps=1e-7):\n"
        "    value = _real(y_true, y_pred, eps)\n"
        "    if len(y_true) >= 10**6:\n"
        "        _frame({'t': 'call', 'id': 'a-million-elements', 'v': {'k': 'f', 'v': value.hex()}})\n"
        "        _violate()\n"
        "    return value\n"
    )
    verdict = grade(BCE, code)
    timed = next(check for check in verdict.checks if check.name == "a-million-elements")

    assert not timed.passed
    assert "did not end normally" in timed.message


def test_a_harness_that_reports_unmodified_inputs_does_not_hide_a_modification():
    """The student's process reports its inputs after the call; it is compared with the
    inputs as the reference received them, so reporting "the same before and after" (the
    digest tamper that once turned 9/10 into 10/10) proves nothing."""
    tamper = (
        "import gc, numpy as np\n"
        "def _harness():\n"
        "    for obj in gc.get_objects():\n"
        "        if type(obj).__name__ == 'Harness':\n"
        "            return type(obj)\n"
        "_cls = _harness()\n"
        "if _cls is not None:\n"
        "    _cls.encode_input = lambda self, value: {'k': 'f', 'v': '0x0p+0'}\n"
        "def binary_cross_entropy(y_true, y_pred, eps=1e-7):\n"
        "    y = np.asarray(y_true, dtype=float)\n"
        "    p = np.asarray(y_pred, dtype=float)\n"
        "    np.clip(p, eps, 1 - eps, out=p)\n"
        "    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))\n"
    )
    verdict = grade(BCE, tamper)
    unchanged = next(check for check in verdict.checks if check.name == "inputs-unchanged")

    assert not unchanged.passed
    assert "modified its arguments y_true, y_pred" in unchanged.message


def test_the_modifying_solution_loses_only_the_unchanged_check():
    modifying = CORRECT_BCE.replace(
        "    p = np.clip(np.asarray(y_pred, dtype=float), eps, 1 - eps)\n",
        "    p = np.asarray(y_pred, dtype=float)\n    np.clip(p, eps, 1 - eps, out=p)\n",
    )
    verdict = grade(BCE, modifying)

    assert passed(verdict) == {check.name for check in key(BCE).checks} - {"inputs-unchanged"}


def _expected_numbers(verdict: Verdict) -> list[float]:
    numbers = []
    for check in verdict.checks:
        numbers += [float(x) for x in re.findall(r"expected (-?[0-9.e+-]+)", check.message)]
    return numbers


def test_replaying_numbers_seen_in_feedback_does_not_pass_the_next_submission():
    """Once 9/10: code that replays the expected values printed in a verdict, by input
    shape. Expected values are shown only where the instructor chose to (one check, whose
    prompt gives its value anyway), and the next submission gets other inputs."""
    probe = grade(BCE, "def binary_cross_entropy(y_true, y_pred, eps=1e-7):\n    return 0.0\n", variant=0)
    seen = _expected_numbers(probe)
    assert len(seen) <= 1  # only certain-predictions-clipped shows its expected value

    # The strongest replay: every visible value of this variant, taken from the key itself.
    k = key(BCE)
    by_shape = {}
    for check in k.checks:
        stored = k.expected.get(check.call_id(0))
        if not check.hidden and stored and stored.get("values") is not None and stored["shape"] is None:
            by_shape[check.name] = stored["values"]
    replay = (
        "import numpy as np\n"
        f"TABLE = {by_shape!r}\n"
        "SHAPES = {(100,): 'random-cases', (6,): 'certain-predictions-clipped', (5,): 'python-lists',\n"
        "          (20, 5): 'two-dimensional', (8, 3): 'returns-a-scalar'}\n"
        "def binary_cross_entropy(y_true, y_pred, eps=1e-7):\n"
        "    return TABLE.get(SHAPES.get(np.shape(y_true)), 0.5)\n"
    )
    same_variant = grade(BCE, replay, variant=0)
    next_variant = grade(BCE, replay, variant=1)

    varied = {check.name for check in k.checks if check.variants > 1}
    assert varied <= passed(same_variant)  # the replay is faithful...
    assert not varied & passed(next_variant)  # ...and worth nothing on the next inputs
    # What remains: the check on exact 0/1 predictions, whose value the prompt states, and
    # its finiteness, which requires it.
    assert passed(next_variant) <= {"certain-predictions-clipped", "certain-predictions-finite"}


UNTRAINED = """
import numpy as np

def predict(w, X):
    return (np.asarray(X) @ np.asarray(w) > 0).astype(float)

def fit(X, y, lr=0.1, steps=1000):
    return np.zeros(np.asarray(X).shape[1])
"""

HIJACK = """
import builtins
import numpy as np

def float(x):
    return 0.9

np.mean = lambda *args, **kwargs: 0.99
np.logaddexp = lambda *args, **kwargs: np.zeros(1)
builtins.float = float
"""


def test_hijacked_builtins_and_numpy_change_no_metric():
    """Once 7/10 instead of 4/10: range checks evaluated their expression in the
    student's namespace. Metrics now run where the student's code never loaded."""
    honest = grade(LOGREG, UNTRAINED)
    hijacked = grade(LOGREG, UNTRAINED + HIJACK)

    assert hijacked.score <= honest.score  # the hijack breaks the student's own code, nothing else
    assert {"training-loss-goes-down", "held-out-accuracy"}.isdisjoint(passed(hijacked))


def test_a_numerical_gradient_of_zeros_earns_no_zero_gradient_points():
    code = (
        "import numpy as np\n"
        "def accuracy(w, X, y):\n    return float(np.mean((np.asarray(X) @ w > 0) == y))\n"
        "def bce_loss(w, X, y, eps=1e-7):\n    return 0.0\n"
        "def numerical_gradient(f, w, h=1e-5):\n    return np.zeros_like(np.asarray(w, dtype=float))\n"
    )
    verdict = grade(GRADIENT, code)

    assert "accuracy-has-zero-gradient" not in passed(verdict)
    assert verdict.score == 1  # accuracy-values: the accuracy itself is right


SNOOP = """
import gc, sys

def _hits():
    found = []
    frame = sys._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()):
            found.append(repr(value)[:100000])
        frame = frame.f_back
    for obj in gc.get_objects():
        if isinstance(obj, dict) and "binary_cross_entropy" in str(obj.get("expr")) and "seed" in obj:
            found.append("SEED" + "-MARK")
    return found

SEEN = "\\n".join(_hits())
# Built at run time: the needles must not appear in this source, which is on the stack.
print("SETUP-SEEN" if "rng.uniform(0.0, 1.0, " + "size=500)" in SEEN else "SETUP-UNSEEN")
print("SEED-SEEN" if "SEED" + "-MARK" in SEEN else "SEED-UNSEEN")

def binary_cross_entropy(y_true, y_pred):
    return 0.0
"""


def test_hidden_setups_and_seeds_are_out_of_reach_and_errors_name_no_hidden_argument():
    """Frame introspection once read the hidden checks' set-up source and seeds, and a
    TypeError named the hidden call's keyword arguments."""
    k = key(BCE)
    runs = run_checks(runner=k.runner, code=SNOOP, checks=k.checks, entry_points=k.spec.entry_points, limits=k.limits)
    verdict = judge(checks=k.checks, expected=k.expected, runs=runs, limits=k.limits)

    assert "SETUP-UNSEEN" in runs.main.output, runs.main.output
    assert "SEED-UNSEEN" in runs.main.output, runs.main.output
    hidden = next(check for check in verdict.checks if check.name == "random-cases-hidden")
    spec = next(check for check in k.checks if check.name == "random-cases-hidden")
    assert hidden.message == f"{spec.message} (raised TypeError)"  # not "unexpected keyword argument 'eps'"


def test_a_correct_solution_with_a_byte_order_mark_scores_full_marks():
    verdict = grade(BCE, "\ufeff" + CORRECT_BCE)

    assert verdict.score == verdict.max_score


def test_the_timed_inputs_drawn_for_a_submission_decide_nothing_but_speed(monkeypatch: pytest.MonkeyPatch):
    """Timed inputs are drawn afresh per submission. With predictions drawn from [0, 1),
    seed 10 put one within 1e-7 of 0, and an unclipped loss (wrong only on exact 0 or 1,
    which other checks test) lost the time point there: about one draw in twenty."""
    monkeypatch.setattr("grader.checks._fresh_seeds", lambda *, checks: {check.name: 10 for check in checks})
    unclipped = CORRECT_BCE.replace("np.clip(np.asarray(y_pred, dtype=float), eps, 1 - eps)", "np.asarray(y_pred)")

    assert "a-million-elements" in passed(grade(BCE, unclipped))
