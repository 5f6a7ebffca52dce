"""DICOM de-identification after PS3.15 Annex E, Basic Application Level Confidentiality Profile.

What happens to each attribute (the profile's action codes):

* ``X`` removed: identifying attributes of type 3, and everything listed in ``DEID_REMOVED``.
* ``Z`` blanked (kept with a zero-length value): attributes that are type 2 in the common image
  IODs (a missing type 2 attribute makes the file invalid). Dates and times are blanked or
  removed, never shifted: a teaching case does not need them, and a shifted date still leaks
  the intervals between studies.
* ``D`` replaced with a dummy: PatientName becomes "ANONYMOUS", PatientID a random "ANON-..."
  value (the same original id gets the same dummy within one import).
* ``U`` instance UIDs replaced with new ones from ``generate_uid()``; the same original UID maps
  to the same new UID within one import, so slices of a series still share their Study, Series
  and Frame of Reference UIDs.
* All private attributes, curve data (50xx) and overlay data and comments (60xx,3000/4000) are
  removed, and any remaining person name (VR PN) anywhere is blanked, in nested sequences too.

Manufacturer, model, kV and slice thickness are kept: they identify equipment, not patients,
and a teaching file shows them as the technique.
"""

from __future__ import annotations

import secrets

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from pydicom.valuerep import VR

DEID_METHOD = "CaseViewer PS3.15 Annex E basic profile"
ANONYMOUS_NAME = "ANONYMOUS"

DEID_REPLACED: tuple[str, ...] = ("PatientName", "PatientID")

DEID_BLANKED: tuple[str, ...] = (
    "PatientBirthDate",
    "PatientSex",
    "ReferringPhysicianName",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ContentDate",
    "ContentTime",
)

DEID_REMOVED: tuple[str, ...] = (
    # Patient
    "PatientBirthTime",
    "PatientBirthName",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "IssuerOfPatientID",
    "PatientMotherBirthName",
    "MilitaryRank",
    "BranchOfService",
    "EthnicGroup",
    "Occupation",
    "PatientReligiousPreference",
    "CountryOfResidence",
    "RegionOfResidence",
    "MedicalAlerts",
    "Allergies",
    "SmokingStatus",
    "PregnancyStatus",
    "LastMenstrualDate",
    "AdditionalPatientHistory",
    "PatientComments",
    "PatientState",
    "MedicalRecordLocator",
    "PatientInsurancePlanCodeSequence",
    "ReferencedPatientSequence",
    "AdmissionID",
    "AdmittingDiagnosesDescription",
    # People and places
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "ReferringPhysicianIdentificationSequence",
    "PerformingPhysicianName",
    "PerformingPhysicianIdentificationSequence",
    "NameOfPhysiciansReadingStudy",
    "PhysiciansReadingStudyIdentificationSequence",
    "OperatorsName",
    "OperatorIdentificationSequence",
    "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence",
    "RequestingPhysician",
    "RequestingService",
    "ResponsiblePerson",
    "ResponsibleOrganization",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionCodeSequence",
    "InstitutionalDepartmentName",
    "StationName",
    "DeviceSerialNumber",
    "ScheduledPerformingPhysicianName",
    "InterpretationAuthor",
    # Study, order and procedure
    "StudyDescription",
    "SeriesDescription",
    "ImageComments",
    "DerivationDescription",
    "RequestAttributesSequence",
    "RequestedProcedureDescription",
    "RequestedProcedureID",
    "ScheduledProcedureStepDescription",
    "ScheduledProcedureStepID",
    "PerformedProcedureStepDescription",
    "PerformedProcedureStepID",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "PlacerOrderNumberImagingServiceRequest",
    "FillerOrderNumberImagingServiceRequest",
    "ReferencedStudySequence",
    "ReferencedPerformedProcedureStepSequence",
    "TextComments",
    "TextString",
    # Dates and times that are not type 2
    "SeriesDate",
    "SeriesTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "AcquisitionDateTime",
    "InstanceCreationDate",
    "InstanceCreationTime",
    "OverlayDate",
    "OverlayTime",
    "CurveDate",
    "CurveTime",
)

