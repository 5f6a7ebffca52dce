"""The audience's page of a live conference: join by code, watch, look around, answer.

The page gets each change on the push stream (``/c/<code>/events/``, stream.py) as the new
screen itself (``live_screen``, rendered once by the presenter's request), and polls ``live``
with ``If-None-Match`` for the rest: 304 while the state's version is unchanged
(one Redis GET or one indexed query, no session), else the new state's fragments; without
the stream (no Redis, a proxy that buffers) it polls once a second as before. The part
everyone sees alike (the step and the viewer) is rendered once per version and cached; only
the question panel, which holds the member's own answer, is rendered per member.
"""

from __future__ import annotations

import math
import secrets
import time

from django.conf import settings
from django.core.cache import cache
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from cases.http import HtmxHttpRequest, client_etags
from cases.imaging.views import viewer_context
from cases.models import RevealStep

from . import services
from .models import Conference, ConferenceCase, Question, Vote
from .models import join_code_normalise as _normalise
from .room import click_view, heatmap_response, room_screen, room_second_viewer
from .state import HEARTBEAT_SECONDS, LiveState, live_announce, state_store

MEMBER_COOKIE = "cv_member"
VOTER_SESSION_KEY = "conference_voter"
LIVE_CACHE_CONTROL = "private, no-cache"


def _get_live_or_404(code: str) -> LiveState:
    live = state_store().read(_normalise(code))
    if live is None:
        raise Http404("No conference with this code")
    return live


def _step_label(live: LiveState, item: ConferenceCase | None) -> str:
    if item is None:
        return ""
    return RevealStep(live.step).label if live.step in RevealStep.values else ""


def _stage_html(live: LiveState, *, conference: Conference, items: list[ConferenceCase]) -> str:
    """The step and the viewer, the same for everyone: rendered once per version."""
    key = f"conference:{live.code}:stage:{live.version}"
    html = cache.get(key)
    if html is None:
        item, reveal, viewer = room_screen(live, items)
        second_viewer = room_second_viewer(live, item, reveal)
        html = render_to_string(
            "cases/conference/audience.html#stage",
            {
                "conference": conference,
                "live": live,
                "item": item,
                "reveal": reveal,
                "viewer": viewer,
                "second_viewer": second_viewer if viewer else None,
                "stage_key": _stage_key(live),
                "RevealStep": RevealStep,
            },
        )
        cache.set(key, html, 3600)
    return mark_safe(html)  # noqa: S308 - our own template's output


def _stage_key(live: LiveState) -> str:
    """Changes exactly when the stage does: the script skips swapping an unchanged stage."""
    view = "&".join(f"{k}={v}" for k, v in sorted(live.view.items()))
    key = f"{live.status}/{live.position}/{live.step}/{live.figure}/{view}"
    if live.layout == 2:
        second = "&".join(f"{k}={v}" for k, v in sorted(live.second_view.items()))
        key += f"/2/{live.second}/{second}/{int(live.link)}"
    return key


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
        context["click"] = click_view(question)
    if live.results and question.results_shown:
        context["results"] = services.question_results_tally(question)
        if vote is not None and question.kind == Question.Kind.CLICK:
            context["vote_correct"] = services.vote_is_correct(vote, question=question)
    return context


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
        "stage": _stage_html(live, conference=conference, items=items),
        "question_key": _question_key(live),
        "join_url": request.build_absolute_uri(conference.join_url) if request else "",
    } | _question_context(request, live)


def _live_pieces(state: LiveState) -> dict[str, str]:
    """The bar, question and stage as a member who never answered sees them; once per version."""
    key = f"conference:{state.code}:live:{state.version}"
    pieces = cache.get(key)
    if pieces is None:
        context = _audience_context(None, state)
        pieces = {
            name: render_to_string(f"cases/conference/audience.html#{name}", context)
            for name in ("bar", "question")
        } | {"stage": str(context["stage"])}
        cache.set(key, pieces, 3600)
    return pieces


def _live_html(request: HttpRequest, state: LiveState) -> str:
    """The poll's answer: bar, question and stage, rendered once per version and shared.

    Only the question panel of a member who has answered (their session holds their answer)
    is rendered for them alone. The shared question form has no CSRF field: the polling page
    sends the token in a header (``hx-headers``), and pages without script do not poll.
    """
    pieces = _live_pieces(state)
    question = pieces["question"]
    if state.question and settings.SESSION_COOKIE_NAME in request.COOKIES:
        context = _question_context(request, state) | {"question_key": _question_key(state)}
        question = render_to_string(
            "cases/conference/audience.html#question", context, request=request
        )
    return pieces["bar"] + question + pieces["stage"]


def live_screen(state: LiveState) -> str:
    """What the push stream carries to every member: the bar and the stage, nobody's own.

    A question panel stays out (it holds each member's own answer): the bar names the
    question's key, and a page whose panel has another key fetches it with the poll. With no
    question put, the empty panel is everyone's and comes along.
    """
    pieces = _live_pieces(state)
    return pieces["bar"] + ("" if state.question else pieces["question"]) + pieces["stage"]


@receiver(live_announce, dispatch_uid="conference_live_screen")
def _screen_announced(sender, live: LiveState, **kwargs) -> str:
    return live_screen(live)


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
def events(request: HttpRequest, code: str) -> HttpResponse:
    """The push stream's address when no ASGI process answers it: 204, so the page polls.

    The balancer routes ``/c/<code>/events/`` to the stream (``stream.py``, ``make sse``);
    an app server alone cannot hold thousands of open streams in its few workers.
    """
    _get_live_or_404(code)
    response = HttpResponse(status=204)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@vary_on_headers("HX-Request")
def audience_figure(request: HtmxHttpRequest, code: str, number: int) -> HttpResponse:
    """A member looking around on their own: the live case's revealed figures, any view."""
    state = _get_live_or_404(code)
    conference = Conference.objects.get(pk=state.conference)
    items = services.conference_items(conference)
    item, reveal, _ = room_screen(state, items)
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
    view = click_view(question)
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
    return heatmap_response(question)
