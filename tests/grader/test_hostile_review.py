"""A security review of the grading: more of the cheapest code that might score points it
should not, graded on the seeded exercises through the real sandbox, the metric run and
the judge (the helpers of tests/grader/test_hostile_grading.py).

Each case asserts what the submission deserves. Attacks that still succeed are marked
`xfail(strict=True)` with the reason; the rest are kept as regression cases.
"""

from __future__ import annotations

import re

import pytest

from grader.checks import run_checks
from tests.grader.seeded import grade, key, passed
from tests.grader.test_hostile_grading import BCE, CORRECT_BCE, LOGREG, SLOW_BCE

SOFTMAX = "stable-softmax-cross-entropy"
MSE = "mse-versus-mae"


def score_of(slug: str, code: str, *, variant: int = 0) -> tuple[float, set[str]]:
    verdict = grade(slug, code, variant=variant)
    return float(verdict.score), passed(verdict)


# --- constants and input echoes the strength report does not generate -------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("return float(np.log(2))", id="log-2"),
        pytest.param("return float(len(np.ravel(y_true)))", id="len"),
        pytest.param("return 1.0 / len(np.ravel(y_true))", id="one-over-len"),
        pytest.param("return float(np.size(y_pred)) / 100.0", id="size-over-100"),
        pytest.param("return float(np.mean(y_pred))", id="mean-of-predictions"),
        pytest.param("return float(np.mean(y_true))", id="mean-of-labels"),
        pytest.param("return float(-np.log(eps))", id="minus-log-eps"),
        pytest.param("return np.array([0.693])", id="one-element-array"),
        pytest.param("return np.float16(0.693)", id="float16"),
        pytest.param("return True", id="bool"),
        pytest.param("return np.True_", id="numpy-bool"),
        pytest.param("return 2**2000", id="huge-int"),
        pytest.param("return np.int64(2**62)", id="int64"),
        pytest.param("return float('inf')", id="inf"),
        pytest.param("return np.zeros((), dtype=bool)", id="zero-d-bool"),
        pytest.param("return np.ma.masked_array([0.69])", id="masked-array"),
    ],
)
def test_more_constants_and_echoes_score_nothing_on_bce(body: str):
    code = f"import numpy as np\ndef binary_cross_entropy(y_true, y_pred, eps=1e-7):\n    {body}\n"
    score, passing = score_of(BCE, code)

    assert score == 0, passing


def non_solution(entry_points: tuple[str, ...] | list[str], body: str) -> str:
    functions = "".join(f"\n\ndef {name}(*args, **kwargs):\n    {body}\n" for name in entry_points)
    return "import math\nimport numpy as np\n" + functions


ECHOES = [
    pytest.param("return float(np.log(2))", id="log-2"),
    pytest.param("return float(np.size(args[0]))", id="size-of-first"),
    pytest.param("return 1.0 / max(np.size(args[-1]), 1)", id="one-over-size-of-last"),
    pytest.param("return float(np.log(np.shape(args[0])[-1])) if np.ndim(args[0]) else 0.5", id="log-of-width"),
    pytest.param("return np.ones(np.shape(args[-1]))", id="ones-like-last"),
    pytest.param("return np.full(np.shape(args[0]), 0.5)", id="halves-like-first"),
    pytest.param("return np.asarray(args[-1], dtype=float) * 0.5", id="half-of-last"),
    pytest.param("return -np.asarray(args[0], dtype=float)", id="minus-first"),
    pytest.param("return np.zeros(7)", id="wrong-length-zeros"),
    pytest.param("return np.zeros((1,) * 32)", id="thirty-two-dimensions"),
    pytest.param("return np.zeros(0)", id="empty"),
]


@pytest.mark.parametrize("body", ECHOES)
@pytest.mark.parametrize("slug", [BCE, MSE, SOFTMAX, "accuracy-zero-gradient", LOGREG])
def test_input_echoes_score_nothing(slug: str, body: str):
    """Values computed from the inputs' shapes or the inputs themselves, which the
    strength report does not generate. None is an answer, so none may score."""
    score, passing = score_of(slug, non_solution(key(slug).spec.entry_points, body))

    assert score == 0, passing


# --- metrics: the student's result is plain data, but its shape is the student's -------

NO_PREDICT = "import sys\nimport numpy as np\n\ndef predict(w, X):\n    raise NotImplementedError\n"

