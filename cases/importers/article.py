"""Import a journal case report laid out like the seed (a JRCR HTML page converted to Markdown).

``article_parse`` turns the text into plain dataclasses and touches no database, so a bad file
is refused with a clear message before anything is written. ``article_import`` then writes the
parsed article in one transaction; run again on the same article it updates the case in place
(same primary key, public id and slug) and replaces the child rows rather than adding to them.

The layout it understands, in order: a ``# Title`` line; the author line (affiliation numbers
in ``<sup>``, ``\\*`` for the corresponding author); numbered affiliations; the correspondence
paragraph; the citation line (``Radiology Case. 2011 June; 5(6):1-8 :: DOI: ...``); ``##``
sections (ABSTRACT, CASE REPORT, DISCUSSION, TEACHING POINT); then REFERENCES, FIGURES
(``**Figure N:** caption``), tab-separated tables each followed by ``**Table N.** title``, and
bold-line sections (ABBREVIATIONS, KEYWORDS, Online access, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from django.db import models, transaction
from django.utils.text import slugify

from cases.importers.common import case_slug_free, slug_shorten, tag_get_or_create
from cases.models import (
    Abbreviation,
    Affiliation,
    Author,
    Case,
    Figure,
    Keyword,
    Reference,
    RevealStep,
    Table,
    TableRow,
    Tag,
)

SLUG_MAX = 80

# Journals print their own short names; the ISO abbreviation is what a citation needs.
JOURNAL_ABBREVIATIONS = {
    "radiology case": "J Radiol Case Rep",
    "radiology cases": "J Radiol Case Rep",
    "journal of radiology case reports": "J Radiol Case Rep",
    "j radiol case rep": "J Radiol Case Rep",
}
PUBLISHER_LICENCES = {"edurad": "Open access (JRCR / EduRad)"}

RADIOLOGICAL_MODALITIES = frozenset(
    {
        Figure.Modality.CT,
        Figure.Modality.MR,
        Figure.Modality.US,
        Figure.Modality.XR,
        Figure.Modality.NM,
        Figure.Modality.MG,
        Figure.Modality.FL,
        Figure.Modality.ANGIO,
    }
)
# Pathology slides prove the diagnosis, so unknown mode holds them back until it is revealed.
DIAGNOSTIC_MODALITIES = frozenset({Figure.Modality.HISTOLOGY, Figure.Modality.IHC})


class ArticleFormatError(ValueError):
    """The text is not a case report in the expected layout; nothing has been imported."""


# --------------------------------------------------------------------------------------------
# Parsed article (plain data, no database)
# --------------------------------------------------------------------------------------------


@dataclass
class ParsedAuthor:
    name: str
    marks: list[str] = field(default_factory=list)
    is_corresponding: bool = False

    @property
    def short_name(self) -> str:
        """Vancouver style: "Vinay Kumar Kapoor" -> "Kapoor VK"."""
        parts = self.name.replace(".", " ").split()
        if len(parts) < 2:
            return self.name
        initials = "".join(p[0].upper() for part in parts[:-1] for p in part.split("-") if p)
        return f"{parts[-1]} {initials}"


@dataclass
class Citation:
    journal: str = ""
    year: int | None = None
    month: str = ""
    volume: str = ""
    issue: str = ""
    pages: str = ""
    doi: str = ""

    @property
    def numbers(self) -> str:
        """The "2011;5(6):1-8" part."""
        text = str(self.year or "")
        if self.volume:
            text += f";{self.volume}"
            if self.issue:
                text += f"({self.issue})"
        if self.pages:
            text += f":{self.pages}"
        return text.lstrip(";")


@dataclass
class ParsedFigure:
    number: int
    caption: str
    unknown_caption: str = ""
    modality: str = ""
    technique: str = ""
    plane: str = ""
    window_width: float | None = None
    window_center: float | None = None
    alt_text: str = ""
    # None: the model's default (images step).
    reveal_step: int | None = None

    @property
    def label(self) -> str:
        return f"Figure {self.number}"


@dataclass
class ParsedTable:
    number: int
    title: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class ParsedReference:
    order: int
    text: str
    pmid: str = ""
    doi: str = ""
    url: str = ""


@dataclass
class ParsedArticle:
    title: str
    authors: list[ParsedAuthor] = field(default_factory=list)
    affiliations: list[tuple[int, str]] = field(default_factory=list)
    correspondence: str = ""
    citation: Citation = field(default_factory=Citation)
    article_url: str = ""
    abstract: str = ""
    history: str = ""
    exam: str = ""
    findings: str = ""
    treatment: str = ""
    differential: str = ""
    diagnosis: str = ""
    age: int | None = None
    sex: str = ""
    person: str = ""  # "woman", "man", ... as the default unknown-mode title words
    discussion: str = ""
    teaching_point: str = ""
    figures: list[ParsedFigure] = field(default_factory=list)
    tables: list[ParsedTable] = field(default_factory=list)
    references: list[ParsedReference] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    abbreviations: list[tuple[str, str]] = field(default_factory=list)
    publisher: str = ""
    body_system: str = ""

    @property
    def slug(self) -> str:
        return title_slug(self.title)

    @property
    def external_id(self) -> str:
        return f"doi:{self.citation.doi}" if self.citation.doi else ""

    @property
    def default_unknown_title(self) -> str:
        if self.age is None or not self.person:
            return ""
        return f"{self.age}-year-old {self.person}"

    @property
    def licence(self) -> str:
        return PUBLISHER_LICENCES.get(self.publisher.casefold(), "")

    @property
    def source(self) -> str:
        """The full citation: authors, title, journal, numbers, DOI."""
        parts = [
            ", ".join(a.short_name for a in self.authors),
            self.title,
            self.citation.journal,
            self.citation.numbers,
            f"doi:{self.citation.doi}" if self.citation.doi else "",
        ]
        return _join_sentences(p for p in parts if p)

    @property
    def modalities(self) -> list[str]:
        """Radiological modalities among the figures, in order of first appearance."""
        seen: list[str] = []
        for figure in self.figures:
            if figure.modality in RADIOLOGICAL_MODALITIES and figure.modality not in seen:
                seen.append(figure.modality)
        return seen


def title_slug(title: str) -> str:
    """slugify(title), cut at a word boundary so URLs stay readable."""
    return slug_shorten(slugify(title), limit=SLUG_MAX)


def _join_sentences(parts) -> str:
    out = ""
    for part in parts:
        part = part.strip()
        if out:
            out += " " if out.endswith((".", "?", "!")) else ". "
        out += part
    return out


# --------------------------------------------------------------------------------------------
# Lines, blocks and sections
# --------------------------------------------------------------------------------------------

_TITLE_RE = re.compile(r"^#\s+(\S.*?)\s*#*\s*$")
_ATX_RE = re.compile(r"^(#{1,6})\s+(\S.*?)\s*#*\s*$")
_BOLD_LINE_RE = re.compile(r"^\*\*([^*]+?)\*\*:?\s*$")
_CAPS_LINE_RE = re.compile(r"^[A-Z][A-Z &/,'-]{3,60}$")
_PUBLISHED_BY_RE = re.compile(r"^Published by\s+(\S.*?)\s*$", re.IGNORECASE)

_FIGURE_RE = re.compile(
    r"^\*\*\s*Fig(?:ure)?\.?\s*(\d+)\s*[:.]?\s*\*\*\s*[:.]?\s*(.*)$", re.IGNORECASE
)
# Unbolded "Figure 1: caption" is taken as a caption only inside a FIGURES section.
_PLAIN_FIGURE_RE = re.compile(r"^Fig(?:ure)?\.?\s*(\d+)\s*[:.]\s*(\S.*)$", re.IGNORECASE)
# A bare "Figure 11." line is an image placeholder left by the conversion, not caption text.
_STRAY_FIGURE_LABEL_RE = re.compile(r"^Fig(?:ure)?\.?\s*\d+[a-z]?\s*[.:]?$", re.IGNORECASE)
_IMAGE_RE = re.compile(r"^!\[")
_TABLE_TITLE_RE = re.compile(r"^\*\*\s*Table\s+(\d+)\s*[.:]?\s*\*\*\s*[.:]?\s*(.*)$", re.IGNORECASE)

# Canonical section keys by normalised heading.
_SECTION_KEYS = {
    "abstract": "abstract",
    "case report": "case",
    "case reports": "case",
    "case presentation": "case",
    "case description": "case",
    "case history": "case",
    "case": "case",
    "discussion": "discussion",
    "teaching point": "teaching_point",
    "teaching points": "teaching_point",
    "references": "references",
    "bibliography": "references",
    "figures": "figures",
    "figure legends": "figures",
    "figure captions": "figures",
    "tables": "tables",
    "abbreviations": "abbreviations",
    "keywords": "keywords",
    "key words": "keywords",
    "online access": "online_access",
    # Journal boilerplate and back matter with no place in a teaching case.
    "peer discussion": "ignored",
    "interactivity": "ignored",
    "published by": "ignored",
    "acknowledgements": "ignored",
    "acknowledgments": "ignored",
    "acknowledgement": "ignored",
    "acknowledgment": "ignored",
    "conflict of interest": "ignored",
    "conflicts of interest": "ignored",
    "funding": "ignored",
    "disclosures": "ignored",
}
# Sub-headings some case reports use inside CASE REPORT, routed to the matching case field.
_CASE_SUBSECTIONS = (
    ("exam", ("examination", "exam")),
    ("findings", ("imaging", "finding", "radiolog")),
    ("treatment", ("treatment", "management", "follow", "outcome", "therapy")),
    ("history", ("history", "presentation", "clinical")),
)
_CASE_KEYS = frozenset({"case", "history", "exam", "findings", "treatment"})


@dataclass
class _Heading:
    level: int
    name: str


@dataclass
class _Section:
    key: str  # canonical key, "extra" for a section the importer does not know
    top: str  # key of the enclosing top-level section
    name: str
    blocks: list[list[str]] = field(default_factory=list)


def _normalise_name(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip().strip(":").strip()).casefold()


def _is_blank(line: str) -> bool:
    # Page breaks in the conversion leave lines holding only &nbsp; or spaces.
    return not line.replace("&nbsp;", "").replace("\xa0", "").strip()


def _heading_of(line: str, *, block_start: bool) -> _Heading | None:
    if _FIGURE_RE.match(line.strip()) or _TABLE_TITLE_RE.match(line.strip()):
        return None  # "**Figure 3**" or "**Table 2.**" alone: a caption, not a heading
    if match := _ATX_RE.match(line):
        return _Heading(max(2, len(match[1])), match[2])
    if match := _BOLD_LINE_RE.match(line.strip()):
        return _Heading(3, match[1].strip())
    if _PUBLISHED_BY_RE.match(line.strip()):
        return _Heading(2, "Published by")
    stripped = line.strip()
    # Bare capitals ("REFERENCES") are headings only at the start of a block, so that an
    # all-capitals line inside a paragraph is left alone.
    if block_start and _CAPS_LINE_RE.match(stripped) and len(stripped.split()) <= 6:
        known = _normalise_name(stripped) in _SECTION_KEYS
        if known or sum(c.isalpha() for c in stripped) >= 6:
            return _Heading(2, stripped)
    return None


def _blocks(lines: list[str]) -> list[_Heading | list[str]]:
    """Paragraph blocks (lists of lines) and headings, in order."""
    items: list[_Heading | list[str]] = []
    current: list[str] = []
    for line in lines:
        if _is_blank(line):
            if current:
                items.append(current)
                current = []
            continue
        heading = _heading_of(line, block_start=not current)
        if heading is not None:
            if current:
                items.append(current)
                current = []
            items.append(heading)
            continue
        current.append(line.replace("&nbsp;", " ").replace("\xa0", " ").rstrip())
    if current:
        items.append(current)
    return items


def _case_subsection(norm: str) -> str | None:
    for key, words in _CASE_SUBSECTIONS:
        if any(word in norm for word in words):
            return key
    return None


def _open_section(heading: _Heading, sections: list[_Section]) -> None:
    norm = _normalise_name(heading.name)
    current = sections[-1] if sections else None
    top = current.top if current else None
    key = _SECTION_KEYS.get(norm)
    if key is not None:
        # "### CASE REPORT" right under "## CASE REPORT" repeats the heading; carry on.
        if key == top and heading.level >= 3:
            return
        sections.append(_Section(key, key, heading.name))
        return
    if heading.level >= 3 and current is not None and top is not None:
        if top == "case":
            sub = _case_subsection(norm)
            section = _Section(sub or "case", "case", heading.name)
            if sub is None:
                section.blocks.append([f"### {heading.name}"])
            sections.append(section)
            return
        current.blocks.append([f"### {heading.name}"])
        return
    sections.append(_Section("extra", "extra", heading.name))


def _split_sections(lines: list[str]) -> tuple[list[list[str]], list[_Section]]:
    """Front matter blocks (before the first heading) and the sections after it."""
    front: list[list[str]] = []
    sections: list[_Section] = []
    for item in _blocks(lines):
        if isinstance(item, _Heading):
            _open_section(item, sections)
        elif sections:
            sections[-1].blocks.append(item)
        else:
            front.append(item)
    return front, sections


# --------------------------------------------------------------------------------------------
# Prose: paragraphs and sentences
# --------------------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_ABBREVIATIONS = frozenset(
    {"fig", "figs", "dr", "mr", "mrs", "ms", "vs", "e.g", "i.e", "al", "no", "approx", "cf", "st"}
)
_END_PUNCTUATION = (".", "!", "?", ":")


def _paragraph(block: list[str]) -> str:
    return re.sub(r"\s+", " ", " ".join(line.strip() for line in block)).strip()


def _repair(paragraphs: list[str]) -> list[str]:
    """Join paragraphs that a PDF page break split in mid-sentence.

    A paragraph that stops without sentence punctuation, followed by one that starts in lower
    case, is one paragraph.
    """
    out: list[str] = []
    for para in paragraphs:
        if out and _is_broken(out[-1], para):
            out[-1] = f"{out[-1]} {para}"
        else:
            out.append(para)
    return out


def _is_broken(before: str, after: str) -> bool:
    if before.startswith("#") or after.startswith("#"):
        return False
    tail = before.rstrip("\"'”’)]*_ ")
    return not tail.endswith(_END_PUNCTUATION) and after[:1].islower()


def _prose(blocks: list[list[str]]) -> list[str]:
    return _repair([_paragraph(block) for block in blocks if _paragraph(block)])


def _sentence_starts(text: str) -> list[int]:
    starts = [0]
    for match in _SENTENCE_END.finditer(text):
        if text[match.start()] == ".":
            word = re.search(r"([\w.]+)$", text[: match.start()])
            if word and (
                word[1].casefold() in _ABBREVIATIONS or (len(word[1]) == 1 and word[1].isupper())
            ):
                continue  # "Fig. 1", "Dr. Neyaz", "J. Smith": not the end of a sentence
        starts.append(match.end())
    return starts


def _first_sentence(text: str) -> str:
    starts = _sentence_starts(text)
    return text[: starts[1]].strip() if len(starts) > 1 else text.strip()


_FIGURE_CITATION_RE = re.compile(
    r"\bFig(?:ure)?s?\.?\s*(\d+[a-z]?(?:\s*(?:,|-|–|and|&|to)\s*\d+[a-z]?)*)", re.IGNORECASE
)
_CITED_NUMBER_RE = re.compile(r"(\d+)[a-z]?(?:\s*(?:-|–|to)\s*(\d+))?")


def _cited_figures(text: str) -> set[int]:
    numbers: set[int] = set()
    for citation in _FIGURE_CITATION_RE.finditer(text):
        for match in _CITED_NUMBER_RE.finditer(citation[1]):
            first = int(match[1])
            last = int(match[2]) if match[2] else first
            if last - first <= 100:
                numbers.update(range(first, last + 1))
    return numbers


def _split_history_findings(
    paragraphs: list[str], imaging: set[int]
) -> tuple[list[str], list[str]]:
    """History is what comes before the first sentence citing an imaging figure."""
    for index, para in enumerate(paragraphs):
        starts = _sentence_starts(para)
        for n, start in enumerate(starts):
            end = starts[n + 1] if n + 1 < len(starts) else len(para)
            if _cited_figures(para[start:end]) & imaging:
                before, after = para[:start].strip(), para[start:].strip()
                history = paragraphs[:index] + ([before] if before else [])
                return history, [after, *paragraphs[index + 1 :]]
    return paragraphs, []


def _join(paragraphs: list[str]) -> str:
    return "\n\n".join(p for p in paragraphs if p)


def _display_name(name: str) -> str:
    return name[:1] + name[1:].lower() if name.isupper() else name


# --------------------------------------------------------------------------------------------
# Front matter: authors, affiliations, correspondence, citation line
# --------------------------------------------------------------------------------------------

_AUTHOR_RE = re.compile(r"\s*,?\s*(?:and\s+)?([^,<]+?)\s*<sup>(.*?)</sup>\s*(\\?\*)?", re.I)
_AFFILIATION_RE = re.compile(r"^\s*(?:(\d+)[.)]|<sup>(\d+)</sup>)\s*(\S.*)$")
_CITATION_RE = re.compile(
    r"^(?P<journal>[^\d;:]+?)\.?\s+(?P<year>(?:18|19|20)\d{2})"
    r"(?:\s+(?P<month>[A-Za-z]{3,9})\.?)?\s*;\s*(?P<volume>[\w.]+)\s*"
    r"(?:\((?P<issue>[^)]+)\))?\s*(?::\s*(?P<pages>[\w.]+(?:\s*[-–]\s*[\w.]+)?))?"
)
_DOI_RE = re.compile(r"\bdoi:?\s*(10\.\d{4,9}/\S+?)(?=[.,;]?(?:\s|$))", re.IGNORECASE)
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_MAILTO_LINK_RE = re.compile(r"\[[^\]]*\]\(mailto:[^)]*\)")


@dataclass
class _Front:
    authors: list[ParsedAuthor] = field(default_factory=list)
    affiliations: list[tuple[int, str]] = field(default_factory=list)
    correspondence: str = ""
    citation: Citation = field(default_factory=Citation)


def _parse_front(blocks: list[list[str]]) -> _Front:
    front = _Front()
    for block in blocks:
        text = _paragraph(block)
        if "correspondence" in text.casefold() or text.startswith("\\*"):
            front.correspondence = _parse_correspondence(text)
        elif _CITATION_RE.match(text) or re.search(r"\bDOI:", text):
            front.citation = _parse_citation(text)
        elif all(_AFFILIATION_RE.match(line) for line in block):
            front.affiliations.extend(_parse_affiliation(line) for line in block)
        elif not front.authors:
            front.authors = _parse_authors(text)
    numbers = [number for number, _ in front.affiliations]
    for number in numbers:
        if numbers.count(number) > 1:
            raise ArticleFormatError(f"affiliation {number} is listed twice")
    return front


def _parse_authors(text: str) -> list[ParsedAuthor]:
    if "<sup>" not in text.casefold():
        names = re.split(r",\s*|\s+and\s+", text)
        return [ParsedAuthor(name.strip()) for name in names if name.strip()]
    authors = []
    for match in _AUTHOR_RE.finditer(text):
        sup = match[2]
        corresponding = "*" in sup or bool(match[3])
        marks = [m.strip() for m in re.split(r"[,\s]+", sup.replace("\\*", "").replace("*", ""))]
        authors.append(ParsedAuthor(match[1].strip(), [m for m in marks if m], corresponding))
    return authors


def _parse_affiliation(line: str) -> tuple[int, str]:
    match = _AFFILIATION_RE.match(line)
    assert match is not None  # checked by the caller
    return int(match[1] or match[2]), match[3].strip()


def _parse_correspondence(text: str) -> str:
    emails = re.findall(r"mailto:([^)\s]+)", text) or _EMAIL_RE.findall(text)
    text = _MAILTO_LINK_RE.sub("", text)
    text = re.sub(r"^\\?\*\s*", "", text)
    text = re.sub(
        r"\*\*\s*Correspondence\s*:?\s*\*\*\s*:?|^Correspondence\s*:", "", text, flags=re.I
    )
    text = text.replace("✉", "")
    text = re.sub(r"\(\s*\)", "", text)
    for email in emails:
        text = text.replace(email, "")
    text = re.sub(r"\s+", " ", text).strip(" .,;(")
    unique = list(dict.fromkeys(emails))
    if unique:
        text = f"{text}. E-mail: {', '.join(unique)}" if text else f"E-mail: {', '.join(unique)}"
    return text


def _parse_citation(text: str) -> Citation:
    citation = Citation()
    if match := _CITATION_RE.match(text):
        printed = match["journal"].strip().rstrip(".")
        citation.journal = JOURNAL_ABBREVIATIONS.get(printed.casefold(), printed)
        citation.year = int(match["year"])
        citation.month = match["month"] or ""
        citation.volume = match["volume"]
        citation.issue = (match["issue"] or "").strip()
        citation.pages = re.sub(r"\s*[-–]\s*", "-", match["pages"] or "")
    if doi := _DOI_RE.search(text):
        citation.doi = doi[1].rstrip(".")
    return citation


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------

_DEMOGRAPHIC_RE = re.compile(
    r"(?P<age>\d{1,3})[- ](?:year|yr)s?[- ]old\s+"
    r"(?P<who>woman|man|female|male|boy|girl|lady|gentleman)\b",
    re.IGNORECASE,
)
_PERSONS = {
    "woman": ("F", "woman"),
    "female": ("F", "woman"),
    "lady": ("F", "woman"),
    "girl": ("F", "girl"),
    "man": ("M", "man"),
    "male": ("M", "man"),
    "gentleman": ("M", "man"),
    "boy": ("M", "boy"),
}
_PRESENTING_RE = re.compile(r"\b(?:presenting|presented)\s+with\s+(.+)$", re.I)
_WITH_RE = re.compile(r"\bwith\s+(.+)$", re.IGNORECASE)

# Acronyms match case-sensitively; words in any case. The earliest mention wins.
_MODALITY_PATTERNS = (
    (Figure.Modality.IHC, r"(?i:immunohisto|immunostain)|\bIHC\b"),
    (
        Figure.Modality.HISTOLOGY,
        r"\bH\s*&\s*E\b|(?i:ha?ematoxylin|photomicrograph|microscop|histolog|histopatholog)",
    ),
    (Figure.Modality.CT, r"\b(?:CT|CTA|HRCT|MDCT)\b|(?i:computed tomograph)"),
    (
        Figure.Modality.MR,
        r"\bMRI?\b|\bT[12]W\b|\bFLAIR\b|(?i:magnetic resonance|\bT[12][- ]weighted)",
    ),
    (Figure.Modality.US, r"\bUSG?\b|(?i:ultrasound|ultrasonogra|sonogra|doppler)"),
    (Figure.Modality.MG, r"(?i:mammogra)"),
    (Figure.Modality.NM, r"\b(?:PET|SPECT)\b|(?i:scintigra|nuclear medicine|bone scan)"),
    (Figure.Modality.FL, r"(?i:fluorosco|barium|contrast swallow|enema)"),
    (Figure.Modality.ANGIO, r"\bDSA\b|(?i:angiogra)"),
    (Figure.Modality.XR, r"\bCXR\b|(?i:x-ray|radiograph)"),
    (Figure.Modality.PHOTO, r"(?i:clinical photo|photograph)"),
)
_MODALITY_RES = tuple((modality, re.compile(pattern)) for modality, pattern in _MODALITY_PATTERNS)

_PLANE_RES = (
    (re.compile(r"\b(axial|coronal|sagittal)\b", re.I), str.capitalize),
    (
        re.compile(
            r"\b(transverse|longitudinal|oblique|lateral|frontal)\s+"
            r"(?=view|image|plane|projection|section|scan|sonogram|radiograph)",
            re.I,
        ),
        str.capitalize,
    ),
    (re.compile(r"\b(PA|AP)\b"), str.upper),
)
_WINDOW_RE = re.compile(
    r"(?:window\s+width\s*/\s*level|\bW\s*/\s*L\b|\bWW\s*/\s*WL\b)\s*(?:of|=|:)?\s*"
    r"(-?\d+(?:\.\d+)?)\s*/\s*(-?\d+(?:\.\d+)?)",
    re.IGNORECASE,
)
# Parenthesised pointers to the image ("arrow", "thin arrow", "star") are not the technique.
_MARKER_WORDS = frozenset({
    "arrow", "arrows", "arrowhead", "arrowheads", "star", "stars", "asterisk", "asterisks",
    "circle", "circles", "thin", "thick", "curved", "open", "white", "black", "small", "large",
    "short", "long", "dashed", "dotted", "red", "yellow", "blue", "green", "and", "or",
    "outline", "outlined",
})  # fmt: skip
_TECHNIQUE_MAX = Figure._meta.get_field("technique").max_length or 300


def _parse_figure_blocks(
    blocks: list[list[str]], *, plain: bool = False
) -> list[tuple[int, list[str]]]:
    """Raw captions by number; lines before the first caption are dropped."""
    figures: list[tuple[int, list[str]]] = []
    for block in blocks:
        for line in block:
            match = _FIGURE_RE.match(line.strip())
            if match is None and plain:
                match = _PLAIN_FIGURE_RE.match(line.strip())
            if match:
                figures.append((int(match[1]), [match[2]]))
            elif _STRAY_FIGURE_LABEL_RE.match(line.strip()) or _IMAGE_RE.match(line.strip()):
                continue
            elif figures:
                figures[-1][1].append(line)
    return figures


def _shared_lead(captions: list[str]) -> str:
    """The first sentence repeated by every caption (it names the diagnosis), if any."""
    if not captions:
        return ""
    firsts = {_first_sentence(caption) for caption in captions}
    if len(firsts) != 1:
        return ""
    lead = firsts.pop()
    # With a single caption "shared" means nothing; only a demographic lead is taken as one.
    if len(captions) == 1 and not _DEMOGRAPHIC_RE.match(lead):
        return ""
    return lead


def _modality(text: str) -> str:
    best: tuple[int, str] | None = None
    for modality, pattern in _MODALITY_RES:
        match = pattern.search(text)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), modality)
    return str(best[1]) if best else ""  # the plain value, not the enum member


def _parentheticals(text: str) -> list[str]:
    groups: list[str] = []
    depth, start = 0, 0
    for index, char in enumerate(text):
        if char == "(":
            if depth == 0:
                start = index + 1
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            if depth == 0:
                groups.append(text[start:index].strip())
    return groups


def _is_technique(group: str) -> bool:
    words = re.findall(r"[A-Za-z]+", group.casefold())
    if not words or all(word in _MARKER_WORDS for word in words):
        return False
    if re.match(r"^(?:see\s+)?fig", group, re.IGNORECASE):
        return False
    # A bare measurement "(2.5 cm)" or panel letter "(a)".
    return not re.fullmatch(r"[\d.,\s×x-]*(?:mm|cm|ml|hu)?|[a-z]", group.casefold())


def _technique(text: str) -> str:
    candidates = [group for group in _parentheticals(text) if _is_technique(group)]
    if not candidates:
        return ""
    technique = re.sub(r"\s+", " ", candidates[-1])
    if len(technique) > _TECHNIQUE_MAX:
        technique = technique[: _TECHNIQUE_MAX - 1].rsplit(" ", 1)[0] + "…"
    return technique


def _plane(text: str) -> str:
    best: tuple[int, str] | None = None
    for pattern, style in _PLANE_RES:
        match = pattern.search(text)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), style(match[1]))
    return best[1] if best else ""


def _alt_text(number: int, modality: str, plane: str) -> str:
    # Modality and plane only: the alt text is read out in unknown mode too.
    text = f"Figure {number}"
    if modality:
        text += f": {Figure.Modality(modality).label}"
        if plane:
            text += f", {plane.lower() if plane.istitle() else plane}"
    return text


def _build_figure(number: int, caption: str, lead: str) -> ParsedFigure:
    body = caption[len(lead) :].strip() if lead and caption.startswith(lead) else caption
    modality = _modality(body) or _modality(caption)
    plane = _plane(body)
    figure = ParsedFigure(
        number=number,
        caption=caption,
        unknown_caption=body,
        modality=modality,
        technique=_technique(body),
        plane=plane,
        alt_text=_alt_text(number, modality, plane),
    )
    if window := _WINDOW_RE.search(body):
        figure.window_width, figure.window_center = float(window[1]), float(window[2])
    if modality in DIAGNOSTIC_MODALITIES:
        figure.reveal_step = RevealStep.DIAGNOSIS
    return figure


def _build_figures(raw: list[tuple[int, list[str]]]) -> tuple[list[ParsedFigure], str]:
    """Figures sorted by number, and the lead sentence the captions share."""
    seen: set[int] = set()
    for number, _ in raw:
        if number in seen:
            raise ArticleFormatError(f"Figure {number} appears twice in the figure captions")
        seen.add(number)
    captions = {number: _paragraph(lines) for number, lines in raw}
    lead = _shared_lead(list(captions.values()))
    figures = [_build_figure(n, captions[n], lead) for n in sorted(captions)]
    return figures, lead


def _diagnosis(lead: str) -> str:
    match = _PRESENTING_RE.search(lead) or _WITH_RE.search(lead)
    if not match:
        return ""
    text = match[1].strip().rstrip(".").strip()
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------

_BULLET_GLYPHS = "•·▪◦‣–—-"
_BLOCK_TAGS = frozenset({"p", "div", "br", "tr", "table"})


class _CellToMarkdown(HTMLParser):
    """Turn the HTML of one table cell into Markdown: bold/italic, paragraphs and lists."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[tuple[bool, str]] = []  # (is_list_item, text)
        self._buffer: list[str] = []
        self._lists: list[list] = []  # [tag, next number]

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in ("b", "strong"):
            self._buffer.append("**")
        elif tag in ("i", "em"):
            self._buffer.append("*")
        elif tag in ("ul", "ol"):
            self._flush()
            self._lists.append([tag, 1])
        elif tag == "li" or tag in _BLOCK_TAGS:
            self._flush()

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag == "br":
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in ("b", "strong"):
            self._buffer.append("**")
        elif tag in ("i", "em"):
            self._buffer.append("*")
        elif tag in ("ul", "ol"):
            self._flush()
            if self._lists:
                self._lists.pop()
        elif tag == "li" or tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        self._buffer.append(data)

    def _flush(self) -> None:
        text = _tidy_inline("".join(self._buffer))
        self._buffer = []
        if not text:
            return
        if not self._lists:
            self.parts.append((False, text))
            return
        kind, number = self._lists[-1]
        text = text.lstrip(_BULLET_GLYPHS + " ").strip()
        if kind == "ol":
            self._lists[-1][1] += 1
        marker = f"{number}." if kind == "ol" else "-"
        indent = "  " * (len(self._lists) - 1)
        self.parts.append((True, f"{indent}{marker} {text}"))

    def markdown(self) -> str:
        self._flush()
        out = ""
        previous_item = False
        for is_item, text in self.parts:
            if out:
                out += "\n" if is_item and previous_item else "\n\n"
            out += text
            previous_item = is_item
        return out


