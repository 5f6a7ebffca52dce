from __future__ import annotations

import datetime
import json
import re
import shutil
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from PIL import Image

from cases.importers import medpix
from cases.importers.medpix import (
    MedpixImportError,
    differential_clean,
    discussion_join,
    medpix_import,
    references_parse,
    text_clean,
    title_clean,
)
from cases.models import Case, Figure, Slice
from tests.hostile import assert_media_clean, phi_dicom_bytes, phi_jpeg_bytes

pytestmark = pytest.mark.django_db

DEMO = Path(__file__).resolve().parent.parent / "cases" / "demo" / "medpix"
FULL = Path("/work/shared/data/medpix")


@pytest.fixture
def media_root(settings) -> Path:
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def demo_copy(tmp_path) -> Path:
    """A writable copy of the demo subset, for tests that damage it."""
    target = tmp_path / "medpix"
    shutil.copytree(DEMO, target)
    return target


def media_files(root: Path) -> set[str]:
    if not root.exists():
        return set()
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def run_command(folder: Path, *extra: str) -> str:
    out = StringIO()
    call_command(
        "import_medpix",
        str(folder / "Case_topic.json"),
        "--descriptions",
        str(folder / "Descriptions.json"),
        "--images",
        str(folder / "images"),
        *extra,
        stdout=out,
    )
    return out.getvalue()


def import_folder(folder: Path, **options):
    return medpix_import(
        topics_path=folder / "Case_topic.json",
        descriptions_path=folder / "Descriptions.json",
        images_dir=folder / "images",
        **options,
    )


def raw_case(u_id: str, folder: Path = DEMO) -> dict:
    topics = json.loads((folder / "Case_topic.json").read_text())
    return next(item for item in topics if item["U_id"] == u_id)


def test_demo_subset_gives_7_published_cases_and_30_images(media_root):
    output = run_command(DEMO)
    assert output.strip() == "Imported 7 cases (7 new, 0 updated) with 30 images; skipped 0."
    assert Case.objects.count() == 7
    assert set(Case.objects.values_list("status", flat=True)) == {Case.Status.PUBLISHED}
    assert Figure.objects.count() == 30 and Slice.objects.count() == 30
    assert len(media_files(media_root)) == 30
    assert all(name.endswith(".png") for name in media_files(media_root))


def test_mpx2322_fields_match_the_source(media_root):
    import_folder(DEMO)
    case = Case.objects.get(external_id="medpix:MPX2322")
    raw = raw_case("MPX2322")
    assert case.title == "Arachnoid Cyst"
    assert case.slug == "medpix-mpx2322-arachnoid-cyst"
    assert (case.age, case.sex) == (27, Case.Sex.MALE)
    assert case.diagnosis == "Arachnoid Cyst"
    assert case.differential_list == [
        "Arachnoid cyst",
        "Epidermoid cyst",
        "Dermoid cyst",
        "Parasitic cyst",
        "Cystic glioma",
        "Chronic Hematoma",
    ]
    assert case.history == raw["Case"]["History"].strip()
    assert case.treatment.startswith("-None if asymptomatic\n-Diuretic therapy")
    assert case.diagnosis_by == "MRI"
    # The case's discussion, then the topic's, as MedPix shows them.
    assert case.discussion == (
        "### Case discussion\n\n"
        + text_clean(raw["Case"]["Discussion"])
        + "\n\n### Topic discussion\n\n"
        + text_clean(raw["Topic"]["Disease Discussion"])
    )
    assert case.discussion.count("Arachnoid cysts are histologically benign") == 1
    assert "A large study of almost 12,000 children" in case.discussion
    assert (case.acr_code, case.category) == ("1.9", "Cyst, benign")
    assert case.unknown_title == "27-year-old man, MRI"
    assert case.source == (
        "MedPix case MPX2322, U.S. National Library of Medicine "
        "(MedPix 2.0 data set, Siragusa et al. 2025)"
    )
    assert case.licence == "MedPix (NLM), for education"
    assert sorted((t.kind, t.name) for t in case.tags.all()) == [
        ("modality", "MRI"),
        ("system", "Brain and Neuro"),
        ("system", "Head"),
    ]
    figures = list(case.figures.all())
    assert [(f.number, f.modality, f.plane, f.technique) for f in figures] == [
        (1, Figure.Modality.MR, "Axial", "MR - T2 weighted"),
        (2, Figure.Modality.MR, "Axial", "MR - FLAIR"),
        (3, Figure.Modality.MR, "Sagittal", "MR - T1W - noncontrast"),
        (4, Figure.Modality.MR, "Axial", "MR - T1W w/Gadolinium"),
    ]
    assert figures[0].alt_text == "MRI, Axial"
    assert figures[0].caption.startswith("Cystic lesion anterior to the left temporal lobe")
    # Every caption says "arachnoid cyst": none is safe to show before the diagnosis.
    assert [f.unknown_caption for f in figures] == ["", "", "", ""]
    slice_ = figures[0].slices.get()
    assert (slice_.kind, slice_.image.name.endswith(".png")) == (Slice.Kind.GREY8, True)
    references = list(case.references.all())
    assert len(references) == 7
    assert references[2].text == (
        "Gandy SE, Heier LA. Clinical and magnetic resonance features of primary "
        "intracranial arachnoid cysts. Ann Neurol. 1987 Apr;21(4):342-8."
    )
    # The study the topic's discussion cites by PMID only, after the listed references.
    assert (references[6].order, references[6].pmid) == (7, "20515330")


