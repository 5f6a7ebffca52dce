"""The study view in unknown mode: only what the learner's furthest step reveals."""

from __future__ import annotations

import pytest

from cases.models import Annotation, Case, Figure, RevealStep

from .test_unknown_reveal import _walk
from .test_unknown_reveal import unknown_case as unknown_case  # the fixture

pytestmark = pytest.mark.django_db


def _tokens(figure: Figure) -> list[str]:
    return [s.token for s in figure.slices.all()]


def test_the_study_shows_no_later_figure_token_or_caption(client, unknown_case):
    url = f"/u/{unknown_case.public_id}/study/"
    assert client.get(url).status_code == 404  # the images step not reached yet
    _walk(client, unknown_case, upto=2)
    later = unknown_case.figures.get(number=2)  # revealed with the diagnosis
    Annotation.objects.create(figure=unknown_case.figures.get(number=1), kind="arrow",
                              x=0.5, y=0.5, label="apex")  # fmt: skip
    for query in ("", "?layout=4", "?layout=2&v2=2%3Aslice%3D1", "?layout=2&link=1"):
        page = client.get(url + query).content.decode()
        assert 'id="viewport-1"' in page
        assert not any(token in page for token in _tokens(later)), query
        assert "Figure 2" not in page
        # No caption, no case title or slug, no annotation before the findings step.
        assert "Lung adenocarcinoma" not in page and "Right apical opacity" not in page
        assert unknown_case.slug not in page and "Apical lung cancer" not in page
        assert "ann=" not in page
        assert "60-year-old smoker with a cough" in page
        # Every viewer link stays in unknown mode.
        assert f"/u/{unknown_case.public_id}/figures/1/" in page


def test_the_images_step_links_to_the_study_and_later_figures_join_it(client, unknown_case):
    _walk(client, unknown_case, upto=2)
    step = client.get(f"/u/{unknown_case.public_id}/2/").content.decode()
    assert f'href="/u/{unknown_case.public_id}/study/"' in step
    _walk(client, unknown_case, upto=RevealStep.DIAGNOSIS)
    page = client.get(f"/u/{unknown_case.public_id}/study/?layout=2").content.decode()
    assert any(token in page for token in _tokens(unknown_case.figures.get(number=2)))
    assert "Figure 2" in page


def test_drafts_are_404(client, unknown_case):
    Case.objects.filter(pk=unknown_case.pk).update(status=Case.Status.DRAFT)
    assert client.get(f"/u/{unknown_case.public_id}/study/").status_code == 404


def test_a_viewports_htmx_answer_keeps_the_spoiler_rules(client, unknown_case):
    _walk(client, unknown_case, upto=2)
    later = unknown_case.figures.get(number=2)
    url = f"/u/{unknown_case.public_id}/study/?layout=2&link=1&v1=1:&vp=2&slice=1"
    response = client.get(url, headers={"HX-Request": "true"})
    page = response.content.decode()
    assert response.status_code == 200 and 'id="viewer-s1-stage"' in page
    assert not any(token in page for token in _tokens(later))
    assert "Figure 2" not in page and "ann=" not in page and "<figcaption" not in page
    # Without htmx the same change is a redirect to the study's own URL.
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/u/{unknown_case.public_id}/study/?")
