"""The figure page's image upload: files, a folder's files and zips, through the one ingest.

Every image goes through ``images_prepare`` (format by content, limits, de-identification,
re-encoding) with one UID memory and one decoded-size budget for the whole upload. Zips are
read by ``zip_members_read``, with the command line's bomb limits. Files picked one by one
must all be images (one bad file refuses the upload, as before); in a zip or a folder, files
that are not images at all (a DICOMDIR, a README, a viewer program) are skipped and listed,
as ``import_dicom`` does, while a damaged image or a limit still refuses the whole upload.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.core.files.uploadedfile import UploadedFile
from pydicom.dataset import Dataset

from .ingest import (
    NOT_ALLOWED,
    DicomSourceError,
    ImageRejected,
    IngestBudget,
    PreparedImage,
    UploadTooLarge,
    dicom_header_read,
    file_size_check,
    images_prepare,
    is_zip,
    zip_members_read,
)

# Reasons that mean "not an image at all": skipped in a zip or folder, refused when picked.
_NOT_IMAGES = (NOT_ALLOWED, "DICOM file without image pixel data")


class UploadRefused(Exception):
    """The upload stores nothing; ``errors`` says why, one line per file."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class PreparedUpload:
    """An upload checked and encoded, in stack order, nothing written yet."""

    images: list[PreparedImage] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # The first DICOM image's header as uploaded (before de-identification), to describe
    # the series (modality, technique); never stored.
    header: Dataset | None = None


def upload_prepare(
    *, files: Iterable[UploadedFile], folder_files: Iterable[UploadedFile] = ()
) -> PreparedUpload:
    """Check and encode every image of an upload; raise ``UploadRefused`` if any must be."""
    upload = PreparedUpload()
    errors: list[str] = []
    replacements: dict[str, str] = {}  # one UID memory: a series keeps its shared UIDs
    budget = IngestBudget()  # one limit on the decoded size of the whole upload
    named: list[tuple[str, PreparedImage]] = []
    members = [(f, False) for f in files] + [(f, True) for f in folder_files]
    for name, data, lenient in _upload_files(members, upload.skipped, errors):
        try:
            prepared = images_prepare(
                name=name, data=data, replacements=replacements, budget=budget
            )
        except UploadTooLarge as exc:
            raise UploadRefused([str(exc)]) from exc
        except ImageRejected as exc:
            if lenient and exc.reason in _NOT_IMAGES:
                upload.skipped.append((name, "not an image"))
            else:
                errors.append(str(exc))
            continue
        if upload.header is None and prepared[0].source_format == "DICOM":
            upload.header = dicom_header_read(name, data)
        named += [(name, image) for image in prepared]
    if errors:
        raise UploadRefused(errors)
    if named and all(image.slice_location is not None for _, image in named):
        named.sort(key=lambda item: item[1].slice_location)
    else:
        # Python's sort is stable: the frames of one file stay in their order.
        named.sort(key=lambda item: _natural_key(item[0]))
    upload.images = [image for _, image in named]
    return upload


def _upload_files(
    members: list[tuple[UploadedFile, bool]],
    skipped: list[tuple[str, str]],
    errors: list[str],
) -> Iterator[tuple[str, bytes, bool]]:
    """(name, bytes, lenient) for every file of the upload, zips opened; errors collected."""
    for upload, from_folder in members:
        name = upload.name or "upload"
        if name.rsplit("/", 1)[-1].startswith("."):
            continue  # .DS_Store and other hidden files of a folder
        upload.seek(0)
        if is_zip(upload.read(132)):
            upload.seek(0)
            try:
                # The upload as a file: a zip is read a member at a time, never whole.
                for member, data in zip_members_read(upload, label=name, skipped=skipped):
                    yield f"{name}/{member}", data, True
            except DicomSourceError as exc:
                errors.append(str(exc))
            continue
        try:
            file_size_check(name, upload.size)
        except ImageRejected as exc:
            errors.append(str(exc))
            continue
        upload.seek(0)
        yield name, upload.read(), from_folder


def _natural_key(name: str) -> list:
    """ "IM2" before "IM10": numbers in file names compared as numbers."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]