def test_n_a_fields_become_empty():
    assert raw_case("MPX1551")["Case"]["Exam"].strip().upper() == "N/A"
    assert raw_case("MPX2519")["Case"]["Differential Diagnosis"].strip().upper() == "N/A"
    import_folder(DEMO)
    assert Case.objects.get(external_id="medpix:MPX1551").exam == ""
    assert Case.objects.get(external_id="medpix:MPX2519").differential == ""


def test_figures_are_numbered_ct_first_then_mr_as_listed():
    import_folder(DEMO)
    raw = raw_case("MPX2288")
    case = Case.objects.get(external_id="medpix:MPX2288")
    modalities = [f.modality for f in case.figures.all()]
    assert modalities == ["CT"] * len(raw["TAC"]) + ["MR"] * len(raw["MRI"])
    assert case.unknown_title == "45-year-old woman, CT and MRI"


def test_reimport_updates_in_place(media_root, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = import_folder(DEMO)
    ids = {
        "cases": sorted(Case.objects.values_list("pk", "slug", "public_id")),
        "figures": sorted(Figure.objects.values_list("pk", flat=True)),
        "slices": sorted(Slice.objects.values_list("pk", "image")),
    }
    files = media_files(media_root)
    with django_capture_on_commit_callbacks(execute=True):
        second = import_folder(DEMO)
    assert (first.created, first.updated, second.created, second.updated) == (7, 0, 0, 7)
    assert second.images == first.images == 30
    assert ids == {
        "cases": sorted(Case.objects.values_list("pk", "slug", "public_id")),
        "figures": sorted(Figure.objects.values_list("pk", flat=True)),
        "slices": sorted(Slice.objects.values_list("pk", "image")),
    }
    assert media_files(media_root) == files
    assert Case.objects.get(external_id="medpix:MPX2322").references.count() == 7


def test_reimport_replaces_a_changed_image_and_deletes_the_old_file(
    demo_copy, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        import_folder(demo_copy)
    figure = Figure.objects.get(case__external_id="medpix:MPX2322", number=2)
    old = figure.slices.get()
    image_path = demo_copy / "images" / "MPX2322_synpic28576.png"
    flipped = np.asarray(Image.open(image_path))[::-1]
    Image.fromarray(flipped).save(image_path)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        output = run_command(demo_copy)
        assert old.image.name in media_files(media_root)  # kept until the commit
    for callback in callbacks:
        callback()

    assert output.startswith("Imported 7 cases (0 new, 7 updated) with 30 images")
    new = figure.slices.get()
    assert new.pk != old.pk and Figure.objects.count() == 30
    assert old.image.name not in media_files(media_root)
    assert len(media_files(media_root)) == 30


def test_a_missing_or_bad_image_is_skipped_and_the_case_still_imports(demo_copy, media_root):
    (demo_copy / "images" / "MPX2322_synpic28576.png").unlink()
    (demo_copy / "images" / "MPX1064_synpic41378.png").write_text("not an image at all")

    output = run_command(demo_copy)

    assert output.splitlines() == [
        "Imported 7 cases (7 new, 0 updated) with 28 images; skipped 2:",
        "  MPX2322_synpic28576: image file not found (MPX2322_synpic28576.png)",
        "  MPX1064_synpic41378: not an allowed image format (PNG, JPEG, TIFF or DICOM)",
    ]
    case = Case.objects.get(external_id="medpix:MPX2322")
    assert [(f.number, f.technique) for f in case.figures.all()] == [
        (1, "MR - T2 weighted"),
        (2, "MR - T1W - noncontrast"),
        (3, "MR - T1W w/Gadolinium"),
    ]
    assert len(media_files(media_root)) == 28


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("Case_topic.json", '[{"U_id": "MPX1", ', "Case_topic.json: invalid JSON at line 1"),
        ("Case_topic.json", '{"U_id": "MPX1"}', "expected a list of cases, found dict"),
        ("Case_topic.json", '[{"TAC": [], "MRI": []}]', "case 1: missing 'U_id'"),
        ("Case_topic.json", '[{"U_id": "MPX1", "TAC": "a.png"}]', "'TAC' must be a list"),
        ("Descriptions.json", '[{"U_id": "MPX1"}]', "description 1: missing 'image'"),
        ("Descriptions.json", "[1, 2]", "description 1: expected an object, found int"),
    ],
)
def test_malformed_json_is_a_clear_error_and_writes_nothing(
    demo_copy, media_root, name, content, message
):
    _write(demo_copy, name, content)
    with pytest.raises(CommandError, match=re.escape(message)):
        run_command(demo_copy)
    assert Case.objects.count() == 0 and Figure.objects.count() == 0
    assert media_files(media_root) == set()


