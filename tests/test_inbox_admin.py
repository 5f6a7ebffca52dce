"""The inbox in the admin: "Pull from a PACS" (search now, retrieve on the worker), the badge."""

from __future__ import annotations

import io
import re
import time

import pydicom
import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from cases.inbox.models import InboxStudy
from cases.models import Case, Slice
from tests.dicom_net import free_port, head_ct_with_phi
from tests.orthanc import PASSWORD, USER, orthanc_available, orthanc_start

PULL = "/admin/cases/inboxstudy/pull/"
needs_orthanc = pytest.mark.skipif(
    not orthanc_available(), reason="Orthanc not installed (make orthanc)"
)


@pytest.fixture
def orthanc(tmp_path, settings):
    server = orthanc_start(tmp_path / "orthanc")
    for ds in head_ct_with_phi(patient_id="MRN-0042"):
        ds.AccessionNumber = "ACC-7"
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        server.request("POST", "/instances", buffer.getvalue())
    settings.DICOMWEB_SERVERS = [server.dicomweb_url]
    settings.DICOMWEB_USERNAME, settings.DICOMWEB_PASSWORD = USER, PASSWORD
    yield server
    server.stop()


def _errors(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


# --- the pull page ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_inbox_links_to_the_pull_page(client, staff):
    client.force_login(staff)
    page = client.get("/admin/cases/inboxstudy/").content.decode()
    assert f'href="{PULL}"' in page


@pytest.mark.django_db
def test_without_a_configured_pacs_the_page_says_what_to_set(client, staff, settings):
    settings.DICOMWEB_SERVERS = []
    client.force_login(staff)
    response = client.get(PULL)
    assert response.status_code == 200
    assert "No PACS is configured: set DICOMWEB_SERVERS" in _errors(response)
    assert "<form" not in response.content.decode().split('id="content"')[1]
    response = client.post(PULL, {"pacs": "http://pacs/dicom-web", "accession": "1"})
    assert response.status_code == 422
    assert DBTaskResult.objects.count() == 0


@pytest.mark.django_db
def test_only_authors_may_pull(client, django_user_model, settings):
    settings.DICOMWEB_SERVERS = ["http://127.0.0.1:1/dicom-web"]
    assert client.get(PULL).status_code == 302  # to the log-in page
    clerk = django_user_model.objects.create_user("clerk", password="x-pass-123", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_inboxstudy"))
    client.force_login(clerk)
    assert client.get(PULL).status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="add_case"))
    clerk = django_user_model.objects.get(pk=clerk.pk)
    client.force_login(clerk)
    assert client.get(PULL).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Give one of a study UID, an accession number or a patient ID."),
        (
            {"accession": "A1", "patient_id": "P1"},
            "Give one of a study UID, an accession number or a patient ID.",
        ),
        ({"study_uid": "1.2.abc"}, "A UID is digits and dots"),
        ({"accession": "A1", "study_date": "2024-03-15"}, "A date goes with a patient ID."),
        ({"pacs": "http://evil.example/dicom-web", "accession": "A1"}, "Select a valid choice."),
    ],
)
def test_bad_input_is_refused_in_place(client, staff, settings, data, message):
    settings.DICOMWEB_SERVERS = ["http://127.0.0.1:1/dicom-web"]
    client.force_login(staff)
    response = client.post(PULL, {"pacs": "http://127.0.0.1:1/dicom-web", **data})
    assert response.status_code == 422
    assert message in _errors(response)
    assert DBTaskResult.objects.count() == 0


@pytest.mark.django_db
def test_an_unreachable_pacs_is_said_at_once(client, staff, settings):
    url = f"http://127.0.0.1:{free_port()}/dicom-web"  # nothing listens there
    settings.DICOMWEB_SERVERS = [url]
    client.force_login(staff)
    started = time.monotonic()
    response = client.post(PULL, {"pacs": url, "accession": "A1"})
    # A refused connection is not retried with back-off (half a minute) while the admin waits.
    assert time.monotonic() - started < 10
    assert response.status_code == 422
    assert "Nothing was pulled: the PACS at 127.0.0.1:" in _errors(response)
    assert "cannot be reached" in _errors(response)


@needs_orthanc
@pytest.mark.django_db
def test_a_study_the_pacs_does_not_hold_is_said_at_once(client, staff, orthanc):
    client.force_login(staff)
    response = client.post(PULL, {"pacs": orthanc.dicomweb_url, "accession": "NO-SUCH"})
    assert response.status_code == 422
    assert "The PACS holds no study for that; nothing was pulled." in _errors(response)


@needs_orthanc
@pytest.mark.django_db
def test_wrong_credentials_are_said_at_once(client, staff, orthanc, settings):
    settings.DICOMWEB_PASSWORD = "not-the-password"
    client.force_login(staff)
    response = client.post(PULL, {"pacs": orthanc.dicomweb_url, "accession": "ACC-7"})
    assert response.status_code == 422
    assert "refused the credentials (401)" in _errors(response)


@needs_orthanc
@pytest.mark.django_db(transaction=True)
def test_a_pull_is_queued_and_the_worker_brings_the_study_into_the_inbox(
    client, staff, orthanc, settings
):
    settings.TASKS = settings.TASKS | {"background": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    client.force_login(staff)
    response = client.post(
        PULL,
        {"pacs": orthanc.dicomweb_url, "patient_id": "MRN-0042", "study_date": "2024-03-15"},
        follow=True,
    )
    assert response.redirect_chain == [("/admin/cases/inboxstudy/", 302)]
    assert "Queued: 1 study from 127.0.0.1:" in _errors(response)
    queued = DBTaskResult.objects.get()
    assert queued.status == "READY" and queued.task_path.endswith("dicomweb_retrieve_task")
    assert InboxStudy.objects.count() == 0  # the request did not wait for the retrieval
    call_command("worker", batch=True, verbosity=0)
    assert DBTaskResult.objects.get(pk=queued.pk).status == "SUCCESSFUL"
    study = InboxStudy.objects.get()
    assert study.source == InboxStudy.Source.DICOMWEB
    assert Slice.objects.filter(figure__case=study.case).count() == 28
    assert study.assembled is not None


# --- the badge --------------------------------------------------------------------------------


def _inbox_study(number: int, **fields) -> InboxStudy:
    case = Case.objects.create(slug=f"inbox-{number}", title=f"CT study {number}")
    return InboxStudy.objects.create(key=f"2.25.{number}", case=case, patient="ANON-1", **fields)


def _badge(page: str) -> list[str]:
    return re.findall(r'<span class="cv-badge"[^>]*>(\d+)<', page)


@pytest.mark.django_db
def test_the_menu_counts_the_unclaimed_inbox_studies(client, staff):
    from django.utils import timezone

    client.force_login(staff)
    assert _badge(client.get("/admin/").content.decode()) == []
    _inbox_study(1)
    _inbox_study(2)
    _inbox_study(3, claimed_by=staff, claimed_at=timezone.now())
    published = _inbox_study(4)
    Case.objects.filter(pk=published.case_id).update(status=Case.Status.PUBLISHED)
    index = client.get("/admin/").content.decode()
    assert _badge(index) == ["2"]
    assert re.search(r'<a href="/admin/cases/inboxstudy/"[^>]*>Inbox <span class="cv-badge"', index)
    # The side menu of every admin page shows it too.
    assert _badge(client.get("/admin/cases/case/").content.decode()) == ["2"]
