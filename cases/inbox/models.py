"""The inbox: studies received from a PACS, each kept as one draft case until claimed.

Nothing here names the patient: study, series and instance keys are the de-identified UIDs
(keyed hashes of the originals, ``KeyedReplacements``), and ``patient`` is the keyed
pseudonym, the same for every study of one patient so a prior and a current can be linked.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class InboxStudy(models.Model):
    class Source(models.TextChoices):
        DICOM = "dicom", "DICOM send (C-STORE)"
        DICOMWEB = "dicomweb", "DICOMweb pull"

    key = models.CharField(max_length=64, unique=True, help_text="De-identified StudyInstanceUID.")
    case = models.OneToOneField("cases.Case", on_delete=models.CASCADE, related_name="inbox_study")
    patient = models.CharField(
        max_length=24, db_index=True, help_text="Keyed pseudonym: the same for one patient."
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.DICOM)
    calling_ae = models.CharField("sending AE", max_length=64, blank=True)
    modality = models.CharField(max_length=16, blank=True)
    body_part = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=200, blank=True)
    study_month = models.CharField(max_length=7, blank=True, help_text="YYYY-MM, no day.")
    received = models.DateTimeField(default=timezone.now)
    last_received = models.DateTimeField(default=timezone.now)
    assembled = models.DateTimeField(null=True, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inbox_claims",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(
        "notes for the author",
        blank=True,
        help_text="From the sender's key object selections (title and comment), de-identified.",
    )

    class Meta:
        ordering = ["-last_received"]
        verbose_name = "inbox study"
        verbose_name_plural = "inbox"
        indexes = [
            # inbox_clean: unclaimed studies older than the keep time.
            models.Index(fields=["claimed_at", "last_received"], name="inbox_unclaimed_idx"),
        ]

    def __str__(self) -> str:
        return self.case.title if self.case_id else self.key

    @classmethod
    def unclaimed_count(cls) -> int:
        """Studies waiting for an author: the admin's inbox badge."""
        # inbox_unclaimed_idx answers it.
        return cls.objects.filter(claimed_at=None).exclude(case__status="published").count()

    @property
    def needs_assembly(self) -> bool:
        return self.assembled is None or self.assembled < self.last_received

    def claim(self, user) -> None:
        self.claimed_by = user
        self.claimed_at = timezone.now()
        self.save(update_fields=["claimed_by", "claimed_at"])


class InboxSeries(models.Model):
    study = models.ForeignKey(InboxStudy, on_delete=models.CASCADE, related_name="series")
    key = models.CharField(max_length=64, unique=True, help_text="De-identified SeriesInstanceUID.")
    figure = models.OneToOneField(
        "cases.Figure", on_delete=models.CASCADE, related_name="inbox_series"
    )
    modality = models.CharField(max_length=16, blank=True)
    burned_in = models.CharField(
        "may have burned-in text",
        max_length=120,
        blank=True,
        help_text="Why (BurnedInAnnotation YES, ultrasound, secondary capture); blank if not.",
    )
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["figure__number"]
        verbose_name_plural = "inbox series"

    def __str__(self) -> str:
        return str(self.figure)

    @property
    def blocks_publication(self) -> bool:
        return bool(self.burned_in) and self.checked_at is None

    def check_burned_in(self, user) -> None:
        self.checked_by = user
        self.checked_at = timezone.now()
        self.save(update_fields=["checked_by", "checked_at"])


class InboxInstance(models.Model):
    """One received SOP instance: a second send of it is recognised and not stored again."""

    series = models.ForeignKey(InboxSeries, on_delete=models.CASCADE, related_name="instances")
    key = models.CharField(max_length=64, unique=True, help_text="De-identified SOPInstanceUID.")
    instance_number = models.IntegerField(null=True, blank=True)
    # The slices this instance became, in frame order (one per frame of a multi-frame file).
    slice_ids = models.JSONField(default=list)
    received = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["instance_number", "id"]

    def __str__(self) -> str:
        return self.key


class InboxKeyObject(models.Model):
    """A received Key Object Selection: its key images are ticked once their instances are here.

    ``pending`` maps the de-identified SOP Instance UIDs not yet found in the study to the
    frame numbers selected (empty: every frame); a selection that arrives before its study is
    kept whole until the study comes. The document itself is never stored.
    """

    key = models.CharField(max_length=64, unique=True, help_text="De-identified SOPInstanceUID.")
    study_key = models.CharField(
        max_length=64, db_index=True, help_text="De-identified StudyInstanceUID."
    )
    title = models.CharField(max_length=200, blank=True)
    comment = models.TextField(blank=True)
    pending = models.JSONField(default=dict)
    selected = models.PositiveIntegerField(default=0, help_text="Instances it selects.")
    calling_ae = models.CharField("sending AE", max_length=64, blank=True)
    received = models.DateTimeField(default=timezone.now)
    noted = models.DateTimeField(
        null=True, blank=True, help_text="When its title and comment went into the notes."
    )

    class Meta:
        ordering = ["received", "id"]
        verbose_name = "key object selection"

    def __str__(self) -> str:
        return self.title or self.key


def publication_blockers(case) -> list[str]:
    """Why ``case`` may not be published yet: flagged series nobody has checked."""
    if case.pk is None:
        return []
    flagged = InboxSeries.objects.filter(study__case=case, burned_in__gt="", checked_at=None)
    return [
        f"{series.figure} may have burned-in text ({series.burned_in}): "
        "check it, then tick it as checked in the inbox"
        for series in flagged.select_related("figure")
    ]
