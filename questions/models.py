"""The question bank and quizzes that instructors author.

Invariants that a single row can state are database constraints; those that span rows
(a single-choice question has exactly one correct choice) are checked by
questions.validation, which both the admin and the file importer call.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from workers.environments import DEFAULT_ENVIRONMENT, ENVIRONMENTS

ENVIRONMENT_CHOICES = [(environment.name, environment.title) for environment in ENVIRONMENTS.values()]


class Tag(models.Model):
    name = models.SlugField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class QuestionType(models.TextChoices):
    SINGLE = "single", "Single choice"
    MULTIPLE = "multiple", "Select all that apply"
    NUMERIC = "numeric", "Numeric"


class MultipleScoring(models.TextChoices):
    ALL_OR_NOTHING = "all-or-nothing", "All or nothing"
    RIGHT_MINUS_WRONG = "right-minus-wrong", "Right minus wrong, floored at zero"


class Question(models.Model):
    slug = models.SlugField(max_length=100, unique=True, help_text="Stable identity used by question files.")
    title = models.CharField(max_length=200)
    prompt = models.TextField(help_text="Markdown: the stem, ending with the question in bold.")
    type = models.CharField(max_length=10, choices=QuestionType.choices, default=QuestionType.SINGLE)
    explanation = models.TextField(blank=True, help_text="Markdown, shown when answers are revealed.")
    points = models.DecimalField(
        max_digits=6, decimal_places=2, default=Decimal(1), validators=[MinValueValidator(Decimal(0))]
    )
    scoring = models.CharField(
        max_length=20,
        choices=MultipleScoring.choices,
        default=MultipleScoring.ALL_OR_NOTHING,
        help_text="Select-all-that-apply questions only.",
    )
    numeric_answer = models.FloatField(null=True, blank=True, help_text="Numeric questions only.")
    abs_tolerance = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0.0)])
    rel_tolerance = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0.0)])
    tags = models.ManyToManyField(Tag, blank=True, related_name="questions")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        constraints = [
            models.CheckConstraint(condition=Q(points__gte=0), name="question_points_non_negative"),
            models.CheckConstraint(
                condition=~Q(type=QuestionType.NUMERIC) | Q(numeric_answer__isnull=False),
                name="question_numeric_has_answer",
            ),
            models.CheckConstraint(
                condition=~Q(type=QuestionType.NUMERIC)
                | Q(abs_tolerance__isnull=False)
                | Q(rel_tolerance__isnull=False),
                name="question_numeric_has_tolerance",
            ),
            models.CheckConstraint(
                condition=Q(abs_tolerance__isnull=True) | Q(abs_tolerance__gte=0),
                name="question_abs_tolerance_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(rel_tolerance__isnull=True) | Q(rel_tolerance__gte=0),
                name="question_rel_tolerance_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Choice(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="choices")
    position = models.PositiveSmallIntegerField(default=0)
    text = models.TextField()
    is_correct = models.BooleanField(default=False)
    feedback = models.TextField(blank=True, help_text="Markdown, shown for this choice when answers are revealed.")

    class Meta:
        ordering = ["question", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["question", "position"], name="choice_position_unique"),
        ]

    def __str__(self) -> str:
        return self.text[:80]


class Reading(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="readings")
    position = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=300)
    url = models.URLField(max_length=500)
    text = models.TextField(
        blank=True, help_text="The whole list item as Markdown, e.g. 'Check [title](url) for a guide.'"
    )

    class Meta:
        ordering = ["question", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["question", "position"], name="reading_position_unique"),
        ]

    def __str__(self) -> str:
        return self.title


class RevealPolicy(models.TextChoices):
    AFTER_SUBMIT = "after-submit", "After each submit"
    AFTER_DUE = "after-due", "After the due date"
    NEVER = "never", "Never"


class GradePolicy(models.TextChoices):
    """Which of a student's grades is the one the LMS gradebook shows."""

    BEST = "best", "Best"
    LATEST = "latest", "Latest"