def _tidy_inline(text: str) -> str:
    text = re.sub(r"\s+", " ", text.replace("\xa0", " ")).strip()
    text = re.sub(r"\*\*\s*\*\*", "", text)
    return re.sub(r"\*\*\s*(.*?)\s*\*\*", r"**\1**", text)


def _cell_markdown(html: str) -> str:
    parser = _CellToMarkdown()
    parser.feed(html)
    parser.close()
    text = parser.markdown()
    # A cell bold all through is styled as a row heading; the bold is the table's job.
    if match := re.fullmatch(r"\*\*([^*]+)\*\*", text):
        return match[1]
    return text


def _has_markup(cell: str) -> bool:
    return bool(re.search(r"</?[a-zA-Z][^>]*>", cell))


def _build_table(number: int, title: str, lines: list[str]) -> ParsedTable:
    rows = [line.split("\t") for line in lines]
    first = rows[0]
    # The heading row is the plain one above marked-up rows (or a plain grid of 3+ columns);
    # two plain columns are a key/value table with no headings.
    body_markup = any(_has_markup(cell) for row in rows[1:] for cell in row)
    has_header = len(rows) > 1 and not any(_has_markup(c) for c in first)
    has_header = has_header and (body_markup or len(first) >= 3)
    table = ParsedTable(number=number, title=title)
    if has_header:
        table.header = [_cell_markdown(cell) for cell in first]
        rows = rows[1:]
    table.rows = [[_cell_markdown(cell) for cell in row] for row in rows]
    return table