def test_duplicate_case_ids_are_rejected_before_anything_is_written(demo_copy, media_root):
    topics = json.loads((demo_copy / "Case_topic.json").read_text())
    topics.append(dict(topics[0], U_id=" MPX2322 "))
    (demo_copy / "Case_topic.json").write_text(json.dumps(topics))
    with pytest.raises(MedpixImportError, match="U_id 'MPX2322' appears more than once"):
        import_folder(demo_copy)
    assert Case.objects.count() == 0 and media_files(media_root) == set()


def test_a_failure_midway_rolls_back_and_removes_the_files_written(media_root, monkeypatch):
    from cases.importers import medpix

    real_tags_set = medpix._tags_set

    def tags_set_failing_on_the_last_case(case, *args):
        if case.external_id == "medpix:MPX1064":  # the last of the 7, after 26 images
            raise RuntimeError("database went away")
        real_tags_set(case, *args)

    monkeypatch.setattr(medpix, "_tags_set", tags_set_failing_on_the_last_case)
    with pytest.raises(RuntimeError, match="database went away"):
        import_folder(DEMO)
    assert Case.objects.count() == 0 and Slice.objects.count() == 0
    assert media_files(media_root) == set()


def test_a_taken_slug_gets_a_suffix():
    Case.objects.create(slug="medpix-mpx2322-arachnoid-cyst", title="Someone else's case")
    import_folder(DEMO)
    case = Case.objects.get(external_id="medpix:MPX2322")
    assert case.slug == "medpix-mpx2322-arachnoid-cyst-2"