class Quiz(models.Model):
    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="Markdown.")
    is_published = models.BooleanField(default=False, help_text="Students see only published quizzes.")
    questions: models.ManyToManyField[Question, QuizQuestion] = models.ManyToManyField(
        Question, through="QuizQuestion", related_name="quizzes"
    )
    shuffle_questions = models.BooleanField(default=False)
    shuffle_choices = models.BooleanField(default=False)
    opens_at = models.DateTimeField(null=True, blank=True, help_text="Empty: open now.")
    closes_at = models.DateTimeField(null=True, blank=True, help_text="The due date. Empty: never closes.")
    time_limit_minutes = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no limit.")
    max_attempts = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    reveal = models.CharField(max_length=20, choices=RevealPolicy.choices, default=RevealPolicy.AFTER_SUBMIT)
    grade_policy = models.CharField(
        max_length=10,
        choices=GradePolicy.choices,
        default=GradePolicy.BEST,
        help_text="Which attempt's score the LMS gradebook receives.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        verbose_name_plural = "quizzes"
        constraints = [
            models.CheckConstraint(
                condition=Q(opens_at__isnull=True) | Q(closes_at__isnull=True) | Q(closes_at__gt=models.F("opens_at")),
                name="quiz_closes_after_opening",
            ),
            models.CheckConstraint(
                condition=Q(time_limit_minutes__isnull=True) | Q(time_limit_minutes__gt=0),
                name="quiz_time_limit_positive",
            ),
            models.CheckConstraint(
                condition=Q(max_attempts__isnull=True) | Q(max_attempts__gt=0), name="quiz_max_attempts_positive"
            ),
            models.CheckConstraint(
                condition=~Q(reveal=RevealPolicy.AFTER_DUE) | Q(closes_at__isnull=False),
                name="quiz_reveal_after_due_needs_due_date",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class QuizQuestion(models.Model):
    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="quiz_questions")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="quiz_questions")
    position = models.PositiveSmallIntegerField(default=0)
    points = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Points in this quiz. Empty: the question's own points.",
    )

    class Meta:
        ordering = ["quiz", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["quiz", "question"], name="quiz_question_unique"),
            models.UniqueConstraint(fields=["quiz", "position"], name="quiz_question_position_unique"),
            models.CheckConstraint(
                condition=Q(points__isnull=True) | Q(points__gte=0), name="quiz_question_points_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quiz} #{self.position}: {self.question}"

    @property
    def effective_points(self) -> Decimal:
        return self.points if self.points is not None else self.question.points


# --- Code exercises -------------------------------------------------------------------
#
# An exercise asks for Python functions; its checks say how the student's functions are
# called (instructor code that runs only inside the sandbox) and how the results are
# judged (on the trusted side, against values the reference solution produced). What
# grading depends on is snapshotted into an ExerciseKey; students see an exercise only
# when it is published *and* its current key has been validated with full marks.


class CheckKind(models.TextChoices):
    CLOSE = "close", "Close to the reference (rtol/atol)"
    FINITE = "finite", "Every element finite"
    SCALAR = "scalar", "A single real number"
    SHAPE = "shape", "Same shape as the reference, numeric"
    UNCHANGED = "unchanged", "Arguments not modified"
    GRADIENT = "gradient", "Matches central finite differences"
    RANGE = "range", "Within [lower, upper]"
    TIME = "time", "Finishes within a time"


class Exercise(models.Model):
    slug = models.SlugField(max_length=100, unique=True, help_text="Stable identity used by exercise files.")
    title = models.CharField(max_length=200)
    prompt = models.TextField(help_text="Markdown: what to implement, and why.")
    functions = models.TextField(
        help_text="The functions students define, one signature per line, e.g. "
        "'binary_cross_entropy(y_true, y_pred, eps=1e-7) -> float'."
    )
    starter_code = models.TextField(blank=True)
    reference_solution = models.TextField(
        help_text="Never shown to students. Expected values are computed by running it in the sandbox."
    )
    time_limit_seconds = models.PositiveSmallIntegerField(default=5, help_text="Wall clock for a whole submission.")
    memory_limit_mb = models.PositiveIntegerField(
        default=512, help_text="Memory the code may use, beyond what its environment's libraries take."
    )
    environment = models.CharField(
        max_length=20,
        choices=ENVIRONMENT_CHOICES,
        default=DEFAULT_ENVIRONMENT,
        help_text="The packages the code can import (see /api/v1/environments/); graded on the workers that have them.",
    )
    grade_policy = models.CharField(
        max_length=10,
        choices=GradePolicy.choices,
        default=GradePolicy.BEST,
        help_text="Which submission's score the LMS gradebook receives.",
    )
    is_published = models.BooleanField(
        default=False, help_text="Students see a published exercise once its reference solution validates."
    )
    # sha256 of everything grading depends on (see questions.exercises.exercise_spec);
    # the key with this fingerprint is the one submissions are graded against.
    spec_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        constraints = [
            models.CheckConstraint(
                condition=Q(time_limit_seconds__gte=1) & Q(time_limit_seconds__lte=60),
                name="exercise_time_limit_range",
            ),
            models.CheckConstraint(
                condition=Q(memory_limit_mb__gte=256) & Q(memory_limit_mb__lte=4096),
                name="exercise_memory_limit_range",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ExerciseCheck(models.Model):
    exercise = models.ForeignKey(Exercise, on_delete=models.CASCADE, related_name="checks")
    position = models.PositiveSmallIntegerField(default=0)
    name = models.SlugField(max_length=100)
    kind = models.CharField(max_length=20, choices=CheckKind.choices, default=CheckKind.CLOSE)
    points = models.DecimalField(
        max_digits=6, decimal_places=2, default=Decimal(1), validators=[MinValueValidator(Decimal(0))]
    )
    is_hidden = models.BooleanField(
        default=False, help_text="Students never see a hidden check's inputs, description or expected values."
    )
    description = models.TextField(blank=True, help_text="Shown to students for visible checks.")
    failure_message = models.TextField(blank=True, help_text="Shown when the check fails.")
    seed = models.PositiveIntegerField(default=0, help_text="Seeds `rng` in the setup.")
    setup = models.TextField(
        blank=True,
        help_text="Python run in the sandbox before the student's code, with `np` and `rng`; "
        "the names it binds are the inputs.",
    )
    call = models.TextField(help_text="A Python expression using the student's functions and the inputs.")
    rtol = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0.0)])
    atol = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0.0)])
    lower = models.FloatField(null=True, blank=True)
    upper = models.FloatField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0.0)])
    track = models.CharField(
        max_length=300, blank=True, help_text="unchanged: comma-separated input names that must not change."
    )
    of = models.TextField(blank=True, help_text="gradient: the function's value, an expression of `wrt`.")
    wrt = models.CharField(max_length=100, blank=True, help_text="gradient: the input to perturb.")
    step = models.FloatField(null=True, blank=True, help_text="gradient: finite-difference step (1e-5).")
    requires = models.CharField(
        max_length=500,
        blank=True,
        help_text="Comma-separated names of checks that must pass before this one scores "
        "(a property such as finite or fast pays only for a correct result).",
    )
    metric = models.TextField(
        blank=True,
        help_text="An expression of `result` (what the call returned) and the inputs, computed outside the "
        "student's process; the check judges its value instead of the call's.",
    )
    variants = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="Seeded copies of the inputs; consecutive submissions get different ones, so replaying "
        "numbers seen in feedback does not pass.",
    )
    show_expected = models.BooleanField(
        default=False, help_text="Show the reference's value when a visible check fails (off: only the student's)."
    )

    class Meta:
        ordering = ["exercise", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["exercise", "name"], name="exercise_check_name_unique"),
            models.UniqueConstraint(fields=["exercise", "position"], name="exercise_check_position_unique"),
            models.CheckConstraint(condition=Q(points__gte=0), name="exercise_check_points_non_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class KeyStatus(models.TextChoices):
    PENDING = "pending", "Validation pending"
    RUNNING = "running", "Validating"
    VALID = "valid", "Valid: the reference scores full marks"
    INVALID = "invalid", "Invalid: the reference does not score full marks"


class DataBlob(models.Model):
    """The bytes of a data file, stored once by content. Answer keys name data by sha256,
    so a key made before an edit still finds the data it was validated with."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    size = models.PositiveBigIntegerField()
    content = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.size} bytes)"


class ExerciseDataFile(models.Model):
    """A data file of an exercise, read in the sandbox at data/<name> (relative to the
    working directory) by set-ups and student code, or, when hidden, by set-ups alone
    through hidden_data(name)."""

    exercise = models.ForeignKey(Exercise, on_delete=models.CASCADE, related_name="data_files")
    name = models.CharField(max_length=100, help_text="A file name such as train.csv: .npz, .npy, .csv or .parquet.")
    blob = models.ForeignKey(DataBlob, on_delete=models.PROTECT, related_name="files")
    is_hidden = models.BooleanField(
        default=False,
        help_text="Readable by check set-ups only (hidden_data(name)); the student's code cannot open it.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["exercise", "name"], name="exercise_data_file_name_unique")]

    def __str__(self) -> str:
        return self.name


class ExerciseKey(models.Model):
    """An immutable answer key: the grading spec at one moment, and the reference's results.

    Submissions point at the key they were made against, so editing an exercise never
    changes how an earlier submission was (or will be) graded.
    """

    exercise = models.ForeignKey(Exercise, on_delete=models.CASCADE, related_name="keys")
    fingerprint = models.CharField(max_length=64)
    spec = models.JSONField(help_text="Functions, limits, checks and reference solution, as graded.")
    # The spec's environment, as a column: grading jobs are routed (and the sweeper counts
    # them) by it, per queue.
    environment = models.CharField(max_length=20, default=DEFAULT_ENVIRONMENT, editable=False)
    status = models.CharField(max_length=10, choices=KeyStatus.choices, default=KeyStatus.PENDING)
    # Hidden from students and from the sandbox: per check name, what the reference
    # returned (only for the kinds that compare against it).
    expected = models.JSONField(default=dict)
    # Per-check outcome of the reference run, for the instructor.
    report = models.JSONField(default=list)
    # What generated non-solutions (constants, the reference negated, ...) and the starter
    # code score under this key: the check-strength report.
    strength = models.JSONField(default=dict, blank=True)
    summary = models.TextField(blank=True)
    reference_score = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    max_score = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal(0))
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    validated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["exercise", "fingerprint"], name="exercise_key_fingerprint_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.exercise} key {self.fingerprint[:12]} ({self.status})"
