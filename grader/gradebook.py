"""The gradebook: one row per (student, quiz) with best and latest scores."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.http import StreamingHttpResponse
from django.utils import timezone

from accounts.roles import INSTRUCTORS_GROUP
from grader.models import Attempt, AttemptState
from questions.models import Quiz


@dataclass(frozen=True)
class GradebookRow:
    quiz: str
    username: str
    email: str
    attempts: int
    best_score: Decimal | None
    latest_score: Decimal | None
    max_score: Decimal | None
    last_submitted_at: str


def gradebook_rows(*, quizzes: list[Quiz]) -> Iterator[GradebookRow]:
    # Instructors may take their own quizzes to try them out; those are not grades.
    attempts = (
        Attempt.objects.filter(quiz__in=quizzes)
        .exclude(state=AttemptState.IN_PROGRESS)
        .exclude(user__is_staff=True)
        .exclude(user__groups__name=INSTRUCTORS_GROUP)
        .select_related("quiz", "user")
        .order_by("quiz__slug", "user__username", "number")
    )
    group: list[Attempt] = []
    for attempt in attempts.iterator(chunk_size=500):
        if group and (group[0].quiz_id, group[0].user_id) != (attempt.quiz_id, attempt.user_id):
            yield _row(group)
            group = []
        group.append(attempt)
    if group:
        yield _row(group)


def _row(attempts: list[Attempt]) -> GradebookRow:
    latest = attempts[-1]
    submitted = [a for a in attempts if a.submitted_at is not None]
    return GradebookRow(
        quiz=latest.quiz.slug,
        username=latest.user.get_username(),
        email=getattr(latest.user, "email", ""),
        attempts=len(attempts),
        best_score=max((a.score for a in attempts if a.score is not None), default=None),
        latest_score=latest.score,
        max_score=latest.max_score,
        last_submitted_at=submitted[-1].submitted_at.isoformat() if submitted and submitted[-1].submitted_at else "",
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_cell(value: object) -> str:
    text = "" if value is None else str(value)
    # Spreadsheets execute cells starting with these; student-controlled names must not.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def gradebook_csv_response(*, quizzes: list[Quiz]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    header = ["quiz", "username", "email", "attempts", "best_score", "latest_score", "max_score", "last_submitted_at"]

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for row in gradebook_rows(quizzes=quizzes):
            yield writer.writerow([_csv_cell(getattr(row, name)) for name in header])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="gradebook-{stamp}.csv"'
    return response
