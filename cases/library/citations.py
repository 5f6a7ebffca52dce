"""Citations a reference manager imports: BibTeX and RIS for a case, RIS for its references.

RIS follows the RIS specification (``TAG  - value`` lines, CRLF, a record from ``TY`` to
``ER``), with the tags Zotero, EndNote and Mendeley read: AU, TI, T2/JO, PY/DA, VL, IS, SP/EP,
DO, UR, Y2 (access date), AB, KW, AN (PubMed id), N1. References are stored as printed
(Vancouver style); they are split into authors, title, journal, year, volume, issue and pages
when they follow it, and exported whole as a generic record otherwise.

A case read from a web page (one with an access date, e.g. from MedPix) is cited as one:
RIS ``ELEC``, BibTeX ``@misc`` with howpublished, url, urldate and an "Accessed" note; when
the page is undated, its year is the year of access. An organisation as author is written
whole (BibTeX braces it, so that it is not read as first and last names).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from cases.models import Case, Reference

CRLF = "\r\n"


# -- names and text ------------------------------------------------------------------------


def _plain(text: str) -> str:
    """Markdown emphasis and extra spaces removed: references keep *Journal* in italics."""
    text = re.sub(r"(\*{1,2}|_{1,2})(.+?)\1", r"\2", text)
    return " ".join(text.replace("\\", "").split())


def name_inverted(name: str) -> str:
    """ "Zafar Neyaz" -> "Neyaz, Zafar"; "Hartman DS" (Vancouver) -> "Hartman, D. S."."""
    name = _plain(name).strip(" ,.")
    if not name or "," in name:
        return name
    parts = name.split()
    if len(parts) >= 2 and re.fullmatch(r"[A-Z]{1,4}", parts[-1]):
        initials = " ".join(f"{letter}." for letter in parts[-1])
        return f"{' '.join(parts[:-1])}, {initials}"
    if len(parts) == 1:
        return name
    return f"{parts[-1]}, {' '.join(parts[:-1])}"


@dataclass
class Work:
    """One citable work, whatever its source: the fields both formats need."""

    kind: str = "JOUR"  # RIS type; BibTeX @article for JOUR, @misc otherwise
    authors: list[str] = field(default_factory=list)  # "Last, First", or an organisation whole
    title: str = ""
    journal: str = ""
    year: str = ""
    month: str = ""
    volume: str = ""
    issue: str = ""
    pages: str = ""
    doi: str = ""
    url: str = ""
    pmid: str = ""
    abstract: str = ""
    keywords: list[str] = field(default_factory=list)
    note: str = ""
    accessed: str = ""  # YYYY-MM-DD, for a web page

    @property
    def start_page(self) -> str:
        return re.split(r"[-–]", self.pages, maxsplit=1)[0].strip()

    @property
    def end_page(self) -> str:
        parts = re.split(r"[-–]", self.pages, maxsplit=1)
        return parts[1].strip() if len(parts) == 2 else ""


def case_work(case: Case) -> Work:
    accessed = case.accessed
    year = case.year or (accessed.year if accessed else None)
    return Work(
        kind="ELEC" if accessed else "JOUR",
        authors=[
            " ".join(author.name.split()) if author.is_organisation else name_inverted(author.name)
            for author in case.authors.all()
        ],
        title=case.title,
        journal=case.journal,
        year=str(year or ""),
        month=case.month,
        volume=case.volume,
        issue=case.issue,
        pages=case.pages,
        doi=case.doi,
        url=case.article_url or case.doi_url,
        abstract=case.abstract,
        keywords=[keyword.name for keyword in case.keywords.all()],
        accessed=accessed.isoformat() if accessed else "",
    )


_VANCOUVER_TAIL = re.compile(
    r"(?P<year>(?:19|20)\d\d)[^;:]*?(?:;\s*(?P<volume>[\w.]+)?\s*(?:\((?P<issue>[^)]+)\))?)?"
    r"(?:\s*:\s*(?P<pages>[\w]+(?:\s*[-–]\s*[\w]+)?))?"
)


def reference_work(reference: Reference) -> Work:
    """A reference as a work: Vancouver parts when the text follows the style."""
    raw = reference.text
    text = _plain(raw)
    work = Work(
        kind="GEN",
        title=text,
        doi=reference.doi,
        pmid=reference.pmid,
        url=reference.url or reference.pubmed_url,
        note=text,
    )
    journal = re.search(r"\*([^*]+)\*", raw)  # the journal is in italics as printed
    head = text.split(". ", 2)
    if journal and len(head) >= 3:
        authors, title = head[0], head[1]
        after = text[text.find(_plain(journal.group(1))) + len(_plain(journal.group(1))) :]
        tail = _VANCOUVER_TAIL.search(after)
        work.kind = "JOUR"
        work.authors = [
            name_inverted(name) for name in authors.split(",") if name.strip() != "et al"
        ]
        work.title = title.strip(" .")
        work.journal = _plain(journal.group(1)).strip(" .")
        if tail:
            work.year = tail.group("year") or ""
            work.volume = tail.group("volume") or ""
            work.issue = tail.group("issue") or ""
            work.pages = (tail.group("pages") or "").replace(" ", "")
        if not work.doi:
            doi = re.search(r"doi:\s*(10\.\S+?)\.?(?:\s|$)", text, re.IGNORECASE)
            work.doi = doi.group(1) if doi else ""
    return work


# -- RIS -------------------------------------------------------------------------------------


def _ris_record(work: Work) -> list[str]:
    lines = [("TY", work.kind)]
    lines += [("AU", author) for author in work.authors]
    lines += [("TI", work.title), ("T2", work.journal)]
    if work.kind == "JOUR":
        lines.append(("JO", work.journal))
    if work.year:
        lines += [("PY", work.year), ("DA", f"{work.year}///")]
    lines += [("VL", work.volume), ("IS", work.issue)]
    lines += [("SP", work.start_page), ("EP", work.end_page)]
    lines += [("DO", work.doi), ("UR", work.url), ("AN", work.pmid)]
    lines += [("Y2", work.accessed.replace("-", "/"))]
    lines += [("AB", " ".join(work.abstract.split()))]
    lines += [("KW", keyword) for keyword in work.keywords]
    if work.pmid:
        lines.append(("N1", f"PMID: {work.pmid}"))
    if work.note and work.kind != "GEN":
        lines.append(("N1", work.note))
    out = [f"{tag}  - {' '.join(value.split())}" for tag, value in lines if value]
    out.append("ER  - ")
    return out


def ris_render(works: list[Work]) -> str:
    records = []
    for work in works:
        records.extend(_ris_record(work))
        records.append("")
    return CRLF.join(records)


def case_ris(case: Case) -> str:
    return ris_render([case_work(case)])


def references_ris(case: Case) -> str:
    return ris_render([reference_work(reference) for reference in case.references.all()])


# -- BibTeX ----------------------------------------------------------------------------------

_BIBTEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def bibtex_escape(text: str) -> str:
    return "".join(_BIBTEX_SPECIAL.get(char, char) for char in " ".join(text.split()))


def bibtex_key(work: Work) -> str:
    """Surname, year and first title word, ASCII: neyaz2011local."""
    surname = work.authors[0].split(",")[0] if work.authors else "anon"
    words = [w for w in re.findall(r"[A-Za-z]+", work.title) if len(w) > 3]
    key = f"{surname}{work.year}{words[0] if words else ''}"
    ascii_key = unicodedata.normalize("NFKD", key).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]", "", ascii_key).lower() or "case"


def _bibtex_name(name: str) -> str:
    """An inverted name as is; a name without a comma (an organisation) braced whole."""
    escaped = bibtex_escape(name)
    return escaped if "," in name else f"{{{escaped}}}"


def bibtex_render(work: Work) -> str:
    article = work.kind == "JOUR"
    fields = [
        ("author", " and ".join(_bibtex_name(name) for name in work.authors)),
        ("title", f"{{{bibtex_escape(work.title)}}}"),  # double braces keep its capitals
        ("journal" if article else "howpublished", bibtex_escape(work.journal)),
        ("year", work.year),
        ("month", bibtex_escape(work.month)),
        ("volume", bibtex_escape(work.volume)),
        ("number", bibtex_escape(work.issue)),
        ("pages", work.pages.replace("–", "-").replace("-", "--") if work.pages else ""),
        ("doi", work.doi),
        ("url", work.url),
        # urldate for biblatex, the note for BibTeX's own styles
        ("urldate", work.accessed),
        ("note", f"Accessed {work.accessed}" if work.accessed else ""),
        ("abstract", bibtex_escape(work.abstract)),
        ("keywords", bibtex_escape(", ".join(work.keywords))),
    ]
    kind = "article" if article else "misc"
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields if value)
    return f"@{kind}{{{bibtex_key(work)},\n{body}\n}}\n"


def case_bibtex(case: Case) -> str:
    return bibtex_render(case_work(case))