@dataclass
class _Floats:
    figures: list[tuple[int, list[str]]] = field(default_factory=list)
    tables: list[tuple[list[str], tuple[int, str] | None]] = field(default_factory=list)
    pending_title: tuple[int, str] | None = None


def _is_table_block(block: list[str]) -> bool:
    return all("\t" in line for line in block)


def _take_floats(sections: list[_Section]) -> _Floats:
    """Pull figure captions and tables out of whichever section they stand in."""
    floats = _Floats()
    for section in sections:
        kept: list[list[str]] = []
        for block in section.blocks:
            if _take_float(block, section, floats):
                continue
            kept.append(block)
        section.blocks = kept
    # A title left without rows belonged to a table printed as an image: nothing to import.
    return floats


def _take_float(block: list[str], section: _Section, floats: _Floats) -> bool:
    first = block[0].strip()
    in_figures = section.key == "figures"
    if _FIGURE_RE.match(first) or (in_figures and _PLAIN_FIGURE_RE.match(first)):
        floats.figures.extend(_parse_figure_blocks([block], plain=in_figures))
        return True
    if _is_table_block(block):
        # A title printed above its table is waiting in pending_title.
        floats.tables.append((block, floats.pending_title))
        floats.pending_title = None
        return True
    if match := _TABLE_TITLE_RE.match(_paragraph(block)):
        title = (int(match[1]), match[2].strip())
        untitled = [i for i, (_, t) in enumerate(floats.tables) if t is None]
        if untitled:
            index = untitled[-1]
            floats.tables[index] = (floats.tables[index][0], title)
        else:
            floats.pending_title = title
        return True
    if all(_STRAY_FIGURE_LABEL_RE.match(ln.strip()) or _IMAGE_RE.match(ln) for ln in block):
        return True
    if in_figures and floats.figures:
        # A caption continued after a page break.
        floats.figures[-1][1].append(" ".join(block))
        return True
    return False


