"""manage.py import_dicom SOURCE [SOURCE ...] --case SLUG [--figure N]: DICOM series into a case.

Several sources are several series of one examination, each a new figure, de-identified with
one memory so they keep one Study and Frame of Reference UID: the study page then draws
reference lines between them.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.imaging.ingest import removed_summary
from cases.importers.dicom import DicomImportError, dicom_import
from cases.models import Case


class Command(BaseCommand):
    help = (
        "Import a DICOM series (a folder, a zip file or one file) into a case as a new "
        "stacked figure, or replace the slices of figure N. Several sources are series of one "
        "examination, each a new figure, sharing their de-identified UIDs. Files are "
        "de-identified."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "source", type=Path, nargs="+", help="Folder, zip file or DICOM file (each a series)."
        )
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
        source: list[Path],
        case: str,
        figure: int | None,
        caption: str,
        unknown_caption: str,
        **options,
    ) -> None:
        target = Case.objects.filter(slug=case).first()
        if target is None:
            raise CommandError(f"No case with the slug {case!r}.")
        if figure is not None and len(source) > 1:
            raise CommandError("--figure replaces one figure: give one source.")
        replacements: dict[str, str] = {}  # one memory: the series keep their shared UIDs
        for path in source:
            self._import(target, path, figure, caption, unknown_caption, replacements)

    def _import(
        self,
        target: Case,
        source: Path,
        figure: int | None,
        caption: str,
        unknown_caption: str,
        replacements: dict[str, str],
    ) -> None:
        try:
            result = dicom_import(
                case=target,
                source=source,
                figure_number=figure,
                caption=caption,
                unknown_caption=unknown_caption,
                progress=self._progress,
                replacements=replacements,
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
