from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_instructors_group(sender: AppConfig, **kwargs: Any) -> None:
    # Permissions exist only after every app has migrated, so the group is (re)built here.
    from accounts.services import instructors_group_ensure

    instructors_group_ensure()


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_ensure_instructors_group, dispatch_uid="accounts.instructors_group")
