"""Unknown-case mode: a case revealed one step at a time, never leaking what comes later.

Everything a step shows is decided here, on the server. A step's page holds what that step
and the earlier ones reveal, nothing more: later texts, figures, captions, annotations and
URLs are simply not in the context. Progress lives in the session; a step cannot be opened
before the one before it was seen (staff previewing excepted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.decorators import login_required
from django.db.models import Avg, Count, Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from .forms import DifferentialForm
from .imaging.views import viewer_context
from .library.search import Mode
from .library.views import library_page
from .models import Attempt, Case, Figure, RevealStep, Table, TableRow, Tag
from .scoring import differential_score
from .spoilers import spoiler_patterns, text_mask

SESSION_KEY = "unknown"


def _is_staff(request: HttpRequest) -> bool:
    return request.user.is_authenticated and request.user.is_staff


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
        "tags",
    )
    return get_object_or_404(cases, public_id=public_id)


def case_steps(case: Case) -> list[int]:
    """The reveal steps this case has content for, in order (empty ones are skipped)."""
    figure_steps = {figure.reveal_step for figure in case.figures.all()}
    table_steps = {table.reveal_step for table in case.tables.all()}
    has_annotations = any(figure.annotations.all() for figure in case.figures.all())
    present = {
        RevealStep.PRESENTATION: True,
        RevealStep.IMAGES: RevealStep.IMAGES in figure_steps,
        RevealStep.FINDINGS: bool(case.findings)
        or has_annotations
        or RevealStep.FINDINGS in figure_steps,
        RevealStep.DIFFERENTIAL: True,
        RevealStep.DIAGNOSIS: True,
        RevealStep.DISCUSSION: bool(
            case.discussion
            or case.teaching_point
            or case.treatment
            or RevealStep.DISCUSSION in table_steps
            or case.references.all()
        ),
    }
    return [int(step) for step in RevealStep if present[step]]


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
        data = request.session.get(SESSION_KEY, {}).get(case.public_id, {})
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def save(self, request: HttpRequest, case: Case) -> None:
        store = request.session.get(SESSION_KEY, {})
        store[case.public_id] = self.__dict__.copy()
        request.session[SESSION_KEY] = store


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
    stats = case.attempts.aggregate(
        attempts=Count("id", filter=Q(skipped=False)),
        correct=Count("id", filter=Q(skipped=False, matched_rank__isnull=False)),
        first=Count("id", filter=Q(matched_rank=1)),
        mean=Avg("score", filter=Q(skipped=False)),
    )
    attempts = stats["attempts"] or 0
    stats["share_correct"] = round(100 * stats["correct"] / attempts) if attempts else None
    stats["share_first"] = round(100 * stats["first"] / attempts) if attempts else None
    return stats


@dataclass(frozen=True)
class StepReveal:
    """What one reveal step shows of a case, whoever is looking (a learner, a conference room).

    Texts are masked before the diagnosis step; figures are those revealed by ``step``, with
    their captions from ``caption()``; annotations only from the findings step on. Nothing a
    later step adds is in here.
    """

    case: Case
    step: int
    history: str
    exam: str
    findings: str
    figures: list[Figure]
    tables: list[Table]
    author_differential: list[str]
    annotations_allowed: bool
    patterns: list = field(default_factory=list, repr=False)

    def caption(self, figure: Figure) -> str:
        if self.step >= RevealStep.DISCUSSION:
            return figure.caption
        return self.early(figure.unknown_caption)

    def early(self, text: str) -> str:
        return _early(text, step=self.step, patterns=self.patterns)


def _early(text: str, *, step: int, patterns: list) -> str:
    """Text shown before the diagnosis step has the diagnosis masked."""
    return text_mask(text, patterns) if step < RevealStep.DIAGNOSIS else text


def step_reveal(case: Case, *, step: int, answer_shown: bool) -> StepReveal:
    """The content of ``step`` of ``case``; ``answer_shown`` adds the author's differential.

    In unknown mode the answer shows once the learner committed a differential; in a
    conference once the presenter reaches the diagnosis. Prefetch figures (with slices and
    annotations) and tables (with rows) to keep the query count flat.
    """
    patterns = spoiler_patterns(case)
    return StepReveal(
        case=case,
        step=step,
        history=_early(case.history, step=step, patterns=patterns),
        exam=_early(case.exam, step=step, patterns=patterns),
        findings=_early(case.findings, step=step, patterns=patterns)
        if step >= RevealStep.FINDINGS
        else "",
        figures=[figure for figure in case.figures.all() if figure.reveal_step <= step],
        tables=[table for table in case.tables.all() if table.reveal_step <= step]
        if step >= RevealStep.DIAGNOSIS or answer_shown
        else [],
        # The author's differential in a neutral order, so its ranking hints at nothing.
        author_differential=sorted(case.differential_list, key=str.lower)
        if step >= RevealStep.DIFFERENTIAL and answer_shown
        else [],
        annotations_allowed=step >= RevealStep.FINDINGS,
        patterns=patterns,
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
        extra={"progress": request.session.get(SESSION_KEY, {})},
    )


@require_GET
@vary_on_headers("HX-Request")
def unknown_step(request: HttpRequest, public_id: str, step: int = 1) -> HttpResponse:
    case = _get_case_for_user(request, public_id)
    steps = case_steps(case)
    if step not in steps:
        # An empty (skipped) step or a number out of range: go to the nearest real one.
        later = [s for s in steps if s >= step]
        return redirect(_step_url(case, later[0] if later else steps[-1]))
    progress = Progress.load(request, case)
    allowed = _allowed_step(steps, progress)
    if step > allowed and not _is_staff(request):
        target = _step_url(case, allowed)
        if request.htmx:
            return HttpResponseClientRedirect(target)
        return redirect(target)
    if step > progress.reached:
        progress.reached = step
        progress.save(request, case)
    context = _step_context(request, case, step, steps)
    template = "cases/unknown/step.html#step" if request.htmx else "cases/unknown/step.html"
    return render(request, template, context)


@require_http_methods(["POST"])
def unknown_differential(request: HttpRequest, public_id: str) -> HttpResponse:
    """Commit (or skip) the learner's ranked differential, then show the author's."""
    case = _get_case_for_user(request, public_id)
    steps = case_steps(case)
    progress = Progress.load(request, case)
    step = int(RevealStep.DIFFERENTIAL)
    if progress.reached < step and not _is_staff(request):
        return redirect(_step_url(case, _allowed_step(steps, progress)))
    form = DifferentialForm(request.POST)
    if not form.is_valid():
        context = _step_context(request, case, step, steps) | {"form": form}
        template = "cases/unknown/step.html#step" if request.htmx else "cases/unknown/step.html"
        return render(request, template, context, status=422)
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
def unknown_figure(request: HttpRequest, public_id: str, number: int) -> HttpResponse:
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