def test_draft_option_imports_drafts():
    run_command(DEMO, "--draft")
    assert set(Case.objects.values_list("status", flat=True)) == {Case.Status.DRAFT}


def test_unknown_titles_and_captions_never_name_the_diagnosis():
    import_folder(DEMO)
    checked = 0
    for case in Case.objects.prefetch_related("figures"):
        words = {w.lower() for w in re.findall(r"[A-Za-z]+", case.diagnosis) if len(w) > 5}
        assert case.diagnosis.lower() not in case.unknown_title.lower()
        assert not words & {w.lower() for w in re.findall(r"[A-Za-z]+", case.unknown_title)}
        for figure in case.figures.all():
            shown = {w.lower() for w in re.findall(r"[A-Za-z]+", figure.unknown_caption)}
            assert not words & shown, (case.external_id, figure.number)
            checked += bool(figure.unknown_caption)
    assert checked > 0  # some captions are spoiler-free and kept


def test_title_and_list_cleaning_on_medpix_text():
    assert title_clean(raw_case("MPX2322")["Case"]["Title"]) == "Arachnoid Cyst"
    long_title = (
        'Autosomal Dominant "Adult" Polycystic Kidney Disease (ADPKD).  \r\n\r\n'
        "Family Hx revealed PT's father with history of HTN, RF, and subarachnoid hemmorhage "
        "secondary to a ruptured berry aneurysm, which is a known association."
    )
    assert title_clean(long_title.replace("\r\n", "\n")) == (
        'Autosomal Dominant "Adult" Polycystic Kidney Disease (ADPKD)'
    )
    assert differential_clean("•  Sinus neoplasm\n•  Chronic bacterial sinusitis") == (
        "Sinus neoplasm\nChronic bacterial sinusitis"
    )
    assert differential_clean(
        "Fibrous Dysplasia, ABC, Hemangioma, Bone Infarct, Chondroid Tumor, Intraosseous Lipoma"
    ).split("\n") == [
        "Fibrous Dysplasia",
        "ABC",
        "Hemangioma",
        "Bone Infarct",
        "Chondroid Tumor",
        "Intraosseous Lipoma",
    ]


def test_references_are_split_with_pmid_doi_and_url():
    rows = references_parse(
        "References:\n\n1. Iwuagwu O, Deans G.T.  Small bowel volvulus: a review. \n"
        "Journal of the Royal College of Surgeons of Edinburgh. 1999: 44 (3) \n\n"
        "2. Friedberg B. Small-Bowel Obstruction.\nhttp://www.emedicine.com/ped/topic1203.htm. 2003"
        "\n-Smith J. Cysts. Radiology 2010;255:1-9. doi:10.1148/radiol.10090001. PMID: 20308444"
        "\n- Jones K. Other cysts. AJNR 2001. PMID 11222333"
    )
    assert [row["text"][:24] for row in rows] == [
        "Iwuagwu O, Deans G.T. Sm",
        "Friedberg B. Small-Bowel",
        "Smith J. Cysts. Radiolog",
        "Jones K. Other cysts. AJ",
    ]
    assert rows[0]["text"].endswith("Surgeons of Edinburgh. 1999: 44 (3)")
    assert rows[1]["url"] == "http://www.emedicine.com/ped/topic1203.htm"
    assert (rows[2]["pmid"], rows[2]["doi"]) == ("20308444", "10.1148/radiol.10090001")
    assert rows[3]["pmid"] == "11222333"
    assert references_parse("Not provided") == references_parse("N/A") == []


