"""Pulling studies from a PACS over DICOMweb (QIDO-RS to find, WADO-RS to retrieve).

Each retrieved instance goes through ``instance_receive``, the same door as a C-STORE: the
one ingest, the keyed de-identification, the inbox. Credentials come from the settings
(``DICOMWEB_USERNAME`` and ``DICOMWEB_PASSWORD``, or ``DICOMWEB_TOKEN``), never from the URL:
a URL carrying a user or password is refused, so none ends up in a log or a shell history.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pydicom
import requests
from django.conf import settings
from django.tasks import task
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from cases.imaging.ingest import ImageRejected

from .keyobjects import KEY_OBJECT_SELECTION
from .models import InboxStudy
from .receive import Outcome, instance_receive, key_object_receive, study_assemble

logger = logging.getLogger(__name__)

_STUDY_UID_TAG = "0020000D"


class DicomwebError(Exception):
    """The pull cannot run (bad URL, PACS unreachable or refusing); the message says why."""


@dataclass
class PullResult:
    studies: list[int] = field(default_factory=list)  # InboxStudy ids
    stored: int = 0
    duplicates: int = 0
    key_objects: int = 0
    skipped: list[str] = field(default_factory=list)


def dicomweb_client(base_url: str, *, timeout: float = 60, retry: bool = True):
    """A dicomweb-client for ``base_url``, authenticated from the settings.

    dicomweb-client retries a failed request four times, backing off for half a minute in
    all: right for a retrieval on the worker, too long for a search a person waits for.
    """
    from dicomweb_client.api import DICOMwebClient

    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DicomwebError(f"{base_url!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise DicomwebError(
            "credentials in the URL are refused: set DICOMWEB_USERNAME and DICOMWEB_PASSWORD "
            "(or DICOMWEB_TOKEN) instead"
        )
    session = requests.Session()
    if settings.DICOMWEB_TOKEN:
        session.headers["Authorization"] = f"Bearer {settings.DICOMWEB_TOKEN}"
    elif settings.DICOMWEB_USERNAME:
        session.auth = (settings.DICOMWEB_USERNAME, settings.DICOMWEB_PASSWORD)
    client = DICOMwebClient(url=base_url.rstrip("/"), session=session, timeout=timeout)
    if not retry:
        client.set_http_retry_params(retry=False)
    return client


def dicomweb_pull(
    *,
    base_url: str,
    study_uid: str = "",
    accession: str = "",
    patient_id: str = "",
    study_date: str = "",
    client=None,
) -> PullResult:
    """Find the studies (by UID, accession number, or patient id and date) and ingest them."""
    client = client or dicomweb_client(base_url)
    uids = (
        [study_uid]
        if study_uid
        else dicomweb_find(
            base_url=base_url,
            accession=accession,
            patient_id=patient_id,
            study_date=study_date,
            client=client,
        )
    )
    return dicomweb_retrieve(base_url=base_url, study_uids=uids, client=client)


def dicomweb_find(
    *,
    base_url: str,
    study_uid: str = "",
    accession: str = "",
    patient_id: str = "",
    study_date: str = "",
    client=None,
) -> list[str]:
    """The Study Instance UIDs the PACS holds for one of the keys (QIDO-RS); DicomwebError."""
    if study_uid:
        filters = {"StudyInstanceUID": study_uid}
    elif accession:
        filters = {"AccessionNumber": accession}
    elif patient_id:
        filters = {"PatientID": patient_id}
        if study_date:
            filters["StudyDate"] = study_date
    else:
        raise DicomwebError("give a study UID, an accession number or a patient id")
    client = client or dicomweb_client(base_url)
    try:
        found = client.search_for_studies(search_filters=filters, fields=["StudyInstanceUID"])
    except requests.RequestException as exc:
        raise DicomwebError(_request_failure(base_url, exc)) from exc
    return [s[_STUDY_UID_TAG]["Value"][0] for s in found if s.get(_STUDY_UID_TAG, {}).get("Value")]


def _request_failure(base_url: str, exc: requests.RequestException) -> str:
    """What went wrong, in a line an administrator can act on (no stack of adapters)."""
    host = urlsplit(base_url).netloc
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return f"the PACS at {host} cannot be reached (down, wrong address, or too slow)"
    status = getattr(exc.response, "status_code", None)
    if status in (401, 403):
        return (
            f"the PACS at {host} refused the credentials ({status}): check DICOMWEB_USERNAME "
            "and DICOMWEB_PASSWORD (or DICOMWEB_TOKEN)"
        )
    if status is not None:
        return f"the PACS at {host} answered {status}: check that {base_url} is its DICOMweb root"
    return f"the PACS at {host} did not answer as expected: {exc}"


def dicomweb_retrieve(*, base_url: str, study_uids: list[str], client=None) -> PullResult:
    """Retrieve each study (WADO-RS) through the one ingest into the inbox, and assemble it."""
    client = client or dicomweb_client(base_url)
    source = f"DICOMweb {urlsplit(base_url).hostname}"
    result = PullResult()
    try:
        for uid in study_uids:
            study_id = _study_pull(client, uid, source, result)
            if study_id is not None:
                study_assemble(study_id=study_id)
                result.studies.append(study_id)
    except requests.RequestException as exc:
        raise DicomwebError(f"the PACS did not answer as expected: {exc}") from exc
    return result


@task(backend="background")
def dicomweb_retrieve_task(base_url: str, study_uids: list[str]) -> dict:
    """The admin's pull, on the worker: a study of a thousand images outlasts a request."""
    result = dicomweb_retrieve(base_url=base_url, study_uids=study_uids)
    logger.info(
        "DICOMweb pull from %s: %s stud(ies), %s stored, %s already there, %s skipped",
        urlsplit(base_url).hostname,
        len(result.studies),
        result.stored,
        result.duplicates,
        len(result.skipped),
    )
    return {
        "studies": result.studies,
        "stored": result.stored,
        "duplicates": result.duplicates,
        "key_objects": result.key_objects,
        "skipped": result.skipped,
    }


def _study_pull(client, uid: str, source: str, result: PullResult) -> int | None:
    study_id = None
    for number, ds in enumerate(client.iter_study(uid), start=1):
        name = f"instance {number}"
        try:
            if str(ds.get("SOPClassUID", "")) == KEY_OBJECT_SELECTION:
                received = key_object_receive(data=_dataset_bytes(ds), calling_ae=source, name=name)
            else:
                received = instance_receive(
                    data=_dataset_bytes(ds),
                    calling_ae=source,
                    source=InboxStudy.Source.DICOMWEB,
                    name=name,
                )
        except ImageRejected as exc:
            result.skipped.append(exc.reason)
            logger.warning("DICOMweb instance refused: %s", exc.reason)
            continue
        study_id = received.study_id or study_id
        if received.outcome == Outcome.KEY_OBJECT:
            result.key_objects += 1
        elif received.outcome == Outcome.DUPLICATE:
            result.duplicates += 1
        else:
            result.stored += 1
    return study_id


def _dataset_bytes(ds: Dataset) -> bytes:
    if getattr(ds, "file_meta", None) is None or "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()
