"""The presenter's console and the audience's page of a live conference.

The audience polls ``live`` every second with ``If-None-Match``: 304 while the state's version
is unchanged (one Redis GET or one indexed query, no session), else the new state's fragments.
The part everyone sees alike (the step and the viewer) is rendered once per version and cached;
only the question panel, which holds the member's own answer, is rendered per member.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import replace

import segno
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotModified,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from cases.http import HtmxHttpRequest, client_etags, render_page
from cases.imaging.views import viewer_context
from cases.imaging.viewstate import ViewState
from cases.models import RevealStep
from cases.unknown import case_steps, step_reveal

from . import services
from .forms import ConferenceForm, QuestionForm
from .heatmap import heatmap_render
from .models import PRESENT_PERMISSION, Conference, ConferenceCase, Question, Vote
from .models import join_code_normalise as _normalise
from .state import HEARTBEAT_SECONDS, LiveState, state_store

MEMBER_COOKIE = "cv_member"
VOTER_SESSION_KEY = "conference_voter"
LIVE_CACHE_CONTROL = "private, no-cache"


def _may_present(user) -> bool:
    return user.is_authenticated and (user.is_staff or user.has_perm(PRESENT_PERMISSION))


def _get_conference_for_presenter(request: HttpRequest, code: str) -> Conference:
    conference = get_object_or_404(Conference, code=_normalise(code))
    if not conference.can_present(request.user):
        raise PermissionDenied("Only the presenter drives this conference.")
    return conference


def _get_live_or_404(code: str) -> LiveState:
    live = state_store().read(_normalise(code))
    if live is None:
        raise Http404("No conference with this code")
    return live


def _get_conference_for_audience(code: str) -> Conference:
    return get_object_or_404(Conference, code=_normalise(code))


# --- what the room sees ----------------------------------------------------------------------


def _room(live: LiveState, items: list[ConferenceCase], *, figure_base: str | None = None):
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
        viewer = viewer_context(
            live.view,
            figure=figure,
            base_url=figure_base
            or reverse("cases:conference_audience_figure", args=[live.code, figure.number]),
            caption=reveal.caption(figure),
            annotations_allowed=reveal.annotations_allowed,
        )["item"]
    return item, reveal, viewer


def _step_label(live: LiveState, item: ConferenceCase | None) -> str:
    if item is None:
        return ""
    return RevealStep(live.step).label if live.step in RevealStep.values else ""


def _stage_html(request: HttpRequest, live: LiveState) -> str:
    """The step and the viewer, the same for everyone: rendered once per version."""
    key = f"conference:{live.code}:stage:{live.version}"
    html = cache.get(key)
    if html is None:
        conference = Conference.objects.get(pk=live.conference)
        items = services.conference_items(conference)
        item, reveal, viewer = _room(live, items)
        html = render_to_string(
            "cases/conference/audience.html#stage",
            {
                "conference": conference,
                "live": live,
                "item": item,
                "reveal": reveal,
                "viewer": viewer,
                "stage_key": _stage_key(live),
                "RevealStep": RevealStep,
            },
        )
        cache.set(key, html, 3600)
    return mark_safe(html)  # noqa: S308 - our own template's output


def _stage_key(live: LiveState) -> str:
    """Changes exactly when the stage does: the script skips swapping an unchanged stage."""
    view = "&".join(f"{k}={v}" for k, v in sorted(live.view.items()))
    return f"{live.status}/{live.position}/{live.step}/{live.figure}/{view}"


def _voter(request: HttpRequest | None, *, create: bool = False) -> str:
    if request is None:
        return ""
    voter = request.session.get(VOTER_SESSION_KEY, "")
    if not voter and create:
        voter = secrets.token_hex(12)
        request.session[VOTER_SESSION_KEY] = voter
    return voter


def _question_context(request: HttpRequest, live: LiveState) -> dict:
    question = None
    if live.question and live.is_live:
        question = (
            Question.objects.filter(pk=live.question, conference_id=live.conference)
            .select_related("item__case")
            .first()
        )
    context = {
        "question": question,
        "live": live,
        "show_correct": live.step >= RevealStep.DIAGNOSIS,
    }
    if question is None:
        return context
    voter = _voter(request)
    vote = Vote.objects.filter(question=question, voter=voter).first() if voter else None
    context["vote"] = vote
    if question.kind == Question.Kind.CLICK:
        context["click"] = _click_view(question)
    if live.results and question.results_shown:
        context["results"] = services.question_results_tally(question)
    return context


def _click_view(question: Question) -> ViewState | None:
    figure = question.item.case.figures.filter(number=question.figure_number).first()
    if figure is None:
        return None
    return ViewState.from_query(
        figure, question.view, base_url="/", caption="", annotations_allowed=False
    )


def _question_key(live: LiveState) -> str:
    return f"{live.question}-{live.results}-{live.version if live.results else ''}-{live.status}"


def _audience_context(request: HttpRequest | None, live: LiveState) -> dict:
    """The audience page's context; with no request, as seen by a member who never answered."""
    conference = Conference.objects.get(pk=live.conference)
    items = services.conference_items(conference)
    item = services.current_item(live, items)
    return {
        "conference": conference,
        "live": live,
        "item": item,
        "position": (items.index(item) + 1) if item else 0,
        "total": len(items),
        "step_label": _step_label(live, item),
        "stage": _stage_html(request, live),
        "question_key": _question_key(live),
        "join_url": request.build_absolute_uri(conference.join_url) if request else "",
    } | _question_context(request, live)


