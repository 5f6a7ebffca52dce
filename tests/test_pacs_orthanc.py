"""From a real PACS (Orthanc) to a draft case: C-STORE sent by Orthanc, DICOMweb pulled from it.

Orthanc holds the demo head CT with a patient's identifiers written into it. It sends the study
to our receiver (registered as a modality through its REST API); the draft case has the 28
slices in order, and no identifier is anywhere in the database or the media folder. A second
study of the same patient, pulled over DICOMweb from Orthanc's plugin, gets the same pseudonym.
"""

from __future__ import annotations

import io
import time

import pydicom
import pytest
from django.core.management import call_command

from cases.inbox.models import InboxInstance, InboxStudy
from cases.models import Case, Slice
from tests.dicom_net import head_ct_with_phi, receiver_running
from tests.hostile import PHI_MARKERS, assert_media_clean
from tests.orthanc import orthanc_available, orthanc_start

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not orthanc_available(), reason="Orthanc not installed (make orthanc)"),
]


@pytest.fixture
def orthanc(tmp_path):
    server = orthanc_start(tmp_path / "orthanc")
    yield server
    server.stop()


def _upload(orthanc, datasets) -> None:
    for ds in datasets:
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        orthanc.request("POST", "/instances", buffer.getvalue())


def _database_text() -> str:
    out = io.StringIO()
    call_command("dumpdata", "cases", "auth", stdout=out)
    return out.getvalue()


def test_orthanc_sends_a_study_that_becomes_a_clean_sorted_draft(orthanc, settings):
    current = head_ct_with_phi(patient_id="MRN-0042", description="CT HEAD")
    prior = head_ct_with_phi(patient_id="MRN-0042", description="CT HEAD PRIOR")[:3]
    _upload(orthanc, current + prior)
    settings.DICOMWEB_USERNAME, settings.DICOMWEB_PASSWORD = "teaching", "orthanc-test-pass"
    originals = {str(current[0].StudyInstanceUID), str(current[0].SOPInstanceUID)}

    with receiver_running(allowed=["ORTHANC"]) as port:
        orthanc.request(
            "PUT",
            "/modalities/caseviewer",
            {"AET": "CASEVIEWER", "Host": "127.0.0.1", "Port": port},
        )
        (study_id,) = orthanc.request(
            "POST", "/tools/find", {"Level": "Study", "Query": {"StudyDescription": "CT HEAD"}}
        )
        orthanc.request("POST", "/modalities/caseviewer/store", study_id.encode())
        deadline = time.monotonic() + 20
        while not InboxStudy.objects.exclude(assembled=None).exists():
            assert time.monotonic() < deadline, "the study was never assembled"
            time.sleep(0.1)

    study = InboxStudy.objects.select_related("case").get()
    assert study.calling_ae == "ORTHANC"
    assert study.case.status == Case.Status.DRAFT
    slices = Slice.objects.filter(figure__case=study.case).order_by("position")
    locations = [s.slice_location for s in slices]
    assert len(locations) == 28 and locations == sorted(locations)
    dump = _database_text()
    for marker in [m.decode() for m in PHI_MARKERS if m != b"PK\x03\x04"] + ["ACC-0042"]:
        assert marker not in dump, marker
    for uid in originals:
        assert uid not in dump
    assert assert_media_clean(settings.MEDIA_ROOT) == 28

    # The prior, pulled over DICOMweb (QIDO-RS by patient id, then WADO-RS): same patient.
    call_command(
        "import_dicomweb", orthanc.dicomweb_url, "--patient-id", "MRN-0042", stdout=io.StringIO()
    )
    studies = list(InboxStudy.objects.all())
    assert len(studies) == 2
    assert {s.patient for s in studies} == {study.patient}
    # The current study came again with it, and added nothing.
    assert InboxInstance.objects.count() == 31
    assert Slice.objects.count() == 31
    assert assert_media_clean(settings.MEDIA_ROOT) == 31
