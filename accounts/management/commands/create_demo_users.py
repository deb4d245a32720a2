from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.services import user_ensure

DEMO_USERS = [("instructor", "instructor-demo-pass", True), ("student", "student-demo-pass", False)]


class Command(BaseCommand):
    help = "Create (or reset) the demo instructor and student for local use, and print their credentials."

    def handle(self, *args: Any, **options: Any) -> None:
        for username, password, instructor in DEMO_USERS:
            user_ensure(username=username, password=password, instructor=instructor)
            role = "instructor (admin at /admin/)" if instructor else "student"
            self.stdout.write(f"  {role:34} username: {username:11} password: {password}")
