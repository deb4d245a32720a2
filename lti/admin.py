from __future__ import annotations

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from lti.keys import tool_key_rotate
from lti.models import Deployment, Platform, ToolKey
from lti.tool_urls import tool_urls


class DeploymentInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Deployment
    extra = 1
    fields = ("deployment_id", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Platform)
class PlatformAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Registering an LMS is for administrators (superusers, or users given the lti
    permissions), not for every instructor: the instructors group has none of them."""

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("name", "issuer", "client_id", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "issuer", "client_id")
    inlines = [DeploymentInline]
    readonly_fields = ("tool_urls_for_the_lms",)
    fieldsets = [
        (None, {"fields": ("name", "is_active")}),
        (
            "What the platform gave you",
            {"fields": ("issuer", "client_id", "auth_login_url", "auth_token_url", "keyset_url", "auth_audience")},
        ),
        ("What to give the platform", {"fields": ("tool_urls_for_the_lms",)}),
    ]

    @admin.display(description="Tool URLs")
    def tool_urls_for_the_lms(self, platform: Platform) -> SafeString:
        rows = format_html_join("", "<tr><th>{}</th><td><code>{}</code></td></tr>", tool_urls().items())
        return format_html("<table>{}</table>", rows)


@admin.register(ToolKey)
class ToolKeyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The tool's signing keys, read-only; the private key is never shown."""

    list_display = ("kid", "is_current", "created_at", "retired_at", "expires_at")
    fields = ("kid", "is_current", "created_at", "retired_at", "expires_at", "public_jwk")
    readonly_fields = fields
    actions = ["rotate"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ToolKey | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ToolKey | None = None) -> bool:
        return False

    def has_rotate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("lti.add_toolkey")

    @admin.action(description="Rotate: make a new current key (the old one stays published for a while)",
                  permissions=["rotate"])  # fmt: skip
    def rotate(self, request: HttpRequest, queryset: QuerySet[ToolKey]) -> None:
        key = tool_key_rotate(now=timezone.now())
        self.message_user(request, f"The tool now signs with key {key.kid}.", messages.SUCCESS)


from lti import passback_admin  # noqa: E402,F401 - registers the passback admin
