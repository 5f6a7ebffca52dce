"""Library models: the full-text search document, difficulty levels and collections."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.urls import reverse

from cases.models import Case


def new_share_token() -> str:
    return secrets.token_urlsafe(18)


class SearchDocument(models.Model):
    """The text the full-text index holds for one case, kept in sync by cases.library.search.

    Two documents per case: the article's (everything, the diagnosis included) and unknown
    mode's (only what unknown mode shows before the diagnosis, diagnosis phrases masked).
    SQLite indexes the columns in FTS5 tables fed by triggers; PostgreSQL in generated
    tsvector columns with GIN indexes (migration 0005).
    """

    case = models.OneToOneField(
        Case, on_delete=models.CASCADE, primary_key=True, related_name="search_document"
    )
    title = models.TextField(blank=True)
    subject = models.TextField(blank=True, help_text="Diagnosis, its other names, keywords.")
    body = models.TextField(blank=True)
    unknown_title = models.TextField(blank=True)
    unknown_body = models.TextField(blank=True)
    # What the facets count among a search's matches, read with them (cases.library.facets):
    # "t<tag id>", "k<keyword id>" and "d<difficulty level>", each with a space before and
    # after it (cases.library.search.facets_text).
    facets = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return self.title


class Difficulty(models.IntegerChoices):
    """Levels as teaching files grade them (RSNA MIRC: primary, intermediate, advanced)."""

    STUDENT = 1, "Student"
    RESIDENT = 2, "Resident"
    FELLOW = 3, "Fellow / specialist"


class CaseDifficulty(models.Model):
    """The author's difficulty rating of a case: a library filter."""

    case = models.OneToOneField(
        Case, on_delete=models.CASCADE, primary_key=True, related_name="difficulty"
    )
    level = models.PositiveSmallIntegerField(choices=Difficulty.choices, db_index=True)

    class Meta:
        verbose_name = "difficulty"
        verbose_name_plural = "difficulty"

    def __str__(self) -> str:
        return self.get_level_display()


class FilingCount(models.Model):
    """How many cases a tag, keyword or difficulty level files, by its label as a search
    document's filing names it ("t12", "k40", "d2"): the whole library's facet counts, kept
    by triggers on the link and difficulty tables (migration 0013) as rows come and go, so
    that the library's first page reads them in one small query rather than counting
    50,000 links at 10,000 cases.
    """

    label = models.CharField(max_length=24, primary_key=True)
    n = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.label}: {self.n}"


class Collection(models.Model):
    """A user's ordered list of cases: a reading list, a teaching set, a conference playlist."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="case_collections"
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    share_token = models.CharField(
        max_length=32,
        blank=True,
        db_index=True,
        help_text="Anyone with the share link may read the collection; blank when not shared.",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    cases = models.ManyToManyField(Case, through="CollectionItem", related_name="collections")

    class Meta:
        ordering = ["-updated", "title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("cases:collection", args=[self.pk])

    @property
    def share_url(self) -> str:
        return (
            reverse("cases:collection_shared", args=[self.share_token]) if self.share_token else ""
        )

    def playlist(self, *, user=None) -> list[Case]:
        """The collection's cases in order, as a conference plays them.

        With ``user``, drafts are left out unless the user is staff (drafts are staff-only).
        """
        items = self.items.select_related("case").order_by("position", "id")
        cases = [item.case for item in items]
        if user is not None and not (user.is_authenticated and user.is_staff):
            cases = [case for case in cases if case.is_published]
        return cases


class CollectionItem(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="collection_items")
    position = models.PositiveIntegerField(default=0)
    note = models.CharField(max_length=300, blank=True)
    added = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["collection", "case"], name="collectionitem_unique_case"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.collection} #{self.position}: {self.case}"


# Receivers that keep the search index in step; connected once the models exist.
from . import signals  # noqa: E402, F401
