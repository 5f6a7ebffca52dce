from __future__ import annotations

import pytest

from cases.models import Case, Figure
from cases.spoilers import REDACTED, diagnosis_phrases, spoiler_check, spoiler_patterns, text_mask

pytestmark = pytest.mark.django_db


@pytest.fixture
def spoiled(db) -> Case:
    case = Case.objects.create(
        slug="spoiled",
        title="Arachnoid cyst",
        status=Case.Status.PUBLISHED,
        unknown_title="27-year-old man with hearing loss",
        history="Hearing loss.",
        findings="1. Incidentally noted anterior left temporal fossa arachnoid cyst.",
        diagnosis="Arachnoid Cyst",
        diagnosis_synonyms="Leptomeningeal cyst",
        discussion="Arachnoid cysts are benign.",
    )
    Figure.objects.create(
        case=case,
        number=1,
        caption="Arachnoid cyst, left.",
        unknown_caption="A leptomeningeal cysts, left.",
    )
    Figure.objects.create(
        case=case, number=2, reveal_step=5, unknown_caption="Arachnoid cyst (histology)"
    )
    return case


def test_phrases_include_parts_and_synonyms():
    case = Case(diagnosis="Diffuse cerebral edema - mimic of SAH", diagnosis_synonyms="Pseudo-SAH")
    phrases = diagnosis_phrases(case)
    assert "Diffuse cerebral edema - mimic of SAH" in phrases
    assert "Diffuse cerebral edema" in phrases and "mimic of SAH" in phrases
    assert "Pseudo-SAH" in phrases


def test_check_lists_each_early_field_that_names_the_diagnosis(spoiled):
    warnings = spoiler_check(spoiled)
    assert [(w.field, w.phrase) for w in warnings] == [
        ("findings", "Arachnoid Cyst"),
        ("Figure 1 spoiler-free caption", "Leptomeningeal cyst"),
    ]
    assert "temporal fossa arachnoid cyst" in warnings[0].text


def test_mask_ignores_case_and_plural():
    case = Case(diagnosis="Arachnoid Cyst")
    masked = text_mask("Two ARACHNOID CYSTS and an arachnoid-cyst.", spoiler_patterns(case))
    assert masked == f"Two {REDACTED} and an {REDACTED}."


def test_admin_spoiler_page_lists_and_redacts_in_one_click(client, staff, spoiled):
    client.force_login(staff)
    url = f"/admin/cases/case/{spoiled.pk}/spoilers/"
    page = client.get(url).content.decode()
    assert "temporal fossa arachnoid cyst" in page and "Redact all 2" in page
    response = client.post(url)
    assert response.status_code == 302
    spoiled.refresh_from_db()
    assert spoiled.findings == f"1. Incidentally noted anterior left temporal fossa {REDACTED}."
    assert spoiled.discussion == "Arachnoid cysts are benign."  # shown after the diagnosis
    assert Figure.objects.get(case=spoiled, number=1).unknown_caption == f"A {REDACTED}, left."
    assert (
        Figure.objects.get(case=spoiled, number=2).unknown_caption == "Arachnoid cyst (histology)"
    )
    assert spoiler_check(spoiled) == []


def test_admin_spoiler_page_is_for_staff_only(client, learner, spoiled):
    client.force_login(learner)
    response = client.get(f"/admin/cases/case/{spoiled.pk}/spoilers/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_importers_report_what_names_the_diagnosis_early(capsys):
    from django.core.management import call_command

    from tests.conftest import DEMO_DIR

    medpix = DEMO_DIR / "medpix"
    call_command(
        "import_medpix",
        str(medpix / "Case_topic.json"),
        descriptions=str(medpix / "Descriptions.json"),
        images=str(medpix / "images"),
    )
    err = capsys.readouterr().err
    assert "spoiler check, medpix-mpx2322-arachnoid-cyst: findings names “Arachnoid Cyst”" in err
