"""Library models: the full-text search document, difficulty levels and collections.

Models of the case module are named by strings ("cases.Case"), so that this module imports
nothing of it: cases.models imports this one to register the models.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models, transaction
from django.db.models import Max
from django.urls import reverse


def new_share_token() -> str:
    return secrets.token_urlsafe(18)


class SearchDocument(models.Model):
    """The text the full-text index holds for one case, kept in sync by cases.library.search.

    Two documents per case: the article's (everything, the diagnosis included) and unknown
    mode's (only what unknown mode shows before the diagnosis, diagnosis phrases masked).
    SQLite indexes the columns in FTS5 tables fed by triggers; PostgreSQL in generated
    tsvector columns with GIN indexes (migration 0005, which says what a migration altering
    this table must redo).
    """

    case = models.OneToOneField(
        "cases.Case", on_delete=models.CASCADE, primary_key=True, related_name="search_document"
    )
    title = models.TextField(blank=True)
    subject = models.TextField(blank=True, help_text="Diagnosis, its other names, keywords.")
    body = models.TextField(blank=True)
    unknown_title = models.TextField(blank=True)
    unknown_body = models.TextField(blank=True)

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
        "cases.Case", on_delete=models.CASCADE, primary_key=True, related_name="difficulty"
    )
    level = models.PositiveSmallIntegerField(choices=Difficulty.choices, db_index=True)

    class Meta:
        verbose_name = "difficulty"
        verbose_name_plural = "difficulty"

    def __str__(self) -> str:
        return self.get_level_display()


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
    cases = models.ManyToManyField(
        "cases.Case", through="CollectionItem", related_name="collections"
    )

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

    def items_visible_to(self, user) -> list[CollectionItem]:
        """The items in order; drafts only for staff (a shared draft stays invisible)."""
        items = self.items.select_related("case").order_by("position", "id")
        return list(items.filter(case__in=self.cases.visible_to(user).values("pk")))

    def case_add(self, case) -> CollectionItem:
        """Add ``case`` at the end; adding it twice changes nothing."""
        with transaction.atomic():
            last = self.items.aggregate(last=Max("position"))["last"] or 0
            item, _ = self.items.get_or_create(case=case, defaults={"position": last + 1})
            self.save(update_fields=["updated"])
        return item

    def reorder(self, positions: dict[int, float]) -> None:
        """Put items in the order of ``positions`` (item id -> any number); renumber 1..n.

        Items without a number keep their place relative to each other, after numbered ties.
        """
        items = list(self.items.order_by("position", "id"))
        current = {item.pk: index + 1 for index, item in enumerate(items)}
        items.sort(key=lambda item: (positions.get(item.pk, current[item.pk]), current[item.pk]))
        for index, item in enumerate(items, start=1):
            item.position = index
        CollectionItem.objects.bulk_update(items, ["position"])
        self.save(update_fields=["updated"])

    def share(self) -> None:
        """A new read-only link (which retires the old one)."""
        self.share_token = new_share_token()
        self.save(update_fields=["share_token", "updated"])

    def unshare(self) -> None:
        self.share_token = ""
        self.save(update_fields=["share_token", "updated"])

    def playlist(self, *, user=None) -> list:
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
    case = models.ForeignKey(
        "cases.Case", on_delete=models.CASCADE, related_name="collection_items"
    )
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
