"""manage.py import_dicomweb BASE_URL (--study UID | --accession N | --patient-id ID [--date D])."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.inbox.dicomweb import DicomwebError, dicomweb_pull
from cases.inbox.models import InboxStudy


class Command(BaseCommand):
    help = (
        "Find studies on a PACS with QIDO-RS and retrieve them with WADO-RS into the inbox as "
        "draft cases (de-identified on arrival). Credentials come from DICOMWEB_USERNAME and "
        "DICOMWEB_PASSWORD (or DICOMWEB_TOKEN), never from the URL."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("base_url", help="The DICOMweb root, e.g. https://pacs/dicom-web")
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--study", default="", help="Study Instance UID.")
        which.add_argument("--accession", default="", help="Accession number.")
        which.add_argument("--patient-id", default="", help="Patient ID (all their studies).")
        parser.add_argument("--date", default="", help="With --patient-id: YYYYMMDD.")

    def handle(self, *args, base_url, study, accession, patient_id, date, **options) -> None:
        if date and not patient_id:
            raise CommandError("--date goes with --patient-id")
        try:
            result = dicomweb_pull(
                base_url=base_url,
                study_uid=study,
                accession=accession,
                patient_id=patient_id,
                study_date=date,
            )
        except DicomwebError as exc:
            raise CommandError(str(exc)) from exc
        if not result.studies:
            raise CommandError("no study found")
        for study_row in InboxStudy.objects.filter(pk__in=result.studies).select_related("case"):
            self.stdout.write(
                f"{study_row.case.title}: /admin/cases/inboxstudy/{study_row.pk}/change/"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(result.studies)} stud{'y' if len(result.studies) == 1 else 'ies'}: "
                f"{result.stored} instance(s) stored, {result.duplicates} already there"
                + (f", {result.key_objects} key object selection(s)" if result.key_objects else "")
            )
        )
        for reason in result.skipped:
            self.stdout.write(f"Skipped: {reason}")
