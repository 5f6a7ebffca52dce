"""What every importer does the same way: a case's slug and the tags that file it."""

from __future__ import annotations

from django.utils.text import slugify

from cases.models import Case, Tag


def slug_shorten(slug: str, *, limit: int) -> str:
    """``slug`` cut to ``limit`` characters at a word boundary, so URLs stay readable."""
    if len(slug) <= limit:
        return slug
    cut = slug[: limit + 1]
    return cut[: cut.rfind("-")] if "-" in cut else slug[:limit]


def case_slug_free(base: str, *, limit: int) -> str:
    """``base``, or ``base-2``, ``base-3``...: the first slug no case has yet."""
    slug, counter = base, 2
    while Case.objects.filter(slug=slug).exists():
        suffix = f"-{counter}"
        slug = slug_shorten(base, limit=limit - len(suffix)) + suffix
        counter += 1
    return slug


def tag_get_or_create(*, kind: str, name: str) -> Tag:
    """The tag of this kind named ``name`` (matched by slug: "CT" and "ct" are one tag)."""
    name = name[:80]
    tag, _ = Tag.objects.get_or_create(kind=kind, slug=slugify(name)[:80], defaults={"name": name})
    return tag
