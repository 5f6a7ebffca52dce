"""What each reveal step of a case shows, whoever is looking: a learner or a conference room.

Everything a step shows is decided here, on the server. A step's page holds what that step
and the earlier ones reveal, nothing more: later texts, figures, captions, annotations and
URLs are simply not in the context.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..models import Case, Figure, RevealStep, Table
from ..spoilers import spoiler_patterns, text_mask


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
