"""Unknown-case mode: the learner's pages, a case revealed one step at a time.

What a step shows is decided in ``reveal.py``. Progress lives in the session; a step cannot
be opened before the one before it was seen (staff previewing excepted).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.db.models import Avg, Count, Min, Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from ..forms import DifferentialForm
from ..http import HtmxHttpRequest, render_page
from ..imaging.views import study_context, study_response, viewer_context
from ..library.search import Mode
from ..library.views import library_page
from ..markdown import ArticleLinks
from ..models import Attempt, Case, Figure, RevealStep, Table, TableRow, Tag
from ..preview import is_previewing
from ..scoring import differential_score
from .reveal import StepReveal, case_steps, step_reveal

SESSION_KEY = "unknown"


def _is_staff(request: HttpRequest) -> bool:
    return request.user.is_authenticated and request.user.is_staff


def _may_open_any_step(request: HttpRequest) -> bool:
    """Staff, and staff previewing as a learner, open the steps in any order."""
    return _is_staff(request) or is_previewing(request)


def _session_key(request: HttpRequest) -> str:
    # A preview's progress is kept apart: it is not the staff member's own as a learner.
    return f"{SESSION_KEY}-preview" if is_previewing(request) else SESSION_KEY


def _unknown_cases_for_user(request: HttpRequest) -> QuerySet[Case]:
    # Sample series have no story to guess; drafts only for staff previewing.
    return Case.objects.visible_to(request.user).filter(is_sample=False).exclude(diagnosis="")


def _get_case_for_user(request: HttpRequest, public_id: str) -> Case:
    cases = _unknown_cases_for_user(request).prefetch_related(
        Prefetch(
            "figures",
            queryset=Figure.objects.prefetch_related("slices", "annotations"),
        ),
        Prefetch(
            "tables",
            queryset=Table.objects.prefetch_related(
                Prefetch("rows", queryset=TableRow.objects.order_by("order", "id"))
            ),
        ),
        "references",
        "abbreviations",
        "tags",
    )
    return get_object_or_404(cases, public_id=public_id)


@dataclass
class Progress:
    """What this browser has seen of one case, kept in the session."""

    reached: int = 0
    choices: list[str] | None = None
    skipped: bool = False
    score: float = 0.0
    rank: int | None = None

    @property
    def committed(self) -> bool:
        return self.choices is not None or self.skipped

    @classmethod
    def load(cls, request: HttpRequest, case: Case) -> Progress:
        data = request.session.get(_session_key(request), {}).get(case.public_id, {})
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def save(self, request: HttpRequest, case: Case) -> None:
        store = request.session.get(_session_key(request), {})
        store[case.public_id] = self.__dict__.copy()
        request.session[_session_key(request)] = store


def _step_url(case: Case, step: int) -> str:
    return reverse("cases:unknown_step", args=[case.public_id, step])


def _figure_url(case: Case, figure: Figure) -> str:
    return reverse("cases:unknown_figure", args=[case.public_id, figure.number])


def _allowed_step(steps: list[int], progress: Progress) -> int:
    """The furthest step this browser may open: one past the furthest seen."""
    seen = [step for step in steps if step <= progress.reached]
    if not seen:
        return steps[0]
    index = steps.index(seen[-1])
    if seen[-1] == RevealStep.DIFFERENTIAL and not progress.committed:
        return seen[-1]  # the differential must be committed (or skipped) first
    return steps[min(index + 1, len(steps) - 1)]


def _case_statistics(case: Case) -> dict:
    """How the learners who tried this case did, each learner counted once, by a first try.

    A learner is a signed-in user; an attempt whose account was since deleted keeps the
    session it was made in, and a session stands for one learner. A learner who tries again
    (from another browser, whose session has not seen the case) has seen the diagnosis by
    then: only the first attempt says how hard the case is, so it alone counts (a skipped
    first attempt counts as no differential, as a skip does).
    """
    tries = case.attempts.order_by()
    signed_in = tries.filter(user__isnull=False)
    in_a_session = tries.filter(user__isnull=True).exclude(session_key="")
    firsts = (
        Q(id__in=_first_ids(signed_in, learner="user"))
        | Q(id__in=_first_ids(in_a_session, learner="session_key"))
        | Q(user__isnull=True, session_key="")  # nothing to tell whose: each on its own
    )
    stats = tries.filter(firsts).aggregate(
        attempts=Count("id", filter=Q(skipped=False)),
        correct=Count("id", filter=Q(skipped=False, matched_rank__isnull=False)),
        first=Count("id", filter=Q(matched_rank=1)),
        mean=Avg("score", filter=Q(skipped=False)),
    )
    attempts = stats["attempts"] or 0
    stats["share_correct"] = round(100 * stats["correct"] / attempts) if attempts else None
    stats["share_first"] = round(100 * stats["first"] / attempts) if attempts else None
    return stats


def _first_ids(attempts: QuerySet[Attempt], *, learner: str) -> QuerySet:
    """The id of each learner's first attempt, a learner being one value of field ``learner``."""
    # Ids grow with time, so a learner's smallest id is their first attempt.
    return attempts.values(learner).annotate(first=Min("id")).values("first")


