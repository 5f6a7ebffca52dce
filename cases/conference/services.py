"""What a presenter does to a conference, and what the room answers: plain functions.

Every change to what the room sees goes through ``state_store().change``, so it gets a new
version and reaches every audience screen at its next poll.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field, replace

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from cases.imaging.linking import linked_number
from cases.imaging.params import PLANES
from cases.imaging.viewstate import ViewState
from cases.models import Case, Figure, Table, TableRow
from cases.scoring import answer_matches, answer_targets
from cases.unknown.reveal import case_steps

from .models import Conference, ConferenceCase, FigureTarget, Question, Vote
from .state import LiveState, state_store
from .targets import point_in_targets

CLICK_HIT_RADIUS = 0.08  # of the image's longer side: a click this near an arrow is a hit
FREE_TEXT_SHOWN = 12  # free-text answers drawn as bars, the most common first
# A cell a spreadsheet would read as a formula (or as a command, after a tab or a new line).
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def conference_items(conference: Conference) -> list[ConferenceCase]:
    """The playlist, with each case's figures, tables and references prefetched."""
    cases = Case.objects.prefetch_related(
        Prefetch("figures", queryset=Figure.objects.prefetch_related("slices", "annotations")),
        Prefetch(
            "tables",
            queryset=Table.objects.prefetch_related(
                Prefetch("rows", queryset=TableRow.objects.order_by("order", "id"))
            ),
        ),
        "references",
    )
    return list(conference.items.prefetch_related(Prefetch("case", queryset=cases)))


def conference_create(
    *, title: str, presenter, cases: list[Case], collection=None, **fields
) -> Conference:
    """A conference whose playlist holds ``cases`` in that order."""
    with transaction.atomic():
        conference = Conference.objects.create(
            title=title, presenter=presenter, collection=collection, **fields
        )
        for order, case in enumerate(cases, start=1):
            ConferenceCase.objects.create(conference=conference, case=case, order=order)
    return conference


def conference_from_collection(*, collection, presenter, title: str = "") -> Conference:
    """A conference playing a collection's published cases in the collection's order."""
    cases = [case for case in collection.playlist() if case.is_published]
    return conference_create(
        title=title or collection.title, presenter=presenter, cases=cases, collection=collection
    )


def _at(live: LiveState, items: list[ConferenceCase], position: int, step: int) -> LiveState:
    """The state at ``position``/``step``: the figures (and their views) stay while still shown.

    Two viewports stay two within a case; a second figure the step does not reveal (going
    back) gives way to another one it does, or to none until one is revealed.
    """
    case = items[position].case
    shown = _shown_numbers(case, step)
    same_case = position == live.position
    figure = live.figure if same_case and live.figure in shown else (shown[0] if shown else None)
    keep_view = same_case and figure == live.figure
    others = [n for n in shown if n != figure]
    second, second_view = None, {}
    if same_case and live.second in others:
        second, second_view = live.second, live.second_view
    elif same_case and live.layout == 2 and others:
        second = others[0]
    return replace(
        live,
        position=position,
        step=step,
        figure=figure,
        view=live.view if keep_view else {},
        question=live.question if same_case else None,
        results=live.results if same_case else False,
        layout=live.layout if same_case else 1,
        second=second,
        second_view=second_view,
        link=live.link if same_case else False,
    )


def _shown_numbers(case: Case, step: int) -> list[int]:
    """The numbers of the figures the room may see at ``step``, in order."""
    return [f.number for f in case.figures.all() if f.reveal_step <= step]


def _mark_shown(items: list[ConferenceCase], position: int) -> None:
    item = items[position]
    if item.shown_at is None:
        item.shown_at = timezone.now()
        ConferenceCase.objects.filter(pk=item.pk, shown_at__isnull=True).update(
            shown_at=item.shown_at
        )


def conference_start(conference: Conference) -> LiveState:
    items = conference_items(conference)

    def update(live: LiveState) -> LiveState:
        live = replace(live, status=Conference.Status.LIVE)
        if live.version == 0 and items:
            live = _at(replace(live, position=-1), items, 0, case_steps(items[0].case)[0])
        return live

    live = state_store().change(conference, update)
    Conference.objects.filter(pk=conference.pk, started__isnull=True).update(started=timezone.now())
    if items:
        _mark_shown(items, live.position)
    return live