def _build_tables(raw: list[tuple[list[str], tuple[int, str] | None]]) -> list[ParsedTable]:
    tables: list[ParsedTable] = []
    used: set[int] = set()
    for lines, title in raw:
        number, text = title if title else (max(used, default=0) + 1, "")
        if number in used:
            raise ArticleFormatError(f"Table {number} appears twice")
        used.add(number)
        tables.append(_build_table(number, text, lines))
    return sorted(tables, key=lambda table: table.number)


def _is_differential_heading(heading: str) -> bool:
    return _normalise_name(heading) in ("differential diagnosis", "differential diagnoses")


def _differential(tables: list[ParsedTable]) -> str:
    for table in tables:
        if table.header and _is_differential_heading(table.header[0]):
            return "\n".join(row[0] for row in table.rows if row and row[0])
    return ""


# --------------------------------------------------------------------------------------------
# References, keywords, abbreviations, online access
# --------------------------------------------------------------------------------------------

_REFERENCE_START_RE = re.compile(r"^(\d{1,3})[.)]\s+(\S.*)$")
_PMID_RE = re.compile(r"\bPMID:?\s*(\d{1,12})\b\.?", re.IGNORECASE)
_DOI_TEXT_RE = re.compile(r"\bdoi:?\s*10\.\d{4,9}/\S+?[.,;]?(?=\s|$)", re.IGNORECASE)
_URL_RE = re.compile(r"<(https?://[^>\s]+)>|\]\((https?://[^)\s]+)\)|(https?://[^\s<>()]+)")


