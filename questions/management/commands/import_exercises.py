from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from questions.services import BankImportError, exercises_import


class Command(BaseCommand):
    help = (
        "Import exercise folders (each with exercise.yaml); all or none. New or changed exercises are "
        "validated by a worker. See docs/exercise-format.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="Exercise folders, or folders holding them.")
        parser.add_argument(
            "--keep-existing", action="store_true", help="Leave exercises whose slug already exists untouched."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = exercises_import(paths=options["paths"], update_existing=not options["keep_existing"])
        except BankImportError as exc:
            raise CommandError("nothing was imported:\n" + "\n".join(exc.problems)) from None
        self.stdout.write(
            f"{len(report.created)} created, {len(report.updated)} updated, {len(report.unchanged)} unchanged"
        )
