from __future__ import annotations

import gzip

from django.core.management import call_command
from django.test import override_settings

MANIFEST = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}


def test_collectstatic_fingerprints_and_compresses(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    with override_settings(STORAGES=settings.STORAGES | {"staticfiles": MANIFEST}):
        call_command("collectstatic", interactive=False, verbosity=0)
    css = [p for p in (tmp_path / "css").iterdir() if p.name.startswith("caseviewer.")]
    names = sorted(p.name for p in css)
    hashed = [n for n in names if n.count(".") == 2 and n.endswith(".css")]
    assert hashed, names
    compressed = tmp_path / "css" / f"{hashed[0]}.gz"
    assert compressed.exists()
    assert gzip.decompress(compressed.read_bytes()).startswith(b"/* CaseViewer")
    assert (tmp_path / "django_htmx" / "htmx-2.min.js").exists()
