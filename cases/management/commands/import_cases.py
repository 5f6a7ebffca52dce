"""Import a case bundle: all of it or nothing; cases already here are skipped."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from cases.bundles import BundleError, bundle_import


class Command(BaseCommand):
    help = "Import a case bundle written by export_cases (or the admin's export action)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("bundle", help="the .zip file to read")
        parser.add_argument("--owner", help="username who gets the bundle's collection, if any")

    def handle(self, *args, bundle: str, owner: str | None, **options) -> None:
        user = None
        if owner:
            user = get_user_model().objects.filter(username=owner).first()
            if user is None:
                raise CommandError(f"no user {owner!r}")
        try:
            with Path(bundle).open("rb") as handle:
                report = bundle_import(handle, owner=user)
        except OSError as exc:
            raise CommandError(f"cannot read {bundle}: {exc.strerror}") from exc
        except BundleError as exc:
            raise CommandError(f"{bundle}: {exc} (nothing was imported)") from exc
        for slug in report.imported:
            self.stdout.write(f"imported {slug}")
        for slug in report.skipped:
            self.stdout.write(f"skipped {slug} (already here)")
        if report.collection:
            self.stdout.write(f"collection “{report.collection}” created for {owner}")
        self.stdout.write(
            f"Imported {len(report.imported)} case(s) with {report.files} file(s); "
            f"skipped {len(report.skipped)}."
        )
        if report.removed:
            self.stdout.write(f"De-identification {report.removed_line()}.")