def _parse_references(blocks: list[list[str]]) -> list[ParsedReference]:
    """Numbered entries; any other line continues the entry above (page breaks split some)."""
    entries: list[tuple[int, list[str]]] = []
    for block in blocks:
        for line in block:
            match = _REFERENCE_START_RE.match(line.strip())
            if match and (not entries or int(match[1]) == entries[-1][0] + 1):
                entries.append((int(match[1]), [match[2]]))
            elif entries:
                entries[-1][1].append(line.strip())
    return [_parse_reference(n, _paragraph(lines)) for n, lines in entries]


def _parse_reference(order: int, text: str) -> ParsedReference:
    reference = ParsedReference(order=order, text=text)
    if match := _PMID_RE.search(text):
        reference.pmid = match[1]
    if match := _DOI_RE.search(text):
        reference.doi = match[1].rstrip(".")
    for match in _URL_RE.finditer(text):
        url = (match[1] or match[2] or match[3]).rstrip(".,;")
        if "doi.org/" in url and not reference.doi:
            reference.doi = url.split("doi.org/", 1)[1]
        elif "doi.org/" not in url and "pubmed" not in url:
            reference.url = url
            break
    # PMID and DOI have fields of their own, and the page links them.
    text = _DOI_TEXT_RE.sub("", _PMID_RE.sub("", text))
    reference.text = re.sub(r"\s+", " ", text).strip()
    return reference


