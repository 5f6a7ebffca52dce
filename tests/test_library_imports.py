"""The library's modules import without cycles: the models know nothing of the search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Run in a fresh interpreter: records which library modules are loaded once every app's
# models are (before any app's ready()), and once Django is set up.
SCRIPT = """
import json
import sys
import django
from django.apps import apps

import cases.apps

seen = {}
ready = cases.apps.CasesConfig.ready


def recorded(self):
    seen["models"] = sorted(name for name in sys.modules if name.startswith("cases.library."))
    ready(self)


cases.apps.CasesConfig.ready = recorded
django.setup()
seen["ready"] = sorted(name for name in sys.modules if name.startswith("cases.library."))
print(json.dumps(seen))
"""


def _modules_loaded() -> dict[str, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "caseviewer.settings"},
    )
    return json.loads(result.stdout)


def test_importing_the_models_does_not_import_the_search_code():
    loaded = _modules_loaded()
    assert "cases.library.models" in loaded["models"]
    assert "cases.library.search" not in loaded["models"]
    assert "cases.library.signals" not in loaded["models"]
    # The receivers are connected when the app is ready.
    assert "cases.library.signals" in loaded["ready"]
