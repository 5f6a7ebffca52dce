"""Click questions with a target: drawn by the presenter or the author, judged, outlined."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.test import Client
from PIL import Image

from cases.conference import services
from cases.conference.heatmap import TARGET_COLOUR
from cases.conference.models import Conference, FigureTarget, Question, Vote
from cases.conference.targets import BadRegion, region_clean, region_contains
from cases.models import Case, Figure
from tests.conftest import case_build

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
SIDE = 64  # the test slices' pixels


@pytest.fixture
def presenter(django_user_model):
    user = django_user_model.objects.create_user("presenter", password="presenter-pass-123")
    user.user_permissions.add(Permission.objects.get(codename="present_conference"))
    return user


@pytest.fixture
def case(db) -> Case:
    case = case_build(slug="click", title="Click case", unknown_title="Woman, 52, lump")
    for image in Figure.objects.get(case=case, number=1).slices.all():
        buffer = io.BytesIO()
        Image.new("L", (SIDE, SIDE), 90).save(buffer, format="PNG")
        image.image.save(f"{image.token}.png", ContentFile(buffer.getvalue()), save=False)
        image.width = image.height = SIDE
        image.save()
    return case


@pytest.fixture
def live(presenter, case) -> Conference:
    conference = services.conference_create(title="Rounds", presenter=presenter, cases=[case])
    services.conference_start(conference)
    services.conference_navigate(conference, step=1)  # the images step: figure 1 shown
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


def click(conference: Conference, question: Question, x: float, y: float) -> None:
    """One new member clicks at (x, y) of the image as shown (64x64, unmagnified)."""
    response = Client().post(
        f"/c/{conference.code}/questions/{question.pk}/vote/", {"px": str(x), "py": str(y)}
    )
    assert response.status_code == 302


def tally(question: Question) -> services.Results:
    return services.question_results_tally(Question.objects.get(pk=question.pk))


def ask_click(drive: Client, conference: Conference) -> Question:
    assert act(drive, conference, "ask", kind="click").status_code == 302
    return Question.objects.get(kind="click")


# --- regions --------------------------------------------------------------------------------


def test_an_ellipse_contains_its_centre_but_not_its_bounding_box_corner():
    ellipse = {"shape": "ellipse", "x": 0.2, "y": 0.2, "w": 0.4, "h": 0.2}
    assert region_contains(ellipse, 0.4, 0.3)
    assert not region_contains(ellipse, 0.21, 0.21)
    assert region_contains(ellipse | {"shape": "rect"}, 0.21, 0.21)


def test_regions_are_clipped_to_the_image_and_empty_ones_refused():
    assert region_clean({"shape": "rect", "x": -0.1, "y": 0.9, "w": 0.3, "h": 0.3}) == {
        "shape": "rect", "x": 0.0, "y": 0.9, "w": 0.2, "h": 0.1,
    }  # fmt: skip
    bad_regions = [
        {"shape": "star", "x": 0, "y": 0, "w": 1, "h": 1},
        {"x": "nan", "y": 0, "w": 1, "h": 1},
        {"x": 0.5, "y": 0.5, "w": 0, "h": 0.2},
    ]
    for bad in bad_regions:
        with pytest.raises(BadRegion):
            region_clean(bad)


# --- the presenter draws the target; the results judge the clicks ---------------------------


def test_clicks_inside_the_presenters_target_are_right(drive, live):
    question = ask_click(drive, live)
    # Left half, a rectangle: 0-50% across, 25-75% down.
    response = act(
        drive, live, "add-target", question=question.pk,
        shape="rect", left="0", top="25", width="50", height="50",
    )  # fmt: skip
    assert response.status_code == 302
    question.refresh_from_db()
    assert question.targets == [{"shape": "rect", "x": 0.0, "y": 0.25, "w": 0.5, "h": 0.5}]
    for x, y in [(10, 32), (30, 20), (20, 40), (50, 32), (60, 60)]:  # 3 inside, 2 outside
        click(live, question, x, y)
    results = tally(question)
    assert (results.total, results.correct, results.wrong, results.accuracy) == (5, 3, 2, 60)
    assert results.judged_by == "target"
    panel = drive.get(f"/conference/{live.code}/panel/").content.decode()
    assert "60% inside the target" in panel and "3 right, 2 outside" in panel


def test_an_ellipse_target_judges_by_the_ellipse(drive, live):
    question = ask_click(drive, live)
    act(drive, live, "add-target", question=question.pk,
        shape="ellipse", left="0", top="0", width="50", height="50")  # fmt: skip
    click(live, question, 16, 16)  # the centre
    click(live, question, 2, 2)  # inside the bounding box, outside the ellipse
    assert tally(question).correct == 1


def test_several_regions_any_counts_and_clearing_removes_them(drive, live):
    question = ask_click(drive, live)
    for left in ("0", "75"):
        act(drive, live, "add-target", question=question.pk,
            shape="rect", left=left, top="0", width="25", height="100")  # fmt: skip
    click(live, question, 5, 5)
    click(live, question, 60, 60)
    click(live, question, 32, 32)
    assert tally(question).correct == 2
    act(drive, live, "clear-target", question=question.pk)
    question.refresh_from_db()
    assert question.targets == []
    # Back to the author's arrows (case_build puts none on this figure): no right answer.
    assert tally(question).accuracy is None


def test_a_bad_target_is_refused_in_place(drive, live):
    question = ask_click(drive, live)
    response = act(drive, live, "add-target", headers=HX, question=question.pk,
                   shape="rect", left="10", top="10", width="0", height="0")  # fmt: skip
    assert response.status_code == 422 and "The region is empty" in response.content.decode()
    poll = act(drive, live, "ask", kind="poll", options="A\nB")
    assert poll.status_code == 302
    other = Question.objects.get(kind="poll")
    refused = act(drive, live, "add-target", headers=HX, question=other.pk,
                  shape="rect", left="0", top="0", width="10", height="10")  # fmt: skip
    assert refused.status_code == 422 and "Only a click question" in refused.content.decode()


def test_the_console_offers_the_drawing_tool_with_typed_fields(drive, live):
    ask_click(drive, live)
    page = drive.get(f"/conference/{live.code}/").content.decode()
    assert "data-target-draw" in page and "target_draw.js" in page
    for name in ("shape", "left", "top", "width", "height"):
        assert f'name="{name}"' in page
    assert 'value="add-target"' in page


# --- the author's default target on the figure ----------------------------------------------


def test_the_figures_default_target_is_copied_to_a_new_click_question(drive, live, case):
    figure = case.figures.get(number=1)
    FigureTarget.objects.create(figure=figure, shape="rect", x=0.5, y=0.5, width=0.5, height=0.5)
    # Another slice's target does not apply to the middle slice the question is asked on.
    FigureTarget.objects.create(figure=figure, slice_number=3, x=0, y=0, width=0.1, height=0.1)
    question = ask_click(drive, live)
    assert question.slice_index == 1  # the stack opens at its middle slice, number 2
    assert question.targets == [{"shape": "rect", "x": 0.5, "y": 0.5, "w": 0.5, "h": 0.5}]
    click(live, question, 48, 48)
    click(live, question, 10, 10)
    assert tally(question).accuracy == 50


def test_the_author_draws_the_default_target_in_the_admin(case, staff):
    client = Client()
    client.force_login(staff)
    figure = case.figures.get(number=1)
    response = client.post(
        "/admin/cases/figuretarget/add/",
        {"figure": figure.pk, "slice_number": "", "label": "mass", "shape": "ellipse",
         "x": "0.1", "y": "0.2", "width": "0.3", "height": "0.4", "_continue": "1"},
    )  # fmt: skip
    assert response.status_code == 302
    target = FigureTarget.objects.get()
    assert (target.x, target.height, target.label) == (0.1, 0.4, "mass")
    page = client.get(f"/admin/cases/figuretarget/{target.pk}/change/").content.decode()
    assert "data-target-draw" in page and "target_draw.js" in page and "/img/" in page


# --- who was right: the room, the summary, the CSV ------------------------------------------


def test_each_member_learns_whether_their_click_was_inside(drive, live):
    question = ask_click(drive, live)
    act(drive, live, "add-target", question=question.pk,
        shape="rect", left="0", top="0", width="50", height="100")  # fmt: skip
    inside, outside = Client(), Client()
    for member, x in ((inside, 10), (outside, 50)):
        member.get(f"/c/{live.code}/")
        member.post(f"/c/{live.code}/questions/{question.pk}/vote/", {"px": str(x), "py": "5"})
    assert Vote.objects.count() == 2
    act(drive, live, "show-results", question=question.pk)
    assert "Your click was inside the target" in inside.get(f"/c/{live.code}/").content.decode()
    assert "outside the target" in outside.get(f"/c/{live.code}/").content.decode()


def test_summary_and_csv_carry_the_click_accuracy(drive, live):
    question = ask_click(drive, live)
    act(drive, live, "add-target", question=question.pk,
        shape="rect", left="0", top="0", width="50", height="100")  # fmt: skip
    for x in (5, 10, 20, 60):
        click(live, question, x, 30)
    summary = drive.get(f"/conference/{live.code}/summary/").content.decode()
    assert "75% inside the target" in summary
    response = drive.get(f"/conference/{live.code}/summary.csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    clicks = {row[5]: row[6:] for row in rows[1:] if row[4] == "Click the finding"}
    assert clicks == {
        "(clicks inside the target)": ["3", "75", "yes", "75"],
        "(clicks outside the target)": ["1", "25", "", "75"],
    }


# --- the heat map outlines the target -------------------------------------------------------


def _heatmap(drive: Client, conference: Conference, question: Question) -> Image.Image:
    response = drive.get(f"/conference/{conference.code}/questions/{question.pk}/heatmap.png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    return Image.open(io.BytesIO(response.content)).convert("RGB")


def test_the_heat_map_outlines_the_target(drive, live):
    question = ask_click(drive, live)
    click(live, question, 48, 48)
    before = _heatmap(drive, live, question)
    assert TARGET_COLOUR not in {c for _, c in before.getcolors(1 << 20)}
    act(drive, live, "add-target", question=question.pk,
        shape="rect", left="25", top="25", width="50", height="50")  # fmt: skip
    picture = _heatmap(drive, live, question)
    w, h = picture.size
    # On the rectangle's left edge, its top edge; not at its centre nor in a corner of the image.
    assert picture.getpixel((w // 4, h // 2)) == TARGET_COLOUR
    assert picture.getpixel((w // 2, h // 4)) == TARGET_COLOUR
    assert picture.getpixel((w // 2, h // 2)) != TARGET_COLOUR
    assert picture.getpixel((3, 3)) == (90, 90, 90)
    page = drive.get(f"/conference/{live.code}/panel/").content.decode()
    assert (
        f"t={Question.objects.get(pk=question.pk).targets_key}" in page
    )  # a new target, a new image URL