def _step_links(case: Case, reveal: StepReveal) -> ArticleLinks:
    """Cross-links to what this step shows and nothing more: the figures revealed so far, the
    references from the discussion on; before the diagnosis, no abbreviation that names it."""
    abbreviations = {
        a.abbreviation: a.expansion
        for a in case.abbreviations.all()
        if reveal.step >= RevealStep.DIAGNOSIS or reveal.early(a.expansion) == a.expansion
    }
    return ArticleLinks(
        figures={f.number for f in reveal.figures},
        references={r.order for r in case.references.all()}
        if reveal.step >= RevealStep.DISCUSSION
        else set(),
        abbreviations=abbreviations,
    )


def _step_context(request: HttpRequest, case: Case, step: int, steps: list[int]) -> dict:
    """Everything a step shows, and nothing a later step adds."""
    progress = Progress.load(request, case)
    reveal = step_reveal(case, step=step, answer_shown=progress.committed)
    figures = [
        viewer_context(
            {},
            figure=figure,
            base_url=_figure_url(case, figure),
            caption=reveal.caption(figure),
            annotations_allowed=reveal.annotations_allowed,
        )["item"]
        for figure in reveal.figures
    ]
    index = steps.index(step)
    context = {
        "case": case,
        "step": step,
        "steps": [
            {
                "number": number,
                "label": RevealStep(number).label,
                "url": _step_url(case, number) if number <= max(progress.reached, step) else "",
                "current": number == step,
            }
            for number in steps
        ],
        "position": index + 1,
        "total": len(steps),
        "previous_url": _step_url(case, steps[index - 1]) if index > 0 else "",
        "next_url": "",
        "history": reveal.history,
        "exam": reveal.exam,
        "findings": reveal.findings,
        "figures": figures,
        "tables": reveal.tables,
        "progress": progress,
        "show_answer": step >= RevealStep.DIFFERENTIAL and progress.committed,
        "form": DifferentialForm(),
        "RevealStep": RevealStep,
        "links": _step_links(case, reveal),
    }
    needs_commit = step == RevealStep.DIFFERENTIAL and not progress.committed
    if index + 1 < len(steps) and not needs_commit:
        context["next_url"] = _step_url(case, steps[index + 1])
    if context["show_answer"]:
        context["author_differential"] = reveal.author_differential
    if step >= RevealStep.DIAGNOSIS:
        context["statistics"] = _case_statistics(case)
    return context


def _unknown_cards(cases: QuerySet[Case]) -> QuerySet[Case]:
    """What an unknown card shows, and nothing else: no field that could hold the diagnosis."""
    modalities = Tag.objects.filter(kind=Tag.Kind.MODALITY).order_by("name")
    return (
        cases.only("public_id", "unknown_title", "status", "difficulty__level")
        .select_related("difficulty")
        .prefetch_related(Prefetch("tags", queryset=modalities))
        .order_by()
    )


@require_GET
@vary_on_headers("HX-Request")
def unknown_library(request: HttpRequest) -> HttpResponse:
    """Neutral titles; the search reads only what unknown mode shows before the diagnosis."""
    return library_page(
        request,
        cases=_unknown_cases_for_user(request),
        mode=Mode.UNKNOWN,
        template="cases/unknown/library.html",
        cards=_unknown_cards,
        extra={"progress": request.session.get(_session_key(request), {})},
    )


@require_GET
@vary_on_headers("HX-Request")
def unknown_step(request: HtmxHttpRequest, public_id: str, step: int = 1) -> HttpResponse:
    case = _get_case_for_user(request, public_id)
    steps = case_steps(case)
    if step not in steps:
        # An empty (skipped) step or a number out of range: go to the nearest real one.
        later = [s for s in steps if s >= step]
        return redirect(_step_url(case, later[0] if later else steps[-1]))
    progress = Progress.load(request, case)
    allowed = _allowed_step(steps, progress)
    if step > allowed and not _may_open_any_step(request):
        target = _step_url(case, allowed)
        if request.htmx:
            return HttpResponseClientRedirect(target)
        return redirect(target)
    if step > progress.reached:
        progress.reached = step
        progress.save(request, case)
    context = _step_context(request, case, step, steps)
    return render_page(request, "cases/unknown/step.html", context, partial="step")


