"""Authoring: every part of a case is edited here, without typing JSON."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import ngettext

from .forms import CellsField, MultipleFileField, MultipleFileInput
from .imaging.ingest import removed_summary, slices_store
from .imaging.params import RenderParams
from .imaging.upload import PreparedUpload, UploadRefused, upload_prepare
from .imaging.viewstate import CT_PRESETS
from .importers.dicom import series_describe
from .inbox import admin as inbox_admin  # noqa: F401  (registers the inbox's pages)
from .library.admin import CaseDifficultyInline, bundle_export_action, bundle_import_view
from .library.version import library_changed
from .models import (
    Abbreviation,
    Affiliation,
    Annotation,
    Author,
    Case,
    Figure,
    Keyword,
    Reference,
    Slice,
    Table,
    TableRow,
    Tag,
)
from .preview import case_preview_urls
from .spoilers import spoiler_check, spoiler_redact

ADMIN_MEDIA = forms.Media(css={"all": ["css/admin.css"]}, js=["js/admin_a11y.js"])
# The figure page's annotation editor; it starts on "load", after inlines.js has set up its rows.
EDITOR_MEDIA = forms.Media(js=["js/annotation_editor.js"])


def _thumbnail(image: Slice | None) -> str:
    if image is None:
        return mark_safe('<span class="cv-thumb-missing">no image</span>')
    figure = image.figure
    url = RenderParams(
        image.token, window_width=figure.window_width, window_center=figure.window_center, size=256
    ).url()
    return format_html('<img class="cv-thumb" src="{}" alt="">', url)


def spoiler_warn(model_admin: admin.ModelAdmin, request, case: Case, *, figure=None) -> None:
    """After a save: say where text shown before the diagnosis step names the diagnosis.

    The phrases are the diagnosis and its other names (``cases.spoilers``). With ``figure``,
    only that figure's texts are reported (its page saves nothing else).
    """
    warnings = spoiler_check(case)
    if figure is not None:
        warnings = [w for w in warnings if figure in (w.obj, getattr(w.obj, "figure", None))]
    if not warnings:
        return
    url = reverse("admin:cases_case_spoilers", args=[case.pk])
    model_admin.message_user(
        request,
        format_html(
            "{} place(s) shown before the diagnosis step name the diagnosis or one of its "
            'other names (unknown mode masks them). <a href="{}">Review and redact</a>.',
            len(warnings),
            url,
        ),
        messages.WARNING,
    )
    for warning in warnings:
        model_admin.message_user(
            request,
            f"Spoiler in {warning.field}: “{warning.text}” names “{warning.phrase}”.",
            messages.WARNING,
        )


class AuthorInline(admin.TabularInline):
    model = Author
    extra = 0
    fields = ["order", "name", "is_organisation", "affiliation_marks", "is_corresponding", "user"]
    autocomplete_fields = ["user"]


class AffiliationInline(admin.TabularInline):
    model = Affiliation
    extra = 0


class FigureInline(admin.TabularInline):
    model = Figure
    extra = 0
    fields = ["thumbnail", "number", "label", "modality", "plane", "reveal_step", "caption"]
    readonly_fields = ["thumbnail"]
    show_change_link = True
    formfield_overrides = {
        Figure._meta.get_field("caption"): {"widget": forms.Textarea(attrs={"rows": 2})},
    }

    @admin.display(description="Image")
    def thumbnail(self, obj: Figure) -> str:
        slices = list(obj.slices.all()) if obj.pk else []
        keys = [image for image in slices if image.is_key]
        # What the viewer opens on: the first key image, else the middle of the stack.
        return _thumbnail(keys[0] if keys else slices[len(slices) // 2] if slices else None)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("slices")


class TableInline(admin.TabularInline):
    model = Table
    extra = 0
    fields = ["number", "title", "reveal_step"]
    show_change_link = True


class ReferenceInline(admin.TabularInline):
    model = Reference
    extra = 0
    fields = ["order", "text", "pmid", "doi", "url"]
    formfield_overrides = {
        Reference._meta.get_field("text"): {"widget": forms.Textarea(attrs={"rows": 2})},
    }


class AbbreviationInline(admin.TabularInline):
    model = Abbreviation
    extra = 0


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["title", "status", "unknown_title", "figure_count", "year", "updated"]
    list_filter = ["status", "is_sample", "tags", "year"]
    search_fields = ["title", "unknown_title", "diagnosis", "keywords__name", "external_id"]
    prepopulated_fields = {"slug": ["title"]}
    filter_horizontal = ["tags", "keywords"]
    readonly_fields = ["public_id", "created", "updated"]
    actions = ["publish", "unpublish", bundle_export_action]
    save_on_top = True
    inlines = [
        CaseDifficultyInline,
        AuthorInline,
        AffiliationInline,
        FigureInline,
        TableInline,
        ReferenceInline,
        AbbreviationInline,
    ]
    fieldsets = [
        (None, {"fields": ["title", "slug", "status", "unknown_title", "is_sample"]}),
        (
            "Citation",
            {
                "classes": ["collapse"],
                "fields": [
                    "correspondence",
                    ("journal", "year", "month"),
                    ("volume", "issue", "pages"),
                    "doi",
                    ("article_url", "accessed"),
                ],
            },
        ),
        ("Patient", {"fields": [("age", "sex")]}),
        (
            "Case",
            {
                "fields": [
                    "abstract",
                    "history",
                    "exam",
                    "findings",
                    "differential",
                    "diagnosis",
                    "diagnosis_synonyms",
                    "diagnosis_by",
                    "treatment",
                    "discussion",
                    "teaching_point",
                ]
            },
        ),
        ("Filing", {"fields": ["tags", "keywords", ("acr_code", "category")]}),
        (
            "Source",
            {"fields": ["source", "licence", "external_id", "public_id", "created", "updated"]},
        ),
    ]

    @property
    def media(self):
        return super().media + ADMIN_MEDIA

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_figure_count=Count("figures"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        case = self.get_object(request, object_id)
        if case is not None:
            extra_context = {"preview_urls": case_preview_urls(case)} | (extra_context or {})
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        spoilers = self.admin_site.admin_view(self.spoilers_view)
        bundle_import = self.admin_site.admin_view(bundle_import_view)
        return [
            path("import-bundle/", bundle_import, name="cases_case_import_bundle"),
            path("<int:pk>/spoilers/", spoilers, name="cases_case_spoilers"),
            *super().get_urls(),
        ]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "diagnosis_synonyms":
            # A few short lines, not the ten-row box of a long text.
            kwargs["widget"] = forms.Textarea(attrs={"rows": 3, "cols": 60})
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        spoiler_warn(self, request, form.instance)

    def spoilers_view(self, request, pk: int):
        """List what names the diagnosis before the diagnosis step; redact it in one click."""
        case = get_object_or_404(Case, pk=pk)
        if not self.has_change_permission(request, case):
            raise PermissionDenied
        if request.method == "POST":
            changed = spoiler_redact(case)
            self.message_user(
                request,
                ngettext("Redacted %d field.", "Redacted %d fields.", changed) % changed,
            )
            return redirect(reverse("admin:cases_case_change", args=[case.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": case,
            "title": "Spoiler check",
            "warnings": spoiler_check(case),
        }
        return TemplateResponse(request, "admin/cases/case/spoilers.html", context)

    @admin.display(description="Figures", ordering="_figure_count")
    def figure_count(self, obj: Case) -> int:
        return obj._figure_count

    @admin.action(description="Publish selected cases")
    def publish(self, request, queryset) -> None:
        blocked = queryset.filter(
            inbox_study__series__burned_in__gt="", inbox_study__series__checked_at=None
        )
        for case in blocked.distinct():
            self.message_user(
                request,
                f"{case}: not published, a series may have burned-in text and is not checked.",
                messages.WARNING,
            )
        updated = queryset.exclude(pk__in=blocked.values("pk")).update(status=Case.Status.PUBLISHED)
        library_changed()  # update() sends no signal
        self.message_user(
            request, ngettext("%d case published.", "%d cases published.", updated) % updated
        )

    @admin.action(description="Return selected cases to draft")
    def unpublish(self, request, queryset) -> None:
        updated = queryset.update(status=Case.Status.DRAFT)
        library_changed()
        self.message_user(
            request, ngettext("%d case set to draft.", "%d cases set to draft.", updated) % updated
        )


class AnnotationForm(forms.ModelForm):
    """An annotation with its slice counted from 1, as the viewer counts."""

    slice_number = forms.IntegerField(
        label="Slice",
        min_value=1,
        required=False,
        help_text="Counted from 1, as the viewer shows it; blank for every slice.",
    )

    class Meta:
        model = Annotation
        fields = ["kind", "x", "y", "angle", "radius_x", "radius_y", "slice_number", "label"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.slice_index is not None:
            self.initial.setdefault("slice_number", self.instance.slice_index + 1)
        for name in ("x", "y"):
            self.fields[name].widget.attrs.update(min=0, max=1, step="any")
        for name in ("radius_x", "radius_y"):
            self.fields[name].widget.attrs.update(min=0.005, max=1, step="any")

    def clean(self) -> dict:
        cleaned = super().clean()
        for name in ("x", "y"):
            if cleaned.get(name) is not None and not 0 <= cleaned[name] <= 1:
                self.add_error(name, "Between 0 and 1 (a fraction of the image).")
        for name in ("radius_x", "radius_y"):
            if cleaned.get(name) is not None and not 0 < cleaned[name] <= 1:
                self.add_error(name, "Above 0, at most 1 (a fraction of the image).")
        return cleaned

    def save(self, commit: bool = True) -> Annotation:
        number = self.cleaned_data.get("slice_number")
        self.instance.slice_index = None if number is None else number - 1
        return super().save(commit)


class AnnotationFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        count = self.instance.slices.count() if self.instance.pk else 0
        for form in self.forms:
            number = getattr(form, "cleaned_data", {}).get("slice_number")
            if count and number and number > count and not self._should_delete_form(form):
                form.add_error("slice_number", f"This figure has {count} slices: 1 to {count}.")


def annotation_editor_data(figure: Figure | None) -> dict:
    """What the annotation editor needs: each slice's plain rendering and the windows."""
    if figure is None or figure.pk is None:
        return {"slices": [], "presets": []}
    slices = list(figure.slices.all())
    presets: list[dict] = []
    if slices and slices[0].kind == Slice.Kind.GREY16:
        if figure.window_width is not None and figure.window_center is not None:
            presets.append(
                {"label": "Figure", "ww": figure.window_width, "wc": figure.window_center}
            )
        presets += [{"label": label, "ww": w, "wc": c} for label, w, c in CT_PRESETS]
    else:
        presets.append({"label": "As stored", "ww": None, "wc": None})
    return {
        "slices": [
            {
                # No annotations in the picture: the editor draws them, as the viewer will.
                "url": RenderParams(image.token, size=EDITOR_SIZE).url(),
                "width": image.width,
                "height": image.height,
            }
            for image in slices
        ],
        "presets": presets,
    }


