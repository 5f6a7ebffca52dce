"""The form that names and describes a collection."""

from __future__ import annotations

from django import forms

from .models import Collection


class CollectionForm(forms.ModelForm):
    class Meta:
        model = Collection
        fields = ["title", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}