DEID_UIDS: tuple[str, ...] = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "ReferencedSOPInstanceUID",
    "ReferencedFrameOfReferenceUID",
    "RelatedFrameOfReferenceUID",
    "SynchronizationFrameOfReferenceUID",
    "IrradiationEventUID",
    "ConcatenationUID",
    "DimensionOrganizationUID",
    "StorageMediaFileSetUID",
    "UID",
)

# Every keyword this module acts on, so tests (and readers) can iterate them.
DEID_KEYWORDS: tuple[str, ...] = DEID_REPLACED + DEID_BLANKED + DEID_REMOVED + DEID_UIDS

_BLANKED = frozenset(DEID_BLANKED)
_REMOVED = frozenset(DEID_REMOVED)
_UIDS = frozenset(DEID_UIDS)
# File meta attributes naming the sending station: not in Annex E, but just as identifying.
_FILE_META_REMOVED = (
    "SourceApplicationEntityTitle",
    "SendingApplicationEntityTitle",
    "ReceivingApplicationEntityTitle",
)


def dicom_deidentify(ds: Dataset, *, replacements: dict[str, str] | None = None) -> None:
    """De-identify ``ds`` in place.

    ``replacements`` remembers original value -> replacement for UIDs and patient ids; pass
    the same dict for every file of one import so a series stays consistent.
    """
    memory: dict[str, str] = {} if replacements is None else replacements
    ds.remove_private_tags()
    ds.walk(lambda dataset, element: _element_deidentify(dataset, element, memory))
    # Both are type 2: present even when the original lacked them.
    ds.PatientName = ANONYMOUS_NAME
    if "PatientID" not in ds:
        ds.PatientID = _patient_id_replace("", memory)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = DEID_METHOD
    _file_meta_deidentify(ds)
    ds.preamble = b"\0" * 128


def _element_deidentify(dataset: Dataset, element: DataElement, memory: dict[str, str]) -> None:
    tag = element.tag
    keyword = element.keyword
    if _is_curve_or_overlay_text(tag.group, tag.element) or keyword in _REMOVED:
        del dataset[tag]
    elif keyword in _BLANKED:
        element.value = Sequence() if element.VR == VR.SQ else ""
    elif keyword in _UIDS:
        element.value = _uids_replace(element.value, memory)
    elif keyword == "PatientName":  # also inside sequences (e.g. a referenced patient)
        element.value = ANONYMOUS_NAME
    elif keyword == "PatientID":
        element.value = _patient_id_replace(str(element.value or ""), memory)
    elif element.VR == VR.PN:
        # Catch-all: a person's name in any attribute the lists above do not name.
        element.value = ""


def _is_curve_or_overlay_text(group: int, element: int) -> bool:
    # Curves (50xx,eeee) are retired but still found in old files; overlay data and comments
    # (60xx,3000 / 60xx,4000) can carry burnt-in names and text.
    if 0x5000 <= group <= 0x50FF and group % 2 == 0:
        return True
    return 0x6000 <= group <= 0x60FF and group % 2 == 0 and element in (0x3000, 0x4000)


def _uids_replace(value: object, memory: dict[str, str]) -> object:
    if isinstance(value, MultiValue | list):
        return [_uid_replace(str(item), memory) for item in value]
    return _uid_replace(str(value), memory) if value else value


def _uid_replace(uid: str, memory: dict[str, str]) -> str:
    key = f"uid:{uid}"
    if key not in memory:
        memory[key] = generate_uid()
    return memory[key]


def _patient_id_replace(patient_id: str, memory: dict[str, str]) -> str:
    key = f"patient:{patient_id}"
    if key not in memory:
        # Random, not a hash: a hash of a short hospital number can be reversed by brute force.
        memory[key] = f"ANON-{secrets.token_hex(4).upper()}"
    return memory[key]


def _file_meta_deidentify(ds: Dataset) -> None:
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        return
    for keyword in _FILE_META_REMOVED:
        if keyword in meta:
            delattr(meta, keyword)
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