EDITOR_SIZE = 1024


class AnnotationInline(admin.TabularInline):
    """The numeric rows are the editor's storage: it writes into them, Save saves them."""

    model = Annotation
    form = AnnotationForm
    formset = AnnotationFormSet
    extra = 0
    template = "admin/cases/figure/annotation_inline.html"

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.editor_data = annotation_editor_data(obj)
        return formset


class SliceInline(admin.TabularInline):
    model = Slice
    extra = 0
    fields = ["thumbnail", "position", "is_key", "kind", "width", "height", "slice_location"]
    readonly_fields = ["thumbnail", "kind", "width", "height", "slice_location"]
    ordering = ["position", "id"]
    verbose_name_plural = "slices (tick the key images: the viewer opens on the first)"

    @admin.display(description="Image")
    def thumbnail(self, obj: Slice) -> str:
        return _thumbnail(obj)

    def has_add_permission(self, request, obj=None) -> bool:
        # New images arrive through the "Add images" field, which checks and cleans them.
        return False


class FolderInput(MultipleFileInput):
    """A file input that picks a whole folder (its files arrive as a multiple upload)."""

    def __init__(self) -> None:
        super().__init__(attrs={"webkitdirectory": True, "directory": True})


class FigureForm(forms.ModelForm):
    upload = MultipleFileField(
        label="Add images",
        required=False,
        help_text=(
            "JPEG, PNG, TIFF or DICOM files, or a zip of them; select several for a stack. "
            "They are added after the existing images, in DICOM position order (else in "
            "file-name order). Modality, plane and technique are read from the DICOM header "
            "when blank here."
        ),
    )
    folder = MultipleFileField(
        label="Or a folder",
        required=False,
        widget=FolderInput(),
        help_text="Every image in a folder (e.g. a CD's series); files that are not images "
        "are skipped and listed.",
    )

    class Meta:
        model = Figure
        fields = [
            "case", "number", "label", "reveal_step", "caption", "unknown_caption", "alt_text",
            "modality", "plane", "technique", "window_width", "window_center",
        ]  # fmt: skip

    def clean(self) -> dict:
        """Check and encode every file now, so a rejected upload keeps nothing at all."""
        cleaned = super().clean()
        try:
            upload = upload_prepare(
                files=cleaned.get("upload") or [], folder_files=cleaned.get("folder") or []
            )
        except UploadRefused as exc:
            self.add_error("upload", exc.errors)
            return cleaned
        cleaned["prepared"] = upload
        if upload.header is not None:
            # The header describes the series where the author has not.
            described = series_describe(upload.header)
            for name in ("modality", "plane", "technique"):
                if not cleaned.get(name):
                    cleaned[name] = getattr(described, name)
        return cleaned


