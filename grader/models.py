"""Quiz attempts and their answers.

An attempt moves in_progress -> submitted (scored) or in_progress -> expired (its time
ran out unsubmitted). Both end states are final: services never update an ended attempt
or its answers, and the constraints below make an inconsistent row impossible.

Code submissions are graded through an append-only pipeline: a Submission is never
edited; each grading attempt is its own GradingJob row (queued -> running -> succeeded or
failed); the verdict is one GradingResult per submission, so a job that runs twice (a
worker killed after storing, a redelivered message) cannot record a second verdict.
Submission.status is the one denormalised field, kept in step by the same transactions.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from questions.models import Exercise, ExerciseKey, Question, Quiz


class AttemptState(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    SUBMITTED = "submitted", "Submitted"
    EXPIRED = "expired", "Expired unsubmitted"


class Attempt(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="attempts")
    quiz = models.ForeignKey(Quiz, on_delete=models.PROTECT, related_name="attempts")
    number = models.PositiveIntegerField(help_text="1 for the user's first attempt at this quiz, and so on.")
    state = models.CharField(max_length=20, choices=AttemptState.choices, default=AttemptState.IN_PROGRESS)
    # What this attempt shows, fixed when it starts: [{"question": id, "points": "1.00",
    # "choices": [id, ...]}, ...] in presentation order (shuffled if the quiz says so). Later
    # edits to the quiz change neither the questions, their order nor their points here.
    layout = models.JSONField(default=list)
    started_at = models.DateTimeField()
    deadline_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    score = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    max_score = models.DecimalField(max_digits=8, decimal_places=2)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "quiz", "number"], name="attempt_number_unique"),
            models.UniqueConstraint(
                fields=["user", "quiz"],
                condition=Q(state=AttemptState.IN_PROGRESS),
                name="attempt_one_in_progress",
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        state=AttemptState.IN_PROGRESS,
                        submitted_at__isnull=True,
                        ended_at__isnull=True,
                        score__isnull=True,
                    )
                    | Q(
                        state=AttemptState.SUBMITTED,
                        submitted_at__isnull=False,
                        ended_at__isnull=False,
                        score__isnull=False,
                    )
                    | Q(state=AttemptState.EXPIRED, submitted_at__isnull=True, ended_at__isnull=False, score=0)
                ),
                name="attempt_state_consistent",
            ),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | (Q(score__gte=0) & Q(score__lte=F("max_score"))),
                name="attempt_score_in_range",
            ),
            models.CheckConstraint(condition=Q(max_score__gte=0), name="attempt_max_score_non_negative"),
            models.CheckConstraint(condition=Q(number__gte=1), name="attempt_number_positive"),
        ]
        indexes = [models.Index(fields=["state", "deadline_at"], name="attempt_open_deadline")]

    def __str__(self) -> str:
        return f"{self.user} on {self.quiz} #{self.number}"


class AttemptAnswer(models.Model):
    """One question's answer in a submitted attempt, scored at submit time.

    The raw answer is kept as sent (choice ids or the number), and so is the answer key it
    was scored against, so a later edit of the question changes neither.
    """

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField()
    selected_choice_ids = models.JSONField(default=list, blank=True)
    numeric_value = models.FloatField(null=True, blank=True)
    correct_choice_ids = models.JSONField(default=list, blank=True)
    correct_value = models.FloatField(null=True, blank=True)
    answered = models.BooleanField()
    is_correct = models.BooleanField()
    score = models.DecimalField(max_digits=8, decimal_places=2)
    max_score = models.DecimalField(max_digits=8, decimal_places=2)

    class Meta:
        ordering = ["attempt", "position"]
        constraints = [
            models.UniqueConstraint(fields=["attempt", "question"], name="answer_question_unique"),
            models.CheckConstraint(
                condition=Q(score__gte=0) & Q(score__lte=F("max_score")), name="answer_score_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.attempt}: {self.question}"


class SubmissionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    GRADED = "graded", "Graded"
    # A grader failure that persisted after retries: never counts against the student.
    ERROR = "error", "Grader error"


class Submission(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="submissions")
    exercise = models.ForeignKey(Exercise, on_delete=models.PROTECT, related_name="submissions")
    key = models.ForeignKey(ExerciseKey, on_delete=models.PROTECT, related_name="submissions")
    code = models.TextField()
    # A notebook submission: the .ipynb's JSON as sent, and the line of `code` (its code
    # cells joined, see grader.notebooks) each code cell starts on; the sandbox runs
    # them one by one. Empty for code sent as code.
    notebook = models.JSONField(null=True, blank=True, help_text="The Jupyter notebook as sent, if one was.")
    cell_starts = models.JSONField(default=list, blank=True)
    # Which seeded copy of each check's inputs this submission is graded on (see
    # ExerciseCheck.variants); fixed at submission so that a regrade uses the same.
    variant = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=SubmissionStatus.choices, default=SubmissionStatus.QUEUED)
    created_at = models.DateTimeField()
    graded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status=SubmissionStatus.GRADED, graded_at__isnull=False)
                | (~Q(status=SubmissionStatus.GRADED) & Q(graded_at__isnull=True)),
                name="submission_graded_at_iff_graded",
            ),
        ]
        indexes = [models.Index(fields=["exercise", "user", "-created_at"], name="submission_history")]

    def __str__(self) -> str:
        return f"Submission {self.pk} by {self.user} on {self.exercise}"


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    # This attempt ended without a verdict (grader error, or its worker vanished past
    # the lease); a later attempt may follow.
    FAILED = "failed", "Failed"


class GradingJob(models.Model):
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="jobs")
    attempt = models.PositiveSmallIntegerField(help_text="1 for the first grading attempt, and so on.")
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.QUEUED)
    created_at = models.DateTimeField()
    # Not to be started before this (backoff after a grader error).
    available_at = models.DateTimeField()
    # When a message for this job was last sent; the sweeper resends queued jobs whose
    # message may have been lost with the broker.
    enqueued_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    # A running job whose lease has passed is presumed lost with its worker, which renews
    # the lease with a heartbeat while it grades (heartbeat_at: the last one).
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True, help_text="Why this attempt failed (grader side).")

    class Meta:
        ordering = ["submission", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "attempt"], name="grading_job_attempt_unique"),
            models.UniqueConstraint(
                fields=["submission"],
                condition=Q(state__in=[JobState.QUEUED, JobState.RUNNING]),
                name="grading_job_one_active",
            ),
            models.CheckConstraint(condition=Q(attempt__gte=1), name="grading_job_attempt_positive"),
            models.CheckConstraint(
                condition=~Q(state=JobState.RUNNING) | Q(started_at__isnull=False, lease_expires_at__isnull=False),
                name="grading_job_running_has_lease",
            ),
        ]
        indexes = [models.Index(fields=["state", "available_at"], name="grading_job_state")]

    def __str__(self) -> str:
        return f"Job {self.pk} (attempt {self.attempt}) for submission {self.submission_id}"


class GradingResult(models.Model):
    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="result")
    job = models.ForeignKey(GradingJob, on_delete=models.PROTECT, related_name="results")
    score = models.DecimalField(max_digits=8, decimal_places=2)
    max_score = models.DecimalField(max_digits=8, decimal_places=2)
    # [{"name", "passed", "score", "max_score", "message"}] in the exercise's order.
    checks = models.JSONField(default=list)
    summary = models.TextField(blank=True, help_text="One line for the whole run, e.g. 'SyntaxError on line 3'.")
    output = models.TextField(blank=True)
    # Seconds spent per stage, for operators and the benchmark.
    timings = models.JSONField(default=dict)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=0) & Q(score__lte=F("max_score")), name="grading_result_score_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"Result for submission {self.submission_id}: {self.score}/{self.max_score}"


class CheckRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    # The grader failed, or lost the run: nothing about the code; the student checks again.
    ERROR = "error", "Grader error"


class CheckRun(models.Model):
    """A student's "Check my work": the exercise's visible checks run on their code, and
    nothing else. Not a submission and never a grade: no GradingResult, no passback, and
    hidden checks are not even sent to the sandbox (grader.check_runs). Short-lived: the
    grading sweeper deletes runs an hour old."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="check_runs")
    exercise = models.ForeignKey(Exercise, on_delete=models.CASCADE, related_name="check_runs")
    key = models.ForeignKey(ExerciseKey, on_delete=models.CASCADE, related_name="check_runs")
    code = models.TextField()
    # As for Submission: a notebook as sent, and where its code cells start in `code`.
    notebook = models.JSONField(null=True, blank=True)
    cell_starts = models.JSONField(default=list, blank=True)
    # Which seeded copy of the checks' inputs the run uses (drawn per run).
    variant = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=CheckRunStatus.choices, default=CheckRunStatus.QUEUED)
    # {"summary", "checks": [{"name", "passed", "message"}], "output"} once done; {"error"}
    # when the grader failed.
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=[CheckRunStatus.DONE, CheckRunStatus.ERROR], finished_at__isnull=False)
                | Q(status__in=[CheckRunStatus.QUEUED, CheckRunStatus.RUNNING], finished_at__isnull=True),
                name="check_run_finished_at_iff_finished",
            ),
            models.CheckConstraint(
                condition=~Q(status=CheckRunStatus.RUNNING) | Q(started_at__isnull=False),
                name="check_run_running_has_started",
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="check_run_created")]

    def __str__(self) -> str:
        return f"Check run {self.pk} by {self.user} on {self.exercise}"
