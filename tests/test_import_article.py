"""The journal-article importer: the seed article field by field, re-runs, odd and bad files."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from cases.importers.article import ArticleFormatError, article_import, article_parse
from cases.models import Case, Figure, Keyword, RevealStep, Slice, Tag

SEED = (
    Path(__file__).resolve().parent.parent
    / "cases"
    / "demo"
    / "article"
    / "jrcr-2011-v5i6-626-retroperitoneal-leiomyosarcoma.md"
)
TITLE = (
    "Local recurrence and multi-organ metastasis of primary retroperitoneal leiomyosarcoma "
    "in unusual locations after surgical resection"
)
# slugify(TITLE) cut at the last word boundary within 80 characters.
SEED_SLUG = "local-recurrence-and-multi-organ-metastasis-of-primary-retroperitoneal"
LEAD = (
    "52-year-old woman presenting with recurrent retroperitoneal leiomyosarcoma and "
    "multi-organ metastasis in unusual locations."
)

# A smaller report in the same layout: an extra section, a sub-heading in the case report,
# two figures, no tables, no DOI, no boilerplate.
SYNTHETIC = """\
# Pulmonary embolism in a young runner

Ann Example<sup>1\\*</sup>, Bo Sample<sup>1,2</sup>

1. Department of Radiology, Example Hospital

2. Department of Medicine, Example Hospital

\\* **Correspondence:** Dr. Ann Example, Example Hospital \
(✉ [ann@example.org](mailto:ann@example.org))

Radiology Case. 2020 March; 14(3):10-15

## INTRODUCTION

Pulmonary embolism is rarely considered in athletes.

## CASE REPORT

A 34-year-old man presented with chest pain after a long flight. He was otherwise well.
A CT pulmonary angiogram showed a filling defect (Figure 1).

### Treatment and follow-up

He was anticoagulated and recovered.

## DISCUSSION

Emboli may be missed when the clinical picture is atypical [1].

REFERENCES

1. Doe J. Emboli in athletes. *Chest* 2019;1:1-2. PMID: 123

FIGURES

**Figure 1:** 34-year-old man with pulmonary embolism. Axial CT pulmonary angiogram shows a \
filling defect in the right main pulmonary artery (arrow).

**Figure 2:** 34-year-old man with pulmonary embolism. Coronal CT reformat (arrowhead).

**KEYWORDS**

