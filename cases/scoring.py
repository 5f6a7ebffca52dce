"""Scoring a learner's ranked differential against the diagnosis and its other names."""

from __future__ import annotations

import re
import unicodedata

from .models import Case

STOPWORDS = {"a", "an", "the", "of", "and", "or", "with", "in", "on", "to", "for", "by", "from"}
RANK_SCORES = (1.0, 0.5, 1 / 3)
SIMILARITY_NEEDED = 0.6
# Two long words are the same term when they share this much of a beginning
# (metastatic / metastasis, calcified / calcification).
STEM_LENGTH = 7


def _stem(word: str) -> str:
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            if suffix == "ies":
                return word[:-3] + "y"
            # "metastases" -> "metastas", like "metastasis" -> "metastas" below.
            return word[: -len(suffix)]
    if word.endswith("is") and len(word) > 6:
        return word[:-2]
    return word


def terms(text: str) -> set[str]:
    """Words of ``text`` without case, accents, punctuation, stopwords or plural endings."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", text)
    return {_stem(_american(word)) for word in words if word not in STOPWORDS}


def _american(word: str) -> str:
    # oedema / edema, haemorrhage / hemorrhage, tumour / tumor
    word = word.replace("ae", "e").replace("oe", "e")
    return word[:-3] + "or" if word.endswith("our") else word


def _same(a: str, b: str) -> bool:
    long_enough = len(a) >= STEM_LENGTH and len(b) >= STEM_LENGTH
    return a == b or (long_enough and a[:STEM_LENGTH] == b[:STEM_LENGTH])


def similarity(answer: set[str], target: set[str]) -> float:
    """Share of all distinct terms that the two have in common (word order ignored)."""
    if not answer or not target:
        return 0.0
    shared = sum(1 for word in target if any(_same(word, other) for other in answer))
    extra = sum(1 for word in answer if not any(_same(word, other) for other in target))
    return shared / (len(target) + extra)


def answer_targets(case: Case) -> list[set[str]]:
    """The diagnosis, its main part ("X - mimic of Y" gives X), and each listed synonym."""
    names = [case.diagnosis, *case.diagnosis_synonyms.splitlines()]
    names.append(re.split(r"\s+-\s+|\(|;", case.diagnosis, maxsplit=1)[0])
    return [found for name in names if (found := terms(name))]


def answer_matches(answer: str, targets: list[set[str]]) -> bool:
    found = terms(answer)
    return any(similarity(found, target) >= SIMILARITY_NEEDED for target in targets)


def differential_score(case: Case, choices: list[str]) -> tuple[float, int | None]:
    """(score, rank of the first correct choice); 1 for first place, 1/2, 1/3 below."""
    targets = answer_targets(case)
    for rank, choice in enumerate(choices[: len(RANK_SCORES)], start=1):
        if choice.strip() and answer_matches(choice, targets):
            return RANK_SCORES[rank - 1], rank
    return 0.0, None
