"""The conference's study view: two viewports on the room's screen, driven by the presenter."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from cases.conference import services
from cases.conference.models import Conference
from cases.conference.state import LiveState, state_store
from cases.imaging.reformat import stack_geometry_problem
from cases.models import Case, Figure, RevealStep
from cases.unknown.reveal import case_steps
from tests.conftest import case_build
from tests.test_conference import HX, act, state
from tests.test_study import study_case
from tests.test_unknown_spoilers import _later_identifiers, _later_texts, _plain, demo_cases

pytestmark = pytest.mark.django_db
__all__ = ["demo_cases", "study_case"]  # the fixtures, imported for pytest


@pytest.fixture
def cases(db) -> list[Case]:
    """Two cases; the first has figure 1 at the images step and figure 2 at the findings."""
    first = case_build(slug="first", title="First case", size=2, unknown_title="Man, 40, cough")
    Figure.objects.filter(case=first, number=2).update(reveal_step=RevealStep.FINDINGS)
    return [first, case_build(slug="second", title="Second case")]


@pytest.fixture
def live(django_user_model, cases) -> Conference:
    user = django_user_model.objects.create_user("presenter", password="presenter-pass-123")
    user.user_permissions.add(Permission.objects.get(codename="present_conference"))
    conference = services.conference_create(title="Study", presenter=user, cases=cases)
    services.conference_start(conference)
    return conference


@pytest.fixture
def drive(live) -> Client:
    client = Client()
    client.force_login(live.presenter)
    return client


def _two(conference: Conference) -> LiveState:
    """The first case at its findings step (figures 1 and 2 shown), in two viewports."""
    services.conference_navigate(conference, position=0, to_step=RevealStep.FINDINGS)
    return services.conference_layout(conference, item=conference.items.first(), layout=2)


def _stage(client: Client, conference: Conference) -> str:
    page = client.get(f"/c/{conference.code}/").content.decode()
    return page[page.index('id="live-stage"') :]


# --- the state -------------------------------------------------------------------------------


def test_the_study_state_round_trips_and_old_states_read_as_one_viewer():
    shown = LiveState(code="ABCDEF", figure=1, layout=2, second=3,
                     second_view={"slice": "4"}, link=True)  # fmt: skip
    assert LiveState.from_json(shown.as_json()) == shown
    old = LiveState.from_dict({"code": "ABCDEF", "figure": 1, "view": {"slice": 2}})
    assert (old.layout, old.second, old.second_view, old.link) == (1, None, {}, False)


def test_two_viewports_show_the_figure_and_another_shown_one(live):
    two = _two(live)
    assert (two.layout, two.figure, two.second, two.second_view) == (2, 1, 2, {})
    one = services.conference_layout(live, item=live.items.first(), layout=1)
    assert one.layout == 1 and one.second == 2  # back to two finds the same second figure


def test_the_second_viewport_gives_way_when_going_back_before_its_figure(live):
    _two(live)
    services.conference_view(live, figure=live.items.first().case.figures.get(number=2),
                             query={"slice": "3"}, viewport=2)  # fmt: skip
    back = services.conference_navigate(live, step=-1)  # images: figure 2 is not shown yet
    assert back.step == RevealStep.IMAGES and back.second is None and back.second_view == {}
    assert 'id="viewer-2"' not in _stage(Client(), live)
    again = services.conference_navigate(live, step=1)
    assert (again.layout, again.second) == (2, 2)  # two viewports again once it is shown
    other_case = services.conference_navigate(live, case=1)
    assert (other_case.layout, other_case.second, other_case.link) == (1, None, False)


def test_the_room_never_draws_a_second_figure_its_step_has_not_revealed(live, cases):
    services.conference_navigate(live, step=1)  # images: figure 2 waits for the findings
    forced = state_store().change(live, lambda now: replace(now, layout=2, second=2))
    assert (forced.layout, forced.second) == (2, 2)  # a state written by other means
    stage = _stage(Client(), live)
    assert 'id="viewer-1"' in stage and 'id="viewer-2"' not in stage
    for image in cases[0].figures.get(number=2).slices.all():
        assert image.token not in stage


def test_picking_the_second_figure_for_the_first_viewport_swaps_them(live):
    _two(live)
    services.conference_view(live, figure=live.items.first().case.figures.get(number=1),
                             query={"slice": "3"})  # fmt: skip
    swapped = services.conference_figure(live, item=live.items.first(), number=2)
    assert (swapped.figure, swapped.second) == (2, 1)
    assert swapped.view == {} and swapped.second_view == {"slice": "3"}


# --- the presenter's actions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("second", {"figure": "2"}, "The room may not see figure 2 at this step."),
        ("second", {"figure": "9"}, "The room may not see figure 9 at this step."),
        ("second", {"figure": "1"}, "Figure 1 is already in the first viewport."),
        ("second", {"figure": "two"}, "Choose a figure."),
        ("layout", {"layout": "2"}, "Only one figure is shown at this step: nothing to compare."),
        ("layout", {"layout": "4"}, "The room sees one viewer or two viewports."),
        ("layout", {}, "Bad layout."),
        ("link", {"link": "yes"}, "Bad link."),
        ("plane", {"plane": "oblique"}, "The planes are axial, coronal and sagittal."),
        ("plane", {"plane": "axial", "viewport": "3"}, "Bad viewport."),
    ],
)
def test_a_figure_the_room_may_not_see_or_a_bad_value_is_a_400_and_changes_nothing(
    drive, live, name, data, message
):
    services.conference_navigate(live, step=1)  # images: only figure 1 (figure 2 at findings)
    before = state(live)
    response = act(drive, live, name, headers=HX, **data)
    assert response.status_code == 400 and response.content.decode() == message
    assert state(live) == before


def test_a_stack_that_cannot_be_reformatted_says_why_and_changes_nothing(drive, live, cases):
    services.conference_navigate(live, step=1)
    before = state(live)
    response = act(drive, live, "plane", plane="coronal", viewport="1")
    why = stack_geometry_problem(list(cases[0].figures.get(number=1).slices.all()))
    assert why and response.status_code == 400 and response.content.decode() == why
    assert state(live) == before
    page = drive.get(f"/conference/{live.code}/").content.decode()
    coronal = re.search(r'<button type="submit" name="plane" value="coronal"[^>]*>', page)
    assert coronal and " disabled" in coronal.group(0)


def test_the_console_offers_the_second_figure_and_linking_only_in_two_viewports(drive, live):
    services.conference_navigate(live, step=2)
    one = drive.get(f"/conference/{live.code}/").content.decode()
    assert 'value="second"' not in one and 'id="console-viewport-2"' not in one
    _two(live)
    two = drive.get(f"/conference/{live.code}/").content.decode()
    assert 'id="console-viewport-1"' in two and 'id="console-viewport-2"' in two
    assert 'value="second"' in two and "data-link-scrolling" in two
    assert f"/conference/{live.code}/viewer/second/" in two


def test_the_second_viewer_posts_its_view_and_get_only_looks(drive, live):
    _two(live)
    before = state(live)
    looked = drive.get(f"/conference/{live.code}/viewer/second/?slice=3", headers=HX)
    assert looked.status_code == 200 and state(live) == before
    shown = drive.post(f"/conference/{live.code}/viewer/second/?slice=3&invert=1", headers=HX)
    body = shown.content.decode()
    assert shown.status_code == 200 and 'id="viewer-2-stage"' in body and 'data-slice="3"' in body
    assert state(live).second_view == {"slice": "3", "invert": "1"}
    assert state(live).view == before.view  # the first viewport did not move
    assert "hx-swap-oob" not in body  # nothing linked: the other viewport is not sent
    # Without JavaScript: the GET page offers a button that posts the second viewport's view.
    page = drive.get(f"/conference/{live.code}/viewer/second/?slice=1").content.decode()
    assert f'action="/conference/{live.code}/viewer/second/"' in page
    drive.post(f"/conference/{live.code}/viewer/second/", {"slice": "1"})
    assert state(live).second_view == {"slice": "1"}


def test_the_second_viewer_is_404_without_two_viewports(drive, live):
    services.conference_navigate(live, step=2)
    assert drive.get(f"/conference/{live.code}/viewer/second/", headers=HX).status_code == 404
    assert drive.post(f"/conference/{live.code}/viewer/second/", headers=HX).status_code == 404


def test_linked_scrolling_moves_the_other_viewport_here_and_in_the_room(drive, live):
    _two(live)
    drive.post(f"/conference/{live.code}/viewer/second/", {"slice": "3"}, headers=HX)
    linked = act(drive, live, "link", link="1", headers=HX)
    assert linked.status_code == 200 and 'aria-pressed="true" data-link-scrolling' in (
        linked.content.decode()
    )
    # Linking brings the second viewport to the first's place (the middle of each stack).
    assert state(live).link and state(live).second_view["slice"] == "2"
    response = drive.post(f"/conference/{live.code}/viewer/", {"slice": "1"}, headers=HX)
    assert state(live).view["slice"] == "1" and state(live).second_view["slice"] == "1"
    oob = response.content.decode()
    assert 'id="console-viewport-2"' in oob and 'hx-swap-oob="true"' in oob
    assert re.search(r'id="viewer-2-stage"[^>]*data-slice="1"', oob)
    stage = _stage(Client(), live)
    assert re.search(r'id="viewer-1-stage"[^>]*data-slice="1"', stage)
    assert re.search(r'id="viewer-2-stage"[^>]*data-slice="1"', stage)
    # Unlinked, each viewport scrolls alone.
    act(drive, live, "link", link="0")
    drive.post(f"/conference/{live.code}/viewer/second/", {"slice": "3"}, headers=HX)
    assert state(live).view["slice"] == "1" and state(live).second_view["slice"] == "3"


def test_two_series_of_one_ct_link_by_position_and_one_turns_coronal(drive, live, study_case):
    conference = services.conference_create(title="CT", presenter=live.presenter,
                                            cases=[study_case])  # fmt: skip
    services.conference_start(conference)
    services.conference_navigate(conference, step=1)
    act(drive, conference, "layout", layout="2")
    act(drive, conference, "link", link="1")
    drive.post(f"/conference/{conference.code}/viewer/", {"slice": "12"}, headers=HX)
    # File 12 of the CT is slice 12 of figure 1 and slice 4 of figure 2 (files 9-28).
    assert state(conference).second_view["slice"] == "4"
    coronal = act(drive, conference, "plane", plane="coronal", viewport="2", headers=HX)
    assert coronal.status_code == 200
    second = state(conference).second_view
    assert second["plane"] == "coronal" and second["ww"] == "80"  # the window stays
    stage = _stage(Client(), conference)
    assert re.search(r'id="viewer-2-stage"[^>]*data-url="[^"]*plane=coronal', stage)
    # A reformat does not link: scrolling the first viewport leaves it where it is.
    drive.post(f"/conference/{conference.code}/viewer/", {"slice": "13"}, headers=HX)
    assert state(conference).second_view == second


# --- the room --------------------------------------------------------------------------------


def test_the_room_sees_both_viewports_with_spoiler_free_captions(live, cases):
    Figure.objects.filter(case=cases[0]).update(unknown_caption="A chest CT.")
    two = _two(live)
    services.conference_view(live, figure=cases[0].figures.get(number=2),
                             query={"slice": "3"}, viewport=2)  # fmt: skip
    stage = _stage(Client(), live)
    assert 'data-viewports="2"' in stage
    assert 'id="viewer-1"' in stage and 'id="viewer-2"' in stage
    assert re.search(r'id="viewer-2-stage"[^>]*data-slice="3"', stage)
    assert "Caption 1" not in stage and "Caption 2" not in stage  # the full captions wait
    assert f"/c/{live.code}/figures/2/" in stage  # looking around stays on the room's URLs
    assert two.layout == 2
    services.conference_layout(live, item=live.items.first(), layout=1)
    one = _stage(Client(), live)
    assert 'id="viewer-1"' in one and 'id="viewer-2"' not in one


def test_the_room_polls_get_304_until_a_viewport_moves_then_both_viewports(live, cases):
    _two(live)
    client = Client()
    first = client.get(f"/c/{live.code}/live/", headers=HX)
    etag = first["ETag"]
    same = client.get(f"/c/{live.code}/live/", headers=HX | {"If-None-Match": etag})
    assert same.status_code == 304
    services.conference_view(live, figure=cases[0].figures.get(number=2),
                             query={"slice": "1"}, viewport=2)  # fmt: skip
    moved = client.get(f"/c/{live.code}/live/", headers=HX | {"If-None-Match": etag})
    body = moved.content.decode()
    assert moved.status_code == 200 and moved["ETag"] != etag
    assert re.search(r'id="viewer-2-stage"[^>]*data-slice="1"', body)
    keys = re.findall(r'id="live-stage"[^>]*data-key="([^"]*)"', first.content.decode() + body)
    assert len(keys) == 2 and keys[0] != keys[1]  # the page swaps the stage only when it moved


def test_no_room_response_in_two_viewports_shows_what_a_later_step_reveals(demo_cases, staff):
    conference = services.conference_create(title="Demo", presenter=staff, cases=demo_cases)
    services.conference_start(conference)
    presenter = Client()
    presenter.force_login(staff)
    client = Client()
    compared = 0
    for position, case in enumerate(demo_cases):
        steps = case_steps(case)
        figures = list(case.figures.all())
        for step in steps:
            now = services.conference_navigate(conference, position=position, to_step=step)
            shown = [f.number for f in figures if f.reveal_step <= step]
            for figure in figures:  # a later figure may not go in the second viewport
                if figure.reveal_step > step:
                    before = state_store().read(conference.code, fresh=True)
                    refused = act(presenter, conference, "second", figure=str(figure.number))
                    assert refused.status_code == 400
                    assert state_store().read(conference.code, fresh=True) == before
            for second in shown[1:] or [None]:
                if second is not None:
                    act(presenter, conference, "second", figure=str(second))
                    compared += 1
                page = client.get(f"/c/{conference.code}/")
                fragment = client.get(f"/c/{conference.code}/live/", headers=HX)
                for response in (page, fragment):
                    raw = response.content.decode()
                    assert response.status_code == 200
                    assert (second is not None) == ('data-viewports="2"' in raw)
                    body = _plain(raw)
                    for label, text in _later_texts(case, step).items():
                        assert text not in body, f"{case} step {step}: {label} leaked"
                    for label, ident in _later_identifiers(case, step, steps).items():
                        assert ident not in raw, f"{case} step {step}: {label} leaked"
                    if step < RevealStep.DIAGNOSIS:
                        assert case.title not in raw, f"{case} step {step}: the title leaked"
            assert now.position == position
    assert compared > 8  # two viewports were on the room's screen many times