# fit returns a (d, n) matrix instead of (d,) weights: the training-loss metric
# `-(2y - 1) * (X @ result)` then broadcasts column i against label i, and column i is
# 50 * (2 y_i - 1) on the bias feature, so every term is softplus(-50): a loss of ~0.
BROADCAST_TRAINING_LOSS = NO_PREDICT + (
    "def fit(X, y, lr=0.1, steps=1000):\n"
    "    bias = np.zeros(np.shape(X)[1])\n"
    "    bias[-1] = 50.0\n"
    "    return np.outer(bias, 2.0 * np.asarray(y, dtype=float) - 1.0)\n"
)


def test_a_result_of_the_wrong_shape_cannot_game_a_metric():
    score, passing = score_of(LOGREG, BROADCAST_TRAINING_LOSS)

    assert "training-loss-goes-down" not in passing
    assert score == 0, passing


# The same trick on the held-out metric needs the held-out labels, which fit is never
# given; but every name the check's setup binds is a global of the call's expression, and
# y_train = y[:200] is a view whose base holds y_test.
BROADCAST_HELD_OUT = NO_PREDICT + (
    "def fit(X, y, lr=0.1, steps=1000):\n"
    "    labels = sys._getframe(1).f_globals.get('y_test', y)\n"
    "    bias = np.zeros(np.shape(X)[1])\n"
    "    bias[-1] = 50.0\n"
    "    return np.outer(bias, 2.0 * np.asarray(labels, dtype=float) - 1.0)\n"
)
BROADCAST_HELD_OUT_FROM_BASE = BROADCAST_HELD_OUT.replace(
    "sys._getframe(1).f_globals.get('y_test', y)",
    "y.base[len(y):] if getattr(y, 'base', None) is not None and len(y.base) > len(y) else y",
)


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(BROADCAST_HELD_OUT, id="from-the-call-globals"),
        pytest.param(BROADCAST_HELD_OUT_FROM_BASE, id="from-the-argument-base"),
    ],
)
def test_held_out_labels_cannot_be_read_and_replayed_through_the_metric(code: str):
    score, passing = score_of(LOGREG, code)

    assert "held-out-accuracy" not in passing
    assert score == 0, passing


SNOOP_NAMES = NO_PREDICT + (
    "def fit(X, y, lr=0.1, steps=1000):\n"
    "    names = sys._getframe(1).f_globals\n"
    "    print('HELD-OUT-SEEN' if 'y_test' in names and 'X_test' in names else 'HELD-OUT-UNSEEN')\n"
    "    return np.zeros(np.shape(X)[1])\n"
)


def test_a_call_exposes_only_the_names_it_passes():
    k = key(LOGREG)
    runs = run_checks(
        runner=k.runner, code=SNOOP_NAMES, checks=k.checks, entry_points=k.spec.entry_points, limits=k.limits
    )

    assert "HELD-OUT-SEEN" not in runs.main.output


@pytest.mark.parametrize(
    "weights",
    [
        pytest.param("np.full(d, np.nan)", id="nan"),
        pytest.param("np.full(d, np.inf)", id="inf"),
        pytest.param("-np.full(d, np.inf)", id="minus-inf"),
        pytest.param("np.ones(d, dtype=bool)", id="bool"),
        pytest.param("np.full(d, 255, dtype=np.uint8)", id="uint8"),
        pytest.param("np.full(d, 2**62, dtype=np.int64)", id="int64"),
        pytest.param("np.full(d, np.iinfo(np.uint64).max, dtype=np.uint64)", id="uint64-max"),
        pytest.param("np.full(d, 60000.0, dtype=np.float16)", id="float16"),
        pytest.param("np.eye(d)[-1]", id="bias-only"),
        pytest.param("-np.eye(d)[-1]", id="minus-bias-only"),
        pytest.param("np.zeros((d, 1))", id="column"),
        pytest.param("np.zeros((1, d))", id="row"),
        pytest.param("np.zeros((d,) + (1,) * 31)", id="thirty-two-dimensions"),
        pytest.param("np.zeros(0)", id="empty"),
    ],
)
def test_odd_weights_do_not_confuse_the_range_metrics(weights: str):
    """NaN, infinities, overflowing and narrow dtypes, odd shapes: the metric child
    measures them and `range` refuses what is not a finite number within its bounds."""
    code = NO_PREDICT + f"def fit(X, y, lr=0.1, steps=1000):\n    d = np.shape(X)[1]\n    return {weights}\n"
    score, passing = score_of(LOGREG, code)

    assert score == 0, passing


