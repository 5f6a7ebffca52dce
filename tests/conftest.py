from __future__ import annotations

import pytest
from django.core.management import call_command


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Every test writes images into its own folder, never into the real media."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(scope="session", autouse=True)
def _collected_static(tmp_path_factory):
    # The manifest storage needs collectstatic; tests use a throwaway STATIC_ROOT.
    from django.conf import settings

    settings.STATIC_ROOT = tmp_path_factory.mktemp("static")
    call_command("collectstatic", interactive=False, verbosity=0)