def conference_end(conference: Conference) -> LiveState:
    now = timezone.now()
    Question.objects.filter(conference=conference, is_open=True).update(is_open=False, closed=now)
    live = state_store().change(
        conference, lambda live: replace(live, status=Conference.Status.ENDED)
    )
    Conference.objects.filter(pk=conference.pk).update(ended=now)
    return live


def conference_navigate(
    conference: Conference,
    *,
    step: int = 0,
    case: int = 0,
    position: int | None = None,
    to_step: int | None = None,
) -> LiveState:
    """Move by ``step`` reveal steps (across cases at either end), by ``case`` cases, or to
    ``position`` (0-based) and ``to_step``."""
    items = conference_items(conference)
    if not items:
        return state_store().read(conference.code, fresh=True)

    def update(live: LiveState) -> LiveState:
        here = min(max(live.position, 0), len(items) - 1)
        steps = case_steps(items[here].case)
        current = live.step if live.step in steps else steps[0]
        if position is not None:
            target = min(max(position, 0), len(items) - 1)
            target_steps = case_steps(items[target].case)
            wanted = to_step if to_step in target_steps else target_steps[0]
            return _at(live, items, target, wanted)
        if case:
            target = min(max(here + case, 0), len(items) - 1)
            return _at(live, items, target, case_steps(items[target].case)[0])
        if step:
            index = steps.index(current) + step
            if 0 <= index < len(steps):
                return _at(live, items, here, steps[index])
            if index >= len(steps) and here + 1 < len(items):
                return _at(live, items, here + 1, case_steps(items[here + 1].case)[0])
            if index < 0 and here > 0:
                return _at(live, items, here - 1, case_steps(items[here - 1].case)[-1])
        return live

    live = state_store().change(conference, update)
    _mark_shown(items, live.position)
    return live


def conference_figure(conference: Conference, *, item: ConferenceCase, number: int) -> LiveState:
    """Show figure ``number`` (if the current step has revealed it) at its default view.

    The second viewport's figure trades places with the first, each keeping its view.
    """

    def update(live: LiveState) -> LiveState:
        if number not in _shown_numbers(item.case, live.step) or number == live.figure:
            return live
        if number == live.second:
            return replace(
                live,
                figure=number,
                view=live.second_view,
                second=live.figure,
                second_view=live.view,
            )
        return replace(live, figure=number, view={})

    return state_store().change(conference, update)


class FigureNotShown(Exception):
    """The room may not see that figure now (none such, or a later step's): nothing changed."""


def conference_layout(
    conference: Conference, *, item: ConferenceCase, layout: int, second: int | None = None
) -> LiveState:
    """One viewer, or two viewports: the figure and ``second`` beside it, side by side.

    ``second`` must be another figure the current step reveals; without it the second
    viewport keeps its figure, else takes the first other one shown. Raises FigureNotShown
    (and changes nothing) when there is none, or ``second`` is not one.
    """
    if layout not in (1, 2):
        raise FigureNotShown("The room sees one viewer or two viewports.")

    def update(live: LiveState) -> LiveState:
        if layout == 1:
            return replace(live, layout=1)
        others = [n for n in _shown_numbers(item.case, live.step) if n != live.figure]
        wanted = second
        if wanted is None:
            wanted = live.second if live.second in others else (others[0] if others else None)
            if wanted is None:
                raise FigureNotShown("Only one figure is shown at this step: nothing to compare.")
        if wanted == live.figure:
            raise FigureNotShown(f"Figure {wanted} is already in the first viewport.")
        if wanted not in others:
            raise FigureNotShown(f"The room may not see figure {wanted} at this step.")
        view = live.second_view if wanted == live.second else {}
        return replace(live, layout=2, second=wanted, second_view=view)

    return state_store().change(conference, update)


def conference_link(conference: Conference, *, item: ConferenceCase, on: bool) -> LiveState:
    """Link (or unlink) the two viewports' scrolling; linking brings the second in line."""

    def update(live: LiveState) -> LiveState:
        live = replace(live, link=on)
        first, second = current_figure(live, item), current_second_figure(live, item)
        if not on or first is None or second is None:
            return live
        view = ViewState.from_query(first, live.view, base_url="/")
        return _linked(live, moved=1, view=view, other=second)

    return state_store().change(conference, update)


