from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.cache import cache
from PIL import Image, PngImagePlugin
from pydicom.data import get_testdata_file

from cases.imaging import ingest
from cases.imaging.deid import (
    ANONYMOUS_NAME,
    DEID_METHOD,
    dicom_deidentify,
)
from cases.imaging.ingest import (
    ImageRejected,
    dicom_series_collect,
    dicom_series_read,
    image_inspect,
    slice_create_from_bytes,
    slices_create_from_bytes,
    slices_create_from_dicom,
)
from cases.imaging.params import RenderParams
from cases.imaging.render import (
    render_cache_dir,
    render_cache_get,
    slice_decode,
    slice_pixels,
    slice_render,
    slice_render_params,
    window_apply,
)
from cases.models import Case, Figure, Slice

pytestmark = pytest.mark.django_db

CT_ZIP = Path(__file__).resolve().parent.parent / "cases" / "demo" / "dicom" / "ct-head-ge.zip"


@pytest.fixture
def figure() -> Figure:
    case = Case.objects.create(slug="imaging", title="Imaging")
    return Figure.objects.create(case=case, number=1, modality=Figure.Modality.CT)


@pytest.fixture
def media_root(settings) -> Path:
    return Path(settings.MEDIA_ROOT)


def media_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def pydicom_file_bytes(name: str) -> bytes:
    return Path(get_testdata_file(name)).read_bytes()


def ct_zip_member(name: str) -> bytes:
    with zipfile.ZipFile(CT_ZIP) as archive:
        return archive.read(name)


def ct_hu(data: bytes) -> np.ndarray:
    ds = pydicom.dcmread(io.BytesIO(data))
    return ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def png_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def stored_bytes(slice_: Slice) -> bytes:
    with slice_.image.open("rb") as handle:
        return handle.read()


