"""The admin site, open to instructors as accounts.roles defines them.

Django's own site admits only is_staff users; instructors who are merely in the
`instructors` group would be turned away although their group holds the permissions.
"""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from accounts.roles import user_is_instructor


class InstructorAuthenticationForm(AdminAuthenticationForm):
    def confirm_login_allowed(self, user: AbstractBaseUser) -> None:
        if not user.is_active or not user_is_instructor(user=user):
            raise ValidationError(
                "This account is not an instructor account. Students use the API or their course site.",
                code="invalid_login",
            )


class GraderAdminSite(AdminSite):
    site_header = "Grader administration"
    site_title = "Grader"
    login_form = InstructorAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and user_is_instructor(user=request.user)
