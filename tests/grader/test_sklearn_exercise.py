"""The seeded sklearn-loss-versus-accuracy exercise (the `scientific` environment, data
files with a hidden held-out split), graded through the real sandbox."""

from __future__ import annotations

import pytest

from tests.grader.seeded import grade, key, passed

SLUG = "sklearn-loss-versus-accuracy"
REPORT = """
def loss_and_accuracy(y_true, p):
    y = np.asarray(y_true)
    p = np.asarray(p, dtype=float)
    return np.array([log_loss(y, p, labels=[0, 1]), accuracy_score(y, (p > 0.5).astype(y.dtype))])


def same_accuracy_different_loss(y_true):
    y = np.asarray(y_true, dtype=float)
    return np.stack([np.where(y == 1, 0.7, 0.3), np.where(y == 1, 0.99, 0.01)])
"""
HEADER = (
    "import numpy as np\n"
    "from sklearn.metrics import accuracy_score, log_loss\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "from sklearn.pipeline import make_pipeline\n"
    "from sklearn.preprocessing import StandardScaler\n"
    "from sklearn.tree import DecisionTreeClassifier\n"
    "from sklearn.dummy import DummyClassifier\n"
)


def model(fit: str) -> str:
    return HEADER + f"\n\ndef held_out_probabilities(X_train, y_train, X_test):\n    return {fit}\n" + REPORT


LOGISTIC = model(
    "make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_train, y_train)"
    ".predict_proba(X_test)[:, 1]"
)
TREE = model("DecisionTreeClassifier(max_depth=3, random_state=0).fit(X_train, y_train).predict_proba(X_test)[:, 1]")
MAJORITY = model("DummyClassifier().fit(X_train, y_train).predict_proba(X_test)[:, 1]")
WRONG_CLASS = LOGISTIC.replace(".predict_proba(X_test)[:, 1]", ".predict_proba(X_test)[:, 0]")
PEEKS_AT_THE_HELD_OUT_FILE = HEADER + (
    "\n\ndef held_out_probabilities(X_train, y_train, X_test):\n"
    "    import os\n"
    "    for path in ('data/breast_cancer_test.npz', '../breast_cancer_test.npz'):\n"
    "        if os.path.exists(path):\n"
    "            return np.load(path)['y'].astype(float)\n"
    "    return np.full(len(X_test), 0.5)\n" + REPORT
)


def test_the_reference_validates_with_full_marks():
    verdict = key(SLUG).reference
    assert verdict.score == verdict.max_score == 10


def test_a_calibrated_model_earns_full_marks():
    verdict = grade(SLUG, LOGISTIC)
    assert verdict.score == verdict.max_score, verdict.summary


def test_a_tree_is_accurate_but_too_sure_so_it_loses_the_log_loss():
    won = passed(grade(SLUG, TREE))
    assert "held-out-accuracy" in won
    assert "held-out-log-loss" not in won


@pytest.mark.parametrize("code", [MAJORITY, WRONG_CLASS], ids=["majority-class", "probability-of-the-other-class"])
def test_models_that_do_not_learn_the_task_lose_the_held_out_checks(code: str):
    won = passed(grade(SLUG, code))
    assert not {"held-out-accuracy", "held-out-log-loss"} & won


def test_the_held_out_labels_cannot_be_read_from_the_working_directory():
    won = passed(grade(SLUG, PEEKS_AT_THE_HELD_OUT_FILE))
    assert not {"held-out-accuracy", "held-out-log-loss"} & won


def test_two_copies_of_one_model_do_not_show_a_loss_difference():
    code = LOGISTIC.replace(
        "return np.stack([np.where(y == 1, 0.7, 0.3), np.where(y == 1, 0.99, 0.01)])",
        "return np.stack([np.where(y == 1, 0.7, 0.3), np.where(y == 1, 0.7, 0.3)])",
    )
    assert "same-accuracy-different-loss" not in passed(grade(SLUG, code))
