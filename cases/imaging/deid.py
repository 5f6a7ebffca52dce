"""DICOM de-identification after PS3.15 Annex E, Basic Application Level Confidentiality Profile.

Which attribute gets which action comes from the standard's Table E.1-1, in ``deid_table.py``
(generated from a maintained extraction of the table, never typed by hand). Where the table
offers a choice, the strictest one is taken:

* ``X`` (and any choice that includes it, such as X/Z or X/Z/D): the attribute is removed.
* ``Z`` and Z/D: blanked (kept with a zero-length value), since such attributes are type 2.
  PatientName and PatientID are the exception the profile allows: a dummy instead, "ANONYMOUS"
  and a random "ANON-..." id (the same original id gets the same dummy within one import).
* ``D``: a dummy value consistent with the VR (an empty sequence for sequences).
* ``U``: UIDs replaced with new ones under ``DEID_UID_ROOT``; the same original UID maps to
  the same new UID within one import, so slices of a series still share their Study, Series
  and Frame of Reference UIDs.
* All private attributes are removed, and any remaining person name (VR PN) anywhere is
  blanked, in nested sequences too. The 128-byte preamble is zeroed.

De-identifying a file this module wrote changes nothing: UIDs already under our root and ids
already of the "ANON-" form are ours and are kept, and every other action is idempotent. So a
bundle exported here and imported elsewhere stores the same bytes.

Manufacturer, model, kV and slice thickness are kept: they identify equipment, not patients,
and a teaching file shows them as the technique.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import generate_uid
from pydicom.valuerep import VR

from .deid_table import DEID_TABLE, DEID_TABLE_MASKED

DEID_METHOD = "CaseViewer PS3.15 Annex E basic profile"
ANONYMOUS_NAME = "ANONYMOUS"
# CaseViewer's UID root: an arc under a UUID-derived OID (ITU-T X.667, 2.25.<uuid>) that only
# this application issues, so a UID under it was made by a de-identification and is kept.
DEID_UID_ROOT = "2.25.63605095728346111939130339810699230382."
# Random ids have 8 hex digits, keyed pseudonyms (``KeyedReplacements``) 16.
_PATIENT_ID = re.compile(r"ANON-[0-9A-F]{8}(?:[0-9A-F]{8})?")

REMOVE, BLANK, DUMMY, NEW_UID = "remove", "blank", "dummy", "uid"
_DUMMIES: dict[str, object] = {
    VR.DA: "19000101",
    VR.TM: "000000",
    VR.DT: "19000101000000",
    VR.AS: "000Y",
    VR.IS: "0",
    VR.DS: "0",
    VR.US: 0,
    VR.SS: 0,
    VR.UL: 0,
    VR.SL: 0,
    VR.FL: 0.0,
    VR.FD: 0.0,
    VR.SV: 0,
    VR.UV: 0,
}
_BINARY = (VR.OB, VR.OD, VR.OF, VR.OL, VR.OV, VR.OW, VR.UN)
# File meta attributes naming the sending station: not in Annex E, but just as identifying.
_FILE_META_REMOVED = (
    "SourceApplicationEntityTitle",
    "SendingApplicationEntityTitle",
    "ReceivingApplicationEntityTitle",
)


def deid_operation(action: str) -> str:
    """What this module does for a Table E.1-1 action code: the strictest choice it allows."""
    options = action.split("/")
    if "X" in options:
        return REMOVE
    if "Z" in options:
        return BLANK
    if "D" in options:
        return DUMMY
    if "U" in options:
        return NEW_UID
    raise ValueError(f"unknown action code {action!r}")


_OPERATIONS: dict[int, str] = {tag: deid_operation(a) for tag, (a, _) in DEID_TABLE.items()}
_MASKED = tuple((g, e, gm, em, deid_operation(a)) for g, e, gm, em, a in DEID_TABLE_MASKED)


def _operation_for(tag: BaseTag) -> str | None:
    found = _OPERATIONS.get(int(tag))
    if found is not None:
        return found
    for group, element, group_mask, element_mask, operation in _MASKED:
        if tag.group & group_mask == group and tag.element & element_mask == element:
            return operation
    return None


def uid_new() -> str:
    """A new UID under CaseViewer's root."""
    return generate_uid(prefix=DEID_UID_ROOT)


