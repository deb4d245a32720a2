from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from grader.models import Attempt, AttemptAnswer


class AttemptAnswerInline(admin.TabularInline):  # type: ignore[type-arg]
    model = AttemptAnswer
    extra = 0
    can_delete = False
    fields = ("position", "question", "answered", "selected_choice_ids", "numeric_value", "is_correct", "score")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: attempts are the students' record and change only through the API."""

    list_display = ["id", "quiz", "user", "number", "state", "score", "max_score", "started_at", "submitted_at"]
    list_filter = ["state", "quiz"]
    search_fields = ["user__username", "user__email", "quiz__slug"]
    date_hierarchy = "started_at"
    inlines = [AttemptAnswerInline]
    list_select_related = ["quiz", "user"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
