"""The admin's view of grade passbacks: what each student's gradebook column was sent,
what the LMS said, and a Resend for those that failed.

For administrators (superusers, or users given the lti permissions): the instructors
group has none, so instructors see neither the list nor the action. Rows are written by
the passback services only; here they are read, and resent through the service.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from lti.models import Passback
from lti.passback import passback_resend


@admin.register(Passback)
class PassbackAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "user",
        "course",
        "resource_link",
        "score",
        "state",
        "tries",
        "error",
        "graded_at",
        "sent_at",
    )
    list_filter = ("state", ("resource_link__course", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("user", "resource_link__course")
    search_fields = ("user__username", "user__last_name", "resource_link__title", "resource_link__resource_link_id")
    date_hierarchy = "created_at"
    fields = (
        "user",
        "resource_link",
        "attempt",
        "submission",
        "score_given",
        "score_maximum",
        "graded_at",
        "state",
        "tries",
        "next_try_at",
        "sent_at",
        "last_error",
        "created_at",
    )
    readonly_fields = fields
    actions = ["resend"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Passback | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Passback | None = None) -> bool:
        return False  # a passback is the record of what the LMS was sent

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("lti.change_passback")

    @admin.display(description="course", ordering="resource_link__course__title")
    def course(self, passback: Passback) -> str:
        return str(passback.resource_link.course)

    @admin.display(description="score")
    def score(self, passback: Passback) -> str:
        return f"{passback.score_given} / {passback.score_maximum}"

    @admin.display(description="last error")
    def error(self, passback: Passback) -> str:
        text = passback.last_error
        return text if len(text) <= 120 else text[:119] + "…"

    @admin.action(description="Resend the selected failed (or sent) passbacks", permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet[Passback]) -> None:
        now = timezone.now()
        resent = sum(passback_resend(passback_id=pk, now=now) for pk in queryset.values_list("pk", flat=True))
        skipped = queryset.count() - resent
        message = f"{resent} passback(s) queued to be sent again."
        if skipped:
            message += f" {skipped} skipped: only failed or sent passbacks are resent."
        self.message_user(request, message, messages.SUCCESS if resent else messages.WARNING)
