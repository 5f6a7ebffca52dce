"""Load the demo library shipped in cases/demo/: idempotent, safe to run on every `make demo`."""

from __future__ import annotations

from pathlib import Path

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from cases.importers.article import article_import
from cases.importers.dicom import dicom_import
from cases.importers.medpix import medpix_import
from cases.models import Case, Figure, Tag

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
SEED_ARTICLE = DEMO_DIR / "article" / "jrcr-2011-v5i6-626-retroperitoneal-leiomyosarcoma.md"
SEED_UNKNOWN_TITLE = "52-year-old woman with a paraumbilical lump"
# Other names a learner may give for the seed's diagnosis (scored as correct).
SEED_SYNONYMS = "Metastatic leiomyosarcoma\nRecurrent leiomyosarcoma\nLeiomyosarcoma metastases"
HEAD_CT_SLUG = "sample-head-ct-series"
DEMO_ACCOUNTS = (
    # (username, password, is_staff/superuser)
    ("admin", "caseviewer-admin", True),
    ("learner", "caseviewer-learner", False),
)


class Command(BaseCommand):
    help = "Load the demo cases (seed article, MedPix samples, head CT series) and accounts."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--refresh",
            action="store_true",
            help="Re-import cases that already exist (overwrites edits made in the admin).",
        )

    def handle(self, *args, refresh: bool = False, **options) -> None:
        self._load_article(refresh=refresh)
        self._load_medpix(refresh=refresh)
        self._load_head_ct(refresh=refresh)
        self._create_accounts()
        total = Case.objects.count()
        self.stdout.write(self.style.SUCCESS(f"Demo library ready: {total} cases."))

    def _load_article(self, *, refresh: bool) -> None:
        if Case.objects.filter(external_id="doi:10.3941/jrcr.v5i6.626").exists() and not refresh:
            self.stdout.write("Seed article: already loaded.")
            return
        case = article_import(path=SEED_ARTICLE, unknown_title=SEED_UNKNOWN_TITLE)
        if not case.diagnosis_synonyms:
            case.diagnosis_synonyms = SEED_SYNONYMS
            case.save(update_fields=["diagnosis_synonyms"])
        self.stdout.write(f"Seed article: {case.get_absolute_url()}")

    def _load_medpix(self, *, refresh: bool) -> None:
        medpix = DEMO_DIR / "medpix"
        if Case.objects.filter(external_id__startswith="medpix:").exists() and not refresh:
            self.stdout.write("MedPix cases: already loaded.")
            return
        result = medpix_import(
            topics_path=medpix / "Case_topic.json",
            descriptions_path=medpix / "Descriptions.json",
            images_dir=medpix / "images",
        )
        self.stdout.write(f"MedPix cases: {result.summary()}")

    @transaction.atomic
    def _load_head_ct(self, *, refresh: bool) -> None:
        case = Case.objects.filter(slug=HEAD_CT_SLUG).first()
        if case and case.figures.exists() and not refresh:
            self.stdout.write("Head CT series: already loaded.")
            return
        case, _ = Case.objects.update_or_create(
            slug=HEAD_CT_SLUG,
            defaults={
                "title": "Sample series: non-contrast head CT (28 axial slices)",
                "unknown_title": "Sample head CT series",
                "status": Case.Status.PUBLISHED,
                "is_sample": True,
                "history": (
                    "A sample series with no clinical story, for practising the viewer: "
                    "scroll through the 28 slices and compare the brain (80/40) and bone "
                    "(2500/480) windows."
                ),
                "source": (
                    "dcm_qa_ct validation data (GE HiSpeed Dual, provided by Aliza Medical "
                    "Imaging), de-identified."
                ),
                "licence": "BSD 2-Clause (Copyright (c) 2019, Chris Rorden)",
            },
        )
        existing = case.figures.filter(number=1).exists()
        result = dicom_import(
            case=case,
            source=DEMO_DIR / "dicom" / "ct-head-ge.zip",
            figure_number=1 if existing else None,
            caption="Non-contrast axial head CT, 28 slices. Scroll, window and magnify.",
        )
        Figure.objects.filter(pk=result.figure.pk).update(
            window_width=80, window_center=40, alt_text="Axial head CT slice"
        )
        for kind, name in ((Tag.Kind.MODALITY, "CT"), (Tag.Kind.SYSTEM, "Head")):
            tag, _ = Tag.objects.get_or_create(kind=kind, name=name)
            case.tags.add(tag)
        self.stdout.write(f"Head CT series: {result.slices} slices at {case.get_absolute_url()}")

    def _create_accounts(self) -> None:
        User = get_user_model()
        self.stdout.write("\nAccounts (demo only; change them before sharing this server):")
        for username, password, is_admin in DEMO_ACCOUNTS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"is_staff": is_admin, "is_superuser": is_admin},
            )
            if created:
                user.set_password(password)
                user.email = f"{username}@example.org"
                user.save(update_fields=["password", "email"])
            if user.email:
                # Log-in through /accounts/ needs a verified address (allauth, mandatory).
                EmailAddress.objects.get_or_create(
                    user=user, email=user.email, defaults={"verified": True, "primary": True}
                )
            role = "admin (staff)" if is_admin else "learner"
            note = "" if created else " (existing account; password as set before)"
            self.stdout.write(f"  {role:14} username: {username}  password: {password}{note}")