def conference_view(
    conference: Conference,
    *,
    figure: Figure,
    query,
    viewport: int = 1,
    other: Figure | None = None,
) -> tuple[LiveState, dict]:
    """Show the view in ``query`` (a viewer query string mapping) of viewport ``viewport``'s
    figure; with linked scrolling, ``other`` (the other viewport's figure) follows."""
    view = ViewState.from_query(figure, query, base_url="/")
    params = {k: str(v) for k, v in view.params().items()}

    def update(live: LiveState) -> LiveState:
        live = replace(live, **{"second_view" if viewport == 2 else "view": params})
        if live.link and live.layout == 2 and other is not None:
            live = _linked(live, moved=viewport, view=view, other=other)
        return live

    return state_store().change(conference, update), params


def conference_plane(
    conference: Conference, *, figure: Figure, viewport: int, plane: str
) -> LiveState:
    """Viewport ``viewport`` in ``plane`` (a reformat of its stack), at that plane's middle.

    The window and inversion stay; zoom and measurements belong to the old plane. Raises
    FigureNotShown with the reason when the stack cannot be reformatted.
    """
    if plane not in PLANES:
        raise FigureNotShown("The planes are axial, coronal and sagittal.")
    live = state_store().read(conference.code, fresh=True)
    current = live.second_view if viewport == 2 else live.view
    query = {k: v for k, v in current.items() if k in ("ww", "wc", "invert", "ann")}
    view = ViewState.from_query(figure, query | {"plane": plane}, base_url="/")
    if view.plane_problem:
        raise FigureNotShown(view.plane_problem)
    params = {k: str(v) for k, v in view.params().items()}
    name = "second_view" if viewport == 2 else "view"
    return state_store().change(conference, lambda live: replace(live, **{name: params}))


def _linked(live: LiveState, *, moved: int, view: ViewState, other: Figure) -> LiveState:
    """The other viewport at the slice that matches ``view`` (viewport ``moved``'s new view).

    Two acquired stacks link (by position in mm when they share a geometry); a reformat or a
    single image stays where it is.
    """
    other_query = live.view if moved == 2 else live.second_view
    other_view = ViewState.from_query(other, other_query, base_url="/")
    if not (view.is_stack and other_view.is_stack) or view.is_reformat or other_view.is_reformat:
        return live
    index = linked_number(view.geometry, view.index, view.count, other_view.geometry,
                          other_view.count)  # fmt: skip
    if index is None:
        return live
    params = {k: str(v) for k, v in other_view.params(index=index).items()}
    return replace(live, **{"view" if moved == 2 else "second_view": params})


def current_item(live: LiveState, items: list[ConferenceCase]) -> ConferenceCase | None:
    if not items:
        return None
    return items[min(max(live.position, 0), len(items) - 1)]


def current_figure(live: LiveState, item: ConferenceCase | None) -> Figure | None:
    if item is None or live.figure is None:
        return None
    shown = (f for f in item.case.figures.all() if f.reveal_step <= live.step)
    return next((f for f in shown if f.number == live.figure), None)


def current_second_figure(live: LiveState, item: ConferenceCase | None) -> Figure | None:
    """The second viewport's figure while two are shown, if the step has revealed it."""
    if item is None or live.layout != 2 or live.figure is None or live.second == live.figure:
        return None
    shown = (f for f in item.case.figures.all() if f.reveal_step <= live.step)
    return next((f for f in shown if f.number == live.second), None)


def poll_options(case: Case) -> list[str]:
    """A diagnosis poll's default choices: the author's differential, alphabetically."""
    options = sorted({*case.differential_list}, key=str.lower)
    if not any(answer_matches(o, answer_targets(case)) for o in options) and case.diagnosis:
        options = sorted([*options, case.diagnosis.split("\n")[0][:300]], key=str.lower)
    return options


def question_open(
    conference: Conference,
    *,
    item: ConferenceCase,
    kind: str,
    prompt: str,
    options: list[str] | None = None,
    figure: Figure | None = None,
    view: dict | None = None,
) -> Question:
    """Put a question to the room; any open one closes."""
    slice_index = None
    targets: list[dict] = []
    if figure is not None:
        slice_index = ViewState.from_query(figure, view or {}, base_url="/").index
        if kind == Question.Kind.CLICK:
            targets = figure_default_targets(figure, slice_index=slice_index)
    now = timezone.now()
    with transaction.atomic():
        Question.objects.filter(conference=conference, is_open=True).update(
            is_open=False, closed=now
        )
        question = Question.objects.create(
            conference=conference,
            item=item,
            kind=kind,
            prompt=prompt,
            options=options or [],
            figure_number=figure.number if figure else None,
            slice_index=slice_index,
            view=view or {},
            targets=targets,
        )
    state_store().change(
        conference, lambda live: replace(live, question=question.pk, results=False)
    )
    return question


