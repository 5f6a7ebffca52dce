"""manage.py import_medpix CASE_TOPIC_JSON --descriptions JSON --images DIR [--draft]."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.imaging.ingest import removed_summary
from cases.importers.medpix import MedpixImportError, medpix_import
from cases.spoilers import spoiler_report


class Command(BaseCommand):
    help = (
        "Import MedPix teaching cases (MedPix 2.0 JSON layout). Re-running updates the "
        "same cases in place."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("topics", type=Path, help="Case_topic.json")
        parser.add_argument("--descriptions", type=Path, required=True, help="Descriptions.json")
        parser.add_argument(
            "--images", type=Path, required=True, help="Folder of <image id>.png files."
        )
        parser.add_argument(
            "--draft", action="store_true", help="Import as drafts instead of published."
        )

    def handle(
        self,
        *args,
        topics: Path,
        descriptions: Path,
        images: Path,
        draft: bool,
        **options,
    ) -> None:
        try:
            result = medpix_import(
                topics_path=topics,
                descriptions_path=descriptions,
                images_dir=images,
                draft=draft,
                progress=self._progress,
            )
        except MedpixImportError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(result.summary()))
        if removed := removed_summary(result.removed):
            self.stdout.write(f"De-identification {removed}.")
        for line in result.skipped_lines():
            self.stdout.write(f"  {line}")
        for case in result.cases:
            for line in spoiler_report(case):
                self.stderr.write(line)

    def _progress(self, done: int, total: int, name: str) -> None:
        # One line per item on stderr, so the summary on stdout stays machine-readable.
        self.stderr.write(f"[{done}/{total}] {name}", style_func=lambda text: text)
