"""The presenter's pages of a live conference: the list, the console and its buttons, the summary.

Every button of the console posts one named action to ``action``; ``ACTIONS`` maps each name
to a small function that changes the live state through ``services``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import segno
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from cases.http import HtmxHttpRequest, render_page
from cases.imaging.views import viewer_context
from cases.models import RevealStep
from cases.unknown.reveal import case_steps

from . import services
from .forms import ConferenceForm, QuestionForm, TargetForm
from .models import PRESENT_PERMISSION, Conference, ConferenceCase, Question
from .models import join_code_normalise as _normalise
from .room import heatmap_response, room_screen, room_second_viewer
from .state import LiveState, state_store


def _may_present(user) -> bool:
    return user.is_authenticated and (user.is_staff or user.has_perm(PRESENT_PERMISSION))


def _get_conference_for_presenter(request: HttpRequest, code: str) -> Conference:
    conference = get_object_or_404(Conference, code=_normalise(code))
    if not conference.can_present(request.user):
        raise PermissionDenied("Only the presenter drives this conference.")
    return conference


def _qr_svg(url: str) -> str:
    return mark_safe(segno.make(url).svg_inline(scale=1, light="#fff", omitsize=True))  # noqa: S308


def _console_context(request: HttpRequest, conference: Conference) -> dict:
    store = state_store()
    state = store.read(conference.code, fresh=True)
    items = services.conference_items(conference)
    item = services.current_item(state, items)
    viewer_base = reverse("cases:conference_viewer", args=[conference.code])
    second_base = reverse("cases:conference_viewer_second", args=[conference.code])
    context = {
        "conference": conference,
        "live": state,
        "items": items,
        "item": item,
        "audience_count": store.audience_count(state),
        "join_url": request.build_absolute_uri(conference.join_url),
        "qr": _qr_svg(request.build_absolute_uri(conference.join_url)),
        "RevealStep": RevealStep,
        "Kind": Question.Kind,
    }
    if item is None:
        return context
    # The presenter sees the room's screen even before the start (to rehearse).
    shown = replace(state, status=Conference.Status.LIVE)
    _, reveal, viewer = room_screen(shown, items, figure_base=viewer_base)
    second_viewer = room_second_viewer(shown, item, reveal, figure_base=second_base)
    steps = case_steps(item.case)
    context |= {
        "case": item.case,
        "reveal": reveal,
        "viewer": viewer,
        "second_viewer": second_viewer if viewer else None,
        "steps": [
            {"number": s, "label": RevealStep(s).label, "current": s == state.step} for s in steps
        ],
        "figures": reveal.figures if reveal else [],
        "poll_options": "\n".join(services.poll_options(item.case)),
        "question": Question.objects.filter(pk=state.question).first() if state.question else None,
        "open_question": conference.questions.filter(is_open=True).first(),
    }
    context |= _panel_context(conference, state)
    return context


def _panel_context(conference: Conference, state: LiveState) -> dict:
    question = (
        conference.questions.select_related("item__case").filter(pk=state.question).first()
        if state.question
        else None
    )
    context = {
        "conference": conference,
        "live": state,
        "audience_count": state_store().audience_count(state),
        "question": question,
    }
    if question is not None:
        context["results"] = services.question_results_tally(question)
    return context


@login_required
@require_GET
def conference_list(request: HttpRequest) -> HttpResponse:
    if not _may_present(request.user):
        raise PermissionDenied("Presenting needs the presenter permission.")
    conferences = Conference.objects.filter(presenter=request.user).prefetch_related("items")
    form = ConferenceForm(user=request.user)
    return render(request, "cases/conference/list.html", {"conferences": conferences, "form": form})


@login_required
@require_POST
def conference_new(request: HttpRequest) -> HttpResponse:
    if not _may_present(request.user):
        raise PermissionDenied("Presenting needs the presenter permission.")
    form = ConferenceForm(request.POST, user=request.user)
    if not form.is_valid():
        conferences = Conference.objects.filter(presenter=request.user)
        context = {"conferences": conferences, "form": form}
        return render(request, "cases/conference/list.html", context, status=422)
    collection = form.cleaned_data["collection"]
    if collection:
        conference = services.conference_from_collection(
            collection=collection, presenter=request.user, title=form.cleaned_data["title"]
        )
    else:
        cases = sorted(form.cleaned_data["cases"], key=lambda c: (c.title.lower(), c.pk))
        conference = services.conference_create(
            title=form.cleaned_data["title"], presenter=request.user, cases=cases
        )
    return redirect(conference)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def console(request: HtmxHttpRequest, code: str) -> HttpResponse:
    conference = _get_conference_for_presenter(request, code)
    context = _console_context(request, conference)
    return render_page(request, "cases/conference/console.html", context, partial="console")


@login_required
@require_GET
def panel(request: HttpRequest, code: str) -> HttpResponse:
    """The presenter's live numbers: head count and the answers so far (polled)."""
    conference = _get_conference_for_presenter(request, code)
    state = state_store().read(conference.code, fresh=True)
    return render(request, "cases/conference/console.html#panel", _panel_context(conference, state))


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def viewer(request: HtmxHttpRequest, code: str, viewport: int = 1) -> HttpResponse:
    """The presenter's viewer (of viewport 1 or 2). POST shows its view to the room; GET only looks.

    With the script, every viewer control posts here (so the room follows each click); without
    it, the controls are links that show the view here and a button posts it. With linked
    scrolling the other viewport follows, on the room's screens and (an out-of-band swap) here.
    """
    conference = _get_conference_for_presenter(request, code)
    state = state_store().read(conference.code, fresh=True)
    items = services.conference_items(conference)
    item = services.current_item(state, items)
    first = services.current_figure(state, item)
    second = services.current_second_figure(state, item) if first else None
    figure, other = (second, first) if viewport == 2 else (first, second)
    if figure is None:
        raise Http404("No figure is shown")
    name = "conference_viewer_second" if viewport == 2 else "conference_viewer"
    base_url = reverse(f"cases:{name}", args=[conference.code])
    query = request.GET.copy()
    before = state
    if request.method == "POST":
        query.update(request.POST)
        state, params = services.conference_view(
            conference, figure=figure, query=query, viewport=viewport, other=other
        )
        query = params
        if not request.htmx:
            return redirect(conference)
    _, reveal, _ = room_screen(replace(state, status=Conference.Status.LIVE), items)
    context = viewer_context(
        query,
        figure=figure,
        base_url=base_url,
        caption=reveal.caption(figure),
        annotations_allowed=reveal.annotations_allowed,
    )
    if request.htmx:
        html = render_to_string("cases/figure.html#viewer", context, request=request)
        followed = "view" if viewport == 2 else "second_view"  # the other viewport's view
        if other is not None and getattr(before, followed) != getattr(state, followed):
            html += _viewport_html(request, conference, state, item, reveal, 3 - viewport)
        return HttpResponse(html)
    shown = context["item"]
    pending = shown["view"].params()
    context = _console_context(request, conference) | {
        "second_viewer" if viewport == 2 else "viewer": shown,
        "pending_view": {k: str(v) for k, v in pending.items()},
        "pending_url": base_url,
    }
    return render(request, "cases/conference/console.html", context)


