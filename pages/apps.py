from __future__ import annotations

from django.apps import AppConfig


class PagesConfig(AppConfig):
    """Server-rendered pages for students, inside an LMS iframe or on their own."""

    name = "pages"
    default_auto_field = "django.db.models.BigAutoField"
