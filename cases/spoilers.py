"""Spoiler checks: where does text shown before the diagnosis step name the diagnosis?

The phrases are the diagnosis itself, its parts ("Diffuse cerebral edema - mimic of SAH" has
two), and the other names an author lists. Matching ignores case, punctuation and plurals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .models import Case, RevealStep

REDACTED = "[redacted]"
# Generic words that never count as a phrase on their own.
GENERIC = {
    "acute", "chronic", "disease", "syndrome", "tumor", "tumour", "mass", "lesion", "lesions",
    "normal", "abnormal", "left", "right", "bilateral", "recurrent", "unusual", "locations",
    "location", "multiple", "diffuse", "primary", "secondary", "benign", "malignant", "type",
    "with", "without", "and", "the", "of", "in", "to", "after", "surgical", "resection", "mimic",
}  # fmt: skip
_PART_SPLIT = re.compile(r"\s+-\s+|;|\(|\)|,|\.\s|\s+vs\.?\s+|\s+versus\s+", re.IGNORECASE)


@dataclass(frozen=True)
class SpoilerWarning:
    field: str  # "history", "figure 3 unknown caption", ...
    text: str  # the sentence or snippet that holds the phrase
    phrase: str
    obj: object = field(default=None, compare=False, repr=False)  # what holds the text


def diagnosis_phrases(case: Case) -> list[str]:
    """The diagnosis, its parts and the listed synonyms, longest first."""
    candidates = [case.diagnosis, *case.diagnosis_synonyms.splitlines()]
    phrases: set[str] = set()
    for candidate in candidates:
        candidate = " ".join(candidate.split()).strip(" .;:")
        if not candidate:
            continue
        phrases.add(candidate)
        for part in _PART_SPLIT.split(candidate):
            part = part.strip(" .;:-")
            words = re.findall(r"[A-Za-z0-9]+", part)
            if words and not all(word.lower() in GENERIC for word in words) and len(part) >= 4:
                phrases.add(part)
    return sorted(phrases, key=len, reverse=True)


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    # Words in order with any punctuation or spacing between them; plural endings optional.
    words = re.findall(r"[A-Za-z0-9]+", phrase)
    parts = [re.escape(word) + r"(?:e?s)?" for word in words]
    return re.compile(r"\b" + r"[\W_]+".join(parts) + r"\b", re.IGNORECASE)


def spoiler_patterns(case: Case) -> list[tuple[str, re.Pattern[str]]]:
    return [(phrase, _phrase_pattern(phrase)) for phrase in diagnosis_phrases(case)]


def text_mask(text: str, patterns: list[tuple[str, re.Pattern[str]]]) -> str:
    """Replace every diagnosis phrase in ``text`` with the redaction marker."""
    for _, pattern in patterns:
        text = pattern.sub(REDACTED, text)
    return text


def _snippet(text: str, start: int, end: int) -> str:
    """The words around a match, at most 80 characters either side."""
    return " ".join(text[max(start - 80, 0) : end + 80].split())


def early_texts(case: Case) -> list[tuple[str, str, object, str]]:
    """(label, text, object, attribute) for everything unknown mode shows before the diagnosis."""
    texts: list[tuple[str, str, object, str]] = [
        ("unknown title", case.unknown_title, case, "unknown_title"),
        ("history", case.history, case, "history"),
        ("examination", case.exam, case, "exam"),
        ("findings", case.findings, case, "findings"),
    ]
    for figure in case.figures.all():
        if figure.reveal_step < RevealStep.DIAGNOSIS:
            label = figure.label or f"Figure {figure.number}"
            caption = f"{label} spoiler-free caption"
            texts.append((caption, figure.unknown_caption, figure, "unknown_caption"))
            texts.append((f"{label} alt text", figure.alt_text, figure, "alt_text"))
            # Labels are drawn into the image from the findings step on, where no mask reaches.
            for annotation in figure.annotations.all():
                text = annotation.label
                texts.append((f"{label} annotation label", text, annotation, "label"))
    return [item for item in texts if item[1]]


def spoiler_check(case: Case) -> list[SpoilerWarning]:
    """Every place where text shown before the diagnosis step names the diagnosis."""
    patterns = spoiler_patterns(case)
    warnings = []
    for label, text, obj, _ in early_texts(case):
        for phrase, pattern in patterns:
            match = pattern.search(text)
            if match:
                snippet = _snippet(text, *match.span())
                warnings.append(SpoilerWarning(label, snippet, phrase, obj))
                break
    return warnings


def spoiler_redact(case: Case) -> int:
    """Redact the diagnosis from every early text; return how many fields changed."""
    patterns = spoiler_patterns(case)
    changed = 0
    for _, text, obj, attribute in early_texts(case):
        masked = text_mask(text, patterns)
        if masked != text:
            setattr(obj, attribute, masked)
            obj.save(update_fields=[attribute])
            changed += 1
    return changed


def spoiler_report(case: Case) -> list[str]:
    """Lines for an importer's output: what names the diagnosis early (masked in unknown mode)."""
    return [
        f"spoiler check, {case.slug}: {w.field} names “{w.phrase}” (masked in unknown mode; "
        f"redact at /admin/cases/case/{case.pk}/spoilers/)"
        for w in spoiler_check(case)
    ]