@admin.register(Figure)
class FigureAdmin(admin.ModelAdmin):
    form = FigureForm
    list_display = ["__str__", "case", "modality", "plane", "reveal_step"]
    list_filter = ["modality", "reveal_step"]
    search_fields = ["case__title", "caption", "technique"]
    list_select_related = ["case"]
    autocomplete_fields = ["case"]
    # The drawing comes first: a long stack's image rows would push it out of sight.
    inlines = [AnnotationInline, SliceInline]
    fieldsets = [
        (None, {"fields": ["case", ("number", "label"), "reveal_step", "upload", "folder"]}),
        ("Captions", {"fields": ["caption", "unknown_caption", "alt_text"]}),
        (
            "Imaging",
            {"fields": [("modality", "plane"), "technique", ("window_width", "window_center")]},
        ),
    ]

    @property
    def media(self):
        return (
            super().media + ADMIN_MEDIA + EDITOR_MEDIA + forms.Media(js=["js/upload_progress.js"])
        )

    def view_on_site(self, obj: Figure) -> str:
        return f"{obj.case.get_absolute_url()}#figure-{obj.number}"

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        response = super().changeform_view(request, object_id, form_url, extra_context)
        if request.headers.get("X-Upload-Progress") and response.status_code == 302:
            # The upload script sent the form: it follows the redirect itself, so the
            # messages of this save are still there for the page it opens.
            return JsonResponse({"location": response["Location"]})
        return response

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        figure = form.instance
        upload: PreparedUpload | None = form.cleaned_data.get("prepared")
        if upload and upload.images:
            start = max((s.position for s in figure.slices.all()), default=-1) + 1
            slices_store(figure=figure, images=upload.images, start_position=start)
            count = len(upload.images)
            text = ngettext("%d image added.", "%d images added.", count) % count
            if skipped := len(upload.skipped):
                names = ", ".join(name for name, _ in upload.skipped[:5])
                more = f" and {skipped - 5} more" if skipped > 5 else ""
                text += f" Skipped {skipped} file(s) that are not images: {names}{more}."
            removed = removed_summary(name for image in upload.images for name in image.removed)
            messages.success(request, f"{text} De-identification {removed}." if removed else text)
        spoiler_warn(self, request, figure.case, figure=figure)


