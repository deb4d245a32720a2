from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from questions.models import Exercise
from questions.services import exercises_export


class Command(BaseCommand):
    help = "Export exercises as folders (exercise.yaml, prompt.md, starter.py, reference.py)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, required=True, help="Folder to write into (created if missing).")
        parser.add_argument("slugs", nargs="*", help="Only these exercises (default: all).")

    def handle(self, *args: Any, **options: Any) -> None:
        missing = sorted(set(options["slugs"]) - set(Exercise.objects.values_list("slug", flat=True)))
        if missing:
            raise CommandError(f"there is no exercise {missing[0]!r}")
        written = exercises_export(out_dir=options["out"], slugs=options["slugs"])
        self.stdout.write(f"wrote {len(written)} file(s) to {options['out']}")