def _live_html(request: HttpRequest, state: LiveState) -> str:
    """The poll's answer: bar, question and stage, rendered once per version and shared.

    Only the question panel of a member who has answered (their session holds their answer)
    is rendered for them alone. The shared question form has no CSRF field: the polling page
    sends the token in a header (``hx-headers``), and pages without script do not poll.
    """
    key = f"conference:{state.code}:live:{state.version}"
    pieces = cache.get(key)
    if pieces is None:
        context = _audience_context(None, state)
        pieces = {
            name: render_to_string(f"cases/conference/audience.html#{name}", context)
            for name in ("bar", "question")
        } | {"stage": str(context["stage"])}
        cache.set(key, pieces, 3600)
    question = pieces["question"]
    if state.question and settings.SESSION_COOKIE_NAME in request.COOKIES:
        context = _question_context(request, state) | {"question_key": _question_key(state)}
        question = render_to_string(
            "cases/conference/audience.html#question", context, request=request
        )
    return pieces["bar"] + question + pieces["stage"]


def _heartbeat(request: HttpRequest, response: HttpResponse, live: LiveState) -> None:
    """Count this member in (at most every HEARTBEAT_SECONDS): a cookie remembers when."""
    now = int(time.time())
    member, _, last = request.COOKIES.get(MEMBER_COOKIE, "").partition(".")
    if len(member) != 16 or not member.isalnum():
        member, last = secrets.token_hex(8), ""
    if last.isdigit() and now - int(last) < HEARTBEAT_SECONDS:
        return
    state_store().heartbeat(live, member)
    response.set_cookie(
        MEMBER_COOKIE,
        f"{member}.{now}",
        max_age=12 * 3600,
        path="/c/",
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
    )


@require_GET
def join(request: HttpRequest) -> HttpResponse:
    """Type the code from the screen: /c/?code=ab3 de7 goes to /c/AB3DE7/."""
    code = _normalise(request.GET.get("code", ""))
    error = ""
    if code:
        if Conference.objects.filter(code=code).exists():
            return redirect("cases:conference_audience", code)
        error = "No conference has that code. Check it on the screen and try again."
    return render(
        request,
        "cases/conference/join.html",
        {"code": request.GET.get("code", ""), "error": error},
        status=404 if error else 200,
    )


@require_GET
def audience(request: HttpRequest, code: str) -> HttpResponse:
    if code != _normalise(code):
        return redirect("cases:conference_audience", _normalise(code))
    live = _get_live_or_404(code)
    response = render(request, "cases/conference/audience.html", _audience_context(request, live))
    response["Cache-Control"] = LIVE_CACHE_CONTROL
    _heartbeat(request, response, live)
    return response


@require_GET
@vary_on_headers("HX-Request")
def live(request: HtmxHttpRequest, code: str) -> HttpResponse:
    """The poll: 304 while the version is unchanged, else the bar, question and stage."""
    if not request.htmx:
        return redirect("cases:conference_audience", _normalise(code))
    state = _get_live_or_404(code)
    if state.etag in client_etags(request):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(_live_html(request, state))
    response["ETag"] = state.etag
    response["Cache-Control"] = LIVE_CACHE_CONTROL
    _heartbeat(request, response, state)
    return response