def figure_default_targets(figure: Figure, *, slice_index: int | None) -> list[dict]:
    """The author's regions for this figure at this (0-based) slice, or for every slice."""
    number = None if slice_index is None else slice_index + 1
    rows = FigureTarget.objects.filter(figure=figure).order_by("id")
    return [t.region() for t in rows if t.slice_number is None or t.slice_number == number]


def question_targets_set(
    conference: Conference, question: Question, *, regions: list[dict]
) -> LiveState:
    """Replace a click question's target (cleaned regions); results already shown follow."""
    Question.objects.filter(pk=question.pk).update(targets=regions)
    question.targets = regions
    return state_store().change(conference, lambda live: live)


def question_close(conference: Conference, question: Question) -> LiveState:
    if question.is_open:
        question.is_open, question.closed = False, timezone.now()
        question.save(update_fields=["is_open", "closed"])
    return state_store().change(conference, lambda live: live)


def question_results(conference: Conference, question: Question, *, shown: bool) -> LiveState:
    """Show the room the results as they stand (again, to refresh them), or hide them."""
    Question.objects.filter(pk=question.pk).update(results_shown=shown)
    question.results_shown = shown
    return state_store().change(
        conference,
        lambda live: replace(live, question=question.pk, results=shown),
    )


def question_dismiss(conference: Conference) -> LiveState:
    return state_store().change(
        conference, lambda live: replace(live, question=None, results=False)
    )


class VoteRefused(Exception):
    pass


def vote_cast(
    question: Question,
    *,
    voter: str,
    choice: str = "",
    x: float | None = None,
    y: float | None = None,
) -> Vote:
    """Record (or change) one member's answer; refused once the question is closed."""
    if not question.is_open:
        raise VoteRefused("This question is closed.")
    if question.kind == Question.Kind.POLL and choice not in question.options:
        raise VoteRefused("Choose one of the options.")
    if question.kind == Question.Kind.FREE_TEXT:
        choice = " ".join(choice.split())[:300]
        if not choice:
            raise VoteRefused("Type an answer first.")
    if question.kind == Question.Kind.CLICK and (x is None or y is None):
        raise VoteRefused("Click on the image.")
    vote, _ = Vote.objects.update_or_create(
        question=question, voter=voter, defaults={"choice": choice, "x": x, "y": y}
    )
    return vote


@dataclass
class Results:
    """A question's answers so far: counts per option, click points, how many were right.

    ``rows`` are the bars shown (a poll's options; a free-text question's most common
    answers), ``answers`` every distinct answer, the most common first (the summary's full
    list and the CSV).
    """

    question: Question
    total: int
    rows: list[dict]
    points: list[tuple[float, float]]
    correct: int | None  # None when there is no right answer to judge by
    answers: list[dict] = field(default_factory=list)
    judged_by: str = ""  # a click question's right answer: "target", "arrows" or ""

    @property
    def answers_not_shown(self) -> int:
        return len(self.answers) - len(self.rows)

    @property
    def wrong(self) -> int | None:
        return None if self.correct is None else self.total - self.correct

    @property
    def accuracy(self) -> int | None:
        if self.correct is None or not self.total:
            return None
        return round(100 * self.correct / self.total)


def question_results_tally(question: Question, *, case: Case | None = None) -> Results:
    case = case or question.item.case
    votes = list(question.votes.values_list("choice", "x", "y"))
    targets = answer_targets(case)
    if question.kind == Question.Kind.CLICK:
        points = [(x, y) for _, x, y in votes if x is not None and y is not None]
        image = _click_image(question, case)
        if question.targets and image is not None and image.width and image.height:
            hits = sum(
                1
                for x, y in points
                if point_in_targets(question.targets, x / image.width, y / image.height)
            )
            return Results(question, len(points), [], points, hits, judged_by="target")
        hits = _click_hits(question, case, points)
        return Results(
            question, len(points), [], points, hits, judged_by="" if hits is None else "arrows"
        )
    counts: dict[str, int] = {}
    for choice, _, _ in votes:
        counts[choice] = counts.get(choice, 0) + 1
    total = len(votes)
    if question.kind == Question.Kind.FREE_TEXT:
        labels = sorted(counts, key=lambda c: (-counts[c], c.lower()))
    else:
        labels = list(question.options)
    answers = [
        {
            "label": label,
            "count": counts.get(label, 0),
            "percent": round(100 * counts.get(label, 0) / total) if total else 0,
            "correct": bool(targets) and answer_matches(label, targets),
        }
        for label in labels
    ]
    rows = answers[:FREE_TEXT_SHOWN] if question.kind == Question.Kind.FREE_TEXT else answers
    correct = 0
    for choice, count in counts.items():
        if targets and answer_matches(choice, targets):
            correct += count
    return Results(question, total, rows, [], correct if targets else None, answers)