def _viewport_html(request, conference, state, item, reveal, number: int) -> str:
    """Viewport ``number`` of the console, to swap in out of band (it followed the other)."""
    if number == 2:
        figure, query = services.current_second_figure(state, item), state.second_view
    else:
        figure, query = services.current_figure(state, item), state.view
    name = "conference_viewer_second" if number == 2 else "conference_viewer"
    shown = viewer_context(
        query,
        figure=figure,
        base_url=reverse(f"cases:{name}", args=[conference.code]),
        caption=reveal.caption(figure),
        annotations_allowed=reveal.annotations_allowed,
    )["item"]
    context = {"conference": conference, "live": state, "number": number, "item": shown}
    return render_to_string(
        "cases/conference/console.html#viewport", context | {"oob": True}, request=request
    )


# --- the console's buttons: one small function per action ------------------------------------


class ActionRefused(Exception):
    """The console cannot do this now; the message tells the presenter why (422)."""


class ActionMalformed(Exception):
    """A form the console never sends (400)."""


def _require_live(conference: Conference) -> None:
    if not conference.is_live:
        raise ActionRefused("Start the conference first.")


def _require_case(conference: Conference, state: LiveState) -> ConferenceCase:
    """The case on the room's screen; refused before the start or with an empty playlist."""
    _require_live(conference)
    item = services.current_item(state, services.conference_items(conference))
    if item is None:
        raise ActionRefused("The playlist is empty.")
    return item


