from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class GraderAdminConfig(AdminConfig):
    default_site = "config.admin.GraderAdminSite"
