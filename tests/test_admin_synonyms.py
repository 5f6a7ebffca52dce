"""The diagnosis's other names are edited in the case's admin page, and they count."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from cases.models import Attempt, Case
from cases.scoring import differential_score
from cases.spoilers import spoiler_check

pytestmark = pytest.mark.django_db


class _FormFields(HTMLParser):
    """The values a browser would post for the page's main form (no JavaScript)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._textarea: str | None = None
        self._select: str | None = None
        self._selected: list[str] = []
        self._options: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "file", "button"):
            ticked = a.get("type") in ("checkbox", "radio")
            if ticked and "checked" not in a:
                return
            self.data.setdefault(name, []).append(a.get("value") or ("on" if ticked else ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]
        elif tag == "select" and name:
            self._select, self._selected, self._options = name, [], []
        elif tag == "option" and self._select:
            self._options.append(a.get("value", ""))
            if "selected" in a:
                self._selected.append(a.get("value", ""))

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][0] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select" and self._select:
            if self._selected:
                self.data[self._select] = self._selected
            self._select = None


def admin_form_data(html: str) -> dict[str, list[str]]:
    parser = _FormFields()
    parser.feed(html)
    # Django renders a textarea's value after a newline it drops on reading.
    return {
        k: [v[1:] if v.startswith("\n") else v for v in values] for k, values in parser.data.items()
    }


@pytest.fixture
def author(client, staff):
    client.force_login(staff)
    return client


def _case_save(client, case: Case, **changes) -> object:
    url = f"/admin/cases/case/{case.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    data = admin_form_data(page.content.decode()) | {k: [v] for k, v in changes.items()}
    response = client.post(url, data, follow=True)
    assert response.redirect_chain, _errors(response.content.decode())
    return response


def _errors(html: str) -> list[str]:
    import re

    return re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', html, re.S)


def test_case_page_has_the_other_names_box_with_its_hint(author, published_case):
    page = author.get(f"/admin/cases/case/{published_case.pk}/change/").content.decode()
    assert '<textarea name="diagnosis_synonyms"' in page
    assert "counts as a right answer" in page
    assert "masked like the diagnosis" in page


def test_other_names_edited_in_the_admin_score_as_right_answers(author, published_case):
    assert differential_score(published_case, ["Bronchogenic carcinoma"]) == (0.0, None)
    response = _case_save(
        author, published_case, diagnosis_synonyms="Bronchogenic carcinoma\nNSCLC"
    )
    assert response.status_code == 200
    published_case.refresh_from_db()
    assert published_case.diagnosis_synonyms == "Bronchogenic carcinoma\nNSCLC"
    assert differential_score(published_case, ["Pneumonia", "Bronchogenic carcinoma"]) == (
        0.5,
        2,
    )


def test_a_learner_answer_naming_an_other_name_is_scored_right(client, author, published_case):
    _case_save(author, published_case, diagnosis_synonyms="Bronchogenic carcinoma")
    client.logout()
    public = published_case.public_id
    for step in (1, 2, 3, 4):
        client.get(f"/u/{public}/{step}/")
    client.post(f"/u/{public}/differential/", {"first": "bronchogenic carcinoma"})
    progress = client.session["unknown"][public]
    assert progress["rank"] == 1 and progress["score"] == 1.0
    assert not Attempt.objects.exists()  # anonymous: nothing recorded


def test_other_names_edited_in_the_admin_are_masked_before_the_diagnosis(
    author, client, published_case
):
    Case.objects.filter(pk=published_case.pk).update(
        history="Smoker; the referrer suspects a Pancoast tumour."
    )
    published_case.refresh_from_db()
    response = _case_save(author, published_case, diagnosis_synonyms="Pancoast tumour")
    # The spoiler check after the save names the other name.
    assert "Spoiler in history" in response.content.decode()
    assert "Pancoast tumour" in response.content.decode()
    client.logout()
    page = client.get(f"/u/{published_case.public_id}/1/").content.decode()
    assert "Pancoast" not in page
    assert "[redacted]" in page


def test_spoiler_check_reads_annotation_labels_shown_before_the_diagnosis(published_case):
    figure = published_case.figures.get(number=1)
    figure.annotations.create(x=0.5, y=0.5, label="lung adenocarcinoma")
    warnings = spoiler_check(published_case)
    assert [w.field for w in warnings] == ["Figure 1 annotation label"]


def test_figure_page_save_warns_of_a_spoiler_in_its_own_captions(author, published_case):
    published_case.diagnosis_synonyms = "Pancoast tumour"
    published_case.save()
    figure = published_case.figures.get(number=1)
    url = f"/admin/cases/figure/{figure.pk}/change/"
    data = admin_form_data(author.get(url).content.decode())
    data["unknown_caption"] = ["Apical mass, a Pancoast tumour"]
    page = author.post(url, data, follow=True).content.decode()
    assert "Spoiler in Figure 1 spoiler-free caption" in page