def _question(conference: Conference, data: QueryDict) -> Question:
    return get_object_or_404(Question, pk=data.get("question") or 0, conference=conference)


def _start(conference: Conference, state: LiveState, data: QueryDict) -> None:
    services.conference_start(conference)


def _end(conference: Conference, state: LiveState, data: QueryDict) -> None:
    services.conference_end(conference)


def _next(conference: Conference, state: LiveState, data: QueryDict) -> None:
    _require_live(conference)
    services.conference_navigate(conference, step=1)


def _previous(conference: Conference, state: LiveState, data: QueryDict) -> None:
    _require_live(conference)
    services.conference_navigate(conference, step=-1)


def _next_case(conference: Conference, state: LiveState, data: QueryDict) -> None:
    _require_live(conference)
    services.conference_navigate(conference, case=1)


def _previous_case(conference: Conference, state: LiveState, data: QueryDict) -> None:
    _require_live(conference)
    services.conference_navigate(conference, case=-1)


def _goto(conference: Conference, state: LiveState, data: QueryDict) -> None:
    """To case ``position`` (0-based), at reveal step ``step`` if given."""
    _require_live(conference)
    try:
        position = int(data.get("position", ""))
        to_step = int(data.get("step") or 0) or None
    except ValueError:
        raise ActionMalformed("Bad position.") from None
    services.conference_navigate(conference, position=position, to_step=to_step)


def _figure(conference: Conference, state: LiveState, data: QueryDict) -> None:
    item = _require_case(conference, state)
    try:
        number = int(data.get("figure", ""))
    except ValueError:
        raise ActionRefused("Choose a figure.") from None
    services.conference_figure(conference, item=item, number=number)


def _layout(conference: Conference, state: LiveState, data: QueryDict) -> None:
    """One viewer (``layout=1``) or two viewports side by side (``layout=2``)."""
    item = _require_case(conference, state)
    try:
        layout = int(data.get("layout", ""))
    except ValueError:
        raise ActionMalformed("Bad layout.") from None
    try:
        services.conference_layout(conference, item=item, layout=layout)
    except services.FigureNotShown as refused:
        raise ActionMalformed(str(refused)) from None


def _second(conference: Conference, state: LiveState, data: QueryDict) -> None:
    """Figure ``figure`` in the second viewport (two viewports): one the room may see now."""
    item = _require_case(conference, state)
    try:
        number = int(data.get("figure", ""))
    except ValueError:
        raise ActionMalformed("Choose a figure.") from None
    try:
        services.conference_layout(conference, item=item, layout=2, second=number)
    except services.FigureNotShown as refused:
        raise ActionMalformed(str(refused)) from None


def _link(conference: Conference, state: LiveState, data: QueryDict) -> None:
    """Link (``link=1``) or unlink (``link=0``) the two viewports' scrolling."""
    item = _require_case(conference, state)
    if data.get("link") not in ("0", "1"):
        raise ActionMalformed("Bad link.")
    services.conference_link(conference, item=item, on=data["link"] == "1")


def _plane(conference: Conference, state: LiveState, data: QueryDict) -> None:
    """Viewport ``viewport`` (1 or 2) in ``plane``: axial, or a coronal or sagittal reformat."""
    item = _require_case(conference, state)
    viewport = data.get("viewport", "1")
    if viewport not in ("1", "2"):
        raise ActionMalformed("Bad viewport.")
    if viewport == "2":
        figure = services.current_second_figure(state, item)
    else:
        figure = services.current_figure(state, item)
    if figure is None:
        raise ActionRefused("Show a figure first.")
    try:
        services.conference_plane(
            conference, figure=figure, viewport=int(viewport), plane=data.get("plane", "")
        )
    except services.FigureNotShown as refused:
        raise ActionMalformed(str(refused)) from None


def _ask(conference: Conference, state: LiveState, data: QueryDict) -> None:
    """Put a question to the room; a click question is asked on the figure as it is shown."""
    item = _require_case(conference, state)
    form = QuestionForm(data)
    if not form.is_valid():
        raise ActionRefused(" ".join(form.non_field_errors()) or "Check the question.")
    question = form.cleaned_data
    figure = None
    if question["kind"] == Question.Kind.CLICK:
        figure = services.current_figure(state, item)
        if figure is None:
            raise ActionRefused("Show a figure first: the room clicks on it.")
    services.question_open(
        conference,
        item=item,
        kind=question["kind"],
        prompt=question["prompt"],
        options=question["options"],
        figure=figure,
        view=dict(state.view) if figure else None,
    )


