"""Citation export: BibTeX and RIS for the case, RIS for its references (Zotero imports them)."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from django.urls import reverse

from cases.importers import medpix
from cases.library.citations import name_inverted, reference_work
from cases.models import Case

pytestmark = pytest.mark.django_db


def _ris_records(text: str) -> list[list[tuple[str, str]]]:
    """Parse RIS by the spec: 'TAG  - value' lines, CRLF, records from TY to ER."""
    assert "\r\n" in text
    records, current = [], None
    for line in text.split("\r\n"):
        if not line:
            continue
        match = re.fullmatch(r"([A-Z][A-Z0-9])  - (.*)", line)
        assert match, f"not an RIS line: {line!r}"
        tag, value = match.groups()
        if tag == "TY":
            assert current is None
            current = [(tag, value)]
        elif tag == "ER":
            records.append(current)
            current = None
        else:
            assert current is not None
            current.append((tag, value))
    assert current is None
    return records


def _values(record, tag: str) -> list[str]:
    return [value for t, value in record if t == tag]


def test_case_ris_has_the_citation_fields(client, seed_case):
    response = client.get(reverse("cases:citation_ris", args=[seed_case.slug]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-research-info-systems; charset=utf-8"
    assert f'filename="{seed_case.slug}.ris"' in response["Content-Disposition"]
    [record] = _ris_records(response.content.decode())
    assert record[0] == ("TY", "JOUR")
    assert _values(record, "AU")[:2] == ["Lal, Hira", "Neyaz, Zafar"]
    assert len(_values(record, "AU")) == 5
    assert _values(record, "TI")[0].startswith("Local recurrence and multi-organ metastasis")
    assert _values(record, "PY") == ["2011"]
    assert _values(record, "VL") == ["5"] and _values(record, "IS") == ["6"]
    assert _values(record, "SP") == ["1"] and _values(record, "EP") == ["8"]
    assert _values(record, "DO") == ["10.3941/jrcr.v5i6.626"]
    assert _values(record, "AB")[0].startswith("We report a case")
    assert _values(record, "KW")


def test_case_bibtex_is_a_valid_article_entry(client, seed_case):
    response = client.get(reverse("cases:citation_bibtex", args=[seed_case.slug]))
    text = response.content.decode()
    assert response["Content-Type"] == "application/x-bibtex; charset=utf-8"
    assert re.match(r"@article\{lal2011local,\n", text)
    assert "  author = {Lal, Hira and Neyaz, Zafar and Kapoor, Vinay Kumar and" in text
    assert "  year = {2011}," in text and "  pages = {1--8}," in text
    assert "  number = {6}," in text and "  doi = {10.3941/jrcr.v5i6.626}," in text
    assert "  title = {{Local recurrence" in text
    assert text.count("{") == text.count("}")  # balanced braces
    assert text.rstrip().endswith("}")


def test_bibtex_escapes_special_characters(client, published_case):
    published_case.title = "50% of R&D_{x}"
    published_case.save()
    text = client.get(reverse("cases:citation_bibtex", args=[published_case.slug])).content
    assert r"{{50\% of R\&D\_\{x\}}}" in text.decode()


def test_references_ris_has_pmid_doi_and_vancouver_parts(client, seed_case):
    response = client.get(reverse("cases:references_ris", args=[seed_case.slug]))
    records = _ris_records(response.content.decode())
    assert len(records) == seed_case.references.count()
    first = records[0]
    assert first[0] == ("TY", "JOUR")
    assert _values(first, "AU") == [
        "Hartman, D. S.",
        "Hayes, W. S.",
        "Choyke, P. L.",
        "Tibbetts, G. P.",
    ]
    assert _values(first, "TI") == [
        "Leiomyosarcoma of the retroperitoneum and inferior vena cava: "
        "radiologic-pathologic correlation"
    ]
    assert _values(first, "T2") == ["Radiographics"]
    assert _values(first, "PY") == ["1992"]
    assert (_values(first, "VL"), _values(first, "IS")) == (["12"], ["6"])
    assert (_values(first, "SP"), _values(first, "EP")) == (["1203"], ["1220"])
    assert _values(first, "AN") == ["1439022"]
    assert "PMID: 1439022" in _values(first, "N1")
    third = records[2]
    assert _values(third, "DO") == ["10.1186/1477-7819-7-45"]


def test_unparsable_reference_is_exported_whole(db, published_case):
    reference = published_case.references.first()
    reference.text = "Personal communication with the author, 2019"
    work = reference_work(reference)
    assert work.kind == "GEN" and work.title == "Personal communication with the author, 2019"


def test_names_are_inverted_for_reference_managers():
    assert name_inverted("Zafar Neyaz") == "Neyaz, Zafar"
    assert name_inverted("Vinay Kumar Kapoor") == "Kapoor, Vinay Kumar"
    assert name_inverted("Hartman DS") == "Hartman, D. S."
    assert name_inverted("Smith, John") == "Smith, John"


def test_article_page_links_the_downloads(client, seed_case):
    html = client.get(seed_case.get_absolute_url()).content.decode()
    assert reverse("cases:citation_bibtex", args=[seed_case.slug]) in html
    assert reverse("cases:citation_ris", args=[seed_case.slug]) in html
    assert reverse("cases:references_ris", args=[seed_case.slug]) in html


def test_citations_of_drafts_are_404_for_learners(client, draft_case, staff):
    for name in ["citation_bibtex", "citation_ris", "references_ris"]:
        assert client.get(reverse(f"cases:{name}", args=[draft_case.slug])).status_code == 404
    client.force_login(staff)
    assert client.get(reverse("cases:citation_ris", args=[draft_case.slug])).status_code == 200


def test_citation_downloads_reject_post(client, published_case):
    url = reverse("cases:citation_ris", args=[published_case.slug])
    assert client.post(url).status_code == 405


@pytest.fixture
def medpix_case(monkeypatch):
    """MPX2322 as the MedPix importer leaves it, imported on 9 March 2026."""
    monkeypatch.setattr(medpix.timezone, "localdate", lambda: datetime.date(2026, 3, 9))
    folder = Path(__file__).resolve().parent.parent / "cases" / "demo" / "medpix"
    medpix.medpix_import(
        topics_path=folder / "Case_topic.json",
        descriptions_path=folder / "Descriptions.json",
        images_dir=folder / "images",
    )
    return Case.objects.get(external_id="medpix:MPX2322")


MEDPIX_URL = "https://medpix.nlm.nih.gov/search?allen=true&allt=true&alli=true&query=MPX2322"


def test_medpix_case_bibtex_is_a_web_page_with_author_year_url_and_access_date(client, medpix_case):
    text = client.get(reverse("cases:citation_bibtex", args=[medpix_case.slug])).content.decode()
    assert re.match(r"@misc\{usnationallibraryofmedicine2026arachnoid,\n", text)
    # The institution braced whole, so that BibTeX does not split it into names.
    assert "  author = {{U.S. National Library of Medicine}},\n" in text
    assert "  title = {{Arachnoid Cyst}},\n" in text
    assert "  howpublished = {MedPix},\n" in text
    assert "  year = {2026},\n" in text
    assert f"  url = {{{MEDPIX_URL}}},\n" in text
    assert "  urldate = {2026-03-09},\n" in text
    assert "  note = {Accessed 2026-03-09}" in text
    assert "journal =" not in text
    assert text.count("{") == text.count("}")


def test_medpix_case_ris_has_author_year_url_and_access_date(client, medpix_case):
    response = client.get(reverse("cases:citation_ris", args=[medpix_case.slug]))
    [record] = _ris_records(response.content.decode())
    assert record[0] == ("TY", "ELEC")
    assert _values(record, "AU") == ["U.S. National Library of Medicine"]
    assert _values(record, "TI") == ["Arachnoid Cyst"]
    assert _values(record, "T2") == ["MedPix"] and _values(record, "JO") == []
    assert _values(record, "PY") == ["2026"]
    assert _values(record, "UR") == [MEDPIX_URL]
    assert _values(record, "Y2") == ["2026/03/09"]


def test_medpix_article_page_links_the_source_with_its_access_date(client, medpix_case):
    html = client.get(medpix_case.get_absolute_url()).content.decode()
    assert "Source page</a> (accessed 9 March 2026)" in html
    assert MEDPIX_URL.replace("&", "&amp;") in html
    assert 'class="author">U.S. National Library of Medicine</span>' in html