@require_http_methods(["POST"])
def unknown_differential(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Commit (or skip) the learner's ranked differential, then show the author's."""
    case = _get_case_for_user(request, public_id)
    steps = case_steps(case)
    progress = Progress.load(request, case)
    step = int(RevealStep.DIFFERENTIAL)
    if progress.reached < step and not _may_open_any_step(request):
        return redirect(_step_url(case, _allowed_step(steps, progress)))
    form = DifferentialForm(request.POST)
    if not form.is_valid():
        context = _step_context(request, case, step, steps) | {"form": form}
        return render_page(request, "cases/unknown/step.html", context, partial="step", status=422)
    if not progress.committed:
        # The first answer counts; a resubmitted form changes nothing.
        skipped = "skip" in request.POST or not form.choices
        choices = [] if skipped else form.choices
        score, rank = (0.0, None) if skipped else differential_score(case, choices)
        progress.choices, progress.skipped, progress.score, progress.rank = (
            choices,
            skipped,
            score,
            rank,
        )
        progress.reached = max(progress.reached, step)
        progress.save(request, case)
        if request.user.is_authenticated:
            Attempt.objects.create(
                case=case,
                user=request.user,
                session_key=request.session.session_key or "",
                choices=choices,
                skipped=skipped,
                score=score,
                matched_rank=rank,
            )
    if request.htmx:
        context = _step_context(request, case, step, steps)
        response = render(request, "cases/unknown/step.html#step", context)
        # The address is already this step's: replace it, so Back does not stop here twice.
        response["HX-Replace-Url"] = _step_url(case, step)
        return response
    return redirect(_step_url(case, step))


@require_GET
@login_required
def unknown_history(request: HttpRequest) -> HttpResponse:
    """A learner's own attempts, newest first."""
    attempts = request.user.attempts.select_related("case").filter(
        case__in=Case.objects.visible_to(request.user)
    )
    return render(request, "cases/unknown/history.html", {"attempts": attempts})


@require_GET
@vary_on_headers("HX-Request")
def unknown_figure(request: HtmxHttpRequest, public_id: str, number: int) -> HttpResponse:
    """One figure's viewer in unknown mode, as far as this browser has got in the case."""
    case = _get_case_for_user(request, public_id)
    reached = RevealStep.DISCUSSION if _is_staff(request) else Progress.load(request, case).reached
    # The same rules as the steps: what the furthest step seen reveals, and nothing more.
    reveal = step_reveal(case, step=reached, answer_shown=False)
    figure = next((f for f in reveal.figures if f.number == number), None)
    if figure is None:
        raise Http404("No such figure")
    context = viewer_context(
        request,
        figure=figure,
        base_url=_figure_url(case, figure),
        caption=reveal.caption(figure),
        annotations_allowed=reveal.annotations_allowed,
    )
    if request.htmx:
        return render(request, "cases/figure.html#viewer", context)
    back = _step_url(case, max(s for s in case_steps(case) if s <= max(reached, 1)))
    return render(request, "cases/unknown/figure.html", context | {"case": case, "back": back})


@require_GET
@vary_on_headers("HX-Request")
def unknown_study(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """The revealed figures as a study, as far as this browser has got in the case.

    The same rules as ``unknown_figure``: only the figures the furthest step seen reveals
    (a ``v`` naming a later one shows a revealed one instead), no captions, annotations from
    the findings step on, and links to unknown mode's own figure pages.
    """
    case = _get_case_for_user(request, public_id)
    reached = RevealStep.DISCUSSION if _is_staff(request) else Progress.load(request, case).reached
    reveal = step_reveal(case, step=reached, answer_shown=False)
    figures = [f for f in reveal.figures if f.slices.all()]
    if not figures:
        raise Http404("No images yet")
    context = study_context(
        request,
        figures=figures,
        base_url=reverse("cases:unknown_study", args=[case.public_id]),
        figure_url=lambda figure: _figure_url(case, figure),
        annotations_allowed=reveal.annotations_allowed,
    )
    step = max(s for s in case_steps(case) if s <= max(reached, 1))
    back = {"url": _step_url(case, step), "label": "← Back to the case"}
    title = case.unknown_title or "Unknown case"
    return study_response(request, context | {"title": title, "back": back})
