"""``manage.py import_article PATH.md``: import a journal case report; re-running updates it."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cases.importers.article import ArticleFormatError, article_import
from cases.spoilers import spoiler_report


class Command(BaseCommand):
    help = (
        "Import a journal case report in the JRCR Markdown layout as a case and print its URL "
        "path. Re-running on the same article updates the case in place."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="The article's Markdown file.")
        parser.add_argument(
            "--draft", action="store_true", help="Import as a draft (staff only) case."
        )
        parser.add_argument(
            "--unknown-title",
            default="",
            metavar="TEXT",
            help='Neutral title for unknown mode, e.g. "52-year-old woman with a lump". '
            "Default: the existing one on re-import, else age and sex from the captions.",
        )

    def handle(self, *args, path: Path, draft: bool, unknown_title: str, **options) -> None:
        try:
            case = article_import(path=path, draft=draft, unknown_title=unknown_title)
        except ArticleFormatError as exc:
            raise CommandError(f"{path}: not importable: {exc}") from exc
        except OSError as exc:
            raise CommandError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
        self.stdout.write(case.get_absolute_url())
        for line in spoiler_report(case):
            self.stderr.write(line)