@pytest.mark.xfail(
    strict=True,
    reason="check design: training-loss-goes-down and held-out-accuracy require nothing, so a closed-form "
    "one-liner (one gradient step with a learning rate of 40) earns 3 of 10 without gradient descent",
)
def test_one_closed_form_step_does_not_earn_the_training_checks():
    code = NO_PREDICT + (
        "def fit(X, y, lr=0.1, steps=1000):\n"
        "    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)\n"
        "    return 20 * X.T @ (y - 0.5) / len(y)\n"
    )
    score, passing = score_of(LOGREG, code)

    assert score == 0, passing


def test_a_broadcasting_log_softmax_does_not_sum_to_one_for_free():
    """zeros((n, 1)): exp sums to exactly 1 along each row, but the probabilities check
    requires log-softmax-values."""
    code = (
        "import numpy as np\n"
        "def log_softmax(logits):\n    return np.zeros((np.shape(logits)[0], 1))\n"
        "def softmax_cross_entropy(logits, labels):\n    return 0.0\n"
    )
    score, passing = score_of(SOFTMAX, code)

    assert score == 0, passing


def test_a_narrow_integer_log_softmax_does_not_sum_to_one_for_free():
    """int8 logs: np.exp of int8 is float16, where exp(-100) is exactly 0."""
    code = (
        "import numpy as np\n"
        "def log_softmax(logits):\n"
        "    z = np.asarray(logits)\n"
        "    out = np.full(z.shape, -100, dtype=np.int8)\n"
        "    out[np.arange(len(z)), z.argmax(axis=1)] = 0\n"
        "    return out\n"
        "def softmax_cross_entropy(logits, labels):\n    return float('nan')\n"
    )
    score, passing = score_of(SOFTMAX, code)

    assert score == 0, passing


# --- time checks -----------------------------------------------------------------------


def main_output(slug: str, code: str, *, variant: int = 0) -> str:
    k = key(slug)
    runs = run_checks(
        runner=k.runner, code=code, checks=k.checks, entry_points=k.spec.entry_points, limits=k.limits, variant=variant
    )
    return runs.main.output


# The timed call's inputs are in the harness (frames reach it) before any call: the slow
# loop computes its answer at import, or while answering the first check, and the timed
# call returns it at once.
PRECOMPUTE = (
    SLOW_BCE
    + """
import sys

_slow = binary_cross_entropy
_CACHE = {}


def _precompute(frame):
    while frame is not None:
        for names in frame.f_locals.get("inputs", []) or []:
            if isinstance(names, dict) and len(names.get("y_true", ())) >= 10**6:
                _CACHE["timed"] = _slow(names["y_true"], names["y_pred"])
                return
        frame = frame.f_back


def binary_cross_entropy(y_true, y_pred, eps=1e-7):
    if "timed" not in _CACHE:
        _precompute(sys._getframe(1))
    if len(y_true) >= 10**6 and "timed" in _CACHE:
        return _CACHE["timed"]
    return _slow(y_true, y_pred, eps)
"""
)


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(PRECOMPUTE + "\n_precompute(sys._getframe())\n", id="at-import"),
        pytest.param(PRECOMPUTE, id="in-the-first-call"),
    ],
)
def test_an_answer_precomputed_before_the_timed_call_is_timed_too(code: str):
    """The whole run is timed, the student's module and every call included, in the shared
    run and alone."""
    verdict = grade(BCE, code)
    timed = next(check for check in verdict.checks if check.name == "a-million-elements")

    assert not timed.passed, timed.message
    assert verdict.score == verdict.max_score - 1


# First submission: the slow loop prints its own answer on the timed input (a submission's
# output is shown to the student). The timed input has one variant, so every later
# submission gets the same input, and the slow loop returns the printed answer there.
LEAK_TIMED = SLOW_BCE.replace(
    "    return total / len(ys)\n",
    "    if len(ys) >= 10**6:\n        print('TIMED', (total / len(ys)).hex())\n    return total / len(ys)\n",
)


