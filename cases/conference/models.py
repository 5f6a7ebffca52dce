"""Conferences, their playlists, the questions put to the room and the answers it gave."""

from __future__ import annotations

import hashlib
import json
import secrets

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.urls import reverse

# No 0/O, 1/I/L: a code read off a projector must be typed right the first time.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
PRESENT_PERMISSION = "cases.present_conference"


def new_join_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def join_code_normalise(code: str) -> str:
    """What someone typed, as a code: upper case, spaces and dashes dropped, O read as 0 etc."""
    code = "".join(code.split()).replace("-", "").upper()
    return code.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))


class Conference(models.Model):
    """A live session: a presenter steps a room through an ordered playlist of cases."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        LIVE = "live", "Live"
        ENDED = "ended", "Ended"

    title = models.CharField(max_length=200)
    presenter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="conferences"
    )
    code = models.CharField(
        "join code", max_length=CODE_LENGTH, unique=True, editable=False, db_index=True
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SCHEDULED)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    cases = models.ManyToManyField(
        "cases.Case", through="ConferenceCase", related_name="conferences"
    )
    collection = models.ForeignKey(
        "cases.Collection",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conferences",
        help_text="The collection the playlist was copied from, if any.",
    )
    # The live state (see cases.conference.state): read on every audience poll, so it is one
    # row's two columns; Redis answers the polls instead when REDIS_URL is set.
    version = models.PositiveIntegerField(default=0, editable=False)
    state = models.JSONField(default=dict, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True, editable=False)
    ended = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created"]
        permissions = [("present_conference", "Can present conferences")]

    def __str__(self) -> str:
        return f"{self.title} ({self.code})"

    def save(self, *args, **kwargs) -> None:
        if self.code:
            return super().save(*args, **kwargs)
        # Codes are random; on the rare collision draw again (the unique index decides).
        for attempt in range(10):
            self.code = new_join_code()
            try:
                with transaction.atomic():
                    return super().save(*args, **kwargs)
            except IntegrityError:
                if attempt == 9 or not Conference.objects.filter(code=self.code).exists():
                    raise
        raise AssertionError("unreachable")

    def get_absolute_url(self) -> str:
        return reverse("cases:conference_console", args=[self.code])

    @property
    def join_url(self) -> str:
        return reverse("cases:conference_audience", args=[self.code])

    @property
    def is_live(self) -> bool:
        return self.status == self.Status.LIVE

    def can_present(self, user) -> bool:
        """Only this conference's presenter drives it (and superusers, to take over)."""
        return user.is_authenticated and (user.pk == self.presenter_id or user.is_superuser)


class ConferenceCase(models.Model):
    """One case in a conference's playlist, with the presenter's notes for it."""

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="items")
    case = models.ForeignKey(
        "cases.Case",
        on_delete=models.PROTECT,
        related_name="conference_items",
        limit_choices_to={"status": "published"},
    )
    order = models.PositiveSmallIntegerField(default=0)
    notes = models.TextField(
        "presenter notes", blank=True, help_text="Only the presenter sees these. Default: the "
        "case's teaching point."
    )  # fmt: skip
    shown_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conference", "case"], name="conferencecase_unique_case"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order}. {self.case}"

    def save(self, *args, **kwargs) -> None:
        if not self.notes and self.case_id:
            self.notes = self.case.teaching_point
        super().save(*args, **kwargs)


class Question(models.Model):
    """A poll ("your diagnosis?") or a click question ("click the finding") put to the room."""

    class Kind(models.TextChoices):
        POLL = "poll", "Poll"
        FREE_TEXT = "text", "Free text"
        CLICK = "click", "Click the finding"

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="questions")
    item = models.ForeignKey(ConferenceCase, on_delete=models.CASCADE, related_name="questions")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.POLL)
    prompt = models.CharField(max_length=300)
    options = models.JSONField(default=list, blank=True, help_text="The poll's choices.")
    # Click questions: the image the room clicks on, as the presenter showed it.
    figure_number = models.PositiveSmallIntegerField(null=True, blank=True)
    slice_index = models.PositiveIntegerField(null=True, blank=True)
    view = models.JSONField(default=dict, blank=True)
    # The right answer of a click question: regions (see cases.conference.targets) drawn by
    # the presenter, or copied from the figure's default targets when the question opens.
    targets = models.JSONField(default=list, blank=True)
    is_open = models.BooleanField(default=True)
    results_shown = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    closed = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return self.prompt

    @property
    def targets_key(self) -> str:
        """Changes with the target, so a heat map's URL does too (browsers cache images)."""
        text = json.dumps(self.targets, sort_keys=True).encode()
        return hashlib.blake2s(text, digest_size=4).hexdigest()


class FigureTarget(models.Model):
    """A region an author marks ahead of time as the right answer to "click the finding".

    A click question asked on this figure (at this slice, or any slice when blank) starts
    with these regions as its target; the presenter can redraw them live.
    """

    class Shape(models.TextChoices):
        ELLIPSE = "ellipse", "Ellipse"
        RECT = "rect", "Rectangle"

    figure = models.ForeignKey(
        "cases.Figure", on_delete=models.CASCADE, related_name="click_targets"
    )
    slice_number = models.PositiveIntegerField(
        null=True, blank=True, help_text="1-based, as the viewer counts; blank for every slice."
    )
    shape = models.CharField(max_length=8, choices=Shape.choices, default=Shape.ELLIPSE)
    x = models.FloatField(help_text="Left edge, 0 (left) to 1 (right) of the image.")
    y = models.FloatField(help_text="Top edge, 0 (top) to 1 (bottom) of the image.")
    width = models.FloatField(help_text="Fraction of the image's width.")
    height = models.FloatField(help_text="Fraction of the image's height.")
    label = models.CharField(max_length=120, blank=True, help_text="What it marks (optional).")

    class Meta:
        ordering = ["figure", "slice_number", "id"]

    def __str__(self) -> str:
        return f"{self.get_shape_display()} on {self.figure}"

    def region(self) -> dict:
        return {
            "shape": self.shape,
            "x": self.x,
            "y": self.y,
            "w": self.width,
            "h": self.height,
        }


class Vote(models.Model):
    """One audience member's answer to one question; changeable until the question closes."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="votes")
    voter = models.CharField(max_length=64, help_text="The member's id, kept in their session.")
    choice = models.CharField(max_length=300, blank=True)
    # Click answers, in the original image's pixels (independent of the zoom it was shown at).
    x = models.FloatField(null=True, blank=True)
    y = models.FloatField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["question", "voter"], name="vote_one_per_voter"),
        ]

    def __str__(self) -> str:
        return self.choice or f"({self.x:.0f}, {self.y:.0f})"


class AudienceMember(models.Model):
    """Who is watching, for the presenter's head count (database backend; Redis keeps its own)."""

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="audience")
    member = models.CharField(max_length=32)
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conference", "member"], name="audiencemember_unique_member"
            ),
        ]
        indexes = [models.Index(fields=["conference", "last_seen"])]

    def __str__(self) -> str:
        return self.member