class KeyedReplacements(dict):
    """A de-identification memory whose replacements come from a keyed hash of the original.

    The same original UID or patient id gives the same replacement in every import, on every
    day, without the original being stored anywhere: two studies of one patient sent a week
    apart share a pseudonym, and a second send of a study finds its instances by their new
    UIDs. The key is the installation's secret; without it the pseudonym of a short hospital
    number cannot be found by trying every number.
    """

    def __init__(self, key: str | bytes) -> None:
        super().__init__()
        raw = key.encode() if isinstance(key, str) else key
        # A key of its own, so no other use of the secret ever yields the same digests.
        self._key = hmac.new(raw, b"caseviewer.deid.pseudonym", hashlib.sha256).digest()

    def digest(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def derive(self, key: str) -> str:
        """The replacement for a memory key ("uid:...", "patient:...", "frame:...")."""
        if key.startswith("patient:"):
            return f"ANON-{self.digest(key)[:16].upper()}"
        return generate_uid(prefix=DEID_UID_ROOT, entropy_srcs=[self.digest(key)])


def replacement_remember(memory: dict[str, str], key: str, make=uid_new) -> str:
    """``memory[key]``, made on first use: keyed when ``memory`` is ``KeyedReplacements``."""
    if key not in memory:
        memory[key] = memory.derive(key) if isinstance(memory, KeyedReplacements) else make()
    return memory[key]


def dicom_deidentify(ds: Dataset, *, replacements: dict[str, str] | None = None) -> list[str]:
    """De-identify ``ds`` in place; return the names of what was removed or replaced.

    ``replacements`` remembers original value -> replacement for UIDs and patient ids; pass
    the same dict for every file of one import so a series stays consistent.
    """
    memory: dict[str, str] = {} if replacements is None else replacements
    changed: set[str] = set()
    if any(element.tag.is_private for element in ds.iterall()):
        changed.add("private attributes")
    ds.remove_private_tags()
    ds.walk(lambda dataset, element: _element_deidentify(dataset, element, memory, changed))
    # Both are type 2: present even when the original lacked them.
    if "PatientName" not in ds:
        ds.PatientName = ANONYMOUS_NAME
    if "PatientID" not in ds:
        ds.PatientID = _patient_id_replace("", memory)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = DEID_METHOD
    changed.update(_file_meta_deidentify(ds))
    if getattr(ds, "preamble", None) and any(ds.preamble):
        changed.add("preamble")
    ds.preamble = b"\0" * 128
    return sorted(changed)


def _element_deidentify(
    dataset: Dataset, element: DataElement, memory: dict[str, str], changed: set[str]
) -> None:
    tag = element.tag
    name = element.keyword or keyword_for_tag(tag) or f"({tag.group:04X},{tag.element:04X})"
    before = element.value
    if element.keyword == "PatientName":
        element.value = ANONYMOUS_NAME
    elif element.keyword == "PatientID":
        element.value = _patient_id_replace(str(element.value or ""), memory)
    else:
        operation = _operation_for(tag)
        if operation == REMOVE:
            del dataset[tag]
            changed.add(name)
            return
        if operation == BLANK:
            element.value = Sequence() if element.VR == VR.SQ else _blank(element)
        elif operation == DUMMY:
            element.value = _dummy(element, memory)
        elif operation == NEW_UID:
            element.value = _uids_replace(element.value, memory)
        elif element.VR == VR.PN:
            # Catch-all: a person's name in any attribute the table does not name.
            element.value = ""
        else:
            return
    if element.value != before and not (_is_empty(before) and _is_empty(element.value)):
        changed.add(name)


def _is_empty(value: object) -> bool:
    return (
        value is None
        or value == ""
        or value == b""
        or (isinstance(value, list | Sequence | MultiValue) and len(value) == 0)
    )


def _blank(element: DataElement) -> object:
    return b"" if element.VR in _BINARY else ""


def _dummy(element: DataElement, memory: dict[str, str]) -> object:
    if element.VR == VR.SQ:
        return Sequence()
    if element.VR == VR.UI:
        return _uids_replace(element.value, memory)
    if element.VR in _BINARY:
        return b""
    return _DUMMIES.get(element.VR, ANONYMOUS_NAME)


def _uids_replace(value: object, memory: dict[str, str]) -> object:
    if isinstance(value, MultiValue | list):
        return [_uid_replace(str(item), memory) for item in value]
    return _uid_replace(str(value), memory) if value else value


def _uid_replace(uid: str, memory: dict[str, str]) -> str:
    if uid.startswith(DEID_UID_ROOT):
        return uid  # made by a de-identification: identifies nothing outside
    return replacement_remember(memory, f"uid:{uid}")


def _patient_id_replace(patient_id: str, memory: dict[str, str]) -> str:
    if _PATIENT_ID.fullmatch(patient_id):
        return patient_id  # already one of our pseudonyms
    # Random, or a keyed hash: a plain hash of a short hospital number is reversed by trying
    # every number.
    return replacement_remember(
        memory, f"patient:{patient_id}", lambda: f"ANON-{secrets.token_hex(4).upper()}"
    )


def _file_meta_deidentify(ds: Dataset) -> list[str]:
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        return []
    removed = []
    for keyword in _FILE_META_REMOVED:
        if keyword in meta:
            delattr(meta, keyword)
            removed.append(keyword)
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return removed
