"""manage.py import_dicomweb: credentials come from the settings, never from the URL."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from cases.inbox.dicomweb import dicomweb_client


def test_credentials_in_the_url_are_refused(db):
    with pytest.raises(CommandError, match="credentials in the URL are refused"):
        call_command(
            "import_dicomweb", "http://user:secret@127.0.0.1:1/dicom-web", "--study", "1.2"
        )


def test_credentials_come_from_settings(settings):
    settings.DICOMWEB_USERNAME, settings.DICOMWEB_PASSWORD = "teach", "pw"
    assert dicomweb_client("http://127.0.0.1:1/dicom-web")._session.auth == ("teach", "pw")
    settings.DICOMWEB_TOKEN = "tok"
    session = dicomweb_client("http://127.0.0.1:1/dicom-web")._session
    assert session.headers["Authorization"] == "Bearer tok"


def test_date_needs_a_patient_id(db):
    with pytest.raises(CommandError, match="--date goes with --patient-id"):
        call_command(
            "import_dicomweb", "http://127.0.0.1:1/", "--study", "1.2", "--date", "20240101"
        )