def raster_bytes(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def gradient(width: int = 64, height: int = 48) -> np.ndarray:
    return (np.arange(width * height).reshape(height, width) % 256).astype(np.uint8)


# --- reading and sorting a series ------------------------------------------------------------


def test_ct_zip_series_is_28_slices_sorted_along_the_normal():
    datasets = dicom_series_read(CT_ZIP)
    assert len(datasets) == 28
    ds = datasets[0][1]
    assert (ds.Rows, ds.Columns, ds.BitsAllocated) == (512, 512, 16)
    assert (float(ds.WindowWidth), float(ds.WindowCenter)) == (100.0, 35.0)
    orientation = np.array([float(v) for v in ds.ImageOrientationPatient])
    normal = np.cross(orientation[:3], orientation[3:])
    along = [np.dot([float(v) for v in d.ImagePositionPatient], normal) for _, d in datasets]
    assert all(b > a for a, b in zip(along, along[1:], strict=False))
    assert [d.InstanceNumber for _, d in datasets] == list(range(1, 29))


def test_series_ingest_gives_ordered_grey16_slices_with_monotonic_locations(figure, media_root):
    replacements: dict[str, str] = {}
    position = 0
    for name, ds in dicom_series_read(CT_ZIP):
        created = slices_create_from_dicom(
            figure=figure, ds=ds, name=name, start_position=position, replacements=replacements
        )
        position += len(created)
    slices = list(figure.slices.all())
    assert len(slices) == 28
    assert [s.position for s in slices] == list(range(28))
    assert {(s.kind, s.width, s.height, s.inverted) for s in slices} == {
        (Slice.Kind.GREY16, 512, 512, False)
    }
    locations = [s.slice_location for s in slices]
    assert all(b > a for a, b in zip(locations, locations[1:], strict=False))
    first = slices[0]
    assert first.image.name.endswith(".dcm")
    assert Path(first.image.name).name == f"{first.token}.dcm"  # nothing of "01.dcm" survives
    assert first.sha256 == hashlib.sha256(stored_bytes(first)).hexdigest()
    assert len(media_files(media_root)) == 28


# --- de-identification -----------------------------------------------------------------------


def test_stored_series_is_deidentified_with_consistent_new_uids(figure):
    originals = {
        name: pydicom.dcmread(io.BytesIO(ct_zip_member(name)), stop_before_pixels=True)
        for name in ("01.dcm", "14.dcm", "28.dcm")
    }
    replacements: dict[str, str] = {}
    for position, name in enumerate(originals):
        ds = pydicom.dcmread(io.BytesIO(ct_zip_member(name)))
        slices_create_from_dicom(
            figure=figure, ds=ds, name=name, start_position=position, replacements=replacements
        )
    stored = [(stored_bytes(s), s) for s in figure.slices.all()]
    datasets = [pydicom.dcmread(io.BytesIO(data)) for data, _ in stored]
    original = next(iter(originals.values()))
    for data, _ in stored:
        assert data[:128] == b"\0" * 128
        assert data[128:132] == b"DICM"
    for ds in datasets:
        assert ds.PatientName == ANONYMOUS_NAME
        assert ds.PatientID.startswith("ANON-") and ds.PatientID != original.PatientID
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethod == DEID_METHOD
        assert not [e.tag for e in ds.iterall() if e.tag.is_private]
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert "SourceApplicationEntityTitle" not in ds.file_meta
        # Equipment is not identifying and stays for the technique line.
        assert ds.ManufacturerModelName == "HiSpeed Dual"
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        values = {str(ds[keyword].value) for ds in datasets}
        assert len(values) == 1, keyword  # consistent across the series
        assert values != {str(original[keyword].value)}, keyword  # but new
    sop_uids = [str(ds.SOPInstanceUID) for ds in datasets]
    assert len(set(sop_uids)) == 3
    assert not set(sop_uids) & {str(o.SOPInstanceUID) for o in originals.values()}


def test_uid_replacement_is_consistent_within_an_import_only():
    first, second = (
        pydicom.dcmread(io.BytesIO(ct_zip_member(n)), stop_before_pixels=True)
        for n in ("01.dcm", "02.dcm")
    )
    other = pydicom.dcmread(io.BytesIO(ct_zip_member("01.dcm")), stop_before_pixels=True)
    memory: dict[str, str] = {}
    dicom_deidentify(first, replacements=memory)
    dicom_deidentify(second, replacements=memory)
    dicom_deidentify(other, replacements={})
    assert first.StudyInstanceUID == second.StudyInstanceUID
    assert first.PatientID == second.PatientID
    assert first.SOPInstanceUID != second.SOPInstanceUID
    assert other.StudyInstanceUID != first.StudyInstanceUID


# --- DICOM kinds -----------------------------------------------------------------------------


def test_pydicom_ct_and_mr_files_are_stored_with_their_rescale(figure):
    ct = slice_create_from_bytes(
        figure=figure, name="CT_small.dcm", data=pydicom_file_bytes("CT_small.dcm"), position=0
    )
    mr = slice_create_from_bytes(
        figure=figure, name="MR_small.dcm", data=pydicom_file_bytes("MR_small.dcm"), position=1
    )
    assert (ct.kind, ct.width, ct.height) == (Slice.Kind.GREY16, 128, 128)
    assert (ct.rescale_slope, ct.rescale_intercept) == (1.0, -1024.0)
    assert (mr.kind, mr.width, mr.height) == (Slice.Kind.GREY16, 64, 64)
    assert (mr.rescale_slope, mr.rescale_intercept) == (1.0, 0.0)
    assert ct.slice_location == pytest.approx(-75.7, abs=0.01)  # axial: the z position
    hu = slice_pixels(ct).pixels
    assert hu.dtype == np.float32
    assert np.array_equal(hu, ct_hu(pydicom_file_bytes("CT_small.dcm")).astype(np.float32))


def monochrome1_bytes() -> bytes:
    # pydicom ships no MONOCHROME1 file offline: the same CT with its interpretation flipped.
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PhotometricInterpretation = "MONOCHROME1"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_monochrome1_is_stored_inverted_and_rendered_inverted(figure):
    normal = slice_create_from_bytes(
        figure=figure, name="ct.dcm", data=pydicom_file_bytes("CT_small.dcm"), position=0
    )
    mono1 = slice_create_from_bytes(
        figure=figure, name="mono1.dcm", data=monochrome1_bytes(), position=1
    )
    assert (normal.inverted, mono1.inverted) == (False, True)

    def shown(image: Slice, invert: bool = False) -> np.ndarray:
        params = RenderParams(image.token, window_width=400, window_center=40, invert=invert)
        return png_pixels(slice_render(image, params))

    assert np.array_equal(shown(mono1), 255 - shown(normal))
    # The viewer's invert flag flips MONOCHROME1 back (XOR).
    assert np.array_equal(shown(mono1, invert=True), shown(normal))
    assert np.array_equal(shown(normal, invert=True), 255 - shown(normal))


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # in pydicom's own test file
def test_multiframe_dicom_becomes_one_slice_per_frame(figure, media_root):
    data = pydicom_file_bytes("rtdose.dcm")  # 15 frames, offsets 0..70 mm along the normal
    with pytest.raises(ImageRejected, match=r"^rtdose\.dcm: multi-frame DICOM \(15 frames\)"):
        slice_create_from_bytes(figure=figure, name="rtdose.dcm", data=data, position=0)
    assert Slice.objects.count() == 0 and media_files(media_root) == []

    slices = slices_create_from_bytes(figure=figure, name="rtdose.dcm", data=data, start_position=0)
    assert [s.position for s in slices] == list(range(15))
    locations = [s.slice_location for s in slices]
    assert np.allclose(np.diff(locations), 5.0)
    original = pydicom.dcmread(get_testdata_file("rtdose.dcm")).pixel_array
    for index, slice_ in enumerate(slices):
        ds = pydicom.dcmread(io.BytesIO(stored_bytes(slice_)))
        assert "NumberOfFrames" not in ds
        assert np.array_equal(ds.pixel_array, original[index])
    assert len({str(pydicom.dcmread(s.image.path).SOPInstanceUID) for s in slices}) == 15


def test_colour_dicom_frames_are_stored_as_rgb(figure):
    slices = slices_create_from_bytes(
        figure=figure,
        name="rgb.dcm",
        data=pydicom_file_bytes("SC_rgb_rle_2frame.dcm"),
        start_position=0,
    )
    assert [(s.kind, s.width, s.height) for s in slices] == [(Slice.Kind.COLOUR, 100, 100)] * 2
    expected = pydicom.dcmread(get_testdata_file("SC_rgb_rle_2frame.dcm")).pixel_array
    for index, slice_ in enumerate(slices):
        rendered = png_pixels(slice_render(slice_, RenderParams(slice_.token)))
        assert rendered.shape == (100, 100, 3)
        assert np.array_equal(rendered, expected[index])


# --- raster images ---------------------------------------------------------------------------


def test_jpeg_exif_is_removed_and_orientation_applied(figure):
    image = Image.fromarray(np.stack([gradient()] * 2 + [255 - gradient()], axis=-1))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x013B] = "Dr Jane Secret"  # Artist
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    data = raster_bytes(image, "JPEG", exif=exif.tobytes(), quality=95)
    assert b"Dr Jane Secret" in data

    slice_ = slice_create_from_bytes(figure=figure, name="photo.jpg", data=data, position=0)

    stored = stored_bytes(slice_)
    assert slice_.image.name.endswith(".png") and stored.startswith(b"\x89PNG")
    assert b"Secret" not in stored
    reopened = Image.open(io.BytesIO(stored))
    assert not reopened.getexif() and "exif" not in reopened.info
    assert (slice_.kind, slice_.width, slice_.height) == (Slice.Kind.COLOUR, 48, 64)


