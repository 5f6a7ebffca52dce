"""The same hostile files for every import door: a PHI-laden DICOM and a PHI-laden JPEG.

Each carries the markers in ``PHI_MARKERS`` somewhere a careless import would keep them
(patient attributes, institution, protocol, private tags, the preamble; EXIF and a zip
appended after the JPEG's end). ``assert_clean`` checks that stored bytes hold none of them.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

PHI_MARKERS = (
    b"DOE^JANE",
    b"MRN-0042",
    b"19610203",
    b"ST ELSEWHERE",
    b"PROTO-SECRET",
    b"ACQ-SECRET",
    b"PRIVATE-SECRET",
    b"PREAMBLE-SECRET",
    b"EXIF-SECRET",
    b"ZIP-SECRET",
    b"PK\x03\x04",
)


def phi_dicom_bytes(*, seed: int = 0) -> bytes:
    """A small 16-bit CT slice that carries every kind of identifying data."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "CT"
    ds.PatientName = "DOE^JANE"
    ds.PatientID = "MRN-0042"
    ds.PatientBirthDate = "19610203"
    ds.PatientSex = "F"
    ds.InstitutionName = "ST ELSEWHERE HOSPITAL"
    ds.ProtocolName = "PROTO-SECRET"
    ds.AcquisitionComments = "ACQ-SECRET"
    block = ds.private_block(0x0009, "ACME 1.0", create=True)
    block.add_new(0x01, "LO", "PRIVATE-SECRET")
    ds.Rows = ds.Columns = 32
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    pixels = (np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 3 + seed) % 4096
    ds.PixelData = pixels.astype("<u2").tobytes()
    ds.preamble = b"PREAMBLE-SECRET".ljust(128, b"!")
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def phi_jpeg_bytes() -> bytes:
    """A JPEG with identifying EXIF and a zip appended after its end (a polyglot)."""
    image = Image.fromarray(
        np.random.default_rng(1).integers(0, 255, (24, 32, 3), dtype=np.uint8), "RGB"
    )
    exif = Image.Exif()
    exif[0x013B] = "DOE^JANE EXIF-SECRET"  # Artist
    exif[0x010E] = "MRN-0042 ST ELSEWHERE"  # ImageDescription
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes(), quality=90)
    appended = io.BytesIO()
    with zipfile.ZipFile(appended, "w") as archive:
        archive.writestr("notes.txt", "ZIP-SECRET DOE^JANE MRN-0042")
    return buffer.getvalue() + appended.getvalue()


def assert_clean(data: bytes) -> None:
    """Stored bytes hold none of the hostile files' identifying markers."""
    found = [marker for marker in PHI_MARKERS if marker in data]
    assert not found, f"identifying data survived: {found}"


def assert_media_clean(root) -> int:
    """Every stored file under ``root`` is clean; returns how many files were checked."""
    from pathlib import Path

    files = [p for p in Path(root).rglob("*") if p.is_file()]
    for path in files:
        assert_clean(path.read_bytes())
    return len(files)


def deflated_dicom_bomb(*, frames: int = 16, size: int = 4096) -> bytes:
    """A Deflated Explicit VR Little Endian DICOM whose zero pixels inflate to frames*size²*2.

    Built by deflating in pieces, so making it costs no more memory than the bomb itself.
    """
    import struct
    import zlib

    from pydicom.filebase import DicomBytesIO
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "CT"
    ds.PatientName = "DOE^JANE"
    ds.Rows = ds.Columns = size
    ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 0
    header = DicomBytesIO()
    header.is_little_endian, header.is_implicit_VR = True, False
    pydicom.filewriter.write_dataset(header, ds)  # explicit VR little endian, no pixels
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta = DicomBytesIO()
    pydicom.filewriter.write_file_meta_info(meta, ds.file_meta)
    length = frames * size * size * 2
    pixel_header = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, length)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [deflater.compress(header.getvalue() + pixel_header)]
    chunk = bytes(4 * 1024 * 1024)
    remaining = length
    while remaining:
        parts.append(deflater.compress(chunk[: min(remaining, len(chunk))]))
        remaining -= min(remaining, len(chunk))
    parts.append(deflater.flush())
    return b"\0" * 128 + b"DICM" + meta.getvalue() + b"".join(parts)