@pytest.mark.skipif(not FULL.is_dir(), reason="full MedPix 30-case set not present")
def test_full_30_case_set_imports(media_root):
    result = import_folder(FULL)
    assert (result.created, result.images, result.skipped) == (30, 111, [])
    assert Slice.objects.count() == 111
    titles = list(Case.objects.values_list("title", flat=True))
    assert all(0 < len(title) <= 121 for title in titles)
    assert Case.objects.get(external_id="medpix:MPX1996").title == (
        'Autosomal Dominant "Adult" Polycystic Kidney Disease (ADPKD)'
    )
    assert Case.objects.get(external_id="medpix:MPX1366").age is None  # MedPix's 0: not known
    assert Case.objects.get(external_id="medpix:MPX1539").unknown_title == "Patient, CT"


# --- what the source holds beyond the case text: both discussions, "Diagnosis By", links ----


def test_both_discussions_diagnosis_by_and_treatment_are_kept():
    import_folder(DEMO)
    case = Case.objects.get(external_id="medpix:MPX1366")
    raw = raw_case("MPX1366")
    assert case.discussion.startswith("### Case discussion\n\nThis patient’s demographics")
    assert "### Topic discussion\n\nFibromuscular dysplasia represents" in case.discussion
    assert case.diagnosis_by == "Imaging to include CT, MR, and Angiography"
    assert case.treatment == text_clean(raw["Case"]["Treatment & Follow Up"])
    # No case discussion: the topic's alone, without headings.
    lone = Case.objects.get(external_id="medpix:MPX2519")
    assert lone.discussion == text_clean(raw_case("MPX2519")["Topic"]["Disease Discussion"])


def test_a_case_discussion_that_points_to_the_topic_gives_way_to_it():
    raw = raw_case("MPX1551")
    assert raw["Case"]["Discussion"] == "Please see topic."
    import_folder(DEMO)
    case = Case.objects.get(external_id="medpix:MPX1551")
    assert case.discussion == text_clean(raw["Topic"]["Disease Discussion"])
    assert discussion_join("Please see factoid.", "Chordomas are rare.") == "Chordomas are rare."


def test_alike_discussions_are_kept_once():
    text = "Pleural plaques are circumscribed areas of pleural thickening. " * 8
    corrected = text.replace("circumscribed", "circumscribd", 1)
    assert discussion_join(text, text) == text
    assert discussion_join(text[:200], text) == text  # one holds the other: the longer
    assert discussion_join(corrected, text + "More.") == text + "More."
    assert discussion_join("Short case note.", text).startswith("### Case discussion")


def test_external_links_and_references_become_reference_rows():
    import_folder(DEMO)
    lone_link = Case.objects.get(external_id="medpix:MPX1213")
    assert list(lone_link.references.values_list("order", "text", "url")) == [
        (
            1,
            "External link: rad.usuhs.mil/medpix/radpix.html?mode=single&recnum=691",
            "http://rad.usuhs.mil/medpix/radpix.html?mode=single&recnum=691",
        )
    ]
    fungal = list(Case.objects.get(external_id="medpix:MPX1064").references.all())
    assert [r.text[:20] for r in fungal[:2]] == ["UpToDate: Fungal Sin", "Mukherji SK et al: A"]
    assert fungal[-1].text.startswith("External link: www.utdol.com")
    assert fungal[-1].url.startswith("http://www.utdol.com.gw3.lrc.usuhs.mil/utd/content/")


def test_a_medpix_case_is_cited_as_a_web_page_by_the_institution(monkeypatch):
    monkeypatch.setattr(medpix.timezone, "localdate", lambda: datetime.date(2026, 3, 9))
    import_folder(DEMO)
    case = Case.objects.get(external_id="medpix:MPX2322")
    assert [(a.name, a.is_organisation) for a in case.authors.all()] == [
        ("U.S. National Library of Medicine", True)
    ]
    assert case.accessed == datetime.date(2026, 3, 9)
    assert case.article_url == (
        "https://medpix.nlm.nih.gov/search?allen=true&allt=true&alli=true&query=MPX2322"
    )
    assert case.journal == "MedPix"
    assert case.year is None  # MedPix dates no case: no year to sort it by


