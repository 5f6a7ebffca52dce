"""The slug and tag helpers every importer shares (cases/importers/common.py)."""

from __future__ import annotations

import pytest

from cases.importers.common import case_slug_free, slug_shorten, tag_get_or_create
from cases.models import Case, Tag

FIVE = "-".join(["abcdefghijkl"] * 5)  # 64 characters
SIX = f"{FIVE}-abcdefghijkl"  # 77 characters
WORDS = f"{SIX}-xy"  # 80 characters


def test_slug_shorten_leaves_a_short_slug_alone():
    assert slug_shorten("arachnoid-cyst", limit=80) == "arachnoid-cyst"


def test_slug_shorten_cuts_at_the_last_word_boundary():
    assert slug_shorten(WORDS, limit=70) == FIVE


def test_slug_shorten_keeps_a_word_that_ends_at_the_limit():
    assert slug_shorten(WORDS, limit=77) == SIX


def test_slug_shorten_cuts_a_single_long_word_at_the_limit():
    assert slug_shorten("a" * 100, limit=80) == "a" * 80


@pytest.mark.django_db
def test_case_slug_free_returns_a_free_base_unchanged():
    assert case_slug_free("arachnoid-cyst", limit=80) == "arachnoid-cyst"


@pytest.mark.django_db
def test_case_slug_free_suffix_fits_the_limit_at_a_word_boundary():
    Case.objects.create(slug=WORDS, title="taken")
    assert case_slug_free(WORDS, limit=80) == f"{SIX}-2"


@pytest.mark.django_db
def test_case_slug_free_counts_on_past_taken_suffixes():
    Case.objects.create(slug="arachnoid-cyst", title="taken")
    Case.objects.create(slug="arachnoid-cyst-2", title="taken too")
    assert case_slug_free("arachnoid-cyst", limit=80) == "arachnoid-cyst-3"


@pytest.mark.django_db
def test_tag_get_or_create_matches_by_slug():
    first = tag_get_or_create(kind=Tag.Kind.MODALITY, name="CT")
    assert tag_get_or_create(kind=Tag.Kind.MODALITY, name="ct") == first
    assert tag_get_or_create(kind=Tag.Kind.SYSTEM, name="CT") != first
    assert Tag.objects.get(pk=first.pk).name == "CT"


@pytest.mark.django_db
def test_tag_get_or_create_cuts_a_long_name_to_fit():
    tag = tag_get_or_create(kind=Tag.Kind.SYSTEM, name="x" * 100)
    assert (tag.name, tag.slug) == ("x" * 80, "x" * 80)