@require_GET
@vary_on_headers("HX-Request")
def audience_figure(request: HtmxHttpRequest, code: str, number: int) -> HttpResponse:
    """A member looking around on their own: the live case's revealed figures, any view."""
    state = _get_live_or_404(code)
    conference = Conference.objects.get(pk=state.conference)
    items = services.conference_items(conference)
    item, reveal, _ = _room(state, items)
    figure = next((f for f in reveal.figures if f.number == number), None) if reveal else None
    if figure is None:
        raise Http404("No such figure")
    context = viewer_context(
        request,
        figure=figure,
        base_url=reverse("cases:conference_audience_figure", args=[state.code, number]),
        caption=reveal.caption(figure),
        annotations_allowed=reveal.annotations_allowed,
    )
    if request.htmx:
        return render(request, "cases/figure.html#viewer", context)
    return render(
        request,
        "cases/conference/audience_figure.html",
        context | {"conference": conference, "live": state},
    )


@require_POST
@vary_on_headers("HX-Request")
def vote(request: HtmxHttpRequest, code: str, pk: int) -> HttpResponse:
    state = _get_live_or_404(code)
    question = get_object_or_404(
        Question.objects.select_related("item__case"), pk=pk, conference_id=state.conference
    )
    x = y = None
    if question.kind == Question.Kind.CLICK:
        x, y = _click_point(question, request.POST)
    error = ""
    try:
        services.vote_cast(
            question,
            voter=_voter(request, create=True),
            choice=request.POST.get("choice", ""),
            x=x,
            y=y,
        )
    except services.VoteRefused as refused:
        error = str(refused)
    if not request.htmx:
        if error:
            context = _audience_context(request, state) | {"error": error}
            return render(request, "cases/conference/audience.html", context, status=422)
        return redirect("cases:conference_audience", state.code)
    context = _question_context(request, state) | {
        "error": error,
        "question_key": _question_key(state),
    }
    return render(
        request,
        "cases/conference/audience.html#question",
        context,
        status=422 if error else 200,
    )


def _click_point(question: Question, data) -> tuple[float | None, float | None]:
    """A click on the question's image, in the slice's own pixels.

    The script sends ``px``/``py`` in the rendered image's pixels; without it the browser sends
    ``at.x``/``at.y`` in CSS pixels, right when the image is shown at its natural size.
    """
    view = _click_view(question)
    if view is None or view.slice is None:
        return None, None
    try:
        x = float(data.get("px", data.get("at.x", "")))
        y = float(data.get("py", data.get("at.y", "")))
    except ValueError:
        return None, None
    if not (math.isfinite(x) and math.isfinite(y)):
        return None, None
    width, height = view.display_size
    if not width or not height:
        return None, None
    fx = view.cx - 0.5 / view.zoom + min(max(x / width, 0), 1) / view.zoom
    fy = view.cy - 0.5 / view.zoom + min(max(y / height, 0), 1) / view.zoom
    return fx * view.slice.width, fy * view.slice.height


@require_GET
def audience_heatmap(request: HttpRequest, code: str, pk: int) -> HttpResponse:
    """The heat map, for the room, once the presenter shows the results."""
    state = _get_live_or_404(code)
    question = get_object_or_404(
        Question, pk=pk, conference_id=state.conference, kind=Question.Kind.CLICK
    )
    if not (question.results_shown and state.results and state.question == question.pk):
        raise Http404("Not shown")
    return _heatmap_response(question)


def _heatmap_response(question: Question) -> HttpResponse:
    view = _click_view(question)
    if view is None or view.slice is None:
        raise Http404("No image")
    image = view.slices[min(max(question.slice_index or 0, 0), view.count - 1)]
    points = [
        (x, y) for x, y in question.votes.values_list("x", "y") if x is not None and y is not None
    ]
    data = heatmap_render(image, view=question.view, points=points)
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = "private, no-cache"
    return response


# --- the presenter ---------------------------------------------------------------------------


def _qr_svg(url: str) -> str:
    return mark_safe(segno.make(url).svg_inline(scale=1, light="#fff", omitsize=True))  # noqa: S308