def test_a_named_contributor_is_the_author(demo_copy):
    topics = json.loads((demo_copy / "Case_topic.json").read_text())
    topics[0]["Case"]["Author"] = "Jane Roe; John Doe"
    (demo_copy / "Case_topic.json").write_text(json.dumps(topics))
    import_folder(demo_copy)
    case = Case.objects.get(external_id=f"medpix:{topics[0]['U_id']}")
    assert [(a.name, a.is_organisation) for a in case.authors.all()] == [
        ("Jane Roe", False),
        ("John Doe", False),
    ]


def test_reimport_fills_in_what_an_earlier_import_left_out(demo_copy, monkeypatch):
    """A library imported before these fields were read gets them on the next import."""
    topics = json.loads((demo_copy / "Case_topic.json").read_text())
    for topic in topics:
        topic["Topic"].pop("Disease Discussion", None)
        topic["Topic"].pop("External Links", None)
        topic["Case"].pop("Diagnosis By", None)
    (demo_copy / "Case_topic.json").write_text(json.dumps(topics))
    import_folder(demo_copy)
    # What the earlier importer wrote: no authors, no access date, no source URL.
    Case.objects.update(accessed=None, article_url="", journal="")
    for case in Case.objects.all():
        case.authors.all().delete()
    before = Case.objects.get(external_id="medpix:MPX2322")
    assert "### Topic discussion" not in before.discussion and before.diagnosis_by == ""
    figures = sorted(Figure.objects.values_list("pk", flat=True))

    monkeypatch.setattr(medpix.timezone, "localdate", lambda: datetime.date(2026, 3, 9))
    result = import_folder(DEMO)

    assert (result.created, result.updated) == (0, 7)
    after = Case.objects.get(external_id="medpix:MPX2322")
    assert (after.pk, after.slug, after.public_id) == (before.pk, before.slug, before.public_id)
    assert after.discussion.startswith("### Case discussion\n\nArachnoid cysts are")
    assert "### Topic discussion\n\nTrue cysts of the CNS" in after.discussion
    assert after.diagnosis_by == "MRI"
    assert after.references.count() == 7
    assert after.authors.get().name == "U.S. National Library of Medicine"
    assert after.accessed == datetime.date(2026, 3, 9) and after.article_url
    link = Case.objects.get(external_id="medpix:MPX1213").references.get()
    assert link.url.startswith("http://rad.usuhs.mil/")
    assert sorted(Figure.objects.values_list("pk", flat=True)) == figures


def test_reimport_keeps_an_author_row_that_is_already_right():
    import_folder(DEMO)
    case = Case.objects.get(external_id="medpix:MPX2322")
    author = case.authors.get()
    import_folder(DEMO)
    assert case.authors.get().pk == author.pk


def test_the_library_order_index_survives_the_migration_that_adds_medpix_fields():
    # 0014 adds a NOT NULL column to cases_case without SQLite rebuilding the table, which
    # would drop this index (created by 0008 outside the model state).
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE name = 'cases_case_library_order_idx'"
            )
        else:
            cursor.execute(
                "SELECT indexname FROM pg_indexes WHERE indexname = 'cases_case_library_order_idx'"
            )
        assert cursor.fetchone()


def test_hostile_images_are_stored_clean_and_the_summary_names_what_went(demo_copy, media_root):
    # MedPix names every image .png; the ingest goes by content, so these are DICOM and JPEG.
    (demo_copy / "images" / "MPX2322_synpic28576.png").write_bytes(phi_dicom_bytes())
    (demo_copy / "images" / "MPX1064_synpic41378.png").write_bytes(phi_jpeg_bytes())
    output = run_command(demo_copy)
    assert output.splitlines()[0].startswith("Imported 7 cases (7 new, 0 updated) with 30 images")
    summary = output.splitlines()[1]
    assert summary.startswith("De-identification removed")
    for name in ("PatientName", "ProtocolName", "EXIF", "data after the image"):
        assert name in summary
    assert assert_media_clean(media_root) == 30
