"""manage.py import_dicom SOURCE --case SLUG [--figure N]: a DICOM series into a case."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.imaging.ingest import removed_summary
from cases.importers.dicom import DicomImportError, dicom_import
from cases.models import Case


class Command(BaseCommand):
    help = (
        "Import a DICOM series (a folder, a zip file or one file) into a case as a new "
        "stacked figure, or replace the slices of figure N. Files are de-identified."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", type=Path, help="Folder, zip file or DICOM file.")
        parser.add_argument("--case", required=True, help="Slug of the case to add to.")
        parser.add_argument(
            "--figure",
            type=int,
            default=None,
            help="Replace the slices of this figure number instead of adding a figure.",
        )
        parser.add_argument("--caption", default="", help="Figure caption.")
        parser.add_argument(
            "--unknown-caption",
            default="",
            help="Spoiler-free caption shown in unknown mode.",
        )

    def handle(
        self,
        *args,
        source: Path,
        case: str,
        figure: int | None,
        caption: str,
        unknown_caption: str,
        **options,
    ) -> None:
        target = Case.objects.filter(slug=case).first()
        if target is None:
            raise CommandError(f"No case with the slug {case!r}.")
        try:
            result = dicom_import(
                case=target,
                source=source,
                figure_number=figure,
                caption=caption,
                unknown_caption=unknown_caption,
                progress=self._progress,
            )
        except DicomImportError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.slices} slices into {target.get_absolute_url()} "
                f"figure {result.figure.number}"
            )
        )
        if removed := removed_summary(result.removed):
            self.stdout.write(f"De-identification {removed}.")
        for name, reason in result.skipped:
            self.stdout.write(f"Skipped {name}: {reason}")

    def _progress(self, done: int, total: int, name: str) -> None:
        # One line per item on stderr, so the summary on stdout stays machine-readable.
        self.stderr.write(f"[{done}/{total}] {name}", style_func=lambda text: text)