def test_a_slow_solution_cannot_replay_its_own_answer_on_the_timed_input():
    found = re.search(r"TIMED (\S+)", main_output(BCE, LEAK_TIMED))
    assert found is not None
    replay = SLOW_BCE.replace(
        "    ys = np",
        f"    if np.size(y_true) >= 10**6:\n        return float.fromhex({found.group(1)!r})\n    ys = np",
        1,
    )
    later = grade(BCE, replay, variant=1)

    assert "a-million-elements" not in passed(later)
    assert later.score == later.max_score - 1


# --- what a student's code can learn about the call it answers -------------------------

# The harness's frame (two up from the function: the check's expression, then Harness.call)
# holds the call: its id and which inputs it tracks.
CALL_OF = """
import sys


def _call():
    frame = sys._getframe(2)
    while frame is not None:
        call = frame.f_locals.get("call")
        if isinstance(call, dict) and "id" in call and "track" in call:
            return call
        frame = frame.f_back
    return {"id": None, "track": []}
"""

MODIFYING_UNLESS_TRACKED = (
    "import numpy as np\n"
    + CALL_OF
    + """

def binary_cross_entropy(y_true, y_pred, eps=1e-7):
    call = _call()
    print("CALL", call["id"])
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float)
    if call["track"]:
        p = p.copy()
    np.clip(p, eps, 1 - eps, out=p)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))
"""
)


def test_call_ids_are_visible_as_documented():
    output = main_output(BCE, MODIFYING_UNLESS_TRACKED, variant=1)

    assert "CALL random-cases@1" in output
    assert "CALL random-cases-hidden" in output


@pytest.mark.xfail(
    strict=True,
    reason="by design (the child's own report): only the tracked call is watched, and a function can tell "
    "which call that is; it modifies its inputs everywhere else and still earns inputs-unchanged",
)
def test_a_function_that_modifies_its_inputs_except_when_watched_loses_the_unchanged_check():
    verdict = grade(BCE, MODIFYING_UNLESS_TRACKED)

    assert "inputs-unchanged" not in passed(verdict)


# --- requires: a property check is only as strong as what it requires -----------------

NAIVE_BCE = """
import numpy as np

def binary_cross_entropy(y_true, y_pred, eps=1e-7):
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float)
    with np.errstate(all="ignore"):
        loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return loss
"""

NAIVE_SOFTMAX = """
import numpy as np

def log_softmax(logits):
    z = np.asarray(logits, dtype=float)
    with np.errstate(all="ignore"):
        return np.log(np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))

def softmax_cross_entropy(logits, labels):
    log_p = log_softmax(logits)
    labels = np.asarray(labels)
    loss = float(-np.mean(log_p[np.arange(labels.size), labels]))
    return loss
"""

FINITE_FALLBACK = "    if not np.isfinite(loss):\n        return 0.0\n    return loss\n"


@pytest.mark.parametrize(
    ("slug", "naive", "finite_check"),
    [
        pytest.param(BCE, NAIVE_BCE, "certain-predictions-finite", id="bce"),
        pytest.param(SOFTMAX, NAIVE_SOFTMAX, "huge-logits-finite", id="softmax"),
    ],
)
def test_the_naive_solutions_earn_what_they_deserve(slug: str, naive: str, finite_check: str):
    verdict = grade(slug, naive)

    assert finite_check not in passed(verdict)
    assert verdict.score == (7 if slug == BCE else 6)


@pytest.mark.parametrize(
    ("slug", "naive", "finite_check"),
    [
        pytest.param(BCE, NAIVE_BCE, "certain-predictions-finite", id="bce"),
        pytest.param(SOFTMAX, NAIVE_SOFTMAX, "huge-logits-finite", id="softmax"),
    ],
)
def test_a_naive_solution_that_hides_its_overflow_earns_no_finite_point(slug: str, naive: str, finite_check: str):
    verdict = grade(slug, naive.replace("    return loss\n", FINITE_FALLBACK))

    assert finite_check not in passed(verdict)


def test_requirements_cannot_be_met_by_tailoring_a_constant_to_the_required_call():
    """Knowing which call runs does not help where the required check needs the answer."""
    code = (
        "import numpy as np\n" + CALL_OF + "\ndef binary_cross_entropy(y_true, y_pred, eps=1e-7):\n"
        "    return 0.5 if str(_call()['id']).startswith('random-cases') else 1.0\n"
    )
    score, passing = score_of(BCE, code)

    assert score == 0, passing


