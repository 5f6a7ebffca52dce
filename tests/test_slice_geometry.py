"""The DICOM geometry of each slice: stored on import, back-filled for slices stored before."""

from __future__ import annotations

import importlib
import io
import zipfile
from pathlib import Path

import pydicom
import pytest
from django.apps import apps
from PIL import Image

from cases.imaging.ingest import slice_create_from_bytes
from cases.models import Case, Figure, Slice

pytestmark = pytest.mark.django_db

CT_ZIP = Path(__file__).resolve().parent.parent / "cases" / "demo" / "dicom" / "ct-head-ge.zip"
backfill = importlib.import_module("cases.migrations.0017_geometry_backfill")


def ct_file() -> tuple[str, bytes]:
    with zipfile.ZipFile(CT_ZIP) as archive:
        name = sorted(n for n in archive.namelist() if n.endswith(".dcm"))[10]
        return name, archive.read(name)


def dicom_bytes(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


@pytest.fixture
def figure() -> Figure:
    case = Case.objects.create(slug="geo", title="Geometry", status=Case.Status.PUBLISHED)
    return Figure.objects.create(case=case, number=1)


def test_geometry_is_stored_on_import(figure):
    name, data = ct_file()
    ds = pydicom.dcmread(io.BytesIO(data))
    image = slice_create_from_bytes(figure=figure, name=name, data=data, position=0)
    image.refresh_from_db()
    assert (image.pixel_spacing_row, image.pixel_spacing_column) == tuple(
        float(v) for v in ds.PixelSpacing
    )
    assert image.spacing_source == "PixelSpacing"
    assert image.image_position == [float(v) for v in ds.ImagePositionPatient]
    assert image.image_orientation == [float(v) for v in ds.ImageOrientationPatient]
    assert image.slice_thickness == float(ds.SliceThickness)
    assert image.spacing == (float(ds.PixelSpacing[1]), float(ds.PixelSpacing[0]))


def test_imager_pixel_spacing_is_stored_and_named_when_it_is_all_there_is(figure):
    name, data = ct_file()
    ds = pydicom.dcmread(io.BytesIO(data))
    del ds.PixelSpacing
    ds.ImagerPixelSpacing = [0.143, 0.15]
    ds.SliceThickness = "-3"  # not a thickness: left out
    image = slice_create_from_bytes(figure=figure, name=name, data=dicom_bytes(ds), position=0)
    image.refresh_from_db()
    assert (image.pixel_spacing_row, image.pixel_spacing_column) == (0.143, 0.15)
    assert image.spacing_source == Slice.SpacingSource.IMAGER
    assert image.slice_thickness is None


def test_a_picture_has_no_geometry(figure):
    buffer = io.BytesIO()
    Image.new("L", (8, 8), 128).save(buffer, format="PNG")
    image = slice_create_from_bytes(figure=figure, name="a.png", data=buffer.getvalue(), position=0)
    image.refresh_from_db()
    assert image.spacing is None and image.spacing_source == ""
    assert (image.image_position, image.image_orientation, image.slice_thickness) == (None,) * 3


def test_the_migration_backfills_geometry_from_the_stored_files(figure):
    name, data = ct_file()
    ds = pydicom.dcmread(io.BytesIO(data))
    stored = slice_create_from_bytes(figure=figure, name=name, data=data, position=0)
    buffer = io.BytesIO()
    Image.new("L", (8, 8), 128).save(buffer, format="PNG")
    picture = slice_create_from_bytes(
        figure=figure, name="a.png", data=buffer.getvalue(), position=1
    )
    missing = slice_create_from_bytes(figure=figure, name=name, data=data, position=2)
    missing.image.storage.delete(missing.image.name)
    # As a slice stored before the fields existed.
    Slice.objects.update(
        pixel_spacing_row=None, pixel_spacing_column=None, spacing_source="",
        image_position=None, image_orientation=None, slice_thickness=None,
    )  # fmt: skip
    backfill.geometry_backfill(apps, None)
    stored.refresh_from_db()
    assert (stored.pixel_spacing_row, stored.spacing_source) == (
        float(ds.PixelSpacing[0]),
        "PixelSpacing",
    )
    assert stored.image_position == [float(v) for v in ds.ImagePositionPatient]
    assert stored.image_orientation == [float(v) for v in ds.ImageOrientationPatient]
    assert stored.slice_thickness == float(ds.SliceThickness)
    picture.refresh_from_db()
    missing.refresh_from_db()
    assert picture.spacing is None and missing.spacing is None  # skipped, not failed