def test_png_text_chunks_are_removed_and_grey_is_grey8(figure):
    info = PngImagePlugin.PngInfo()
    info.add_text("Patient", "Jane Doe 1970-01-01")
    data = raster_bytes(Image.fromarray(gradient()), "PNG", pnginfo=info)
    slice_ = slice_create_from_bytes(figure=figure, name="scan.png", data=data, position=0)
    stored = stored_bytes(slice_)
    assert b"Jane Doe" not in stored and b"tEXt" not in stored
    assert slice_.kind == Slice.Kind.GREY8
    assert np.array_equal(png_pixels(stored), gradient())


def test_rgb_image_is_colour_and_grey_rgb_is_grey8(figure):
    colour = np.stack([gradient(), 255 - gradient(), np.full_like(gradient(), 9)], axis=-1)
    rgb = slice_create_from_bytes(
        figure=figure, name="c.png", data=raster_bytes(Image.fromarray(colour), "PNG"), position=0
    )
    grey_rgb = Image.fromarray(np.stack([gradient()] * 3, axis=-1))
    grey = slice_create_from_bytes(
        figure=figure, name="g.tif", data=raster_bytes(grey_rgb, "TIFF"), position=1
    )
    assert rgb.kind == Slice.Kind.COLOUR
    assert np.array_equal(png_pixels(stored_bytes(rgb)), colour)
    assert grey.kind == Slice.Kind.GREY8
    assert np.array_equal(png_pixels(stored_bytes(grey)), gradient())


