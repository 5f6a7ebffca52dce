"""A storescu-style DICOM client and a receiver running in a thread, for tests and bench.

``head_ct_with_phi`` gives the demo head CT (28 slices) with a patient's identifiers written
into every header (tests/hostile.py's markers), as a hospital PACS would hold it.
"""

from __future__ import annotations

import copy
import socket
from contextlib import contextmanager
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE

CT_ZIP = Path(__file__).resolve().parent.parent / "cases" / "demo" / "dicom" / "ct-head-ge.zip"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def head_ct_with_phi(
    *, patient_id: str = "MRN-0042", study_uid: str | None = None, description: str = "CT HEAD"
) -> list[Dataset]:
    """The 28 head CT slices, shuffled order of sending aside, as one patient's study."""
    from cases.imaging.ingest import dicom_series_read

    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    datasets = []
    for _name, ds in dicom_series_read(CT_ZIP):
        ds.PatientName = "DOE^JANE"
        ds.PatientID = patient_id
        ds.PatientBirthDate = "19610203"
        ds.PatientSex = "F"
        ds.StudyDate = "20240315"
        ds.StudyDescription = description
        ds.InstitutionName = "ST ELSEWHERE HOSPITAL"
        ds.ProtocolName = "PROTO-SECRET"
        ds.AcquisitionComments = "ACQ-SECRET"
        ds.AccessionNumber = "ACC-0042"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        block = ds.private_block(0x0009, "ACME 1.0", create=True)
        block.add_new(0x01, "LO", "PRIVATE-SECRET")
        datasets.append(ds)
    return datasets


def instance_copy(ds: Dataset, **changes) -> Dataset:
    copied = copy.deepcopy(ds)
    for keyword, value in changes.items():
        setattr(copied, keyword, value)
    return copied


def association(
    port: int, *, ae_title: str = "STORESCU", called: str = "CASEVIEWER", contexts=(CT_STORAGE,)
):
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    for context in contexts:
        # A SOP class alone (the default syntaxes), or (SOP class, [transfer syntaxes]).
        if isinstance(context, tuple):
            ae.add_requested_context(context[0], context[1])
        else:
            ae.add_requested_context(context)
    return ae.associate("127.0.0.1", port, ae_title=called)


def send(port: int, datasets: list[Dataset], *, ae_title: str = "STORESCU") -> list[int]:
    """Send each dataset in one association; the C-STORE statuses, in order."""
    syntaxes: dict[str, set[str]] = {}
    for ds in datasets:
        syntaxes.setdefault(str(ds.SOPClassUID), set()).add(str(ds.file_meta.TransferSyntaxUID))
    contexts = [(sop, sorted(found)) for sop, found in syntaxes.items()] or [CT_STORAGE]
    assoc = association(port, ae_title=ae_title, contexts=contexts)
    assert assoc.is_established, "association refused"
    statuses = []
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            statuses.append(int(status.Status) if "Status" in status else -1)
    finally:
        assoc.release()
    return statuses


@contextmanager
def receiver_running(
    *, allowed: list[str] | None = None, development: bool = True, port: int | None = None
):
    """The receiver on a free loopback port in this process; yields the port."""
    from cases.inbox.scp import Receiver

    port = port or free_port()
    receiver = Receiver(ae_title="CASEVIEWER", allowed=allowed or [], development=development)
    receiver.start(bind="127.0.0.1", port=port)
    try:
        yield port
    finally:
        receiver.stop()


KEY_OBJECT_SELECTION = "1.2.840.10008.5.1.4.1.1.88.59"


def _code(value: str, meaning: str, scheme: str = "DCM") -> Dataset:
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, scheme, meaning
    return code


def _sop_reference(ds: Dataset) -> Dataset:
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    return ref


def key_object_selection(
    selected: list[Dataset],
    *,
    title: tuple[str, str] = ("113004", "For Teaching"),
    text: str = "",
    study: Dataset | None = None,
) -> Dataset:
    """A Key Object Selection document (TID 2010) selecting ``selected``, as a PACS sends it.

    Its header carries the patient of ``study`` (the first selected instance by default):
    name, id, birth date, and a referring physician, SMITHERS^ANNA.
    """
    from pydicom.dataset import FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian

    source = study or selected[0]
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = KEY_OBJECT_SELECTION
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = KEY_OBJECT_SELECTION
    for keyword in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyDate",
        "StudyDescription",
        "AccessionNumber",
    ):
        setattr(ds, keyword, source.get(keyword, ""))
    ds.StudyTime = "101500"
    ds.StudyID = "1"
    ds.ReferringPhysicianName = "SMITHERS^ANNA"
    ds.Modality = "KO"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 999
    ds.InstanceNumber = 1
    ds.Manufacturer = "ACME PACS"
    ds.ContentDate, ds.ContentTime = "20240316", "120000"
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = Sequence([_code(*title)])
    ds.ContinuityOfContent = "SEPARATE"
    template = Dataset()
    template.MappingResource, template.TemplateIdentifier = "DCMR", "2010"
    ds.ContentTemplateSequence = Sequence([template])
    items = []
    if text:
        item = Dataset()
        item.RelationshipType, item.ValueType = "CONTAINS", "TEXT"
        item.ConceptNameCodeSequence = Sequence([_code("113012", "Key Object Description")])
        item.TextValue = text
        items.append(item)
    for image in selected:
        item = Dataset()
        item.RelationshipType, item.ValueType = "CONTAINS", "IMAGE"
        item.ReferencedSOPSequence = Sequence([_sop_reference(image)])
        items.append(item)
    ds.ContentSequence = Sequence(items)
    evidence = Dataset()
    evidence.StudyInstanceUID = source.StudyInstanceUID
    by_series: dict[str, list[Dataset]] = {}
    for image in selected:
        by_series.setdefault(str(image.SeriesInstanceUID), []).append(image)
    series_items = []
    for series_uid, images in by_series.items():
        series = Dataset()
        series.SeriesInstanceUID = series_uid
        series.ReferencedSOPSequence = Sequence([_sop_reference(i) for i in images])
        series_items.append(series)
    evidence.ReferencedSeriesSequence = Sequence(series_items)
    ds.CurrentRequestedProcedureEvidenceSequence = Sequence([evidence])
    return ds
