"""Forms of the conference pages: they clean input and nothing else."""

from __future__ import annotations

from django import forms

from cases.library.models import Collection
from cases.models import Case

from .models import Question
from .targets import SHAPES, BadRegion, region_clean


class ConferenceForm(forms.Form):
    title = forms.CharField(max_length=200)
    collection = forms.ModelChoiceField(
        queryset=Collection.objects.none(),
        required=False,
        help_text="Play a collection's cases in its order.",
    )
    cases = forms.ModelMultipleChoiceField(
        queryset=Case.objects.filter(status=Case.Status.PUBLISHED).order_by("title"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Or pick cases; they play in this list's order (reorder them in the admin).",
    )

    def __init__(self, *args, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if user is not None:
            self.fields["collection"].queryset = Collection.objects.filter(owner=user)

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("collection") and not data.get("cases"):
            raise forms.ValidationError("Choose a collection or at least one case.")
        return data


class QuestionForm(forms.Form):
    kind = forms.ChoiceField(choices=Question.Kind.choices)
    prompt = forms.CharField(max_length=300, required=False)
    options = forms.CharField(widget=forms.Textarea, required=False)

    DEFAULT_PROMPTS = {
        Question.Kind.POLL: "Your diagnosis?",
        Question.Kind.FREE_TEXT: "Your diagnosis?",
        Question.Kind.CLICK: "Click the finding.",
    }

    def clean(self) -> dict:
        data = super().clean()
        kind = data.get("kind")
        if not kind:
            return data
        data["prompt"] = data.get("prompt", "").strip() or self.DEFAULT_PROMPTS[kind]
        options = []
        for line in data.get("options", "").splitlines():
            line = " ".join(line.split())[:300]
            if line and line not in options:
                options.append(line)
        data["options"] = options
        if kind == Question.Kind.POLL and len(options) < 2:
            raise forms.ValidationError("A poll needs at least two options, one per line.")
        return data


class TargetForm(forms.Form):
    """One target region, typed (in percent of the image) or drawn by the console's script."""

    shape = forms.ChoiceField(choices=[(s, s) for s in SHAPES])
    left = forms.FloatField(min_value=0, max_value=100)
    top = forms.FloatField(min_value=0, max_value=100)
    width = forms.FloatField(min_value=0, max_value=100)
    height = forms.FloatField(min_value=0, max_value=100)

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        try:
            data["region"] = region_clean(
                {
                    "shape": data["shape"],
                    "x": data["left"] / 100,
                    "y": data["top"] / 100,
                    "w": data["width"] / 100,
                    "h": data["height"] / 100,
                }
            )
        except BadRegion as bad:
            raise forms.ValidationError(str(bad)) from None
        return data
