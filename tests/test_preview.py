"""Preview as a learner: staff see a case's pages exactly as an anonymous learner would."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from cases.models import Attempt, Case, RevealStep

pytestmark = pytest.mark.django_db

BANNER = re.compile(r'<div class="preview-banner".*?</div>', re.S)


def _normalised(html: str) -> str:
    """The page without the banner and what differs per request (tokens, nonces, prefix)."""
    html = BANNER.sub("", html)
    html = re.sub(r'nonce="[^"]*"', 'nonce=""', html)
    html = re.sub(r'("X-CSRFToken": ")[^"]*"', r'\1"', html)
    html = re.sub(r'(name="csrfmiddlewaretoken" value=")[^"]*"', r'\1"', html)
    return html.replace("/preview/", "/").replace("%2Fpreview%2F", "%2F")


@pytest.fixture
def author(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def _unknown_paths(case: Case) -> list[str]:
    public = case.public_id
    return [f"/u/{public}/{step}/" for step in (1, 2, 3, 4)]


def test_preview_pages_equal_what_an_anonymous_learner_gets(author, published_case):
    anonymous = Client()
    paths = [
        published_case.get_absolute_url(),
        f"/cases/{published_case.slug}/figures/1/?slice=2",
        *_unknown_paths(published_case),
        f"/u/{published_case.public_id}/figures/1/",
        f"/cases/{published_case.slug}/study/",
        f"/u/{published_case.public_id}/study/",
    ]
    for path in paths:
        learner_page = anonymous.get(path)
        preview_page = author.get(f"/preview{path}")
        assert learner_page.status_code == preview_page.status_code == 200, path
        preview_html = preview_page.content.decode()
        assert "Preview as a learner" in preview_html
        assert "Preview as a learner" not in learner_page.content.decode()
        assert _normalised(preview_html) == _normalised(learner_page.content.decode()), path


def test_the_banner_says_draft_and_leads_back(author, draft_case):
    page = author.get(f"/preview/cases/{draft_case.slug}/").content.decode()
    banner = BANNER.search(page).group(0)
    assert "Preview as a learner — draft" in banner
    assert f'href="/cases/{draft_case.slug}/"' in banner
    # The staff member's own name and links are not on a learner's page.
    assert "Authoring" not in page and "Log out" not in page


def test_links_in_a_preview_stay_in_the_preview(author, draft_case, settings):
    from pathlib import Path

    from PIL import Image

    for image in draft_case.figures.get(number=1).slices.all():
        path = Path(settings.MEDIA_ROOT) / image.image.name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (8, 8), 128).save(path, "PNG")
    page = author.get(f"/preview/u/{draft_case.public_id}/2/").content.decode()
    assert f'href="/preview/u/{draft_case.public_id}/1/"' in page
    images = re.findall(r'src="(/[^"]*img/[0-9a-f]{32}[^"]*)"', page)
    assert images and all(src.startswith("/preview/img/") for src in images)
    image = author.get(images[0].replace("&amp;", "&"))
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"


def test_a_preview_opens_any_step_and_records_no_attempt(author, draft_case):
    public = draft_case.public_id
    # Straight to the differential, with no step seen before it.
    step = int(RevealStep.DIFFERENTIAL)
    assert author.get(f"/preview/u/{public}/{step}/").status_code == 200
    response = author.post(f"/preview/u/{public}/differential/", {"first": "Lung adenocarcinoma"})
    assert response.status_code == 302
    assert response["Location"] == f"/preview/u/{public}/{step}/"
    page = author.get(response["Location"]).content.decode()
    assert "Lung adenocarcinoma" in page
    assert not Attempt.objects.exists()
    # The staff member's own progress as a learner is untouched.
    assert "unknown" not in author.session
    assert author.session["unknown-preview"][public]["rank"] == 1


def test_drafts_stay_hidden_from_everyone_else(client, learner, draft_case):
    paths = [
        f"/cases/{draft_case.slug}/",
        f"/u/{draft_case.public_id}/1/",
        f"/cases/{draft_case.slug}/figures/1/",
    ]
    for path in paths:
        assert client.get(f"/preview{path}").status_code == 404
        assert client.get(path).status_code == 404
    client.force_login(learner)
    for path in paths:
        assert client.get(f"/preview{path}").status_code == 404
        assert client.get(path).status_code == 404


def test_only_a_learner_s_pages_are_previewed(author, draft_case):
    assert author.get("/preview/admin/").status_code == 404
    assert author.get("/preview/collections/").status_code == 404
    assert author.get("/preview/nowhere/").status_code == 404


def test_preview_pages_are_never_cached(author, draft_case):
    response = author.get(f"/preview/cases/{draft_case.slug}/")
    assert "no-store" in response["Cache-Control"]


def test_admin_and_article_offer_the_preview(author, draft_case):
    admin_page = author.get(f"/admin/cases/case/{draft_case.pk}/change/").content.decode()
    assert f'href="/preview/cases/{draft_case.slug}/"' in admin_page
    assert f'href="/preview/u/{draft_case.public_id}/1/"' in admin_page
    article = author.get(f"/cases/{draft_case.slug}/").content.decode()
    assert f'href="/preview/cases/{draft_case.slug}/"' in article
