"""The DICOM receiver (manage.py dicom_listen): C-ECHO, C-STORE into the inbox, and faults."""

from __future__ import annotations

import logging
import time

import pytest
from django.db import DatabaseError

from cases.inbox.models import InboxInstance, InboxSeries, InboxStudy
from cases.inbox.scp import CANNOT_UNDERSTAND, OUT_OF_RESOURCES, peer_allowed
from cases.models import Case, Slice
from tests.dicom_net import (
    association,
    head_ct_with_phi,
    instance_copy,
    receiver_running,
    send,
)
from tests.hostile import assert_media_clean

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_assembled(count: int = 1, timeout: float = 10.0) -> list[InboxStudy]:
    """The association's end is handled in the receiver's thread: wait for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        studies = list(InboxStudy.objects.exclude(assembled=None).select_related("case"))
        if len(studies) >= count:
            return studies
        time.sleep(0.05)
    raise AssertionError("no study was assembled")


def test_echo_answers_success():
    with receiver_running() as port:
        assoc = association(port, contexts=("1.2.840.10008.1.1",))
        assert assoc.is_established
        assert assoc.send_c_echo().Status == 0x0000
        assoc.release()


def test_study_becomes_one_sorted_deidentified_draft_case(settings, tmp_path):
    datasets = head_ct_with_phi()
    with receiver_running() as port:
        # Sent in reverse, as a PACS may: the draft is sorted along the stack all the same.
        assert send(port, list(reversed(datasets))) == [0x0000] * 28
        (study,) = _wait_assembled()
    case = study.case
    assert case.status == Case.Status.DRAFT
    assert case.title == "CT head: CT HEAD, March 2024"
    assert (case.age, case.sex) == (63, "F")
    figure = case.figures.get()
    assert figure.technique.startswith("GE")
    locations = list(figure.slices.order_by("position").values_list("slice_location", flat=True))
    assert len(locations) == 28 and locations == sorted(locations)
    assert study.calling_ae == "STORESCU"
    assert study.patient.startswith("ANON-") and len(study.patient) == 21
    assert assert_media_clean(settings.MEDIA_ROOT) == 28


def test_second_send_adds_to_the_study_and_never_duplicates():
    datasets = head_ct_with_phi()
    with receiver_running() as port:
        assert send(port, datasets[:10]) == [0x0000] * 10
        _wait_assembled()
        # The whole study again: the first ten are recognised, the other 18 added.
        assert send(port, datasets) == [0x0000] * 28
        time.sleep(0.3)
    assert InboxStudy.objects.count() == 1
    assert InboxSeries.objects.count() == 1
    assert InboxInstance.objects.count() == 28
    assert Slice.objects.count() == 28
    positions = list(Slice.objects.order_by("slice_location").values_list("position", flat=True))
    assert positions == list(range(28))


def test_two_studies_of_one_patient_share_a_pseudonym():
    first = head_ct_with_phi(patient_id="MRN-7")
    second = head_ct_with_phi(patient_id="MRN-7")
    other = head_ct_with_phi(patient_id="MRN-8")
    with receiver_running() as port:
        send(port, first[:2])
        send(port, second[:2])
        send(port, other[:2])
        studies = _wait_assembled(3)
    by_key = {s.key: s.patient for s in studies}
    assert len(by_key) == 3
    assert len(set(by_key.values())) == 2


def test_peer_not_on_the_allow_list_is_refused():
    with receiver_running(allowed=["PACS1"]) as port:
        refused = association(port, ae_title="INTRUDER")
        assert refused.is_rejected
        allowed = association(port, ae_title="PACS1")
        assert allowed.is_established
        allowed.release()


def test_allow_list_rules():
    assert peer_allowed(ae_title="X", address="127.0.0.1", allowed=[], development=True)
    assert not peer_allowed(ae_title="X", address="10.0.0.5", allowed=[], development=True)
    assert not peer_allowed(ae_title="X", address="127.0.0.1", allowed=[], development=False)
    assert peer_allowed(
        ae_title="PACS", address="10.0.0.5", allowed=["PACS@10.0.0.5"], development=False
    )
    assert not peer_allowed(
        ae_title="PACS", address="10.0.0.6", allowed=["PACS@10.0.0.5"], development=False
    )


def test_unknown_sop_class_is_not_accepted():
    rt_plan = "1.2.840.10008.5.1.4.1.1.481.5"
    with receiver_running() as port:
        assoc = association(port, contexts=(rt_plan,))
        # No presentation context for it: nothing can be sent.
        assert not assoc.is_established or not assoc.accepted_contexts
        if assoc.is_established:
            assoc.release()
    assert InboxInstance.objects.count() == 0


def test_malformed_dataset_is_refused_with_a_failure_and_a_log_line(caplog):
    ds = instance_copy(head_ct_with_phi()[0])
    del ds.PixelData
    with caplog.at_level(logging.WARNING, logger="cases.inbox.scp"), receiver_running() as port:
        assert send(port, [ds]) == [CANNOT_UNDERSTAND]
    assert "refused" in caplog.text
    assert InboxInstance.objects.count() == 0


def test_cut_association_keeps_every_acknowledged_instance():
    datasets = head_ct_with_phi()
    with receiver_running() as port:
        assoc = association(port)
        for ds in datasets[:7]:
            assert assoc.send_c_store(ds).Status == 0x0000
        assoc.abort()  # the sender goes away mid-study
        (study,) = _wait_assembled()
    assert Slice.objects.filter(figure__case=study.case).count() == 7


def test_disk_error_answers_a_failure_and_stores_nothing(monkeypatch):
    from django.core.files.storage import FileSystemStorage

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FileSystemStorage, "_save", disk_full)
    with receiver_running() as port:
        assert send(port, head_ct_with_phi()[:2]) == [OUT_OF_RESOURCES] * 2
    assert InboxInstance.objects.count() == 0
    assert Slice.objects.count() == 0


def test_database_error_answers_a_failure_and_leaves_no_file(monkeypatch, settings):
    from cases.inbox import receive

    def broken(**kwargs):
        raise DatabaseError("database is locked")

    monkeypatch.setattr(receive.InboxInstance.objects, "create", broken)
    with receiver_running() as port:
        assert send(port, head_ct_with_phi()[:1]) == [OUT_OF_RESOURCES]
    assert Slice.objects.count() == 0
    media = settings.MEDIA_ROOT
    assert not media.exists() or not [p for p in media.rglob("*") if p.is_file()]


def test_receiver_restarts_on_the_same_port():
    datasets = head_ct_with_phi()
    with receiver_running() as port:
        assert send(port, datasets[:14]) == [0x0000] * 14
    with receiver_running(port=port):
        assert send(port, datasets[14:]) == [0x0000] * 14
    assert InboxInstance.objects.count() == 28


@pytest.mark.parametrize("syntax", ["1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.90"])
def test_compressed_instances_are_decoded_and_stored(syntax):
    from pydicom.uid import UID

    ds = instance_copy(head_ct_with_phi()[0])
    ds.compress(UID(syntax))  # RLE Lossless; JPEG 2000 Lossless (pylibjpeg-openjpeg)
    with receiver_running() as port:
        assert send(port, [ds]) == [0x0000]
        (study,) = _wait_assembled()
    slice_ = Slice.objects.get(figure__case=study.case)
    assert (slice_.width, slice_.height) == (512, 512)
    assert slice_.image.read()[128:132] == b"DICM"
