"""What the room's screen shows, for the audience's page and the presenter's console alike."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.urls import reverse

from cases.imaging.views import viewer_context
from cases.imaging.viewstate import ViewState
from cases.models import RevealStep
from cases.unknown.reveal import case_steps, step_reveal

from . import services
from .heatmap import heatmap_render
from .models import ConferenceCase, Question
from .state import LiveState


def room_screen(live: LiveState, items: list[ConferenceCase], *, figure_base: str | None = None):
    """The current item, what its step reveals, and the live figure's viewer item."""
    item = services.current_item(live, items)
    if item is None or not live.is_live:
        return item, None, None
    case = item.case
    steps = case_steps(case)
    step = live.step if live.step in steps else steps[0]
    reveal = step_reveal(case, step=step, answer_shown=step >= RevealStep.DIAGNOSIS)
    figure = services.current_figure(live, item)
    viewer = None
    if figure is not None:
        viewer = _room_viewer(live, live.view, figure, reveal, figure_base)
    return item, reveal, viewer


def room_second_viewer(
    live: LiveState, item: ConferenceCase | None, reveal, *, figure_base: str | None = None
):
    """The second viewport's viewer item while the room sees two, else None.

    Its figure is one the step reveals (``services.current_second_figure``), its caption
    the step's (spoiler-free before the discussion), like the first viewport's.
    """
    if reveal is None or not live.is_live:
        return None
    figure = services.current_second_figure(live, item)
    if figure is None:
        return None
    return _room_viewer(live, live.second_view, figure, reveal, figure_base)


def _room_viewer(live: LiveState, view: dict, figure, reveal, figure_base: str | None):
    """A viewport's viewer item as the room sees it: the step's caption and annotations."""
    return viewer_context(
        view,
        figure=figure,
        base_url=figure_base
        or reverse("cases:conference_audience_figure", args=[live.code, figure.number]),
        caption=reveal.caption(figure),
        annotations_allowed=reveal.annotations_allowed,
    )["item"]


def click_view(question: Question) -> ViewState | None:
    """The image a click question is answered on, as the presenter showed it."""
    figure = question.item.case.figures.filter(number=question.figure_number).first()
    if figure is None:
        return None
    return ViewState.from_query(
        figure, question.view, base_url="/", caption="", annotations_allowed=False
    )


def heatmap_response(question: Question) -> HttpResponse:
    """A click question's answers as a PNG heat map over the image they were given on."""
    view = click_view(question)
    if view is None or view.slice is None:
        raise Http404("No image")
    image = view.slices[min(max(question.slice_index or 0, 0), view.count - 1)]
    points = [
        (x, y) for x, y in question.votes.values_list("x", "y") if x is not None and y is not None
    ]
    data = heatmap_render(image, view=question.view, points=points, targets=question.targets)
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = "private, no-cache"
    return response