def test_16bit_tiff_keeps_its_full_depth(figure):
    values = (np.arange(40 * 30).reshape(30, 40) * 50).astype(np.uint16)  # up to 59950
    data = raster_bytes(Image.fromarray(values), "TIFF")
    slice_ = slice_create_from_bytes(figure=figure, name="deep.tiff", data=data, position=0)
    assert (slice_.kind, slice_.rescale_slope, slice_.rescale_intercept) == (
        Slice.Kind.GREY16,
        1.0,
        0.0,
    )
    stored = Image.open(io.BytesIO(stored_bytes(slice_)))
    assert stored.format == "PNG" and stored.mode == "I;16"
    assert np.array_equal(np.asarray(stored), values)
    # No window given and none on the figure: the whole range, min -> 0 and max -> 255.
    rendered = png_pixels(slice_render(slice_, RenderParams(slice_.token)))
    assert rendered[0, 0] == 0 and rendered[-1, -1] == 255


# --- rejected inputs -------------------------------------------------------------------------


def truncated_png() -> bytes:
    data = raster_bytes(
        Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64), np.uint8)), "PNG"
    )
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("notes.png", b"Patient Jane Doe, scan report\n" * 20, "not an allowed image format"),
        ("scan.exe", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(range(256)) * 8, "not an allowed"),
        ("half.png", truncated_png(), "damaged or truncated"),
        ("plan.dcm", pydicom_file_bytes("rtplan.dcm"), "without image pixel data"),
        ("cut.dcm", pydicom_file_bytes("MR_truncated.dcm"), "cannot decode"),
    ],
)
def test_bad_files_are_rejected_naming_the_file_and_store_nothing(
    figure, media_root, name, data, reason
):
    with pytest.raises(ImageRejected) as caught:
        slice_create_from_bytes(figure=figure, name=name, data=data, position=0)
    assert str(caught.value).startswith(f"{name}: ")
    assert reason in str(caught.value)
    with pytest.raises(ImageRejected):
        image_inspect(name=name, data=data)
    assert Slice.objects.count() == 0
    assert media_files(media_root) == []


def test_exe_message_lists_the_allowed_formats(figure):
    with pytest.raises(ImageRejected) as caught:
        slice_create_from_bytes(figure=figure, name="scan.exe", data=b"MZ" + bytes(600), position=0)
    assert str(caught.value) == "scan.exe: not an allowed image format (PNG, JPEG, TIFF or DICOM)"


