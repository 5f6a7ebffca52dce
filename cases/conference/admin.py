"""Conferences in the admin: playlist with notes in order, and a collection to copy from."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from cases.imaging.params import RenderParams
from cases.library.models import Collection

from .models import Conference, ConferenceCase, FigureTarget, Question


class ConferenceCaseInline(admin.TabularInline):
    model = ConferenceCase
    extra = 1
    fields = ["order", "case", "notes", "shown_at"]
    readonly_fields = ["shown_at"]
    autocomplete_fields = ["case"]
    formfield_overrides = {
        ConferenceCase._meta.get_field("notes").__class__: {
            "widget": forms.Textarea(attrs={"rows": 2, "cols": 50})
        }
    }


class QuestionInline(admin.TabularInline):
    model = Question
    extra = 0
    fields = ["item", "kind", "prompt", "is_open", "results_shown", "created"]
    readonly_fields = fields
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ConferenceAdminForm(forms.ModelForm):
    copy_collection = forms.ModelChoiceField(
        queryset=Collection.objects.all(),
        required=False,
        label="Copy playlist from collection",
        help_text="Adds the collection's published cases, in its order, after any listed here.",
    )

    class Meta:
        model = Conference
        fields = ["title", "presenter", "status", "scheduled_for"]


@admin.register(Conference)
class ConferenceAdmin(admin.ModelAdmin):
    form = ConferenceAdminForm
    list_display = ["title", "code", "status", "presenter", "created", "console_link"]
    list_filter = ["status"]
    search_fields = ["title", "code"]
    readonly_fields = ["code", "version", "started", "ended"]
    fields = ["title", "presenter", "status", "scheduled_for", "copy_collection", *readonly_fields]
    autocomplete_fields = ["presenter"]
    inlines = [ConferenceCaseInline, QuestionInline]

    @admin.display(description="Console")
    def console_link(self, obj: Conference) -> str:
        return format_html('<a href="{}">Open console</a>', obj.get_absolute_url())

    def get_changeform_initial_data(self, request) -> dict:
        return {"presenter": request.user.pk} | super().get_changeform_initial_data(request)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        collection = form.cleaned_data.get("copy_collection")
        if collection is None:
            return
        conference = form.instance
        present = set(conference.items.values_list("case_id", flat=True))
        order = max(conference.items.values_list("order", flat=True), default=0)
        for case in collection.playlist():
            if case.is_published and case.pk not in present:
                order += 1
                ConferenceCase.objects.create(conference=conference, case=case, order=order)
        if not conference.collection_id:
            conference.collection = collection
            conference.save(update_fields=["collection"])


@admin.register(FigureTarget)
class FigureTargetAdmin(admin.ModelAdmin):
    """An author's right answer to "click the finding", drawn on the figure ahead of time.

    Without the script, the region is typed as fractions; with it, the author drags on the
    slice shown (once the figure is chosen and saved) and the fields fill in.
    """

    list_display = ["__str__", "slice_number", "label"]
    list_select_related = ["figure__case"]
    search_fields = ["figure__case__title", "label"]
    autocomplete_fields = ["figure"]
    fields = ["figure", "slice_number", "label", "draw", "shape", ("x", "y"), ("width", "height")]
    readonly_fields = ["draw"]

    class Media:
        css = {"all": ["css/conference_targets.css"]}
        js = ["js/target_draw.js"]

    @admin.display(description="Draw")
    def draw(self, obj: FigureTarget) -> str:
        if obj is None or not obj.figure_id:
            return "Choose the figure and save (continue editing) to draw on its image."
        slices = list(obj.figure.slices.all())
        if not slices:
            return "This figure has no image yet."
        number = min(max(obj.slice_number or (len(slices) // 2 + 1), 1), len(slices))
        image = slices[number - 1]
        url = RenderParams(
            image.token,
            window_width=obj.figure.window_width,
            window_center=obj.figure.window_center,
            size=768,
        ).url()
        return format_html(
            '<div class="target-draw" data-target-draw data-target-scale="1">'
            '<div class="target-canvas" data-target-canvas>'
            '<img src="{}" alt="{}, slice {}: drag to draw the target" draggable="false">'
            '<svg class="target-overlay" viewBox="0 0 1 1" preserveAspectRatio="none" '
            'aria-hidden="true" data-target-overlay></svg></div>'
            '<p class="help">Drag across the finding; the fields below fill in.</p></div>',
            url,
            obj.figure,
            number,
        )
