"""Export cases (all, some by slug, or a collection) as a bundle another installation imports."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cases.bundles import bundle_export, bundle_export_collection
from cases.library.models import Collection
from cases.models import Case


class Command(BaseCommand):
    help = "Write a case bundle (zip: manifest.json and the original images) to OUT."

    def add_arguments(self, parser) -> None:
        parser.add_argument("out", help="the .zip file to write")
        parser.add_argument("--collection", type=int, help="export this collection (its id)")
        parser.add_argument("--case", action="append", default=[], help="a case slug (repeat)")

    def handle(self, *args, out: str, collection: int | None, case: list[str], **options) -> None:
        if collection is not None:
            found = Collection.objects.filter(pk=collection).first()
            if found is None:
                raise CommandError(f"no collection with id {collection}")
            data = bundle_export_collection(found, progress=self._progress)
            count = found.items.count()
        else:
            cases = Case.objects.order_by("slug")
            if case:
                cases = cases.filter(slug__in=case)
                missing = set(case) - set(cases.values_list("slug", flat=True))
                if missing:
                    raise CommandError(f"no case with slug {', '.join(sorted(missing))}")
            cases = list(cases)
            data = bundle_export(cases=cases, progress=self._progress)
            count = len(cases)
        Path(out).write_bytes(data)
        self.stdout.write(f"Exported {count} case(s) to {out} ({len(data)} bytes).")

    def _progress(self, number: int, total: int, case: Case) -> None:
        self.stderr.write(f"[{number}/{total}] {case.slug}")
