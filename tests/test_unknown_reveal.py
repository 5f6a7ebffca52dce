from __future__ import annotations

import pytest

from cases.models import Attempt, Case, Figure, RevealStep, Table, TableRow
from cases.unknown.reveal import case_steps

from .conftest import case_build

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def _walk(client, case: Case, *, upto: int = 6) -> None:
    """Open every step up to ``upto``; skip the differential when walking past it."""
    for step in case_steps(case):
        if step > upto:
            break
        assert client.get(f"/u/{case.public_id}/{step}/").status_code == 200
        if step == RevealStep.DIFFERENTIAL and upto > step:
            client.post(f"/u/{case.public_id}/differential/", {"skip": "1"})


@pytest.fixture
def unknown_case(db) -> Case:
    case = case_build(slug="apical-lung-cancer", title="Apical lung cancer", size=2)
    Case.objects.filter(pk=case.pk).update(
        unknown_title="60-year-old smoker with a cough",
        differential="Tuberculosis\nLung adenocarcinoma\nPneumonia",
        diagnosis_synonyms="Adenocarcinoma of the lung",
    )
    case.refresh_from_db()
    Figure.objects.filter(case=case, number=2).update(reveal_step=RevealStep.DIAGNOSIS)
    Figure.objects.filter(case=case, number=1).update(
        caption="Lung adenocarcinoma in the right apex (arrow).",
        unknown_caption="Right apical opacity.",
    )
    Table.objects.filter(case=case, number=1).update(reveal_step=RevealStep.DIFFERENTIAL)
    return case


def test_unknown_library_shows_neutral_titles_only(client, unknown_case, draft_case):
    body = client.get("/u/").content.decode()
    assert "60-year-old smoker with a cough" in body
    assert "Apical lung cancer" not in body
    assert "Lung adenocarcinoma" not in body
    assert f"/u/{unknown_case.public_id}/" in body
    assert draft_case.public_id not in body


def test_steps_skip_empty_ones(unknown_case):
    assert case_steps(unknown_case) == [1, 2, 3, 4, 5, 6]
    Case.objects.filter(pk=unknown_case.pk).update(findings="")
    bare = Case.objects.prefetch_related("figures__annotations").get(pk=unknown_case.pk)
    assert case_steps(bare) == [1, 2, 4, 5, 6]


