"""Key Object Selection documents (IHE Teaching File and Clinical Trial Export) in the inbox.

A radiologist flags the images that matter on the PACS workstation ("Of Interest", "For
Teaching") and sends the selection with, or after, the study. Here it becomes the draft
case's key images and a line in its notes. The selection names the original SOP Instance
UIDs: they go through the same keyed de-identification memory as the instances themselves
(``KeyedReplacements``, "uid:<original>"), so they meet the stored instances' keys without an
original UID being kept. A selection that comes before its study waits, whole, for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from cases.imaging.deid import replacement_remember
from cases.models import Slice

from .models import InboxInstance, InboxKeyObject, InboxStudy

KEY_OBJECT_SELECTION = "1.2.840.10008.5.1.4.1.1.88.59"


@dataclass(frozen=True)
class KeyObjectSelection:
    """What a selection says, with its UIDs already replaced (its text not yet cleaned)."""

    key: str
    study_key: str
    title: str
    texts: tuple[str, ...]
    references: dict[str, list[int]]  # instance key -> selected frames (empty: all)


def key_object_read(ds: Dataset, memory: dict[str, str]) -> KeyObjectSelection:
    """The title, TEXT items and selected instances of a KOS, UIDs mapped through ``memory``.

    The selection is the IMAGE items of the content tree; a document without any falls back
    on its evidence list (CurrentRequestedProcedureEvidenceSequence).
    """

    def uid(value) -> str:
        return replacement_remember(memory, f"uid:{value}")

    texts: list[str] = []
    references: dict[str, list[int]] = {}
    for item in _content_items(ds):
        kind = str(item.get("ValueType", "")).upper()
        if kind == "TEXT" and str(item.get("TextValue", "") or "").strip():
            texts.append(str(item.TextValue))
        elif kind in ("IMAGE", "COMPOSITE"):
            for ref in item.get("ReferencedSOPSequence", []):
                if ref.get("ReferencedSOPInstanceUID"):
                    frames = [int(f) for f in _values(ref.get("ReferencedFrameNumber"))]
                    references.setdefault(uid(ref.ReferencedSOPInstanceUID), []).extend(frames)
    if not references:
        for study in ds.get("CurrentRequestedProcedureEvidenceSequence", []):
            for series in study.get("ReferencedSeriesSequence", []):
                for ref in series.get("ReferencedSOPSequence", []):
                    if ref.get("ReferencedSOPInstanceUID"):
                        references.setdefault(uid(ref.ReferencedSOPInstanceUID), [])
    return KeyObjectSelection(
        key=uid(ds.SOPInstanceUID),
        study_key=uid(ds.StudyInstanceUID),
        title=_code_meaning(ds),
        texts=tuple(texts),
        references={k: sorted(set(frames)) for k, frames in references.items()},
    )


def _content_items(ds: Dataset):
    """Every content item of the tree, depth first."""
    for item in ds.get("ContentSequence", []):
        yield item
        yield from _content_items(item)


def _values(value) -> list:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list | MultiValue) else [value]


def _code_meaning(ds: Dataset) -> str:
    for code in ds.get("ConceptNameCodeSequence", []):
        meaning = " ".join(str(code.get("CodeMeaning", "") or "").split())
        if meaning:
            return meaning
    return ""


def key_objects_apply(*, study: InboxStudy) -> int:
    """Tick the key images of the study's selections whose instances are here; return how many.

    Each selection adds its title and comment to the notes once, and ticks each instance once:
    a later send of the study does not tick again an image the author has since unticked.
    Call it with the study locked (``study_assemble`` does).
    """
    ticked = 0
    notes = [study.notes] if study.notes.strip() else []
    for selection in InboxKeyObject.objects.filter(study_key=study.key):
        changed = False
        if selection.pending:
            found = InboxInstance.objects.filter(series__study=study, key__in=selection.pending)
            slice_ids = []
            for key, ids in found.values_list("key", "slice_ids"):
                frames = selection.pending.pop(key)
                slice_ids += [ids[f - 1] for f in frames if 0 < f <= len(ids)] if frames else ids
                changed = True
            ticked += Slice.objects.filter(pk__in=slice_ids).update(is_key=True)
        if selection.noted is None:
            notes.append(key_object_note(selection))
            selection.noted = timezone.now()
            changed = True
        if changed:
            selection.save(update_fields=["pending", "noted"])
    notes_text = "\n\n".join(notes)
    if notes_text != study.notes:
        study.notes = notes_text
        study.save(update_fields=["notes"])
    return ticked


def key_object_note(selection: InboxKeyObject) -> str:
    """E.g. "Key images, For Teaching (3 images): Note the hyperdense MCA sign."."""
    count = selection.selected
    head = f"Key images, {selection.title}" if selection.title else "Key images"
    head += f" ({count} image{'' if count == 1 else 's'})"
    return f"{head}: {selection.comment}" if selection.comment else head