def _parse_keywords(blocks: list[list[str]]) -> list[str]:
    text = " ".join(_paragraph(block) for block in blocks)
    separator = ";" if ";" in text else ","
    keywords: dict[str, str] = {}
    for word in text.split(separator):
        word = word.strip().rstrip(".").strip()
        if word:
            keywords.setdefault(word.casefold(), word)
    return list(keywords.values())


def _parse_abbreviations(blocks: list[list[str]]) -> list[tuple[str, str]]:
    pairs: dict[str, tuple[str, str]] = {}
    for block in blocks:
        for line in block:
            for item in line.split(";"):
                if match := re.match(r"^\s*([^=:]+?)\s*[=:]\s*(\S.*?)\s*$", item):
                    pairs.setdefault(match[1], (match[1], match[2]))
    return list(pairs.values())


def _first_url(blocks: list[list[str]]) -> str:
    for block in blocks:
        for match in _URL_RE.finditer(" ".join(block)):
            return (match[1] or match[2] or match[3]).rstrip(".,;")
    return ""


# --------------------------------------------------------------------------------------------
# Body system: a coarse guess from the title (then keywords), for filing the case
# --------------------------------------------------------------------------------------------

_BODY_SYSTEMS = (
    (
        "Abdomen",
        "abdom retroperiton liver hepat pancrea kidney renal splen spleen bowel colon colic "
        "gastr stomach biliary gallbladder adrenal peritone mesenter",
    ),
    ("Chest", "chest lung pulmonar thora mediastin pleura cardiac heart"),
    ("Head", "brain cerebr intracranial cranial skull"),
    ("Spine", "spine spinal vertebra"),
    ("Pelvis", "pelvi uter ovar prostat bladder"),
    ("Musculoskeletal", "bone osseous muscle skeletal joint knee shoulder femur tibia"),
    ("Breast", "breast"),
)


