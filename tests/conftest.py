from __future__ import annotations

from pathlib import Path

import pytest

from cases.models import (
    Abbreviation,
    Affiliation,
    Author,
    Case,
    Figure,
    Keyword,
    Reference,
    Slice,
    Table,
    TableRow,
    Tag,
)

DEMO_DIR = Path(__file__).resolve().parent.parent / "cases" / "demo"
SEED_ARTICLE = DEMO_DIR / "article" / "jrcr-2011-v5i6-626-retroperitoneal-leiomyosarcoma.md"


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Every test writes images into its own folder, never into the real media."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(scope="session", autouse=True)
def _plain_static_storage(tmp_path_factory):
    """Serve static files by their plain names in tests (no collectstatic manifest needed).

    The fingerprinting storage itself is exercised by tests/test_static.py.
    """
    from django.conf import settings
    from django.test.utils import override_settings

    # override_settings tells Django's storage handler, which may already have read STORAGES
    # (a test module that imports storage code at collection).
    plain = override_settings(
        STATIC_ROOT=tmp_path_factory.mktemp("static"),
        STORAGES=settings.STORAGES
        | {"staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}},
    )
    plain.enable()
    yield
    plain.disable()


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        "author", password="author-pass-123", is_staff=True, is_superuser=True
    )


@pytest.fixture
def learner(django_user_model):
    return django_user_model.objects.create_user("learner", password="learner-pass-123")


def case_build(
    *, slug: str = "a-case", status: str = Case.Status.PUBLISHED, size: int = 1, **fields
) -> Case:
    """A case with ``size`` of everything: authors, figures (3 slices each), tables, refs."""
    case = Case.objects.create(
        slug=slug,
        title=fields.pop("title", f"Case {slug}"),
        status=status,
        history="A 40-year-old man with a cough.",
        findings="A mass in the right upper lobe.",
        diagnosis="Lung adenocarcinoma",
        discussion="Discussion text.",
        teaching_point="Teaching point text.",
        **fields,
    )
    tag, _ = Tag.objects.get_or_create(kind=Tag.Kind.MODALITY, name="CT")
    case.tags.add(tag)
    for i in range(1, size + 1):
        Affiliation.objects.create(case=case, number=i, name=f"Department {i}")
        Author.objects.create(case=case, order=i, name=f"Author {i}", affiliation_marks=str(i))
        figure = Figure.objects.create(
            case=case, number=i, caption=f"Caption {i}", modality=Figure.Modality.CT
        )
        for position in range(3):
            Slice.objects.create(
                figure=figure, position=position, image=f"slices/x{i}{position}.png",
                width=8, height=8,
            )  # fmt: skip
        table = Table.objects.create(case=case, number=i, title=f"Table {i}", header=["A", "B"])
        for order in range(3):
            TableRow.objects.create(table=table, order=order, cells=[f"r{order}", "- x\n- y"])
        Reference.objects.create(case=case, order=i, text=f"Ref {i}", pmid=str(1000 + i))
        Abbreviation.objects.create(case=case, abbreviation=f"AB{i}", expansion="Abbrev")
        keyword, _ = Keyword.objects.get_or_create(name=f"Keyword {i}")
        case.keywords.add(keyword)
    return case


@pytest.fixture
def published_case(db) -> Case:
    return case_build(slug="published-case", title="Published case", size=2)


@pytest.fixture
def draft_case(db) -> Case:
    return case_build(slug="draft-case", title="Draft case", status=Case.Status.DRAFT)


@pytest.fixture
def seed_case(db) -> Case:
    from cases.importers.article import article_import

    return article_import(
        path=SEED_ARTICLE, unknown_title="52-year-old woman with a paraumbilical lump"
    )


@pytest.fixture(autouse=True)
def _tasks_inline(settings):
    """Background tasks (notification e-mails) run inline, inside the test's transaction."""
    settings.TASKS = {
        alias: {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}
        for alias in settings.TASKS
    }


def member_build(username: str, *, email: str | None = None, **fields):
    """An account as sign-up leaves it: a verified, primary e-mail address."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    email = email or f"{username}@example.org"
    user = get_user_model().objects.create_user(
        username, email=email, password=f"{username}-pass-123", **fields
    )
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


@pytest.fixture
def member(db):
    return member_build("member")


@pytest.fixture
def other_member(db):
    return member_build("other")


@pytest.fixture
def moderator(db):
    from django.contrib.auth.models import Group

    user = member_build("moderator")
    user.groups.add(Group.objects.get(name="Moderators"))
    return user
