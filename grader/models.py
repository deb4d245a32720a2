"""Quiz attempts and their answers.

An attempt moves in_progress -> submitted (scored) or in_progress -> expired (its time
ran out unsubmitted). Both end states are final: services never update an ended attempt
or its answers, and the constraints below make an inconsistent row impossible.

Code submissions and grading jobs (submission -> grading job -> result) join this app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from questions.models import Question, Quiz


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
