from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from questions.services import BankImportError, bank_import, exercises_import

BANK_DIR = Path(__file__).resolve().parents[2] / "bank"


class Command(BaseCommand):
    help = (
        "Load the question bank and exercises shipped in questions/bank/ (idempotent). Exercises become "
        "visible once a worker has validated their reference solutions."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--update",
            action="store_true",
            help="Overwrite seeded questions and quizzes that already exist (e.g. edited in the admin).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = bank_import(paths=[BANK_DIR], update_existing=options["update"])
            exercises = exercises_import(paths=[BANK_DIR / "exercises"], update_existing=options["update"])
        except BankImportError as exc:
            raise CommandError("the shipped bank is invalid:\n" + "\n".join(exc.problems)) from None
        self.stdout.write(
            f"seed_bank: {len(report.created)} created, {len(report.updated)} updated, "
            f"{len(report.unchanged)} already present; quizzes written: {', '.join(report.quizzes) or 'none'}; "
            f"exercises: {len(exercises.created)} created, {len(exercises.updated)} updated, "
            f"{len(exercises.unchanged)} already present"
        )
