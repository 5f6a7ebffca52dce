"""Forms of the thread: they clean input and nothing else."""

from __future__ import annotations

import re
import secrets

from django import forms
from django.conf import settings

from .models import Comment, Report
from .viewlinks import ViewLinkError, view_link_parse

_KEY = re.compile(r"^[0-9a-f]{16,64}$")


def new_idempotency_key() -> str:
    return secrets.token_hex(16)


class CommentForm(forms.Form):
    """A comment or a reply, with an optional linked view and a one-use submit key."""

    body = forms.CharField(
        label="Comment",
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={"required": "Write something first."},
        help_text="Markdown: **bold**, *italic*, lists, > quotes, [links](https://…).",
    )
    view = forms.CharField(
        label="Linked view",
        required=False,
        max_length=1010,
        help_text='Filled in by the viewer\'s "Link this view" button.',
    )
    parent = forms.IntegerField(required=False, widget=forms.HiddenInput)
    key = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, case, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.case = case
        self.fields["body"].widget.attrs["maxlength"] = settings.DISCUSSION_MAX_CHARS
        if not self.is_bound and "key" not in self.initial:
            self.initial["key"] = new_idempotency_key()

    def clean_body(self) -> str:
        body = self.cleaned_data["body"].replace("\r\n", "\n").strip()
        if not body:
            raise forms.ValidationError("Write something first.")
        limit = settings.DISCUSSION_MAX_CHARS
        if len(body) > limit:
            raise forms.ValidationError(
                f"Comments are limited to {limit:,} characters; this one has {len(body):,}."
            )
        return body

    def clean_view(self):
        value = self.cleaned_data["view"].strip()
        if not value:
            return None
        numbers = set(self.case.figures.values_list("number", flat=True))
        try:
            return view_link_parse(value, figure_numbers=numbers)
        except ViewLinkError as exc:
            raise forms.ValidationError(f"That view link is not valid: {exc}.") from None

    def clean_parent(self) -> Comment | None:
        pk = self.cleaned_data["parent"]
        if pk is None:
            return None
        parent = Comment.objects.filter(case=self.case, pk=pk, deleted_at__isnull=True).first()
        if parent is None or parent.is_hidden:
            raise forms.ValidationError("That comment cannot be replied to.")
        return parent

    def clean_key(self) -> str:
        key = self.cleaned_data["key"]
        # A missing or odd key only loses the double-submit guard; never refuse the comment.
        return key if _KEY.match(key or "") else ""


class CommentEditForm(forms.Form):
    body = CommentForm.base_fields["body"]
    view = CommentForm.base_fields["view"]

    def __init__(self, *args, case, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.case = case
        self.fields["body"].widget.attrs["maxlength"] = settings.DISCUSSION_MAX_CHARS

    clean_body = CommentForm.clean_body
    clean_view = CommentForm.clean_view


class ModerationForm(forms.Form):
    reason = forms.CharField(
        label="Reason", max_length=300, help_text="Shown to the comment's author."
    )


class ReportForm(forms.ModelForm):
    # Declared rather than generated: the model field's form field would offer a blank radio.
    reason = forms.ChoiceField(
        label="What is wrong with this comment?",
        choices=Report.Reason.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose what is wrong with this comment."},
    )

    class Meta:
        model = Report
        fields = ["reason", "note"]
        widgets = {"note": forms.Textarea(attrs={"rows": 2})}
        labels = {"note": "Anything to add?"}
        error_messages = {
            "note": {
                "max_length": "Notes are limited to %(limit_value)d characters; "
                "this one has %(show_value)d."
            }
        }
