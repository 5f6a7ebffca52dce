"""The article and unknown-case pages send under 60 KB of JavaScript and CSS, compressed.

Measured as a browser gets it: collectstatic with the production storage (fingerprinted,
gzip-compressed by whitenoise), then every script and stylesheet the rendered page links to
is requested through whitenoise with Accept-Encoding: gzip and its bytes counted.
"""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client, override_settings

from tests.conftest import SEED_ARTICLE

BUDGET = 60 * 1024
MANIFEST = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}
ASSET = re.compile(r'<(?:script[^>]*\bsrc|link[^>]*rel="stylesheet"[^>]*\bhref)="([^"]+)"')
FINGERPRINTED = re.compile(r"\.[0-9a-f]{12}\.(?:js|css)$")


@pytest.fixture
def production_static(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    with override_settings(STORAGES=settings.STORAGES | {"staticfiles": MANIFEST}, DEBUG=False):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield


def _weight(client: Client, url: str) -> dict[str, int]:
    page = client.get(url)
    assert page.status_code == 200, url
    sizes = {}
    for asset in ASSET.findall(page.content.decode()):
        assert asset.startswith("/static/"), asset
        assert FINGERPRINTED.search(asset), f"not fingerprinted: {asset}"
        response = client.get(asset, HTTP_ACCEPT_ENCODING="gzip")
        assert response.status_code == 200, asset
        assert response.headers.get("Content-Encoding") == "gzip", asset
        assert "immutable" in response.headers["Cache-Control"], asset
        sizes[asset] = len(b"".join(response.streaming_content))
    return sizes


@pytest.mark.django_db
def test_article_and_unknown_pages_send_under_60_kb_of_js_and_css(production_static):
    from cases.importers.article import article_import

    case = article_import(path=SEED_ARTICLE, unknown_title="52-year-old woman with a lump")
    client = Client()
    pages = {
        "article": case.get_absolute_url(),
        "unknown step 1": f"/u/{case.public_id}/",
        "unknown step 2 (images)": f"/u/{case.public_id}/2/",
    }
    report = {}
    for name, url in pages.items():
        sizes = _weight(client, url)
        total = sum(sizes.values())
        report[name] = total
        print(f"{name}: {total / 1024:.1f} KB of JS+CSS gzipped in {len(sizes)} files")
        assert any(asset.endswith(".js") for asset in sizes), sizes  # htmx at least
        assert total < BUDGET, (name, total, sizes)
    assert set(report) == set(pages)