def test_images_over_the_pixel_limit_are_rejected(figure, media_root, settings):
    data = raster_bytes(Image.fromarray(np.zeros((100, 100), np.uint8)), "PNG")
    settings.IMAGE_MAX_PIXELS = 5_000
    with pytest.raises(ImageRejected, match=r"^big\.png: too many pixels"):
        slice_create_from_bytes(figure=figure, name="big.png", data=data, position=0)
    with pytest.raises(ImageRejected, match=r"^ct\.dcm: too many pixels"):
        slice_create_from_bytes(
            figure=figure, name="ct.dcm", data=pydicom_file_bytes("CT_small.dcm"), position=0
        )
    assert Slice.objects.count() == 0 and media_files(media_root) == []


def test_pillow_decompression_bomb_warning_is_an_error(figure, media_root, monkeypatch):
    # Between MAX_IMAGE_PIXELS and twice that Pillow only warns: it must still be rejected.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6_000)
    data = raster_bytes(Image.fromarray(np.zeros((80, 100), np.uint8)), "PNG")  # 8,000 pixels
    with pytest.raises(ImageRejected, match=r"^bomb\.png: too many pixels \(decompression bomb"):
        slice_create_from_bytes(figure=figure, name="bomb.png", data=data, position=0)
    assert Slice.objects.count() == 0 and media_files(media_root) == []


def test_zip_members_are_read_in_memory_with_a_size_cap(tmp_path, monkeypatch):
    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("../../escaped.dcm", pydicom_file_bytes("CT_small.dcm"))
        zf.writestr("bomb.bin", bytes(2_000_000))  # compresses to about 2 kB
        zf.writestr("readme.txt", "not an image")
    monkeypatch.setattr(ingest, "SOURCE_MAX_FILE_BYTES", 1_000_000)
    series = dicom_series_collect(archive)
    assert [name for name, _ in series.datasets] == ["../../escaped.dcm"]
    assert dict(series.skipped) == {
        "bomb.bin": "larger than 1,000,000 bytes",
        "readme.txt": "not a DICOM image",
    }
    assert not (tmp_path.parent / "escaped.dcm").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["series.zip"]


# --- rendering -------------------------------------------------------------------------------


def test_window_apply_follows_the_dicom_linear_formula_exactly():
    # Width 256, centre 128: y = ((x - 127.5) / 255 + 0.5) * 255 = x, so 0..255 map to themselves.
    ramp = np.arange(-5, 262, dtype=np.float32)
    assert np.array_equal(window_apply(ramp, width=256, center=128), np.clip(ramp, 0, 255))

    values = np.array([-1000, -0.5, 0, 10, 20, 39.5, 60, 78.9, 79, 80, 3000], dtype=np.float32)
    c, w = 40.0, 80.0
    expected = []
    for x in values.tolist():
        if x <= c - 0.5 - (w - 1) / 2:
            y = 0.0
        elif x > c - 0.5 + (w - 1) / 2:
            y = 255.0
        else:
            y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255
        expected.append(int(y + 0.5))
    assert window_apply(values, width=w, center=c).tolist() == expected
    assert expected[:3] == [0, 0, 0] and expected[-3:] == [255, 255, 255]
    # Width 1 is a threshold at c - 0.5.
    assert window_apply(np.array([39, 39.5, 40]), width=1, center=40).tolist() == [0, 0, 255]


def test_brain_window_on_a_ct_slice_blacks_out_air_and_whitens_bone(figure):
    data = ct_zip_member("14.dcm")
    slice_ = slice_create_from_bytes(figure=figure, name="14.dcm", data=data, position=0)
    hu = ct_hu(data)
    shown = png_pixels(
        slice_render(slice_, RenderParams(slice_.token, window_width=80, window_center=40))
    )
    assert shown.shape == (512, 512)
    air, bone = hu <= -1000, hu >= 300
    assert air.sum() > 10_000 and bone.sum() > 1_000
    assert (shown[air] == 0).all()
    assert (shown[bone] == 255).all()
    assert np.array_equal(shown, window_apply(hu, width=80, center=40))


