from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from config.errors import ServiceError
from lti.canvas import canvas_developer_key
from lti.dynamic_registration import INVITE_DAYS, MAX_INVITE_DAYS, invite_create, invite_url
from lti.keys import tool_key_current, tool_key_rotate
from lti.models import Deployment, Platform, RegistrationInvite, ToolKey
from lti.tool_urls import TOOL_DESCRIPTION, TOOL_SCOPES, TOOL_TITLE, tool_endpoints, tool_urls


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
        ("Where the platform shows the tool", {"fields": ("frame_origins",)}),
        ("What to give the platform", {"fields": ("tool_urls_for_the_lms",)}),
    ]

    @admin.display(description="Tool URLs")
    def tool_urls_for_the_lms(self, platform: Platform) -> SafeString:
        rows = format_html_join("", "<tr><th>{}</th><td><code>{}</code></td></tr>", tool_urls().items())
        setup = reverse("admin:lti_platform_tool_setup")
        return format_html(
            '<table>{}</table><p>The key, the Canvas JSON, registration invitations: <a href="{}">tool setup</a>.</p>',
            rows,
            setup,
        )

    def get_urls(self) -> list[URLPattern]:
        # Before the default URLs, whose "<object_id>/" would take "tool-setup/" for an id.
        wrap = self.admin_site.admin_view
        return [
            path("tool-setup/", wrap(self.tool_setup_view), name="lti_platform_tool_setup"),
            path("tool-setup/canvas.json", wrap(self.canvas_json_view), name="lti_platform_canvas_json"),
            *super().get_urls(),
        ]

    def _canvas_json(self) -> str:
        config = canvas_developer_key(
            endpoints=tool_endpoints(), title=TOOL_TITLE, description=TOOL_DESCRIPTION, scopes=TOOL_SCOPES
        )
        return json.dumps(config, indent=2)

    def tool_setup_view(self, request: HttpRequest) -> TemplateResponse:
        """What to paste into an LMS, for those who may see the platforms."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        key = tool_key_current(now=timezone.now())
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Tool setup for an LMS",
            "urls": tool_urls(),
            "kid": key.kid,
            "public_jwk": json.dumps(key.public_jwk, indent=2),
            "canvas_json": self._canvas_json(),
            "can_invite": RegistrationInviteAdmin.may_invite(request),
        }
        return TemplateResponse(request, "admin/lti/platform/tool_setup.html", context)

    def canvas_json_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        response = HttpResponse(self._canvas_json(), content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="canvas-developer-key.json"'
        return response


class InviteForm(forms.Form):
    note = forms.CharField(max_length=200, required=False, help_text="For people: which LMS this invite is for.")
    lms_origin = forms.CharField(
        max_length=255,
        required=False,
        label="LMS address",
        help_text="Only when the LMS's pages are not at its issuer's address, as with hosted Canvas "
        "(issuer https://canvas.instructure.com, pages at https://school.instructure.com): that address.",
    )
    days = forms.IntegerField(min_value=1, max_value=MAX_INVITE_DAYS, initial=INVITE_DAYS, label="Valid for (days)")


@admin.register(RegistrationInvite)
class RegistrationInviteAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """One-time links for LTI Dynamic Registration. The link is shown once, on making
    it; deleting an unused invite withdraws it."""

    list_display = ("__str__", "state", "created_by", "created_at", "expires_at", "used_at", "platform")
    fields = ("note", "lms_origin", "created_by", "created_at", "expires_at", "used_at", "platform")
    readonly_fields = fields

    @staticmethod
    def may_invite(request: HttpRequest) -> bool:
        # An invite registers a platform, so making one takes the right to add platforms too.
        return request.user.has_perm("lti.add_registrationinvite") and request.user.has_perm("lti.add_platform")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.may_invite(request)

    def has_change_permission(self, request: HttpRequest, obj: RegistrationInvite | None = None) -> bool:
        return False

    @admin.display(description="State")
    def state(self, invite: RegistrationInvite) -> str:
        if invite.used_at is not None:
            return "used"
        return "expired" if invite.expires_at <= timezone.now() else "open"

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, object] | None = None
    ) -> HttpResponse:
        """Make an invite and show its link, once: only the token's hash is kept."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = InviteForm(request.POST if request.method == "POST" else None)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form}
        if request.method == "POST" and form.is_valid():
            try:
                invite, token = invite_create(
                    created_by_id=request.user.pk,
                    now=timezone.now(),
                    note=form.cleaned_data["note"],
                    lms_origin=form.cleaned_data["lms_origin"],
                    days=form.cleaned_data["days"],
                )
            except ServiceError as exc:
                for field, problems in exc.errors.items():
                    form.add_error(field if field in form.fields else None, problems)
            else:
                context |= {"title": "Registration link", "invite": invite, "url": invite_url(token=token)}
                return TemplateResponse(request, "admin/lti/registrationinvite/created.html", context)
        context["title"] = "New registration invitation"
        return TemplateResponse(request, "admin/lti/registrationinvite/add.html", context)


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
