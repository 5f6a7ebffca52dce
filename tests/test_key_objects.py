"""Key Object Selection documents: the sender's key images and comment in the draft case."""

from __future__ import annotations

import io
import time

import pydicom
import pytest
from django.core.management import call_command

from cases.inbox.models import InboxInstance, InboxKeyObject, InboxStudy
from cases.inbox.receive import (
    Outcome,
    free_text_clean,
    instance_receive,
    key_object_receive,
    study_assemble,
)
from cases.models import Slice
from tests.dicom_net import head_ct_with_phi, key_object_selection, receiver_running, send
from tests.orthanc import PASSWORD, USER, orthanc_available, orthanc_start

TEXT = (
    "Hyperdense left MCA in Jane Doe (MRN-0042, born 1961-02-03), reported 2024-03-15 by "
    "Dr Anna Smithers: a classic for the registrars."
)
IDENTIFIERS = ("JANE", "DOE", "MRN-0042", "1961", "2024-03-15", "SMITHERS", "ANNA")
SELECTED = [5, 12, 20]  # positions along the stack


def _study():
    """The head CT (sorted along the stack) and a KOS selecting three slices of it."""
    datasets = sorted(head_ct_with_phi(), key=lambda ds: float(ds.SliceLocation))
    kos = key_object_selection([datasets[i] for i in SELECTED], text=TEXT)
    return datasets, kos


def _bytes(ds) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def _key_positions(study: InboxStudy) -> list[int]:
    slices = Slice.objects.filter(figure__case=study.case, is_key=True)
    return sorted(slices.values_list("position", flat=True))


def _assert_notes_clean(notes: str) -> None:
    for identifier in IDENTIFIERS:
        assert identifier.lower() not in notes.lower(), identifier


def _wait(condition, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.05)
    raise AssertionError("the receiver never got there")


def _assembled_with_keys(count: int = len(SELECTED)):
    def ready():
        study = InboxStudy.objects.exclude(assembled=None).select_related("case").first()
        return study if study and len(_key_positions(study)) == count else None

    return _wait(ready)


@pytest.mark.django_db(transaction=True)
def test_a_key_object_sent_with_its_study_marks_the_key_images_and_notes_the_comment():
    datasets, kos = _study()
    with receiver_running() as port:
        assert send(port, [*datasets, kos]) == [0x0000] * 29
        study = _assembled_with_keys()
    assert _key_positions(study) == SELECTED
    assert study.notes.startswith("Key images, For Teaching (3 images): Hyperdense left MCA")
    assert "a classic for the registrars." in study.notes
    _assert_notes_clean(study.notes)
    # The document itself is no image: 28 instances, 28 slices.
    assert InboxInstance.objects.count() == Slice.objects.count() == 28


@pytest.mark.django_db(transaction=True)
def test_a_key_object_sent_after_the_study_marks_the_key_images():
    datasets, kos = _study()
    with receiver_running() as port:
        assert send(port, datasets) == [0x0000] * 28
        _wait(lambda: InboxStudy.objects.exclude(assembled=None).exists())
        assert send(port, [kos]) == [0x0000]
        study = _assembled_with_keys()
    assert _key_positions(study) == SELECTED
    assert "For Teaching" in study.notes


@pytest.mark.django_db(transaction=True)
def test_a_key_object_sent_before_its_study_waits_for_it():
    datasets, kos = _study()
    with receiver_running() as port:
        assert send(port, [kos]) == [0x0000]
        assert InboxStudy.objects.count() == 0
        assert InboxKeyObject.objects.get().pending  # kept, waiting
        assert send(port, datasets) == [0x0000] * 28
        study = _assembled_with_keys()
    assert _key_positions(study) == SELECTED
    assert InboxKeyObject.objects.get().pending == {}


@pytest.mark.django_db
def test_a_key_object_before_the_first_instances_of_its_study_in_one_pull():
    # As a DICOMweb retrieval may order them: the selection, then the images, then assembly.
    datasets, kos = _study()
    assert key_object_receive(data=_bytes(kos)).study_id is None
    for ds in datasets:
        received = instance_receive(data=_bytes(ds))
    study = study_assemble(study_id=received.study_id)
    assert _key_positions(study) == SELECTED


@pytest.mark.django_db
def test_a_key_object_sent_twice_notes_its_comment_once():
    datasets, kos = _study()
    for ds in datasets:
        received = instance_receive(data=_bytes(ds))
    assert key_object_receive(data=_bytes(kos)).outcome == Outcome.KEY_OBJECT
    study_assemble(study_id=received.study_id)
    assert key_object_receive(data=_bytes(kos)).outcome == Outcome.DUPLICATE
    study = study_assemble(study_id=received.study_id)
    assert study.notes.count("For Teaching") == 1
    assert InboxKeyObject.objects.count() == 1


@pytest.mark.django_db
def test_an_image_the_author_unticked_is_not_ticked_again_by_a_resend():
    datasets, kos = _study()
    for ds in datasets:
        received = instance_receive(data=_bytes(ds))
    key_object_receive(data=_bytes(kos))
    study = study_assemble(study_id=received.study_id)
    Slice.objects.filter(figure__case=study.case, position=12).update(is_key=False)
    for ds in datasets:
        instance_receive(data=_bytes(ds))
    study = study_assemble(study_id=received.study_id)
    assert _key_positions(study) == [5, 20]