def test_default_window_is_the_figures_then_the_dicom_header(figure):
    data = ct_zip_member("14.dcm")
    slice_ = slice_create_from_bytes(figure=figure, name="14.dcm", data=data, position=0)
    hu = ct_hu(data)
    default = RenderParams(slice_.token)
    assert np.array_equal(
        png_pixels(slice_render(slice_, default)), window_apply(hu, width=100, center=35)
    )  # the header's 100/35
    figure.window_width, figure.window_center = 2500, 480
    figure.save()
    slice_ = Slice.objects.select_related("figure").get(pk=slice_.pk)
    assert np.array_equal(
        png_pixels(slice_render(slice_, default)), window_apply(hu, width=2500, center=480)
    )
    # The figure's window completes the parameters: both name one rendering.
    explicit = RenderParams(slice_.token, window_width=2500, window_center=480)
    assert slice_render_params(slice_, default).key() == explicit.key()


def test_grey8_is_shown_as_stored_unless_a_window_is_asked_for(figure):
    data = raster_bytes(Image.fromarray(gradient()), "PNG")
    slice_ = slice_create_from_bytes(figure=figure, name="g.png", data=data, position=0)

    def shown(**params) -> np.ndarray:
        return png_pixels(slice_render(slice_, RenderParams(slice_.token, **params)))

    assert np.array_equal(shown(), gradient())
    assert np.array_equal(shown(window_width=256, window_center=128), gradient())
    assert np.array_equal(
        shown(window_width=100, window_center=100), window_apply(gradient(), width=100, center=100)
    )
    assert np.array_equal(shown(invert=True), 255 - gradient())


def test_size_sets_the_longest_side_keeping_the_aspect_ratio(figure):
    square = slice_create_from_bytes(
        figure=figure, name="14.dcm", data=ct_zip_member("14.dcm"), position=0
    )
    wide = slice_create_from_bytes(
        figure=figure, name="o.dcm", data=pydicom_file_bytes("examples_overlay.dcm"), position=1
    )

    def size(image: Slice, size: int) -> tuple[int, int]:
        return Image.open(
            io.BytesIO(slice_render(image, RenderParams(image.token, size=size)))
        ).size

    assert size(square, 256) == (256, 256)
    assert size(wide, 256) == (256, 159)
    assert size(wide, 1024) == (1024, 635)  # upscaled: size is the longest side shown


def test_render_caches_the_decoded_array_and_the_png(figure):
    slice_ = slice_create_from_bytes(
        figure=figure, name="ct.dcm", data=pydicom_file_bytes("CT_small.dcm"), position=0
    )
    cache.clear()
    slice_decode.cache_clear()

    soft = RenderParams(slice_.token, window_width=400, window_center=40)
    brain = RenderParams(slice_.token, window_width=80, window_center=40)
    first = slice_render(slice_, soft)
    assert slice_decode.cache_info().misses == 1
    # A new window re-renders from the decoded array: no second read or decode.
    slice_render(slice_, brain)
    info = slice_decode.cache_info()
    assert (info.hits, info.misses) == (1, 1)
    # A rendering asked for once is not written to the store (most windows a reader passes
    # through are never asked for again); asked for a second time it is rendered and stored.
    key = soft.key()
    assert render_cache_get(key) is None
    assert not render_cache_dir().exists()
    assert slice_render(slice_, soft) == first
    info = slice_decode.cache_info()
    assert (info.hits, info.misses) == (2, 1)
    assert render_cache_get(key) == first
    assert list(render_cache_dir().rglob("*"))  # on disk, under MEDIA_ROOT by default
    # From then on the same parameters come straight from the store (shared by all workers).
    assert slice_render(slice_, soft) == first
    assert slice_decode.cache_info() == info
    assert render_cache_get(brain.key()) is None
    assert slice_.token in key and " " not in key