def _body_system(title: str, keywords: list[str]) -> str:
    for text in (title, " ".join(keywords)):
        words = re.findall(r"[a-z]+", text.casefold())
        scores = [
            (sum(1 for w in words for stem in stems.split() if w.startswith(stem)), name)
            for name, stems in _BODY_SYSTEMS
        ]
        best = max(scores, key=lambda score: score[0])
        if best[0]:
            return best[1]
    return ""


# --------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------


def _check_text(text: str) -> None:
    if not text.strip():
        raise ArticleFormatError("the file is empty")
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r\f")
    if "\x00" in text or "\ufffd" in text or controls > len(text) // 100:
        raise ArticleFormatError("the file holds binary data, not Markdown text")


def _title_and_rest(lines: list[str]) -> tuple[str, list[str]]:
    for index, line in enumerate(lines):
        if match := _TITLE_RE.match(line.strip()):
            return match[1].strip(), lines[index + 1 :]
    raise ArticleFormatError(
        'no "# Title" line: the article must start with its title as a level-1 Markdown heading'
    )


def _section_blocks(sections: list[_Section], *keys: str) -> list[list[str]]:
    return [block for section in sections if section.key in keys for block in section.blocks]


def _demographics(article: ParsedArticle, lead: str) -> None:
    # The caption lead states age and sex; else the first mention in the case report.
    for text in (lead, article.history, article.abstract):
        if match := _DEMOGRAPHIC_RE.search(text):
            article.age = int(match["age"])
            article.sex, article.person = _PERSONS[match["who"].casefold()]
            return


def _case_fields(article: ParsedArticle, sections: list[_Section]) -> None:
    imaging = {f.number for f in article.figures if f.modality in RADIOLOGICAL_MODALITIES}
    narrative = _prose(_section_blocks(sections, "case"))
    history, findings = _split_history_findings(narrative, imaging)
    history += _prose(_section_blocks(sections, "history"))
    findings += _prose(_section_blocks(sections, "findings"))
    article.history, article.findings = _join(history), _join(findings)
    article.exam = _join(_prose(_section_blocks(sections, "exam")))
    article.treatment = _join(_prose(_section_blocks(sections, "treatment")))


def _discussion(sections: list[_Section]) -> str:
    parts = [_join(_prose(_section_blocks(sections, "discussion")))]
    # Sections the importer has no field for stay readable at the end of the discussion.
    for section in sections:
        if section.key == "extra" and (text := _join(_prose(section.blocks))):
            parts.append(f"### {_display_name(section.name)}\n\n{text}")
    return _join(parts)


def article_parse(text: str) -> ParsedArticle:
    """Parse a case report in the seed's Markdown layout; raise ArticleFormatError if it isn't."""
    _check_text(text)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    title, rest = _title_and_rest(lines)
    front_blocks, sections = _split_sections(rest)
    if not any(s.blocks for s in sections if s.key in _CASE_KEYS | {"abstract", "discussion"}):
        raise ArticleFormatError(
            "no ABSTRACT, CASE REPORT or DISCUSSION section: "
            "this does not look like a case report in the expected layout"
        )
    floats = _take_floats(sections)
    front = _parse_front(front_blocks)
    figures, lead = _build_figures(floats.figures)
    tables = _build_tables(floats.tables)
    article = ParsedArticle(
        title=title,
        authors=front.authors,
        affiliations=sorted(front.affiliations),
        correspondence=front.correspondence,
        citation=front.citation,
        article_url=_first_url(_section_blocks(sections, "online_access")),
        abstract=_join(_prose(_section_blocks(sections, "abstract"))),
        discussion=_discussion(sections),
        teaching_point=_join(_prose(_section_blocks(sections, "teaching_point"))),
        figures=figures,
        tables=tables,
        differential=_differential(tables),
        diagnosis=_diagnosis(lead),
        references=_parse_references(_section_blocks(sections, "references")),
        keywords=_parse_keywords(_section_blocks(sections, "keywords")),
        abbreviations=_parse_abbreviations(_section_blocks(sections, "abbreviations")),
    )
    _case_fields(article, sections)
    _demographics(article, lead)
    if match := re.search(r"^\s*Published by\s+(\S.*?)\s*$", text, re.I | re.M):
        article.publisher = match[1]
    article.body_system = _body_system(title, article.keywords)
    if not article.slug:
        raise ArticleFormatError(f"the title {title!r} has no letters or digits to make a URL")
    return article


# --------------------------------------------------------------------------------------------
# The loader
# --------------------------------------------------------------------------------------------