@pytest.mark.django_db
def test_two_selections_of_one_study_both_go_into_the_notes():
    datasets, kos = _study()
    second = key_object_selection(
        [datasets[0]], title=("113000", "Of Interest"), text="Calcified pineal."
    )
    for ds in datasets:
        received = instance_receive(data=_bytes(ds))
    key_object_receive(data=_bytes(kos))
    key_object_receive(data=_bytes(second))
    study = study_assemble(study_id=received.study_id)
    assert _key_positions(study) == [0, *SELECTED]
    assert "Key images, Of Interest (1 image): Calcified pineal." in study.notes.split("\n\n")


@pytest.mark.django_db
def test_a_damaged_key_object_is_refused():
    from cases.imaging.ingest import ImageRejected

    _, kos = _study()
    del kos.StudyInstanceUID
    with pytest.raises(ImageRejected):
        key_object_receive(data=_bytes(kos))
    assert InboxKeyObject.objects.count() == 0


@pytest.mark.django_db
def test_frames_of_a_multi_frame_instance_are_selected_one_by_one():
    from cases.inbox.keyobjects import key_object_read, key_objects_apply
    from cases.inbox.models import InboxSeries
    from cases.inbox.receive import replacements_new
    from cases.models import Case, Figure

    datasets, _ = _study()
    kos = key_object_selection([datasets[0]])
    image = kos.ContentSequence[0]
    image.ReferencedSOPSequence[0].ReferencedFrameNumber = [2, 3]
    selection = key_object_read(kos, replacements_new())
    instance_key = next(iter(selection.references))
    assert selection.references == {instance_key: [2, 3]}

    case = Case.objects.create(slug="multi", title="US cine")
    figure = Figure.objects.create(case=case, number=1)
    frames = [
        Slice.objects.create(figure=figure, position=i, image=f"slices/f{i}.dcm", width=8, height=8)
        for i in range(4)
    ]
    study = InboxStudy.objects.create(key=selection.study_key, case=case, patient="ANON-1")
    series = InboxSeries.objects.create(study=study, key="2.25.9", figure=figure)
    InboxInstance.objects.create(series=series, key=instance_key, slice_ids=[s.pk for s in frames])
    InboxKeyObject.objects.create(
        key=selection.key, study_key=selection.study_key, pending=selection.references, selected=1
    )
    assert key_objects_apply(study=study) == 2
    assert _key_positions(study) == [1, 2]


def test_free_text_loses_every_name_and_identifier_of_its_header():
    _, kos = _study()
    assert free_text_clean(kos, TEXT, limit=4000, mark="[-]") == (
        "Hyperdense left MCA in [-] [-] ([-], born [-]), reported [-] by Dr [-] [-]: "
        "a classic for the registrars."
    )


def test_a_short_name_is_taken_out_as_a_word_only():
    _, kos = _study()
    kos.PatientName = "LI^XI"
    assert free_text_clean(kos, "Li: clinical xi-ray, LI again", limit=200, mark="[-]") == (
        "[-]: clinical [-]-ray, [-] again"
    )


# --- through a real PACS --------------------------------------------------------------------

needs_orthanc = pytest.mark.skipif(
    not orthanc_available(), reason="Orthanc not installed (make orthanc)"
)


@pytest.fixture
def orthanc(tmp_path):
    server = orthanc_start(tmp_path / "orthanc")
    yield server
    server.stop()


def _orthanc_holds(orthanc, datasets) -> str:
    """Upload to Orthanc; its id of the study."""
    for ds in datasets:
        answer = orthanc.request("POST", "/instances", _bytes(ds))
    return answer["ParentStudy"]


@needs_orthanc
@pytest.mark.django_db(transaction=True)
def test_orthanc_sends_the_study_with_its_key_object(orthanc):
    datasets, kos = _study()
    study_id = _orthanc_holds(orthanc, [*datasets, kos])
    with receiver_running(allowed=["ORTHANC"]) as port:
        orthanc.request(
            "PUT",
            "/modalities/caseviewer",
            {"AET": "CASEVIEWER", "Host": "127.0.0.1", "Port": port},
        )
        orthanc.request("POST", "/modalities/caseviewer/store", study_id.encode())
        study = _assembled_with_keys()
    assert _key_positions(study) == SELECTED
    assert "For Teaching" in study.notes
    _assert_notes_clean(study.notes)
    assert Slice.objects.count() == 28


@needs_orthanc
@pytest.mark.django_db(transaction=True)
def test_a_dicomweb_pull_brings_the_key_object_with_the_study(orthanc, settings):
    datasets, kos = _study()
    _orthanc_holds(orthanc, [*datasets, kos])
    settings.DICOMWEB_USERNAME, settings.DICOMWEB_PASSWORD = USER, PASSWORD
    out = io.StringIO()
    call_command("import_dicomweb", orthanc.dicomweb_url, "--accession", "ACC-0042", stdout=out)
    assert "28 instance(s) stored, 0 already there, 1 key object selection(s)" in out.getvalue()
    study = InboxStudy.objects.get()
    assert _key_positions(study) == SELECTED
    assert "For Teaching" in study.notes
    _assert_notes_clean(study.notes)