class TableRowInline(admin.StackedInline):
    model = TableRow
    extra = 1
    fields = ["order", "cells"]

    def get_formset(self, request, obj=None, **kwargs):
        columns = max(obj.column_count if obj else 0, 2)
        kwargs["formfield_callback"] = _cells_formfield(columns, "cells")
        return super().get_formset(request, obj, **kwargs)


def _cells_formfield(columns: int, name: str):
    def formfield(db_field, **kwargs):
        if db_field.name == name:
            return CellsField(columns=columns, label=db_field.verbose_name.capitalize())
        return db_field.formfield(**kwargs)

    return formfield


@admin.register(Table)
class TableAdmin(admin.ModelAdmin):
    list_display = ["__str__", "case", "reveal_step"]
    list_select_related = ["case"]
    search_fields = ["title", "case__title"]
    autocomplete_fields = ["case"]
    inlines = [TableRowInline]
    fields = ["case", "number", "title", "reveal_step", "header"]

    @property
    def media(self):
        return super().media + ADMIN_MEDIA

    def get_form(self, request, obj=None, change=False, **kwargs):
        columns = max(obj.column_count if obj else 0, 2)
        kwargs["formfield_callback"] = _cells_formfield(columns, "header")
        return super().get_form(request, obj, change, **kwargs)

    def view_on_site(self, obj: Table) -> str:
        return f"{obj.case.get_absolute_url()}#table-{obj.number}"


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "slug"]
    list_filter = ["kind"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Keyword)
class KeywordAdmin(admin.ModelAdmin):
    search_fields = ["name"]


from .conference import admin as conference_admin  # noqa: E402, F401 - registers its models
from .discussion import admin as discussion_admin  # noqa: E402, F401 - registers its models