# --- messages: hidden checks describe only the student's own result --------------------


@pytest.mark.parametrize("body", [*ECHOES[-4:], pytest.param("raise ValueError(repr(args)[:400])", id="raises")])
@pytest.mark.parametrize("slug", [BCE, MSE, SOFTMAX, "accuracy-zero-gradient", LOGREG])
def test_hidden_checks_reveal_no_shape_size_or_message(slug: str, body: str):
    """Wrong shapes, wrong sizes and exceptions on hidden checks: each says its author's
    message and, for an exception, its type; never "expected an array of shape", never
    "N of M elements", never the exception's text (which here repeats the arguments)."""
    verdict = grade(slug, non_solution(key(slug).spec.entry_points, body))
    specs = {check.name: check for check in key(slug).checks}
    for check in verdict.checks:
        spec = specs[check.name]
        if not spec.hidden or check.passed or check.message.startswith("not scored until"):
            continue
        # A hidden metric that could not measure the result says so, without its error.
        suffix = r"( \(raised [A-Za-z_][A-Za-z0-9_]*\)| \(your result could not be measured\))?"
        assert re.fullmatch(re.escape(spec.message) + suffix, check.message), check.message


# --- exceptions, encodings, forged reports ---------------------------------------------

RAISERS = [
    pytest.param("raise ValueError('x' * 10**6)", id="huge-message"),
    pytest.param(
        "class E(Exception):\n        def __str__(self):\n            raise RuntimeError('no')\n    raise E()",
        id="str-raises",
    ),
    pytest.param(
        "class E(Exception):\n        def __str__(self):\n            return 'y' * 10**7\n    raise E()",
        id="str-huge",
    ),
    pytest.param(
        "class M(type):\n        __name__ = property(lambda cls: 'Z' * 10**6)\n"
        "    class E(Exception, metaclass=M):\n        pass\n    raise E('m')",
        id="lying-metaclass",
    ),
    pytest.param("raise type('E' * 5000, (Exception,), {})('long name')", id="long-type-name"),
    pytest.param("raise SystemExit(0)", id="system-exit"),
    pytest.param("raise KeyboardInterrupt", id="keyboard-interrupt"),
    pytest.param("raise GeneratorExit", id="generator-exit"),
    pytest.param("raise MemoryError('fake')", id="fake-memory-error"),
    pytest.param("raise ValueError('\\udcff\\x00\\u202e' * 100)", id="surrogates-and-nul"),
    pytest.param(
        "import sys\n    sys.setrecursionlimit(50)\n    return binary_cross_entropy(y_true, y_pred)", id="recursion"
    ),
]


@pytest.mark.parametrize("body", RAISERS)
def test_odd_exceptions_score_nothing_and_stay_short(body: str):
    code = f"import numpy as np\ndef binary_cross_entropy(y_true, y_pred, eps=1e-7):\n    {body}\n"
    verdict = grade(BCE, code)

    assert verdict.score == 0
    assert "checks passed" in verdict.summary, verdict.summary
    specs = {check.name: check for check in key(BCE).checks}
    for check in verdict.checks:
        assert len(check.message) <= len(specs[check.name].message) + 2200, check.name


def test_a_forged_set_up_failure_scores_nothing():
    """A patched harness can report the student's own exception as the set-up's ("not
    your code's fault"): the wording is the student's to forge, the score is not."""
    code = (
        "import gc\n"
        "for _obj in gc.get_objects():\n"
        "    if type(_obj).__name__ == 'Harness':\n"
        "        _real = type(_obj).describe\n"
        "        type(_obj).describe = lambda self, exc, in_setup=False: _real(self, exc, in_setup=True)\n"
        "        break\n"
        "def binary_cross_entropy(y_true, y_pred, eps=1e-7):\n"
        "    raise ValueError('mine')\n"
    )
    verdict = grade(BCE, code)

    assert verdict.score == 0
    assert "it is not your code's fault" in verdict.checks[0].message  # forged wording, documented here


