"""Teaching cases: everything a published case report holds, in the ORM."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.text import slugify

# The sub-packages' models live in their own modules, which name these models by strings and
# import nothing from here; Django finds them through these imports.
from .conference import models as conference_models  # noqa: F401
from .discussion.models import Comment, Follow, ModerationAction, NotificationSent, Report  # noqa: F401
from .inbox.models import InboxInstance, InboxKeyObject, InboxSeries, InboxStudy  # noqa: F401
from .library.models import CaseDifficulty, Collection, CollectionItem, SearchDocument  # noqa: F401
from .preview import sees_drafts
from .tasks.models import TaskWorker  # noqa: F401


def new_public_id() -> str:
    """Return an opaque id for unknown-mode URLs: random, never derived from the case."""
    return secrets.token_hex(6)


def new_token() -> str:
    return secrets.token_hex(16)


def slice_upload_to(instance: Slice, filename: str) -> str:
    # Stored under a generated name: nothing of the uploader's file name or the case survives.
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"slices/{instance.token[:2]}/{instance.token}.{suffix}"


class Tag(models.Model):
    """A modality or body-system label used to file and filter cases."""

    class Kind(models.TextChoices):
        MODALITY = "modality", "Modality"
        SYSTEM = "system", "Body system"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=80)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "slug"], name="tag_unique_kind_slug"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if not self.slug:
            self.slug = slugify(self.name)[:80]
        super().save(*args, **kwargs)


class Keyword(models.Model):
    name = models.CharField(max_length=120, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CaseQuerySet(models.QuerySet):
    def published(self) -> CaseQuerySet:
        return self.filter(status=Case.Status.PUBLISHED)

    def visible_to(self, user) -> CaseQuerySet:
        """Drafts are for staff only (and for staff previewing as a learner)."""
        if sees_drafts(user):
            return self
        return self.published()


class Case(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    class Sex(models.TextChoices):
        FEMALE = "F", "Female"
        MALE = "M", "Male"
        OTHER = "O", "Other"
        UNKNOWN = "", "Not stated"

    public_id = models.CharField(
        max_length=24,
        unique=True,
        default=new_public_id,
        editable=False,
        help_text="Opaque id used in unknown-mode URLs.",
    )
    slug = models.SlugField(max_length=120, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    title = models.CharField(max_length=300)
    unknown_title = models.CharField(
        max_length=200,
        blank=True,
        help_text='Neutral title for unknown mode, e.g. "52-year-old woman with a lump".',
    )
    is_sample = models.BooleanField(
        default=False,
        help_text="A sample image series with no clinical story (not a teaching case).",
    )

    correspondence = models.TextField(blank=True)
    journal = models.CharField(max_length=200, blank=True)
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    month = models.CharField(max_length=20, blank=True)
    volume = models.CharField(max_length=20, blank=True)
    issue = models.CharField(max_length=20, blank=True)
    pages = models.CharField(max_length=30, blank=True)
    doi = models.CharField("DOI", max_length=200, blank=True)
    article_url = models.URLField("article URL", max_length=500, blank=True)
    accessed = models.DateField(
        "accessed",
        null=True,
        blank=True,
        help_text="When the source web page was read (an imported web case's access date).",
    )

    abstract = models.TextField(blank=True)
    age = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Years.")
    sex = models.CharField(max_length=1, choices=Sex.choices, blank=True)
    history = models.TextField(blank=True)
    exam = models.TextField("examination", blank=True)
    findings = models.TextField(blank=True)
    differential = models.TextField(blank=True, help_text="One diagnosis per line.")
    diagnosis = models.TextField(blank=True)
    diagnosis_synonyms = models.TextField(
        "other names for the diagnosis",
        blank=True,
        help_text=(
            "One per line, e.g. an eponym or an older name. Each counts as a right answer "
            "when a learner's differential is scored, and is masked like the diagnosis in "
            "everything shown before the diagnosis step (the spoiler check looks for them too)."
        ),
    )
    diagnosis_by = models.TextField(
        "diagnosis by",
        blank=True,
        help_text="How the diagnosis was made or confirmed, e.g. biopsy. Shown with it.",
    )
    treatment = models.TextField("treatment and follow-up", blank=True)
    discussion = models.TextField(blank=True)
    teaching_point = models.TextField(blank=True)

    tags = models.ManyToManyField(Tag, blank=True, related_name="cases")
    keywords = models.ManyToManyField(Keyword, blank=True, related_name="cases")
    acr_code = models.CharField("ACR code", max_length=20, blank=True)
    category = models.CharField(max_length=120, blank=True)

    source = models.TextField(blank=True, help_text="Where the case comes from.")
    licence = models.CharField(max_length=200, blank=True)
    external_id = models.CharField(
        max_length=80,
        blank=True,
        help_text="Identifier in the source, e.g. medpix:MPX1064; re-imports update in place.",
    )

    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "title"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~models.Q(external_id=""),
                name="case_unique_external_id",
            ),
        ]
        indexes = [
            # The library's pages: the visible cases (status) in library order
            # (cases.library.views._ORDER), read from the index without sorting them all.
            # SQLite sorts NULLs last in a descending index, as the order asks; it takes no
            # NULLS clause in an index.
            models.Index(
                fields=["status", "is_sample", "-year", "title"],
                name="cases_case_library_order_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("cases:article", args=[self.slug])

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from .inbox.models import publication_blockers

        if self.is_published and (blockers := publication_blockers(self)):
            raise ValidationError({"status": blockers})

    @property
    def citation(self) -> str:
        """The short citation as journals print it: J Radiol Case Rep 2011;5(6):1-8."""
        text = self.journal
        if self.year:
            text += f" {self.year}"
        if self.volume:
            text += f";{self.volume}"
            if self.issue:
                text += f"({self.issue})"
        if self.pages:
            text += f":{self.pages}"
        return text.strip()

    @property
    def doi_url(self) -> str:
        return f"https://doi.org/{self.doi}" if self.doi else ""

    @property
    def differential_list(self) -> list[str]:
        return [line.strip(" -•\t") for line in self.differential.splitlines() if line.strip()]


class Affiliation(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="affiliations")
    number = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=300)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["case", "number"], name="affiliation_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.number}. {self.name}"


class Author(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="authors")
    order = models.PositiveSmallIntegerField(default=0)
    name = models.CharField(max_length=200)
    affiliation_marks = models.CharField(
        max_length=40, blank=True, help_text="Affiliation numbers, comma-separated: 1,2"
    )
    is_corresponding = models.BooleanField("corresponding author", default=False)
    is_organisation = models.BooleanField(
        "organisation",
        default=False,
        help_text="A body, e.g. a library: cited whole, not as surname and initials.",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="case_authorships",
        help_text="This author's account here: it is told of new comments on the case.",
    )

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def marks(self) -> list[str]:
        return [m.strip() for m in self.affiliation_marks.split(",") if m.strip()]


class RevealStep(models.IntegerChoices):
    PRESENTATION = 1, "Presentation"
    IMAGES = 2, "Images"
    FINDINGS = 3, "Findings"
    DIFFERENTIAL = 4, "Differential"
    DIAGNOSIS = 5, "Diagnosis"
    DISCUSSION = 6, "Discussion"


class Figure(models.Model):
    class Modality(models.TextChoices):
        CT = "CT", "CT"
        MR = "MR", "MRI"
        US = "US", "Ultrasound"
        XR = "XR", "Radiograph"
        NM = "NM", "Nuclear medicine"
        MG = "MG", "Mammography"
        FL = "FL", "Fluoroscopy"
        ANGIO = "XA", "Angiography"
        HISTOLOGY = "HIST", "Histology"
        IHC = "IHC", "Immunohistochemistry"
        PHOTO = "PHOTO", "Clinical photograph"
        OTHER = "OT", "Other"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="figures")
    number = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=40, blank=True, help_text='As printed, e.g. "Figure 1".')
    caption = models.TextField(blank=True)
    unknown_caption = models.TextField(
        blank=True, help_text="Spoiler-free caption shown in unknown mode before the diagnosis."
    )
    alt_text = models.CharField(max_length=300, blank=True)
    modality = models.CharField(max_length=8, choices=Modality.choices, blank=True)
    plane = models.CharField(max_length=40, blank=True)
    technique = models.CharField(max_length=300, blank=True)
    reveal_step = models.PositiveSmallIntegerField(
        choices=RevealStep.choices, default=RevealStep.IMAGES
    )
    window_width = models.FloatField(null=True, blank=True)
    window_center = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["case", "number"], name="figure_unique_number"),
        ]
        indexes = [
            # The library's plane counts (cases.library.facets, the "plane" facet's tally):
            # each case's planes read from the index, without a visit to each figure's row.
            models.Index(fields=["case", "plane"], name="cases_figure_case_plane_idx"),
        ]

    def __str__(self) -> str:
        return self.label or f"Figure {self.number}"

    def save(self, *args, **kwargs) -> None:
        if not self.label:
            self.label = f"Figure {self.number}"
        super().save(*args, **kwargs)

    @property
    def has_window(self) -> bool:
        return self.window_width is not None and self.window_center is not None


class Annotation(models.Model):
    """A mark drawn on a figure from the findings step on: an arrow, a star, a ring or a label.

    ``x`` and ``y`` place the mark (an arrow's tip, a ring's centre) as fractions of the
    image; ``angle`` is where an arrow points, or a ring's tilt. ``slice_index`` counts from 0
    like ``Slice.position``; the admin shows and takes it counting from 1, as the viewer does.
    """

    class Kind(models.TextChoices):
        ARROW = "arrow", "Arrow"
        THIN_ARROW = "thin-arrow", "Thin arrow"
        ARROWHEAD = "arrowhead", "Arrowhead"
        STAR = "star", "Star"
        ELLIPSE = "ellipse", "Circle / ellipse"
        TEXT = "text", "Text label"

    figure = models.ForeignKey(Figure, on_delete=models.CASCADE, related_name="annotations")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.ARROW)
    x = models.FloatField(help_text="0 (left) to 1 (right) of the image.")
    y = models.FloatField(help_text="0 (top) to 1 (bottom) of the image.")
    angle = models.FloatField(
        default=225,
        help_text="Degrees anticlockwise from east: where an arrow points; a ring's tilt.",
    )
    radius_x = models.FloatField(
        default=0.08, help_text="A ring's half width, as a fraction of the image's width."
    )
    radius_y = models.FloatField(
        default=0.08, help_text="A ring's half height, as a fraction of the image's height."
    )
    slice_index = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Stack position it belongs to, counting from 0; blank for all.",
    )
    label = models.CharField(
        max_length=120, blank=True, help_text="Drawn beside the mark in the viewer and article."
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at ({self.x:.2f}, {self.y:.2f})"


class Slice(models.Model):
    """One stored image of a figure: a single picture, or one position in a stack."""

    class Kind(models.TextChoices):
        GREY8 = "grey8", "8-bit grey"
        COLOUR = "colour", "Colour"
        GREY16 = "grey16", "16-bit grey (DICOM, rescaled to HU)"

    class SpacingSource(models.TextChoices):
        NONE = "", "None"
        PIXEL = "PixelSpacing", "PixelSpacing"
        IMAGER = "ImagerPixelSpacing", "ImagerPixelSpacing (at the detector)"

    figure = models.ForeignKey(Figure, on_delete=models.CASCADE, related_name="slices")
    position = models.PositiveIntegerField(default=0)
    token = models.CharField(max_length=32, unique=True, default=new_token, editable=False)
    image = models.FileField(upload_to=slice_upload_to, max_length=200)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.GREY8)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    rescale_slope = models.FloatField(default=1.0)
    rescale_intercept = models.FloatField(default=0.0)
    inverted = models.BooleanField(default=False, help_text="MONOCHROME1: shown inverted.")
    slice_location = models.FloatField(null=True, blank=True)
    is_key = models.BooleanField(
        "key image",
        default=False,
        help_text="The viewer opens on the first key image; the figure lists them first.",
    )
    sha256 = models.CharField(max_length=64, blank=True)
    # The DICOM geometry the header gives (None where it gives none, and for raster images):
    # what measurements in mm and the viewer's position and thickness read.
    pixel_spacing_row = models.FloatField(
        null=True, blank=True, help_text="mm between the centres of adjacent rows (vertical)."
    )
    pixel_spacing_column = models.FloatField(
        null=True, blank=True, help_text="mm between the centres of adjacent columns."
    )
    spacing_source = models.CharField(
        max_length=20,
        choices=SpacingSource.choices,
        blank=True,
        help_text="The DICOM attribute the pixel spacing was read from.",
    )
    image_position = models.JSONField(
        null=True, blank=True, help_text="ImagePositionPatient: x, y, z of the first pixel, mm."
    )
    image_orientation = models.JSONField(
        null=True, blank=True, help_text="ImageOrientationPatient: row and column cosines."
    )
    slice_thickness = models.FloatField(null=True, blank=True, help_text="mm.")
    # Slices of one frame of reference share one patient coordinate system: the study page
    # draws reference lines between any two of its views. The de-identified UID, as in the
    # stored file, never the original.
    frame_of_reference = models.CharField(
        max_length=64, blank=True, help_text="FrameOfReferenceUID (de-identified)."
    )

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.figure} #{self.position + 1}"

    @property
    def spacing(self) -> tuple[float, float] | None:
        """(x, y): mm per pixel across and down, or None when the header gives no spacing."""
        if self.pixel_spacing_column and self.pixel_spacing_row:
            return self.pixel_spacing_column, self.pixel_spacing_row
        return None


class Table(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="tables")
    number = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=300, blank=True)
    header = models.JSONField(
        default=list, blank=True, help_text="Column headings; empty for a key/value table."
    )
    reveal_step = models.PositiveSmallIntegerField(
        choices=RevealStep.choices, default=RevealStep.DISCUSSION
    )

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["case", "number"], name="table_unique_number"),
        ]

    def __str__(self) -> str:
        return f"Table {self.number}. {self.title}".strip()

    @property
    def column_count(self) -> int:
        widest_row = max((len(r.cells) for r in self.rows.all()), default=0)
        return max(len(self.header), widest_row)


class TableRow(models.Model):
    table = models.ForeignKey(Table, on_delete=models.CASCADE, related_name="rows")
    order = models.PositiveSmallIntegerField(default=0)
    cells = models.JSONField(default=list, help_text="Markdown text of each cell, in order.")

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.cells[0][:60] if self.cells else f"Row {self.order}"


class Reference(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="references")
    order = models.PositiveSmallIntegerField(default=0)
    text = models.TextField(help_text="The citation as printed (Markdown for italics).")
    pmid = models.CharField("PMID", max_length=12, blank=True)
    doi = models.CharField("DOI", max_length=200, blank=True)
    url = models.URLField("URL", max_length=500, blank=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.text[:80]

    @property
    def pubmed_url(self) -> str:
        return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/" if self.pmid else ""

    @property
    def doi_url(self) -> str:
        return f"https://doi.org/{self.doi}" if self.doi else ""


class Abbreviation(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="abbreviations")
    abbreviation = models.CharField(max_length=40)
    expansion = models.CharField(max_length=200)

    class Meta:
        ordering = ["abbreviation"]

    def __str__(self) -> str:
        return f"{self.abbreviation} = {self.expansion}"


class Attempt(models.Model):
    """A learner's committed differential for an unknown case, and how it scored."""

    MAX_CHOICES = 3

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attempts")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="attempts",
    )
    session_key = models.CharField(max_length=64, blank=True, db_index=True)
    choices = models.JSONField(default=list, help_text="Up to three diagnoses, ranked.")
    skipped = models.BooleanField(default=False)
    score = models.FloatField(default=0.0, help_text="1 for a first-choice hit, less lower down.")
    matched_rank = models.PositiveSmallIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["case", "session_key"])]

    def __str__(self) -> str:
        return f"{self.case} · {', '.join(self.choices) or 'skipped'}"
