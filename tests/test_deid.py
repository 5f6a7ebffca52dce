"""De-identification against every attribute of PS3.15 Table E.1-1 (basic profile)."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from cases.imaging.deid import (
    ANONYMOUS_NAME,
    BLANK,
    DEID_UID_ROOT,
    DUMMY,
    NEW_UID,
    REMOVE,
    deid_operation,
    dicom_deidentify,
)
from cases.imaging.deid_table import DEID_TABLE, DEID_TABLE_MASKED
from tests.hostile import phi_dicom_bytes

ROOT = Path(__file__).resolve().parent.parent
_VALUES = {
    "PN": "DOE^JANE",
    "DA": "19610203",
    "TM": "101010",
    "DT": "19610203101010",
    "UI": "1.2.826.0.1.3680043.2.1125.1.123456789",
    "AS": "045Y",
    "DS": "70.5",
    "IS": "12",
    "US": 7,
    "SS": 7,
    "UL": 7,
    "SL": 7,
    "SV": 7,
    "UV": 7,
    "FL": 7.0,
    "FD": 7.0,
    "CS": "SECRET",
    "AE": "SECRET",
    "AT": 0x00100010,
    "OB": b"SECRET",
    "OW": b"SECRETSS",
    "UN": b"SECRET",
}


def _vr(tag: int) -> str:
    try:
        return dictionary_VR(tag).split(" or ")[0]
    except KeyError:
        return "LO"  # an attribute newer than pydicom's dictionary


def _identifying_element(ds: Dataset, tag: int) -> object:
    vr = _vr(tag)
    if vr == "SQ":
        item = Dataset()
        item.CodeMeaning = "SECRET"
        value: object = Sequence([item])
    else:
        value = _VALUES.get(vr, "SECRET-DOE")
    ds.add_new(tag, vr, value)
    return value


def _check(ds: Dataset, tag: int, action: str, original: object) -> None:
    keyword = pydicom.datadict.keyword_for_tag(tag)
    if keyword == "PatientName":
        assert ds[tag].value == ANONYMOUS_NAME
        return
    if keyword == "PatientID":
        assert ds[tag].value.startswith("ANON-")
        return
    operation = deid_operation(action)
    if operation == REMOVE:
        assert tag not in ds
        return
    value = ds[tag].value
    if operation == BLANK:
        assert value in ("", b"", None) or len(value) == 0
    elif operation == DUMMY:
        assert value != original
        if _vr(tag) not in ("SQ", "OB", "OW", "UN"):
            assert value not in ("", None)
    elif operation == NEW_UID:
        assert str(value) != original and str(value).startswith(DEID_UID_ROOT)


@pytest.mark.parametrize(
    ("tag", "action"),
    [(tag, action) for tag, (action, _) in sorted(DEID_TABLE.items())],
    ids=[f"{tag:08X}-{keyword or 'unnamed'}" for tag, (_, keyword) in sorted(DEID_TABLE.items())],
)
def test_every_table_attribute_is_handled_per_its_action_even_in_sequences(tag, action):
    ds = Dataset()
    original = _identifying_element(ds, tag)
    # The same attribute inside an item of a sequence the table does not name.
    item = Dataset()
    _identifying_element(item, tag)
    ds.AnatomicRegionSequence = Sequence([item])

    removed = dicom_deidentify(ds, replacements={})

    _check(ds, tag, action, original)
    _check(ds.AnatomicRegionSequence[0], tag, action, original)
    keyword = (
        pydicom.datadict.keyword_for_tag(tag) or f"({Tag(tag).group:04X},{Tag(tag).element:04X})"
    )
    assert keyword in removed


def test_protocol_name_and_acquisition_comments_are_removed():
    ds = pydicom.dcmread(io.BytesIO(phi_dicom_bytes()))
    removed = dicom_deidentify(ds)
    assert "ProtocolName" not in ds and "AcquisitionComments" not in ds
    assert {"ProtocolName", "AcquisitionComments", "InstitutionName"} <= set(removed)


@pytest.mark.parametrize(
    ("group", "element"), [(0x5000, 0x0022), (0x6002, 0x4000), (0x6000, 0x3000)]
)
def test_curves_and_overlay_data_and_comments_are_removed(group, element):
    ds = Dataset()
    ds.add_new(
        (group << 16) | element,
        "OB" if element == 0x3000 else "LO",
        b"SECRET" if element == 0x3000 else "SECRET",
    )
    dicom_deidentify(ds)
    assert (group << 16) | element not in ds
    assert any((group & gm) == g and (element & em) == e for g, e, gm, em, _ in DEID_TABLE_MASKED)


def test_private_attributes_and_other_person_names_go_too():
    ds = pydicom.dcmread(io.BytesIO(phi_dicom_bytes()))
    ds.add_new(0x00400006, "PN", "WHO^EVER")  # ScheduledPerformingPhysicianName is in the table
    ds.add_new(0x00321032, "PN", "WHO^EVER")  # RequestingPhysician too; and an unlisted PN:
    ds.add_new(0x00700084, "PN", "WHO^EVER")  # ContentCreatorName
    removed = dicom_deidentify(ds)
    assert not [e for e in ds.iterall() if e.tag.is_private]
    assert "private attributes" in removed and "preamble" in removed
    names = [e.value for e in ds.iterall() if e.VR == "PN" and e.keyword != "PatientName"]
    assert all(value in ("", None) for value in names)


def test_deidentifying_a_deidentified_file_changes_nothing():
    ds = pydicom.dcmread(io.BytesIO(phi_dicom_bytes()))
    dicom_deidentify(ds, replacements={})
    first = io.BytesIO()
    ds.save_as(first, enforce_file_format=True)
    again = pydicom.dcmread(io.BytesIO(first.getvalue()))
    assert dicom_deidentify(again, replacements={}) == []
    second = io.BytesIO()
    again.save_as(second, enforce_file_format=True)
    assert second.getvalue() == first.getvalue()


def test_the_checked_in_table_is_the_generated_one():
    from cases.imaging import deid_table_build as script

    generated: dict = {}
    exec(script.table_source(), generated)  # noqa: S102 - our own generator's output
    assert generated["DEID_TABLE"] == DEID_TABLE
    assert generated["DEID_TABLE_MASKED"] == DEID_TABLE_MASKED
    assert len(DEID_TABLE) > 600  # the whole table, not a hand-picked few
