"""The admin's "Pull from a PACS" form: which configured PACS, and which study."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


def pacs_choices() -> list[tuple[str, str]]:
    """The PACS of ``DICOMWEB_SERVERS``: the admin picks one, never types a URL."""
    return [(url, url) for url in settings.DICOMWEB_SERVERS]


class DicomwebPullForm(forms.Form):
    pacs = forms.ChoiceField(label="PACS", choices=pacs_choices)
    study_uid = forms.CharField(
        label="Study Instance UID", required=False, max_length=64, strip=True
    )
    accession = forms.CharField(label="Accession number", required=False, max_length=16)
    patient_id = forms.CharField(label="Patient ID", required=False, max_length=64)
    study_date = forms.DateField(
        label="Study date",
        required=False,
        help_text="With a patient ID only: that day's studies.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean_study_uid(self) -> str:
        uid = self.cleaned_data["study_uid"]
        if uid and not _UID.fullmatch(uid):
            raise ValidationError("A UID is digits and dots, e.g. 1.2.840.113619.2.55.3.")
        return uid

    def clean(self) -> dict:
        cleaned = super().clean()
        given = [k for k in ("study_uid", "accession", "patient_id") if cleaned.get(k)]
        if len(given) != 1:
            raise ValidationError(
                "Give one of a study UID, an accession number or a patient ID.", code="which"
            )
        if cleaned.get("study_date") and not cleaned.get("patient_id"):
            self.add_error("study_date", "A date goes with a patient ID.")
        return cleaned

    def query(self) -> dict[str, str]:
        """The keyword arguments of ``dicomweb_find``."""
        data = self.cleaned_data
        day = data.get("study_date")
        return {
            "base_url": data["pacs"],
            "study_uid": data["study_uid"],
            "accession": data["accession"].strip(),
            "patient_id": data["patient_id"].strip(),
            "study_date": day.strftime("%Y%m%d") if day else "",
        }