def _click_image(question: Question, case: Case):
    """The slice a click question was asked on, or None."""
    figure = next((f for f in case.figures.all() if f.number == question.figure_number), None)
    if figure is None:
        return None
    slices = list(figure.slices.all())
    if not slices:
        return None
    return slices[min(max(question.slice_index or 0, 0), len(slices) - 1)]


def vote_is_correct(vote: Vote, *, question: Question) -> bool | None:
    """Whether one click landed inside the question's target; None without a target."""
    if not question.targets or vote.x is None or vote.y is None:
        return None
    image = _click_image(question, question.item.case)
    if image is None or not image.width or not image.height:
        return None
    return point_in_targets(question.targets, vote.x / image.width, vote.y / image.height)


def _click_hits(question: Question, case: Case, points: list[tuple[float, float]]) -> int | None:
    """Clicks near one of the author's arrows on that slice; None if it has none."""
    figure = next((f for f in case.figures.all() if f.number == question.figure_number), None)
    image = _click_image(question, case)
    if figure is None or image is None:
        return None
    marks = [
        a
        for a in figure.annotations.all()
        if a.slice_index is None or a.slice_index == question.slice_index
    ]
    if not marks or not image.width:
        return None
    radius = CLICK_HIT_RADIUS * max(image.width, image.height)
    return sum(
        1
        for x, y in points
        if any(
            ((x - a.x * image.width) ** 2 + (y - a.y * image.height) ** 2) ** 0.5 <= radius
            for a in marks
        )
    )


def conference_summary(conference: Conference) -> list[dict]:
    """Per case in the playlist: whether it was shown, and each question's tally."""
    items = conference_items(conference)
    questions = list(conference.questions.prefetch_related("votes").order_by("created", "id"))
    summary = []
    for item in items:
        asked = [q for q in questions if q.item_id == item.pk]
        summary.append(
            {
                "item": item,
                "questions": [question_results_tally(q, case=item.case) for q in asked],
            }
        )
    return summary


def conference_csv(conference: Conference) -> str:
    """The summary as CSV, one row per answer (every free-text answer), safe to open.

    Cells a spreadsheet would run as a formula get a leading apostrophe (OWASP's advice on
    CSV injection): an answer typed in the room is shown, never evaluated.
    """
    out = io.StringIO()
    writer = csv.writer(out)

    def write(row: list) -> None:
        writer.writerow([csv_cell(value) for value in row])

    write(
        ["order", "case", "shown", "question", "kind", "answer", "votes", "percent", "correct",
         "accuracy"]
    )  # fmt: skip
    for entry in conference_summary(conference):
        item = entry["item"]
        shown = item.shown_at.isoformat() if item.shown_at else ""
        if not entry["questions"]:
            write([item.order, item.case.title, shown, "", "", "", "", "", "", ""])
        for results in entry["questions"]:
            q = results.question
            accuracy = "" if results.accuracy is None else results.accuracy
            rows = results.answers or _click_rows(results)
            for row in rows:
                write(
                    [item.order, item.case.title, shown, q.prompt, q.get_kind_display(),
                     row["label"], row["count"], row["percent"],
                     "yes" if row["correct"] is True else "", accuracy]
                )  # fmt: skip
    return out.getvalue()


def _click_rows(results: Results) -> list[dict]:
    """A click question's CSV rows: inside and outside its right answer, or all the clicks."""
    if results.correct is None:
        return [{"label": "(clicks)", "count": results.total, "percent": 100, "correct": ""}]
    where = "the target" if results.judged_by == "target" else "the author's arrows"
    inside, outside = results.correct, results.total - results.correct
    return [
        {"label": f"(clicks inside {where})", "count": inside,
         "percent": round(100 * inside / results.total) if results.total else 0, "correct": True},
        {"label": f"(clicks outside {where})", "count": outside,
         "percent": round(100 * outside / results.total) if results.total else 0, "correct": ""},
    ]  # fmt: skip


def csv_cell(value):
    """``value``, with a leading apostrophe if it is text a spreadsheet would run."""
    if isinstance(value, str) and value.startswith(CSV_FORMULA_STARTS):
        return f"'{value}"
    return value
