"""Admin form pieces: a table editor with one box per cell, and multi-file image upload."""

from __future__ import annotations

from django import forms

MAX_COLUMNS = 12


class CellsWidget(forms.Widget):
    """A row of text boxes, one per table cell, posted as ``<name>_0``, ``<name>_1``..."""

    template_name = "cases/widgets/cells.html"

    def __init__(self, columns: int = 3, attrs: dict | None = None) -> None:
        super().__init__(attrs)
        self.columns = columns

    def get_context(self, name: str, value, attrs: dict | None) -> dict:
        context = super().get_context(name, value, attrs)
        values = list(value or [])
        # Always one empty box more than filled, so an author can add a column.
        count = min(max(self.columns, len(values) + 1), MAX_COLUMNS)
        values += [""] * (count - len(values))
        base_id = (attrs or {}).get("id", f"id_{name}")
        context["widget"]["cells"] = [
            {"name": f"{name}_{i}", "id": f"{base_id}_{i}", "value": text, "index": i + 1}
            for i, text in enumerate(values)
        ]
        return context

    def value_from_datadict(self, data, files, name: str) -> list[str]:
        return [data.get(f"{name}_{i}", "") for i in range(MAX_COLUMNS) if f"{name}_{i}" in data]

    def value_omitted_from_data(self, data, files, name: str) -> bool:
        return f"{name}_0" not in data


class CellsField(forms.Field):
    """Cleans a row of cells into a list of strings without trailing empty cells."""

    def __init__(self, *, columns: int = 3, **kwargs) -> None:
        kwargs.setdefault("widget", CellsWidget(columns=columns))
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value) -> list[str]:
        if not value:
            return []
        if isinstance(value, str):
            value = [value]
        cells = [str(cell).replace("\r\n", "\n").strip() for cell in value]
        while cells and not cells[-1]:
            cells.pop()
        return cells

    def prepare_value(self, value):
        return value if isinstance(value, list) else []


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Accepts several files in one input (as Django's documentation shows)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single_clean = super().clean
        if isinstance(data, list | tuple):
            return [single_clean(item, initial) for item in data]
        return [single_clean(data, initial)] if data else []


class DifferentialForm(forms.Form):
    """Up to three ranked diagnoses, committed before the author's differential is shown."""

    first = forms.CharField(label="Most likely", max_length=200, required=False)
    second = forms.CharField(label="Second", max_length=200, required=False)
    third = forms.CharField(label="Third", max_length=200, required=False)

    @property
    def choices(self) -> list[str]:
        ranked = [self.cleaned_data.get(name, "").strip() for name in ("first", "second", "third")]
        return [choice for choice in ranked if choice]