def test_first_step_is_a_full_page_and_names_nothing(client, unknown_case):
    response = client.get(f"/u/{unknown_case.public_id}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<title>60-year-old smoker with a cough · Unknown case" in body
    assert 'aria-current="step"' in body
    assert f'href="/u/{unknown_case.public_id}/2/" rel="next"' in body
    assert unknown_case.slug not in body
    assert "A 40-year-old man with a cough." in body


def test_a_step_cannot_be_skipped_to_by_url(client, unknown_case):
    response = client.get(f"/u/{unknown_case.public_id}/5/")
    assert response.status_code == 302
    assert response["Location"] == f"/u/{unknown_case.public_id}/1/"
    client.get(f"/u/{unknown_case.public_id}/1/")
    client.get(f"/u/{unknown_case.public_id}/2/")
    response = client.get(f"/u/{unknown_case.public_id}/4/")
    assert response["Location"] == f"/u/{unknown_case.public_id}/3/"


def test_htmx_redirect_for_a_step_not_reached(client, unknown_case):
    response = client.get(f"/u/{unknown_case.public_id}/3/", headers=HX)
    assert response["HX-Redirect"] == f"/u/{unknown_case.public_id}/1/"


def test_htmx_step_is_a_fragment_with_push_url_links(client, unknown_case):
    client.get(f"/u/{unknown_case.public_id}/1/")
    response = client.get(f"/u/{unknown_case.public_id}/2/", headers=HX)
    body = response.content.decode()
    assert "<html" not in body
    assert body.lstrip().startswith('<div id="unknown-step"')
    assert 'hx-push-url="true"' in body
    assert "HX-Request" in response["Vary"]


def test_differential_must_be_committed_before_the_answer(client, unknown_case):
    _walk(client, unknown_case, upto=3)  # step 4 is opened below
    page = client.get(f"/u/{unknown_case.public_id}/4/").content.decode()
    assert f'action="/u/{unknown_case.public_id}/differential/"' in page
    assert 'name="skip"' in page
    assert "Tuberculosis" not in page
    assert "Next →" not in page
    assert client.get(f"/u/{unknown_case.public_id}/5/")["Location"].endswith("/4/")


def test_committing_scores_and_shows_the_authors_differential(client, learner, unknown_case):
    client.force_login(learner)
    _walk(client, unknown_case, upto=4)
    response = client.post(
        f"/u/{unknown_case.public_id}/differential/",
        {"first": "Pneumonia", "second": "adenocarcinoma, lung", "third": ""},
    )
    assert response.status_code == 302
    attempt = Attempt.objects.get()
    assert attempt.user == learner and attempt.choices == ["Pneumonia", "adenocarcinoma, lung"]
    assert (attempt.score, attempt.matched_rank) == (0.5, 2)
    page = client.get(f"/u/{unknown_case.public_id}/4/").content.decode()
    authors = page.split("The author's differential")[1]
    items = ["Lung adenocarcinoma", "Pneumonia", "Tuberculosis"]
    positions = [authors.index(f"<li>{item}</li>") for item in items]
    assert positions == sorted(positions)  # alphabetical, not the author's ranking
    assert 'id="table-1"' in page  # the differential table comes with the answer
    assert 'id="table-2"' not in page
    result = client.get(f"/u/{unknown_case.public_id}/5/").content.decode()
    assert "Right, as your choice 2." in result
    assert "1 learner committed a differential for this case: 100% included" in result
    assert "Switch to the full article" in result


def test_a_second_commit_changes_nothing(client, learner, unknown_case):
    client.force_login(learner)
    _walk(client, unknown_case, upto=4)
    url = f"/u/{unknown_case.public_id}/differential/"
    client.post(url, {"first": "Lung adenocarcinoma"})
    client.post(url, {"first": "Pneumonia"})
    assert Attempt.objects.count() == 1
    assert Attempt.objects.get().matched_rank == 1


def test_anonymous_attempts_live_in_the_session(client, unknown_case):
    _walk(client, unknown_case, upto=4)
    client.post(f"/u/{unknown_case.public_id}/differential/", {"first": "Lung adenocarcinoma"})
    assert Attempt.objects.count() == 0
    assert (
        "Your first choice was right."
        in client.get(f"/u/{unknown_case.public_id}/5/").content.decode()
    )


def test_differential_post_before_reaching_it_is_refused(client, unknown_case):
    response = client.post(f"/u/{unknown_case.public_id}/differential/", {"first": "x"})
    assert response.status_code == 302
    assert response["Location"].endswith("/1/")
    assert Attempt.objects.count() == 0


def test_differential_post_htmx_returns_the_step_and_keeps_its_url(client, unknown_case):
    _walk(client, unknown_case, upto=4)
    response = client.post(f"/u/{unknown_case.public_id}/differential/", {"skip": "1"}, headers=HX)
    assert response.status_code == 200
    assert response["HX-Replace-Url"] == f"/u/{unknown_case.public_id}/4/"
    assert "You skipped this step." in response.content.decode()


def test_too_long_answer_is_refused_and_changes_nothing(client, learner, unknown_case):
    client.force_login(learner)
    _walk(client, unknown_case, upto=4)
    response = client.post(f"/u/{unknown_case.public_id}/differential/", {"first": "x" * 500})
    assert response.status_code == 422
    assert Attempt.objects.count() == 0


def test_drafts_are_404_in_unknown_mode_but_staff_can_preview_any_step(client, staff, draft_case):
    Case.objects.filter(pk=draft_case.pk).update(unknown_title="Preview me")
    assert client.get(f"/u/{draft_case.public_id}/").status_code == 404
    client.force_login(staff)
    response = client.get(f"/u/{draft_case.public_id}/6/")
    assert response.status_code == 200
    assert "Draft: staff preview" in response.content.decode()


def test_article_link_only_from_the_diagnosis_step(client, unknown_case):
    _walk(client, unknown_case, upto=5)
    for step in (1, 2, 3, 4):
        body = client.get(f"/u/{unknown_case.public_id}/{step}/").content.decode()
        assert unknown_case.get_absolute_url() not in body
    body = client.get(f"/u/{unknown_case.public_id}/5/").content.decode()
    assert unknown_case.get_absolute_url() in body


def test_diagnosis_by_shows_from_the_diagnosis_step_and_treatment_with_the_discussion(
    client, unknown_case
):
    Case.objects.filter(pk=unknown_case.pk).update(
        diagnosis_by="CT-guided core biopsy of the apical mass",
        treatment="Lobectomy; no recurrence at two years.",
    )
    _walk(client, unknown_case)
    for step in (1, 2, 3, 4):
        body = client.get(f"/u/{unknown_case.public_id}/{step}/").content.decode()
        assert "CT-guided core biopsy" not in body and "Lobectomy" not in body
    five = client.get(f"/u/{unknown_case.public_id}/5/").content.decode()
    assert "Diagnosis by:</strong> CT-guided core biopsy of the apical mass" in five
    assert "Lobectomy" not in five
    six = client.get(f"/u/{unknown_case.public_id}/6/").content.decode()
    assert "Lobectomy; no recurrence at two years." in six


def test_history_lists_the_learners_attempts(client, learner, unknown_case):
    assert client.get("/u/history/").status_code == 302
    client.force_login(learner)
    _walk(client, unknown_case, upto=4)
    client.post(f"/u/{unknown_case.public_id}/differential/", {"first": "Lung adenocarcinoma"})
    body = client.get("/u/history/").content.decode()
    assert "60-year-old smoker with a cough" in body
    assert "Correct (choice 1)" in body


def test_unknown_step_rejects_post(client, unknown_case):
    assert client.post(f"/u/{unknown_case.public_id}/1/").status_code == 405


def test_row_order_of_tables_is_kept(client, unknown_case):
    table = Table.objects.get(case=unknown_case, number=1)
    TableRow.objects.filter(table=table).delete()
    for order, name in enumerate(["Zeta", "Alpha"]):
        TableRow.objects.create(table=table, order=order, cells=[name, "x"])
    _walk(client, unknown_case, upto=4)
    client.post(f"/u/{unknown_case.public_id}/differential/", {"skip": "1"})
    body = client.get(f"/u/{unknown_case.public_id}/4/").content.decode()
    assert body.index("Zeta") < body.index("Alpha")


def test_unknown_figure_viewer_is_gated_and_names_nothing(client, unknown_case):
    url = f"/u/{unknown_case.public_id}/figures/1/"
    assert client.get(url).status_code == 404  # images not reached yet
    _walk(client, unknown_case, upto=2)
    page = client.get(url + "?slice=2").content.decode()
    assert "Right apical opacity." in page
    assert "Lung adenocarcinoma" not in page and unknown_case.slug not in page
    assert "Slice <output>2</output> of 3" in page
    fragment = client.get(url + "?slice=3", headers=HX).content.decode()
    assert "<html" not in fragment and f'action="{url}"' in fragment
    # Figure 2 is revealed with the diagnosis.
    assert client.get(f"/u/{unknown_case.public_id}/figures/2/").status_code == 404


def test_thread_appears_only_at_the_discussion_step(client, learner, unknown_case):
    from cases.discussion.models import Comment

    Comment.objects.create(
        case=unknown_case, author=learner, body="Classic apical adenocarcinoma", body_html="x"
    )
    client.force_login(learner)
    thread_url = f"/t/{unknown_case.public_id}/"
    _walk(client, unknown_case, upto=5)
    for step in (1, 2, 3, 4, 5):
        body = client.get(f"/u/{unknown_case.public_id}/{step}/").content.decode()
        assert thread_url not in body
    client.get(f"/u/{unknown_case.public_id}/6/")
    body = client.get(f"/u/{unknown_case.public_id}/6/").content.decode()
    assert thread_url in body


def test_each_step_is_announced_in_a_live_region(client, unknown_case):
    _walk(client, unknown_case, upto=2)
    body = client.get(f"/u/{unknown_case.public_id}/2/", headers=HX).content.decode()
    assert 'aria-live="polite" id="step-announcement">Step 2 of 6: Images shown.' in body