@pytest.mark.parametrize(
    ("code", "full"),
    [
        pytest.param("\ufeff\ufeff" + CORRECT_BCE, False, id="two-byte-order-marks"),
        pytest.param("\ufeff" + CORRECT_BCE.replace("\n", "\r\n"), True, id="bom-and-crlf"),
        pytest.param("\ufeff# -*- coding: latin-1 -*-\n" + CORRECT_BCE, True, id="bom-and-coding-cookie"),
        pytest.param("# -*- coding: utf-16 -*-\n" + CORRECT_BCE, True, id="utf-16-cookie"),
        pytest.param(CORRECT_BCE + "\n\u2028x = 1\n", False, id="line-separator"),
        pytest.param(CORRECT_BCE.replace("def ", "\u00a0def ", 1), False, id="no-break-space"),
    ],
)
def test_encoding_tricks_change_nothing(code: str, full: bool):
    verdict = grade(BCE, code)

    assert verdict.score == (verdict.max_score if full else 0), verdict.summary


UNTRAINED_LINGERING = """
import json, os, struct, time
import numpy as np

def predict(w, X):
    return (np.asarray(X) @ np.asarray(w) > 0).astype(float)

def _frame(obj):
    payload = json.dumps(obj).encode()
    os.write(4, struct.pack(">I", len(payload)) + payload)

def fit(X, y, lr=0.1, steps=1000):
    w = np.zeros(np.asarray(X).shape[1])
    if len(X) == 1000:  # the timed call, the run's last: answer it, end the run, linger
        _frame({"t": "call", "id": "vectorised-speed", "v": {"k": "f", "v": "0x0p+0"}})
        _frame({"t": "end"})
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            for fd in range(3, 64):
                try:
                    _frame_bytes = json.dumps({"t": "call", "id": "training-loss-goes-down",
                                               "v": {"k": "f", "v": "0x0p+0"}}).encode()
                    os.write(fd, struct.pack(">I", len(_frame_bytes)) + _frame_bytes)
                except OSError:
                    pass
    return w
"""


def test_a_child_that_outlives_its_run_cannot_reach_the_metric_run():
    """The metric run starts only after the student's child is reaped; frames it keeps
    writing go nowhere the metric run reads."""
    verdict = grade(LOGREG, UNTRAINED_LINGERING)

    assert passed(verdict) == {"predict-values"}, [(c.name, c.message) for c in verdict.checks]


# --- unchanged: restoring the inputs behind the grader's back -----------------------------

RESTORED_BY_FINALIZER = """
import weakref
import numpy as np

def _restore(array, saved):
    array[...] = saved

def binary_cross_entropy(y_true, y_pred, eps=1e-7):
    saved = np.array(y_pred, copy=True)
    p = y_pred if isinstance(y_pred, np.ndarray) else np.asarray(y_pred, dtype=float)
    np.clip(p, eps, 1 - eps, out=p)  # modifies the caller's array
    y = np.asarray(y_true, dtype=float)
    result = np.array(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))  # a 0-d array: a number
    if p is y_pred:
        weakref.finalize(result, _restore, y_pred, saved)  # undone when the caller drops the result
    return result
"""


def test_a_modification_undone_when_the_result_is_dropped_loses_the_unchanged_check():
    verdict = grade(BCE, RESTORED_BY_FINALIZER)

    assert "random-cases" in passed(verdict)
    assert "inputs-unchanged" not in passed(verdict)


MODIFIES_THE_NEXT_CALLS_INPUTS = (
    "import numpy as np\n"
    + CALL_OF
    + """

def binary_cross_entropy(y_true, y_pred, eps=1e-7):
    import sys
    frame = sys._getframe(1)
    while frame is not None and not isinstance(frame.f_locals.get("inputs"), list):
        frame = frame.f_back
    if frame is not None:  # Harness.run: every call's inputs; clip the others' in place
        for names in frame.f_locals["inputs"]:
            other = names.get("y_pred") if isinstance(names, dict) else None
            if isinstance(other, np.ndarray) and other is not y_pred:
                np.clip(other, eps, 1 - eps, out=other)
    y = np.asarray(y_true, dtype=float)
    p = np.clip(np.asarray(y_pred, dtype=float), eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))
"""
)


def test_modifying_another_calls_inputs_earlier_is_a_modification_too():
    """The tracked call's inputs after it are compared with the inputs as the reference
    received them, not with what this run's call received."""
    verdict = grade(BCE, MODIFIES_THE_NEXT_CALLS_INPUTS)

    assert "random-cases" in passed(verdict)
    assert "inputs-unchanged" not in passed(verdict)