def _read(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data:
        raise ArticleFormatError("the file holds binary data, not Markdown text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleFormatError(
            f"the file is not UTF-8 text (bad byte at offset {exc.start})"
        ) from exc


def _check_length(model: type[models.Model], name: str, value: str, what: str) -> None:
    limit = model._meta.get_field(name).max_length
    if limit and len(value) > limit:
        raise ArticleFormatError(f"{what} is {len(value)} characters long; at most {limit} fit")


def _check_lengths(article: ParsedArticle, unknown_title: str) -> None:
    """Refuse values the columns cannot hold, before anything is written."""
    citation = article.citation
    for name, value in (
        ("title", article.title),
        ("unknown_title", unknown_title),
        ("journal", citation.journal),
        ("month", citation.month),
        ("volume", citation.volume),
        ("issue", citation.issue),
        ("pages", citation.pages),
        ("doi", citation.doi),
        ("article_url", article.article_url),
        ("external_id", article.external_id),
    ):
        _check_length(Case, name, value, f"the {name.replace('_', ' ')}")
    for author in article.authors:
        _check_length(Author, "name", author.name, f"author name {author.name[:40]!r}")
        _check_length(Author, "affiliation_marks", ",".join(author.marks), "affiliation marks")
    for number, name in article.affiliations:
        _check_length(Affiliation, "name", name, f"affiliation {number}")
    for table in article.tables:
        _check_length(Table, "title", table.title, f"the title of Table {table.number}")
    for reference in article.references:
        for name in ("doi", "url"):
            value = getattr(reference, name)
            _check_length(Reference, name, value, f"the {name} of reference {reference.order}")
    for keyword in article.keywords:
        _check_length(Keyword, "name", keyword, f"keyword {keyword[:40]!r}")
    for short, long in article.abbreviations:
        _check_length(Abbreviation, "abbreviation", short, f"abbreviation {short[:40]!r}")
        _check_length(Abbreviation, "expansion", long, f"the expansion of {short[:40]!r}")


def _existing_case(article: ParsedArticle) -> Case | None:
    if article.external_id:
        return Case.objects.filter(external_id=article.external_id).first()
    # Without a DOI the title is the identity; never take over a case from another source.
    return Case.objects.filter(slug=article.slug, external_id="").first()


def _fill_case(case: Case, article: ParsedArticle, *, draft: bool, unknown_title: str) -> None:
    citation = article.citation
    case.title = article.title
    case.unknown_title = unknown_title or case.unknown_title or article.default_unknown_title
    case.status = Case.Status.DRAFT if draft else Case.Status.PUBLISHED
    case.correspondence = article.correspondence
    case.journal, case.year, case.month = citation.journal, citation.year, citation.month
    case.volume, case.issue, case.pages = citation.volume, citation.issue, citation.pages
    case.doi, case.article_url = citation.doi, article.article_url
    case.abstract = article.abstract
    case.age, case.sex = article.age, article.sex
    case.history, case.exam, case.findings = article.history, article.exam, article.findings
    case.differential, case.diagnosis = article.differential, article.diagnosis
    case.treatment, case.discussion = article.treatment, article.discussion
    case.teaching_point = article.teaching_point
    case.source, case.licence = article.source, article.licence
    case.external_id = article.external_id


def _write_people(case: Case, article: ParsedArticle) -> None:
    case.authors.all().delete()
    case.affiliations.all().delete()
    Affiliation.objects.bulk_create(
        Affiliation(case=case, number=number, name=name) for number, name in article.affiliations
    )
    Author.objects.bulk_create(
        Author(
            case=case,
            order=order,
            name=author.name,
            affiliation_marks=",".join(author.marks),
            is_corresponding=author.is_corresponding,
        )
        for order, author in enumerate(article.authors)
    )


def _write_figures(case: Case, article: ParsedArticle) -> None:
    # Updated in place by number rather than replaced: images and annotations added to a
    # figure after the import belong to it and must survive a re-import.
    numbers = [figure.number for figure in article.figures]
    case.figures.exclude(number__in=numbers).delete()
    existing = {figure.number: figure for figure in case.figures.all()}
    default_step = Figure._meta.get_field("reveal_step").default
    for parsed in article.figures:
        figure = existing.get(parsed.number) or Figure(case=case, number=parsed.number)
        figure.label = parsed.label
        figure.caption = parsed.caption
        figure.unknown_caption = parsed.unknown_caption
        figure.alt_text = parsed.alt_text
        figure.modality = parsed.modality
        figure.plane = parsed.plane
        figure.technique = parsed.technique
        figure.reveal_step = parsed.reveal_step or default_step
        figure.window_width = parsed.window_width
        figure.window_center = parsed.window_center
        figure.save()


def _write_tables(case: Case, article: ParsedArticle) -> None:
    case.tables.all().delete()
    for parsed in article.tables:
        # A differential grid is what unknown mode shows once the learner has committed.
        is_differential = bool(parsed.header) and _is_differential_heading(parsed.header[0])
        table = Table.objects.create(
            case=case,
            number=parsed.number,
            title=parsed.title,
            header=parsed.header,
            reveal_step=RevealStep.DIFFERENTIAL if is_differential else RevealStep.DISCUSSION,
        )
        TableRow.objects.bulk_create(
            TableRow(table=table, order=order, cells=cells)
            for order, cells in enumerate(parsed.rows)
        )


def _write_references(case: Case, article: ParsedArticle) -> None:
    case.references.all().delete()
    Reference.objects.bulk_create(
        Reference(case=case, order=r.order, text=r.text, pmid=r.pmid, doi=r.doi, url=r.url)
        for r in article.references
    )
    case.abbreviations.all().delete()
    Abbreviation.objects.bulk_create(
        Abbreviation(case=case, abbreviation=short, expansion=long)
        for short, long in article.abbreviations
    )


def _keyword(name: str) -> Keyword:
    # Keywords are shared between cases; "Pancreas" and "pancreas" are one keyword.
    return Keyword.objects.filter(name__iexact=name).first() or Keyword.objects.create(name=name)


def _write_labels(case: Case, article: ParsedArticle) -> None:
    case.keywords.set([_keyword(name) for name in article.keywords])
    modality_tags = [
        tag_get_or_create(kind=Tag.Kind.MODALITY, name=Figure.Modality(m).label)
        for m in article.modalities
    ]
    # Modality tags follow the figures; other tags may have been added by hand and stay.
    stale = case.tags.filter(kind=Tag.Kind.MODALITY).exclude(pk__in=[t.pk for t in modality_tags])
    case.tags.remove(*stale)
    case.tags.add(*modality_tags)
    if article.body_system:
        case.tags.add(tag_get_or_create(kind=Tag.Kind.SYSTEM, name=article.body_system))


def article_import(
    *,
    path: str | Path | None = None,
    text: str | None = None,
    draft: bool = False,
    unknown_title: str = "",
) -> Case:
    """Import (or re-import) one article from ``path`` or ``text``; return its case.

    Raises ArticleFormatError, with nothing written, when the text is not a case report in
    the expected layout.
    """
    if (path is None) == (text is None):
        raise TypeError("article_import() takes exactly one of path= or text=")
    source = _read(Path(path)) if path is not None else text
    assert source is not None
    article = article_parse(source)
    unknown_title = unknown_title.strip()
    _check_lengths(article, unknown_title)
    with transaction.atomic():
        case = _existing_case(article) or Case(slug=case_slug_free(article.slug, limit=SLUG_MAX))
        _fill_case(case, article, draft=draft, unknown_title=unknown_title)
        case.save()
        _write_people(case, article)
        _write_figures(case, article)
        _write_tables(case, article)
        _write_references(case, article)
        _write_labels(case, article)
    return case
