"""The question file format: parse and render, without a database."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from questions.files import (
    ChoiceSpec,
    QuestionFileError,
    QuestionSpec,
    ReadingSpec,
    parse_question,
    parse_quiz,
    render_question,
    render_quiz,
)

BANK_DIR = Path(settings.BASE_DIR) / "questions" / "bank" / "loss-functions-vs-metrics"
SEED_FILE = Path("/work/shared/seeds/000_1fdad5ef72724561.txt")
BANK_FILES = sorted(p for p in BANK_DIR.glob("*.md") if p.name != "quiz.md")

VALID = """---
slug: pick-one
type: single
---
# Pick one

Some stem.

**Which one?**

- [x] Right
- [ ] Wrong

## Answer

Because.
"""


def _line_of(text: str, prefix: str) -> int:
    """The 1-based number of the first line starting with prefix."""
    return next(n for n, line in enumerate(text.split("\n"), start=1) if line.startswith(prefix))


def _parse_error(text: str, *, source: str = "bank/q.md") -> QuestionFileError:
    with pytest.raises(QuestionFileError) as caught:
        parse_question(text, source=source)
    return caught.value


def test_it_parses_the_valid_example():
    spec = parse_question(VALID, source="q.md")

    assert spec.slug == "pick-one"
    assert spec.prompt == "Some stem.\n\n**Which one?**"
    assert spec.choices == (ChoiceSpec("Right", True), ChoiceSpec("Wrong", False))
    assert spec.explanation == "Because."


def test_it_parses_the_seed_write_up_under_a_front_matter():
    text = "---\nslug: accuracy-as-a-loss-function\ntype: single\n---\n" + SEED_FILE.read_text(encoding="utf-8")

    spec = parse_question(text, source=str(SEED_FILE))

    assert spec.title == "Accuracy as a loss function"
    assert spec.type == "single"
    assert spec.points == Decimal(1)
    assert [c.is_correct for c in spec.choices] == [True, False, False, False]
    assert spec.choices[0].text.startswith("Accuracy is not a differentiable function")
    assert spec.prompt.endswith("**What is the problem with this approach?**")
    assert spec.explanation.startswith("We use loss functions")
    assert spec.explanation.endswith("which is also wrong.")
    assert [(r.title, r.url) for r in spec.readings] == [
        (
            "Loss and Loss Functions for Training Deep Learning Neural Networks",
            "https://machinelearningmastery.com/loss-and-loss-functions-for-training-deep-learning-neural-networks/",
        ),
        (
            "How to Choose Loss Functions When Training Deep Learning Neural Networks",
            "https://machinelearningmastery.com/how-to-choose-loss-functions-when-training-deep-learning-neural-networks/",
        ),
    ]
    assert spec.readings[1].text.startswith('Check ["How to Choose')


def test_it_keeps_the_seed_text_verbatim_in_the_bank_file():
    text = (BANK_DIR / "01-accuracy-as-a-loss-function.md").read_text(encoding="utf-8")

    _, _, body = text.partition("\n---\n")

    assert body == SEED_FILE.read_text(encoding="utf-8").rstrip("\n") + "\n"


def test_it_has_twelve_question_files_in_the_bank():
    assert len(BANK_FILES) == 12


@pytest.mark.parametrize("path", BANK_FILES, ids=lambda p: p.name)
def test_it_renders_every_bank_file_byte_identical(path: Path):
    text = path.read_text(encoding="utf-8")

    assert render_question(parse_question(text, source=str(path))) == text


def test_it_renders_the_bank_quiz_byte_identical():
    text = (BANK_DIR / "quiz.md").read_text(encoding="utf-8")

    spec = parse_quiz(text, source="quiz.md")

    assert (spec.slug, spec.max_attempts, spec.time_limit_minutes) == ("loss-functions-vs-metrics", 3, 30)
    assert render_quiz(spec) == text


NUMERIC = QuestionSpec(
    slug="mean-of-three",
    title="Mean of three numbers",
    type="numeric",
    prompt="What is the mean of 1, 2 and 4?\n\n```python\nprint((1 + 2 + 4) / 3)\n```\n\n**Give two decimals.**",
    explanation="Add them and divide by three: **2.33**.",
    points=Decimal("2.5"),
    numeric_answer=2.3333,
    abs_tolerance=0.005,
    rel_tolerance=0.01,
    tags=("statistics", "means"),
    readings=(
        ReadingSpec(
            title="Mean", url="https://en.wikipedia.org/wiki/Mean", text='["Mean"](https://en.wikipedia.org/wiki/Mean)'
        ),
    ),
)

MULTIPLE = QuestionSpec(
    slug="true-statements",
    title="True statements",
    type="multiple",
    prompt="Pick the true statements.\n\n**Select all that apply.**",
    explanation="The first two are true.\n\n## Not a section heading, just Markdown",
    points=Decimal(3),
    scoring="right-minus-wrong",
    tags=("loss-functions", "metrics"),
    choices=(
        ChoiceSpec("Losses are minimized.", True, "Yes: gradient descent goes downhill."),
        ChoiceSpec("Metrics are reported.", True),
        ChoiceSpec("Accuracy is differentiable.", False, "No.\n\nIt is a step function:\n  it jumps."),
    ),
    readings=(
        ReadingSpec(
            title="A guide",
            url="https://example.org/guide",
            text='Read ["A guide"](https://example.org/guide) first.',
        ),
    ),
)


@pytest.mark.parametrize("spec", [NUMERIC, MULTIPLE], ids=["numeric", "multiple"])
def test_it_parses_back_what_it_renders(spec: QuestionSpec):
    assert parse_question(render_question(spec), source="q.md") == spec


def test_it_renders_feedback_below_its_choice():
    text = render_question(MULTIPLE)

    assert "- [x] Losses are minimized.\n  > Yes: gradient descent goes downhill.\n- [x] Metrics" in text
    assert "  > No.\n  >\n  > It is a step function:\n  >   it jumps.\n\n## Answer" in text


def test_it_renders_front_matter_only_for_the_type():
    numeric_meta = render_question(NUMERIC).split("\n---\n")[0]
    multiple_meta = render_question(MULTIPLE).split("\n---\n")[0]

    assert "answer: 2.3333" in numeric_meta
    assert "scoring" not in numeric_meta
    assert "scoring: right-minus-wrong" in multiple_meta
    assert "answer" not in multiple_meta


def test_it_defaults_points_and_scoring():
    text = VALID.replace("type: single", "type: multiple")

    spec = parse_question(text, source="q.md")

    assert spec.points == Decimal(1)
    assert spec.scoring == "all-or-nothing"


def test_it_reads_crlf_files():
    assert parse_question(VALID.replace("\n", "\r\n"), source="q.md") == parse_question(VALID, source="q.md")


def test_it_ignores_headings_inside_fenced_code():
    text = VALID.replace("Some stem.", "Some stem.\n\n```\n## Answer\n```")

    spec = parse_question(text, source="q.md")

    assert "## Answer" in spec.prompt
    assert spec.explanation == "Because."


# Errors: each names the file and the line to look at.


def test_it_reports_a_missing_answer_section():
    text = VALID.replace("## Answer", "## Explanation")

    error = _parse_error(text)

    assert str(error).startswith("bank/q.md:")
    assert "'## Answer' section is missing" in error.message


def test_it_reports_the_line_of_an_unknown_front_matter_key():
    text = VALID.replace("type: single\n", "type: single\ncolour: red\n")

    error = _parse_error(text)

    assert error.line == _line_of(text, "colour:")
    assert str(error).startswith(f"bank/q.md:{error.line}: unknown key 'colour'")


def test_it_reports_a_repeated_front_matter_key():
    text = VALID.replace("type: single\n", "type: single\ntype: multiple\n")

    error = _parse_error(text)

    assert error.line == 4
    assert "given twice (first on line 3)" in error.message


def test_it_reports_two_correct_choices_at_the_first_choice():
    text = VALID.replace("- [ ] Wrong", "- [x] Wrong")

    error = _parse_error(text)

    assert error.line == _line_of(text, "- [x] Right")
    assert "exactly one correct choice" in error.message
    assert str(error).startswith(f"bank/q.md:{error.line}: ")


def test_it_reports_a_multiple_question_without_a_correct_choice():
    text = VALID.replace("type: single", "type: multiple").replace("- [x] Right", "- [ ] Right")

    error = _parse_error(text)

    assert error.line == _line_of(text, "- [ ] Right")
    assert "at least one correct choice" in error.message


def test_it_reports_a_bad_number_for_the_answer():
    text = VALID.replace("type: single", "type: numeric\nanswer: zero point nine\nabs_tolerance: 0.1")
    text = text.replace("- [x] Right\n- [ ] Wrong\n", "")

    error = _parse_error(text)

    assert error.line == _line_of(text, "answer:")
    assert "answer must be a number" in error.message


def test_it_reports_a_numeric_question_without_tolerance_at_its_type():
    text = VALID.replace("type: single", "type: numeric\nanswer: 1.5").replace("- [x] Right\n- [ ] Wrong\n", "")

    error = _parse_error(text)

    assert error.line == _line_of(text, "type:")
    assert "needs a tolerance" in error.message


def test_it_reports_a_reading_without_a_link():
    text = VALID + "\n## Readings\n\n- [A guide](https://example.org/a)\n- Read the textbook.\n"

    error = _parse_error(text)

    assert error.line == _line_of(text, "- Read the textbook.")
    assert "needs a link" in error.message


def test_it_reports_a_stray_line_in_the_choice_block():
    text = VALID.replace("- [ ] Wrong\n", "- [ ] Wrong\nAn afterthought.\n")

    error = _parse_error(text)

    assert error.line == _line_of(text, "An afterthought.")
    assert "only choices" in error.message


def test_it_reports_missing_front_matter_on_line_one():
    text = VALID.split("---\n", 2)[2]

    error = _parse_error(text)

    assert str(error).startswith("bank/q.md:1: ")
    assert "front matter" in error.message


def test_it_reports_an_unclosed_front_matter():
    error = _parse_error("---\nslug: a\ntype: single\n")

    assert error.line == 1
    assert "never closed" in error.message


def test_it_reports_a_missing_slug():
    error = _parse_error(VALID.replace("slug: pick-one\n", ""))

    assert "needs 'slug'" in error.message


def test_it_reports_a_bad_slug_at_its_line():
    error = _parse_error(VALID.replace("slug: pick-one", "slug: Pick One"))

    assert error.line == 2


def test_it_reports_a_bad_type_at_its_line():
    error = _parse_error(VALID.replace("type: single", "type: essay"))

    assert error.line == 3
    assert "type must be one of" in error.message


def test_it_reports_a_body_without_a_title():
    text = VALID.replace("# Pick one\n", "Pick one\n")

    error = _parse_error(text)

    assert error.line == _line_of(text, "Pick one")


def test_it_reports_negative_points_at_their_line():
    text = VALID.replace("type: single", "type: single\npoints: -1")

    error = _parse_error(text)

    assert error.line == _line_of(text, "points:")


def test_it_reports_a_bad_tag_at_its_line():
    text = VALID.replace("type: single", "type: single\ntags: metrics, Bad Tag")

    error = _parse_error(text)

    assert error.line == _line_of(text, "tags:")
    assert "'Bad Tag'" in error.message


def test_it_reports_readings_before_the_answer():
    text = VALID.replace("## Answer", "## Readings\n\n- [A](https://example.org/a)\n\n## Answer")

    error = _parse_error(text)

    assert error.line == _line_of(text, "## Readings")


QUIZ = """---
slug: week-one
title: Week one
reveal: after-submit
---
The first quiz.
"""


def test_it_parses_a_quiz():
    spec = parse_quiz(QUIZ, source="quiz.md")

    assert (spec.slug, spec.title, spec.description, spec.published) == (
        "week-one",
        "Week one",
        "The first quiz.",
        True,
    )


def test_it_reports_a_quiz_revealing_after_due_without_closes_at():
    text = QUIZ.replace("reveal: after-submit", "reveal: after-due")

    with pytest.raises(QuestionFileError) as caught:
        parse_quiz(text, source="bank/quiz.md")

    assert caught.value.line == _line_of(text, "reveal:")
    assert str(caught.value).startswith(f"bank/quiz.md:{caught.value.line}: ")
    assert "closes_at" in caught.value.message


def test_it_accepts_after_due_with_closes_at_and_round_trips_it():
    text = QUIZ.replace("reveal: after-submit", "reveal: after-due\ncloses_at: 2026-12-01T17:00:00+01:00")

    spec = parse_quiz(text, source="quiz.md")

    assert spec.closes_at is not None
    assert spec.closes_at.utcoffset() is not None
    assert parse_quiz(render_quiz(spec), source="quiz.md") == spec


def test_it_reports_a_quiz_closing_before_it_opens():
    text = QUIZ.replace("reveal: after-submit", "opens_at: 2026-12-02T00:00:00Z\ncloses_at: 2026-12-01T00:00:00Z")

    with pytest.raises(QuestionFileError) as caught:
        parse_quiz(text, source="quiz.md")

    assert caught.value.line == _line_of(text, "closes_at:")


def test_it_reports_a_naive_quiz_date():
    text = QUIZ.replace("reveal: after-submit", "closes_at: 2026-12-01T17:00:00")

    with pytest.raises(QuestionFileError) as caught:
        parse_quiz(text, source="quiz.md")

    assert "time zone" in caught.value.message


def test_a_quiz_grade_policy_round_trips_and_defaults_to_best():
    assert parse_quiz(QUIZ, source="quiz.md").grade_policy == "best"
    spec = parse_quiz(QUIZ.replace("reveal: after-submit", "grade_policy: latest"), source="quiz.md")
    assert spec.grade_policy == "latest"
    assert parse_quiz(render_quiz(spec), source="quiz.md") == spec


def test_it_reports_an_unknown_grade_policy():
    text = QUIZ.replace("reveal: after-submit", "grade_policy: average")

    with pytest.raises(QuestionFileError) as caught:
        parse_quiz(text, source="quiz.md")

    assert caught.value.line == _line_of(text, "grade_policy:")
    assert caught.value.message == "grade_policy must be one of best, latest, not 'average'"


def test_it_reports_zero_max_attempts():
    text = QUIZ.replace("reveal: after-submit", "max_attempts: 0")

    with pytest.raises(QuestionFileError) as caught:
        parse_quiz(text, source="quiz.md")

    assert caught.value.line == _line_of(text, "max_attempts:")