def _console_context(request: HttpRequest, conference: Conference) -> dict:
    store = state_store()
    state = store.read(conference.code, fresh=True)
    items = services.conference_items(conference)
    item = services.current_item(state, items)
    viewer_base = reverse("cases:conference_viewer", args=[conference.code])
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
    _, reveal, viewer = _room(
        replace(state, status=Conference.Status.LIVE), items, figure_base=viewer_base
    )
    steps = case_steps(item.case)
    context |= {
        "case": item.case,
        "reveal": reveal,
        "viewer": viewer,
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
def viewer(request: HtmxHttpRequest, code: str) -> HttpResponse:
    """The presenter's viewer. POST shows its view to the room; GET only looks.

    With the script, every viewer control posts here (so the room follows each click); without
    it, the controls are links that show the view here and a button posts it.
    """
    conference = _get_conference_for_presenter(request, code)
    state = state_store().read(conference.code, fresh=True)
    items = services.conference_items(conference)
    item = services.current_item(state, items)
    figure = services.current_figure(state, item)
    if figure is None:
        raise Http404("No figure is shown")
    query = request.GET.copy()
    if request.method == "POST":
        query.update(request.POST)
        state, params = services.conference_view(conference, figure=figure, query=query)
        query = params
        if not request.htmx:
            return redirect(conference)
    _, reveal, _ = _room(replace(state, status=Conference.Status.LIVE), items)
    context = viewer_context(
        query,
        figure=figure,
        base_url=reverse("cases:conference_viewer", args=[conference.code]),
        caption=reveal.caption(figure),
        annotations_allowed=reveal.annotations_allowed,
    )
    if request.htmx:
        return render(request, "cases/figure.html#viewer", context)
    pending = context["item"]["view"].params()
    context = _console_context(request, conference) | {
        "viewer": context["item"],
        "pending_view": {k: str(v) for k, v in pending.items()},
    }
    return render(request, "cases/conference/console.html", context)


ACTIONS = {
    "start",
    "end",
    "next",
    "previous",
    "next-case",
    "previous-case",
    "goto",
    "figure",
    "ask",
    "close",
    "show-results",
    "hide-results",
    "dismiss",
}


@login_required
@require_POST
@vary_on_headers("HX-Request")
def action(request: HtmxHttpRequest, code: str) -> HttpResponse:
    """Everything the console's buttons do; each answers with the console as it now is."""
    conference = _get_conference_for_presenter(request, code)
    name = request.POST.get("action", "")
    if name not in ACTIONS:
        return HttpResponseBadRequest("Unknown action.")
    state = state_store().read(conference.code, fresh=True)
    error = ""
    if name == "start":
        services.conference_start(conference)
    elif name == "end":
        services.conference_end(conference)
    elif conference.status != Conference.Status.LIVE:
        error = "Start the conference first."
    elif name in {"next", "previous"}:
        services.conference_navigate(conference, step=1 if name == "next" else -1)
    elif name in {"next-case", "previous-case"}:
        services.conference_navigate(conference, case=1 if name == "next-case" else -1)
    elif name == "goto":
        try:
            position = int(request.POST.get("position", ""))
            to_step = int(request.POST.get("step") or 0) or None
        except ValueError:
            return HttpResponseBadRequest("Bad position.")
        services.conference_navigate(conference, position=position, to_step=to_step)
    else:
        items = services.conference_items(conference)
        item = services.current_item(state, items)
        error = _question_action(request, conference, state, item, name)
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


def _question_action(request, conference, state, item, name) -> str:
    if item is None:
        return "The playlist is empty."
    if name == "figure":
        try:
            number = int(request.POST.get("figure", ""))
        except ValueError:
            return "Choose a figure."
        services.conference_figure(conference, item=item, number=number)
        return ""
    if name == "dismiss":
        services.question_dismiss(conference)
        return ""
    if name == "ask":
        form = QuestionForm(request.POST)
        if not form.is_valid():
            return " ".join(form.non_field_errors()) or "Check the question."
        data = form.cleaned_data
        figure = None
        if data["kind"] == Question.Kind.CLICK:
            figure = services.current_figure(state, item)
            if figure is None:
                return "Show a figure first: the room clicks on it."
        services.question_open(
            conference,
            item=item,
            kind=data["kind"],
            prompt=data["prompt"],
            options=data["options"],
            figure=figure,
            view=dict(state.view) if figure else None,
        )
        return ""
    question = get_object_or_404(
        Question, pk=request.POST.get("question") or 0, conference=conference
    )
    if name == "close":
        services.question_close(conference, question)
    elif name == "show-results":
        services.question_results(conference, question, shown=True)
    elif name == "hide-results":
        services.question_results(conference, question, shown=False)
    return ""


@login_required
@require_GET
def heatmap(request: HttpRequest, code: str, pk: int) -> HttpResponse:
    conference = _get_conference_for_presenter(request, code)
    question = get_object_or_404(Question, pk=pk, conference=conference, kind=Question.Kind.CLICK)
    return _heatmap_response(question)


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
