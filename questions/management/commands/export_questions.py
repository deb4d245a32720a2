from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from questions.models import Quiz
from questions.services import bank_export


class Command(BaseCommand):
    help = "Export questions as Markdown files; with --quiz, its questions in order plus quiz.md."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, required=True, help="Folder to write into (created if missing).")
        parser.add_argument("--quiz", help="Export only this quiz's questions, numbered in quiz order.")

    def handle(self, *args: Any, **options: Any) -> None:
        quiz = None
        if options["quiz"]:
            try:
                quiz = Quiz.objects.get(slug=options["quiz"])
            except Quiz.DoesNotExist:
                raise CommandError(f"there is no quiz {options['quiz']!r}") from None
        written = bank_export(out_dir=options["out"], quiz=quiz)
        self.stdout.write(f"wrote {len(written)} file(s) to {options['out']}")