def _click_question(conference: Conference, state: LiveState, data: QueryDict) -> Question:
    _require_case(conference, state)
    question = _question(conference, data)
    if question.kind != Question.Kind.CLICK:
        raise ActionRefused("Only a click question has a target.")
    return question


def _add_target(conference: Conference, state: LiveState, data: QueryDict) -> None:
    """Add one region to a click question's target (what counts as a right click)."""
    question = _click_question(conference, state, data)
    form = TargetForm(data)
    if not form.is_valid():
        errors = [*form.non_field_errors()] or ["Give the region's left, top, width and height."]
        raise ActionRefused(" ".join(errors))
    regions = [*question.targets, form.cleaned_data["region"]]
    services.question_targets_set(conference, question, regions=regions)


def _clear_target(conference: Conference, state: LiveState, data: QueryDict) -> None:
    question = _click_question(conference, state, data)
    services.question_targets_set(conference, question, regions=[])


def _dismiss(conference: Conference, state: LiveState, data: QueryDict) -> None:
    _require_case(conference, state)
    services.question_dismiss(conference)


def _close(conference: Conference, state: LiveState, data: QueryDict) -> None:
    _require_case(conference, state)
    services.question_close(conference, _question(conference, data))


def _show_results(conference: Conference, state: LiveState, data: QueryDict) -> None:
    _require_case(conference, state)
    services.question_results(conference, _question(conference, data), shown=True)


def _hide_results(conference: Conference, state: LiveState, data: QueryDict) -> None:
    _require_case(conference, state)
    services.question_results(conference, _question(conference, data), shown=False)


ACTIONS: dict[str, Callable[[Conference, LiveState, QueryDict], None]] = {
    "start": _start,
    "end": _end,
    "next": _next,
    "previous": _previous,
    "next-case": _next_case,
    "previous-case": _previous_case,
    "goto": _goto,
    "figure": _figure,
    "layout": _layout,
    "second": _second,
    "link": _link,
    "plane": _plane,
    "ask": _ask,
    "add-target": _add_target,
    "clear-target": _clear_target,
    "dismiss": _dismiss,
    "close": _close,
    "show-results": _show_results,
    "hide-results": _hide_results,
}


@login_required
@require_POST
@vary_on_headers("HX-Request")
def action(request: HtmxHttpRequest, code: str) -> HttpResponse:
    """Every button of the console, by name; each answers with the console as it now is."""
    conference = _get_conference_for_presenter(request, code)
    run = ACTIONS.get(request.POST.get("action", ""))
    if run is None:
        return HttpResponseBadRequest("Unknown action.")
    state = state_store().read(conference.code, fresh=True)
    error = ""
    try:
        run(conference, state, request.POST)
    except ActionMalformed as malformed:
        return HttpResponseBadRequest(str(malformed))
    except ActionRefused as refused:
        error = str(refused)
    if not request.htmx and not error:
        return redirect(conference)
    context = _console_context(request, conference) | {"error": error}
    return render_page(
        request,
        "cases/conference/console.html",
        context,
        partial="console",
        status=422 if error else 200,
    )


@login_required
@require_GET
def heatmap(request: HttpRequest, code: str, pk: int) -> HttpResponse:
    conference = _get_conference_for_presenter(request, code)
    question = get_object_or_404(Question, pk=pk, conference=conference, kind=Question.Kind.CLICK)
    return heatmap_response(question)


@login_required
@require_GET
def summary(request: HttpRequest, code: str) -> HttpResponse:
    conference = _get_conference_for_presenter(request, code)
    return render(
        request,
        "cases/conference/summary.html",
        {"conference": conference, "summary": services.conference_summary(conference)},
    )


@login_required
@require_GET
def summary_csv(request: HttpRequest, code: str) -> HttpResponse:
    conference = _get_conference_for_presenter(request, code)
    # The byte-order mark tells Excel the file is UTF-8 (accents), as the header tells browsers.
    response = HttpResponse(
        "\ufeff" + services.conference_csv(conference), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="conference-{conference.code}.csv"'
    return response
