from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from grader.models import Attempt, AttemptAnswer, GradingJob, Submission


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Students' records (attempts, the grading pipeline) change only through services."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class AttemptAnswerInline(admin.TabularInline):  # type: ignore[type-arg]
    model = AttemptAnswer
    extra = 0
    can_delete = False
    fields = ("position", "question", "answered", "selected_choice_ids", "numeric_value", "is_correct", "score")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyAdmin):
    """Read-only: attempts are the students' record and change only through the API."""

    list_display = ["id", "quiz", "user", "number", "state", "score", "max_score", "started_at", "submitted_at"]
    list_filter = ["state", "quiz"]
    search_fields = ["user__username", "user__email", "quiz__slug"]
    date_hierarchy = "started_at"
    inlines = [AttemptAnswerInline]
    list_select_related = ["quiz", "user"]


class GradingJobInline(admin.TabularInline):  # type: ignore[type-arg]
    model = GradingJob
    extra = 0
    can_delete = False
    fields = ("attempt", "state", "created_at", "available_at", "started_at", "finished_at", "worker", "error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Submission)
class SubmissionAdmin(ReadOnlyAdmin):
    list_display = ["id", "exercise", "user", "status", "score", "created_at", "graded_at"]
    list_filter = ["status", "exercise"]
    search_fields = ["user__username", "user__email", "exercise__slug"]
    date_hierarchy = "created_at"
    list_select_related = ["exercise", "user", "result"]
    inlines = [GradingJobInline]
    fields = ["exercise", "user", "status", "created_at", "graded_at", "student_code", "verdict", "output"]
    readonly_fields = ["exercise", "user", "status", "created_at", "graded_at", "student_code", "verdict", "output"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Submission]:
        # A notebook (up to SUBMISSION_MAX_NOTEBOOK_BYTES each) is not shown here: its
        # code cells are, as `code`.
        return super().get_queryset(request).defer("notebook")

    @admin.display(description="score")
    def score(self, submission: Submission) -> str:
        result = getattr(submission, "result", None)
        return f"{result.score}/{result.max_score}" if result else "-"

    @admin.display(description="code")
    def student_code(self, submission: Submission) -> SafeString:
        return _preformatted(submission.code)

    @admin.display(description="verdict")
    def verdict(self, submission: Submission) -> SafeString | str:
        result = getattr(submission, "result", None)
        if result is None:
            return "-"
        lines = [result.summary] + [
            f"{'PASS' if check['passed'] else 'FAIL'} {check['name']} ({check['score']}/{check['max_score']}): "
            f"{check['message']}"
            for check in result.checks
        ]
        return _preformatted("\n".join(lines))

    @admin.display(description="output")
    def output(self, submission: Submission) -> SafeString | str:
        result = getattr(submission, "result", None)
        return _preformatted(result.output) if result and result.output else ""


def _preformatted(text: str) -> SafeString:
    """Code and what it printed, as written: a read-only field's text otherwise goes
    through linebreaksbr, and HTML collapses the leading spaces Python depends on."""
    return format_html('<pre style="overflow-x: auto; max-width: 100%">{}</pre>', text)
