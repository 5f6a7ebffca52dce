"""The inbox: draft cases from received studies, burned-in text flags, notices, clean-up."""

from __future__ import annotations

import io
from datetime import timedelta

import pydicom
import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from cases.inbox.models import InboxSeries, InboxStudy
from cases.inbox.receive import (
    Outcome,
    age_years,
    description_clean,
    inbox_clean,
    instance_receive,
    studies_assemble_idle,
    study_assemble,
)
from cases.models import Case, Slice
from tests.dicom_net import head_ct_with_phi, instance_copy

pytestmark = pytest.mark.django_db


def _bytes(ds) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def _receive(datasets, **kwargs) -> InboxStudy:
    for ds in datasets:
        received = instance_receive(data=_bytes(ds), calling_ae="PACS1", **kwargs)
    return InboxStudy.objects.get(pk=received.study_id)


def _ultrasound():
    ds = instance_copy(head_ct_with_phi()[0], Modality="US")
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    return ds


def test_burned_in_series_blocks_publication_until_checked(staff):
    study = _receive([_ultrasound()])
    study_assemble(study_id=study.pk)
    case = Case.objects.get(pk=study.case_id)
    series = InboxSeries.objects.get(study=study)
    assert series.burned_in == "ultrasound"
    case.status = Case.Status.PUBLISHED
    with pytest.raises(ValidationError, match="burned-in text"):
        case.full_clean()
    series.check_burned_in(staff)
    case.full_clean()


def test_burned_in_annotation_and_secondary_capture_are_flagged():
    ds = instance_copy(head_ct_with_phi()[0], BurnedInAnnotation="YES")
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    study = _receive([ds])
    assert InboxSeries.objects.get(study=study).burned_in == (
        "BurnedInAnnotation YES, secondary capture"
    )


def test_publish_action_skips_cases_with_unchecked_series(client, staff):
    flagged = _receive([_ultrasound()])
    plain = _receive(head_ct_with_phi()[:1])
    client.force_login(staff)
    response = client.post(
        "/admin/cases/case/",
        {"action": "publish", "_selected_action": [flagged.case_id, plain.case_id]},
        follow=True,
    )
    assert "may have burned-in text" in response.content.decode()
    assert Case.objects.get(pk=flagged.case_id).status == Case.Status.DRAFT
    assert Case.objects.get(pk=plain.case_id).status == Case.Status.PUBLISHED


def test_confirm_checked_action_unblocks(client, staff):
    study = _receive([_ultrasound()])
    series = InboxSeries.objects.get(study=study)
    client.force_login(staff)
    client.post(
        "/admin/cases/inboxseries/",
        {"action": "confirm_checked", "_selected_action": [series.pk]},
    )
    series.refresh_from_db()
    assert series.checked_by == staff and series.checked_at is not None


def test_admin_lists_the_inbox_with_counts_flags_and_sender(client, staff):
    study = _receive(head_ct_with_phi()[:3])
    _receive([_ultrasound()])
    study_assemble(study_id=study.pk)
    client.force_login(staff)
    page = client.get("/admin/cases/inboxstudy/").content.decode()
    assert "CT head: CT HEAD, March 2024" in page
    assert "PACS1" in page
    assert '<td class="field-instance_count">3</td>' in page
    assert '<td class="field-flagged_count">1</td>' in page


def test_first_assembly_emails_the_staff_once(staff, django_capture_on_commit_callbacks):
    staff.email = "author@example.org"
    staff.save()
    study = _receive(head_ct_with_phi()[:2])
    with django_capture_on_commit_callbacks(execute=True):
        study_assemble(study_id=study.pk)
        study_assemble(study_id=study.pk)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["author@example.org"]
    assert f"/admin/cases/inboxstudy/{study.pk}/change/" in message.body
    assert "DOE" not in message.body and "MRN" not in message.body


def test_idle_study_is_assembled_by_the_sweep():
    study = _receive(head_ct_with_phi()[:2])
    InboxStudy.objects.filter(pk=study.pk).update(
        last_received=timezone.now() - timedelta(minutes=10)
    )
    assert studies_assemble_idle(idle_seconds=120) == 1
    assert studies_assemble_idle(idle_seconds=120) == 0
    assert Case.objects.get(pk=study.case_id).title.startswith("CT head")


def test_inbox_clean_removes_unclaimed_studies_and_their_files(
    staff, settings, django_capture_on_commit_callbacks
):
    old = _receive(head_ct_with_phi()[:2])
    claimed = _receive(head_ct_with_phi()[:1])
    fresh = _receive(head_ct_with_phi()[:1])
    claimed.claim(staff)
    long_ago = timezone.now() - timedelta(days=3)
    InboxStudy.objects.filter(pk__in=[old.pk, claimed.pk]).update(last_received=long_ago)
    files = [settings.MEDIA_ROOT / name for name in Slice.objects.filter(
        figure__case=old.case).values_list("image", flat=True)]  # fmt: skip
    assert all(path.exists() for path in files)
    with django_capture_on_commit_callbacks(execute=True):
        assert inbox_clean(days=2) == 1
    assert set(InboxStudy.objects.values_list("pk", flat=True)) == {claimed.pk, fresh.pk}
    assert not Case.objects.filter(pk=old.case_id).exists()
    assert not any(path.exists() for path in files)


def test_duplicate_instance_is_recognised():
    ds = head_ct_with_phi()[0]
    first = instance_receive(data=_bytes(ds))
    again = instance_receive(data=_bytes(ds))
    assert (first.outcome, again.outcome) == (Outcome.STORED, Outcome.DUPLICATE)
    assert Slice.objects.count() == 1


def test_age_and_description_are_coarse():
    ds = head_ct_with_phi()[0]
    assert age_years(ds) == 63
    ds.PatientAge = "097Y"
    assert age_years(ds) == 90
    ds.StudyDescription = "CT HEAD DOE JANE MRN-0042 20240315"
    assert description_clean(ds) == "CT HEAD"