Pulmonary embolism; CT angiography
"""


@pytest.fixture
def seed_case(db) -> Case:
    return article_import(path=SEED)


def _write(tmp_path: Path, text: str | bytes, name: str = "article.md") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- the seed, field by field ----------------------------------------------------------------


@pytest.mark.django_db
def test_title_slug_status_and_identity(seed_case):
    assert seed_case.title == TITLE
    assert seed_case.slug == SEED_SLUG
    assert seed_case.status == Case.Status.PUBLISHED
    assert seed_case.external_id == "doi:10.3941/jrcr.v5i6.626"
    assert seed_case.get_absolute_url() == f"/cases/{seed_case.slug}/"


@pytest.mark.django_db
def test_authors_in_order_with_marks_and_corresponding(seed_case):
    authors = list(seed_case.authors.values_list("name", "affiliation_marks", "is_corresponding"))
    assert authors == [
        ("Hira Lal", "1", False),
        ("Zafar Neyaz", "1", True),
        ("Vinay Kumar Kapoor", "2", False),
        ("Biju Pottakkat", "2", False),
        ("Pallav Gupta", "3", False),
    ]


@pytest.mark.django_db
def test_affiliations_numbered_with_full_text(seed_case):
    institute = "Sanjay Gandhi Post Graduate Institute of Medical Sciences, Lucknow, India"
    assert list(seed_case.affiliations.values_list("number", "name")) == [
        (1, f"Department of Radiodiagnosis, {institute}"),
        (2, f"Department of Surgical Gastroenterology, {institute}"),
        (3, f"Department of Pathology, {institute}"),
    ]


@pytest.mark.django_db
def test_correspondence_is_plain_text_with_email(seed_case):
    text = seed_case.correspondence
    assert text.startswith("Dr. Zafar Neyaz, MD, Assistant Professor, Department of Radio")
    assert "Rae Bareilly Road, Lucknow, Uttar Pradesh, India. 226014" in text
    assert text.endswith("226014. E-mail: zafarneyaz@hotmail.com")
    for junk in ("✉", "](", "mailto:", "**", "\\*"):
        assert junk not in text


@pytest.mark.django_db
def test_citation_fields_and_short_citation(seed_case):
    case = seed_case
    assert (case.journal, case.year, case.month) == ("J Radiol Case Rep", 2011, "June")
    assert (case.volume, case.issue, case.pages) == ("5", "6", "1-8")
    assert case.doi == "10.3941/jrcr.v5i6.626"
    assert case.citation == "J Radiol Case Rep 2011;5(6):1-8"
    assert case.article_url == (
        "http://www.radiologycases.com/index.php/radiologycases/article/view/626"
    )


@pytest.mark.django_db
def test_source_and_licence(seed_case):
    assert seed_case.source == (
        f"Lal H, Neyaz Z, Kapoor VK, Pottakkat B, Gupta P. {TITLE}. "
        "J Radiol Case Rep. 2011;5(6):1-8. doi:10.3941/jrcr.v5i6.626"
    )
    assert seed_case.licence == "Open access (JRCR / EduRad)"


def test_unknown_journal_keeps_printed_name():
    text = SYNTHETIC.replace("Radiology Case. 2020", "Acta Exemplorum. 2020")
    assert article_parse(text).citation.journal == "Acta Exemplorum"


@pytest.mark.django_db
def test_abstract(seed_case):
    assert seed_case.abstract.startswith("We report a case of retroperitoneal leiomyosarcoma")
    assert seed_case.abstract.endswith("might indicate a metastatic tumor deposit.")


@pytest.mark.django_db
def test_case_report_split_into_history_and_findings(seed_case):
    assert seed_case.history.startswith("A 52-year-old female underwent surgical resection")
    assert seed_case.history.endswith("There was no symptom.")
    assert seed_case.findings.startswith("She was readmitted and a chest x-ray showed")
    assert seed_case.findings.endswith("because of the disseminated disease.")
    # The histology figures (1-3) are cited in the history: they do not start the findings.
    assert "(Fig. 1)" in seed_case.history and "(Fig. 2, 3)" in seed_case.history


@pytest.mark.django_db
def test_page_break_repaired_and_paragraphs_kept(seed_case):
    paragraphs = seed_case.history.split("\n\n")
    assert len(paragraphs) == 2
    assert "not offered any chemotherapy or radiotherapy in view" in paragraphs[0]
    assert paragraphs[1].startswith("The patient was lost follow up for two years.")


@pytest.mark.django_db
def test_discussion_and_teaching_point(seed_case):
    paragraphs = seed_case.discussion.split("\n\n")
    assert len(paragraphs) == 7
    assert paragraphs[0].startswith("Leiomyosarcoma is the second most common")
    assert "develop metastases [1]. Liver and lungs are the most common sites" in paragraphs[3]
    assert paragraphs[-1].startswith("To conclude,")
    assert seed_case.teaching_point.startswith("In a known case of leiomyosarcomas long term")
    assert seed_case.teaching_point.endswith("for the presence of metastasis.")
    for boilerplate in ("radiolopolis", "Interactivity", "EduRad", "Online access"):
        assert boilerplate not in seed_case.discussion


@pytest.mark.django_db
def test_diagnosis_age_sex_and_default_unknown_title(seed_case):
    assert seed_case.diagnosis == (
        "Recurrent retroperitoneal leiomyosarcoma and multi-organ metastasis in unusual locations"
    )
    assert (seed_case.age, seed_case.sex) == (52, "F")
    assert seed_case.unknown_title == "52-year-old woman"


@pytest.mark.django_db
def test_differential_from_table_first_column(seed_case):
    assert seed_case.differential == (
        "Retroperitoneal leiomyosarcoma\nGastrointestinal stromal tumor (GIST)\nLymphoma"
    )


@pytest.mark.django_db
def test_figures_numbered_in_order_with_real_captions(seed_case):
    figures = list(seed_case.figures.all())
    assert [f.number for f in figures] == list(range(1, 13))
    assert [f.label for f in figures] == [f"Figure {n}" for n in range(1, 13)]
    by_number = {f.number: f for f in figures}
    assert all(f.caption.startswith(LEAD) for f in figures)
    assert not any(f.caption.startswith("**") for f in figures)
    # The stray "Figure 11." after Figure 10's caption is not part of it.
    assert by_number[10].caption.endswith("pancreatic head metastasis (thin arrow).")
    assert "Figure 11" not in by_number[10].caption
    assert "at the level of umbilicus" in by_number[11].caption
    assert "Color Doppler image" in by_number[8].caption
    assert "6.8 x 7.8 x 7.9 cm recurrent retroperitoneal mass" in by_number[7].caption


@pytest.mark.django_db
def test_unknown_caption_drops_the_diagnosis_sentence(seed_case):
    for figure in seed_case.figures.all():
        assert figure.unknown_caption == figure.caption[len(LEAD) :].strip()
        assert "leiomyosarcoma and multi-organ" not in figure.unknown_caption
    fig4 = seed_case.figures.get(number=4)
    assert fig4.unknown_caption.startswith(
        "Chest x-ray shows multiple well defined nodular lesions"
    )


@pytest.mark.django_db
def test_figure_modality_technique_plane_and_window(seed_case):
    figures = {f.number: f for f in seed_case.figures.all()}
    modalities = [figures[n].modality for n in range(1, 13)]
    assert modalities == ["HIST", "IHC", "IHC", "XR", "US", "US", "US", "US"] + ["CT"] * 4
    assert figures[1].technique == "H&E x200"
    assert figures[2].technique == "IHC x200"
    assert figures[4].technique == "Chest X-ray PA view, erect posture"
    assert figures[5].technique == "Transabdominal ultrasound, HD 11 XE Phillips, C5-2 probe"
    assert figures[9].technique.startswith("64-Channel multidetector Brilliance CT, Philips")
    assert figures[9].technique.endswith("non-ionic contrast given by hand injection")
    assert figures[4].plane == "PA"
    assert all(figures[n].plane == "Axial" for n in range(9, 13))
    assert all(figures[n].plane == "" for n in range(5, 9))
    for number, figure in figures.items():
        if number >= 9:
            assert (figure.window_width, figure.window_center) == (360.0, 60.0)
        else:
            assert not figure.has_window


@pytest.mark.django_db
def test_alt_text_is_spoiler_free(seed_case):
    figures = {f.number: f for f in seed_case.figures.all()}
    assert figures[9].alt_text == "Figure 9: CT, axial"
    assert figures[5].alt_text == "Figure 5: Ultrasound"
    assert figures[4].alt_text == "Figure 4: Radiograph, PA"
    for figure in figures.values():
        assert "leiomyosarcoma" not in figure.alt_text.lower()
        assert "metasta" not in figure.alt_text.lower()


@pytest.mark.django_db
def test_histology_revealed_with_diagnosis_radiology_with_images(seed_case):
    steps = dict(seed_case.figures.values_list("number", "reveal_step"))
    assert [steps[n] for n in (1, 2, 3)] == [RevealStep.DIAGNOSIS] * 3
    assert all(steps[n] == RevealStep.IMAGES for n in range(4, 13))


@pytest.mark.django_db
def test_no_annotations_invented(seed_case):
    assert not any(f.annotations.exists() for f in seed_case.figures.all())


@pytest.mark.django_db
def test_differential_table_header_and_list_cells(seed_case):
    table = seed_case.tables.get(number=1)
    assert table.title == "Differential diagnosis of retroperitoneal leiomyosarcoma."
    assert table.header == ["Differential diagnosis", "USG", "CT", "MRI"]
    rows = list(table.rows.all())
    assert [r.order for r in rows] == [0, 1, 2]
    assert [r.cells[0] for r in rows] == [
        "Retroperitoneal leiomyosarcoma",
        "Gastrointestinal stromal tumor (GIST)",
        "Lymphoma",
    ]
    assert all(len(r.cells) == 4 for r in rows)
    assert rows[0].cells[1] == (
        "- May appears solid but often contains cystic spaces with irregular walls.\n"
        "- The solid components are usually isoechoic relative to liver but can be hyperechoic. "
        "The cystic spaces usually contain low level echoes, but anechoic cysts are also seen."
    )
    assert "periphery of the large primary & metastatic lesions" in rows[0].cells[2]
    assert rows[1].cells[2].count("\n- ") == 3  # four <li>, four items
    for row in rows:
        for cell in row.cells:
            assert "<" not in cell and "&amp;" not in cell and "•" not in cell


@pytest.mark.django_db
def test_summary_table_is_key_value(seed_case):
    table = seed_case.tables.get(number=2)
    assert table.title == "Summary table of retroperitoneal leiomyosarcoma"
    assert table.header == []
    rows = [r.cells for r in table.rows.all()]
    assert len(rows) == 8 and all(len(cells) == 2 for cells in rows)
    assert rows[0] == [
        "Etiology",
        "Largely unknown, post radiation and Epstein-Barr virus implicated in some cases.",
    ]
    assert [cells[0] for cells in rows][-1] == "Imaging findings"


@pytest.mark.django_db
def test_references_with_pmid_doi_and_url(seed_case):
    refs = list(seed_case.references.all())
    assert [r.order for r in refs] == list(range(1, 17))
    assert all(r.pmid for r in refs)
    assert (refs[0].pmid, refs[15].pmid) == ("1439022", "17187791")
    assert refs[2].doi == "10.1186/1477-7819-7-45"
    assert refs[7].doi == "10.1007/s11845-009-0447-9"
    assert refs[7].url == "http://www.springerlink.com/content/e051776409221543/"
    assert refs[0].text.startswith("Hartman DS, Hayes WS, Choyke PL, Tibbetts GP.")
    assert "*Radiographics* 1992; 12(6):1203-1220." in refs[0].text
    assert [r.doi for r in refs].count("") == 14


@pytest.mark.django_db
def test_reference_split_by_page_break_is_whole(seed_case):
    ref12 = seed_case.references.get(order=12)
    assert ref12.text == (
        "Sultana N, Pikaart DP, Ahmad S, DeNardis SA, Finkler NJ. Paraovarian leiomyosarcoma "
        "with scalp metastasis: a case report. *Eur J Gynaecol Oncol* 2009;30(5):566-567."
    )
    assert ref12.pmid == "19899418"


@pytest.mark.django_db
def test_keywords_and_abbreviations(seed_case):
    assert sorted(seed_case.keywords.values_list("name", flat=True)) == [
        "Computed tomography",
        "Leiomyosarcoma",
        "Metastasis",
        "Pancreas",
        "Retroperitoneum",
        "Skeletal muscle",
    ]
    abbreviations = {a.abbreviation: a.expansion for a in seed_case.abbreviations.all()}
    assert abbreviations == {
        "CT": "Computed tomography",
        "IVC": "Inferior vena cava",
        "IHC": "Immunohistochemistry",
    }


@pytest.mark.django_db
def test_modality_and_body_system_tags(seed_case):
    modality = set(seed_case.tags.filter(kind=Tag.Kind.MODALITY).values_list("name", flat=True))
    assert modality == {"CT", "Radiograph", "Ultrasound"}
    system = list(seed_case.tags.filter(kind=Tag.Kind.SYSTEM).values_list("name", flat=True))
    assert system == ["Abdomen"]


@pytest.mark.django_db
def test_existing_tags_and_keywords_are_reused(db):
    ct = Tag.objects.create(kind=Tag.Kind.MODALITY, name="CT")
    keyword = Keyword.objects.create(name="leiomyosarcoma")
    case = article_import(path=SEED)
    assert ct in case.tags.all() and keyword in case.keywords.all()
    assert Tag.objects.filter(kind=Tag.Kind.MODALITY, slug="ct").count() == 1
    assert Keyword.objects.filter(name__iexact="leiomyosarcoma").count() == 1


# --- options and re-runs ---------------------------------------------------------------------


@pytest.mark.django_db
def test_draft_flag_and_explicit_unknown_title(db):
    case = article_import(path=SEED, draft=True, unknown_title="52-year-old woman with a lump")
    assert case.status == Case.Status.DRAFT
    assert case.unknown_title == "52-year-old woman with a lump"


@pytest.mark.django_db
def test_rerun_updates_in_place_without_duplicates(seed_case):
    first = (seed_case.pk, seed_case.public_id, seed_case.slug)
    figure_pk = seed_case.figures.get(number=9).pk
    Slice.objects.create(figure_id=figure_pk, image="slices/ab/x.png", width=8, height=8)
    case = article_import(path=SEED)
    assert (case.pk, case.public_id, case.slug) == first
    assert Case.objects.count() == 1
    assert case.authors.count() == 5
    assert case.affiliations.count() == 3
    assert case.figures.count() == 12
    assert case.tables.count() == 2
    assert sum(t.rows.count() for t in case.tables.all()) == 11
    assert case.references.count() == 16
    assert case.abbreviations.count() == 3
    assert case.keywords.count() == 6
    assert case.tags.count() == 4
    # Images attached to a figure after the first import survive the second.
    assert case.figures.get(number=9).pk == figure_pk
    assert Slice.objects.filter(figure_id=figure_pk).count() == 1


@pytest.mark.django_db
def test_rerun_keeps_edited_unknown_title_unless_given(db):
    article_import(path=SEED, unknown_title="52-year-old woman with a paraumbilical lump")
    case = article_import(path=SEED)
    assert case.unknown_title == "52-year-old woman with a paraumbilical lump"
    case = article_import(path=SEED, unknown_title="Another title", draft=True)
    assert case.unknown_title == "Another title"
    assert case.status == Case.Status.DRAFT


@pytest.mark.django_db
def test_new_article_with_a_taken_slug_gets_its_own(db):
    other = Case.objects.create(slug="pulmonary-embolism-in-a-young-runner", title="x")
    other.external_id = "medpix:MPX1"
    other.save()
    case = article_import(text=SYNTHETIC)
    assert case.pk != other.pk
    assert case.slug == "pulmonary-embolism-in-a-young-runner-2"


# --- tolerance -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_other_layout_imports_and_reruns_by_slug(db):
    case = article_import(text=SYNTHETIC)
    assert case.title == "Pulmonary embolism in a young runner"
    assert case.external_id == "" and case.doi == ""
    assert case.citation == "J Radiol Case Rep 2020;14(3):10-15"
    assert list(case.authors.values_list("affiliation_marks", "is_corresponding")) == [
        ("1", True),
        ("1,2", False),
    ]
    assert case.correspondence == "Dr. Ann Example, Example Hospital. E-mail: ann@example.org"
    assert case.history.endswith("He was otherwise well.")
    assert case.findings.startswith("A CT pulmonary angiogram showed a filling defect")
    assert case.treatment == "He was anticoagulated and recovered."
    # A section with no field of its own is kept, after the discussion.
    assert case.discussion.endswith(
        "### Introduction\n\nPulmonary embolism is rarely considered in athletes."
    )
    assert case.figures.count() == 2 and case.tables.count() == 0
    fig1, fig2 = case.figures.all()
    assert (fig1.modality, fig1.plane, fig2.plane) == ("CT", "Axial", "Coronal")
    assert fig1.unknown_caption.startswith("Axial CT pulmonary angiogram")
    assert case.diagnosis == "Pulmonary embolism"
    assert (case.age, case.sex, case.unknown_title) == (34, "M", "34-year-old man")
    assert case.differential == ""
    assert case.references.get().pmid == "123"
    assert case.licence == "" and case.article_url == ""
    again = article_import(text=SYNTHETIC)
    assert again.pk == case.pk and Case.objects.count() == 1


def test_unbolded_captions_in_figures_section():
    text = SYNTHETIC.replace("**Figure 1:**", "Figure 1:").replace("**Figure 2:**", "Figure 2.")
    article = article_parse(text)
    assert [f.number for f in article.figures] == [1, 2]
    assert article.figures[1].caption.startswith("34-year-old man with pulmonary embolism.")


def test_parser_needs_no_database():
    article = article_parse(SEED.read_text(encoding="utf-8"))
    assert len(article.figures) == 12 and len(article.tables) == 2
    assert article.external_id == "doi:10.3941/jrcr.v5i6.626"


# --- malformed input -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("   \n\n", "empty"),
        ("Just some notes\n\n## CASE REPORT\n\nText.\n", "# Title"),
        (bytes(range(256)) * 8, "binary"),
        ("\ufeff# Title only\n\nNo sections here.\n", "CASE REPORT"),
    ],
)
def test_malformed_file_is_refused_and_nothing_written(tmp_path, content, message):
    path = _write(tmp_path, content)
    with pytest.raises(ArticleFormatError, match=message):
        article_import(path=path)
    with pytest.raises(CommandError, match=message):
        call_command("import_article", str(path), stdout=StringIO())
    assert not Case.objects.exists()


@pytest.mark.django_db
def test_non_utf8_text_is_refused(tmp_path):
    path = _write(tmp_path, SYNTHETIC.encode("utf-16"))
    with pytest.raises(ArticleFormatError):
        article_import(path=path)
    assert not Case.objects.exists()


@pytest.mark.django_db
def test_repeated_figure_number_is_an_error(tmp_path):
    text = SYNTHETIC.replace("**Figure 2:**", "**Figure 1:**")
    with pytest.raises(ArticleFormatError, match="Figure 1 appears twice"):
        article_import(text=text)
    with pytest.raises(CommandError, match="Figure 1 appears twice"):
        call_command("import_article", str(_write(tmp_path, text)), stdout=StringIO())
    assert not Case.objects.exists()


@pytest.mark.django_db
def test_failed_rerun_leaves_the_case_untouched(seed_case):
    text = SEED.read_text(encoding="utf-8").replace("**Figure 12:**", "**Figure 3:**")
    with pytest.raises(ArticleFormatError):
        article_import(text=text)
    assert Case.objects.get().figures.count() == 12


@pytest.mark.django_db
def test_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_article", str(tmp_path / "nope.md"), stdout=StringIO())


# --- the command -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_command_prints_url_path(capsys):
    call_command("import_article", str(SEED))
    case = Case.objects.get()
    assert capsys.readouterr().out.strip() == case.get_absolute_url()
    assert case.get_absolute_url() == f"/cases/{case.slug}/"
    assert case.status == Case.Status.PUBLISHED


@pytest.mark.django_db
def test_command_draft_and_unknown_title_options():
    out = StringIO()
    call_command("import_article", str(SEED), "--draft", "--unknown-title", "A lump", stdout=out)
    case = Case.objects.get()
    assert out.getvalue().strip() == f"/cases/{case.slug}/"
    assert case.status == Case.Status.DRAFT
    assert case.unknown_title == "A lump"


@pytest.mark.django_db
def test_figure_model_choices_cover_parsed_modalities(seed_case):
    values = set(Figure.Modality.values)
    assert set(seed_case.figures.values_list("modality", flat=True)) <= values
