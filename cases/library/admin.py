"""The library in the admin: difficulty on the case form, collections, bundle export/import."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from cases.bundles import BundleError, bundle_export, bundle_export_collection, bundle_import
from cases.models import Case

from .models import CaseDifficulty, Collection, CollectionItem

BUNDLE_UPLOAD_MAX = 512 * 1024 * 1024


class CaseDifficultyInline(admin.StackedInline):
    model = CaseDifficulty
    extra = 0
    max_num = 1
    can_delete = True
    verbose_name = "difficulty (library filter)"


def _zip_response(data: bytes, name: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@admin.action(description="Export selected cases as a bundle (zip)")
def bundle_export_action(modeladmin, request: HttpRequest, queryset) -> HttpResponse:
    data = bundle_export(cases=queryset.order_by("slug"))
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return _zip_response(data, f"cases-{stamp}.zip")


class BundleImportForm(forms.Form):
    bundle = forms.FileField(help_text="A .zip written by export_cases or the export action.")

    def clean_bundle(self):
        upload = self.cleaned_data["bundle"]
        if upload.size > BUNDLE_UPLOAD_MAX:
            raise forms.ValidationError("The bundle is larger than 512 MB.")
        return upload


def bundle_import_view(request: HttpRequest) -> HttpResponse:
    """Upload a bundle; import it all or nothing; say what was imported and skipped."""
    if not request.user.has_perm("cases.add_case"):
        raise PermissionDenied
    form = BundleImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            # The upload as a file: the bundle is read an entry at a time, never whole.
            upload = form.cleaned_data["bundle"]
            upload.seek(0)
            report = bundle_import(upload, owner=request.user)
        except BundleError as exc:
            form.add_error("bundle", f"{exc}. Nothing was imported.")
        else:
            messages.success(
                request,
                f"Imported {len(report.imported)} case(s) with {report.files} file(s); "
                f"skipped {len(report.skipped)} already here"
                + (f" ({', '.join(report.skipped)})" if report.skipped else "")
                + (f"; created the collection “{report.collection}”." if report.collection else ".")
                + (f" De-identification {report.removed_line()}." if report.removed else ""),
            )
            return redirect(reverse("admin:cases_case_changelist"))
    context = {
        **admin.site.each_context(request),
        "opts": Case._meta,
        "title": "Import a case bundle",
        "form": form,
    }
    status = 422 if request.method == "POST" else 200
    return TemplateResponse(request, "admin/cases/case/import_bundle.html", context, status=status)


class CollectionItemInline(admin.TabularInline):
    model = CollectionItem
    extra = 0
    autocomplete_fields = ["case"]
    fields = ["position", "case", "note"]


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "updated"]
    search_fields = ["title", "owner__username"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["created", "updated"]
    inlines = [CollectionItemInline]
    actions = ["export_bundle"]

    @admin.action(description="Export the selected collection as a bundle (zip)")
    def export_bundle(self, request: HttpRequest, queryset) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one collection.", messages.ERROR)
            return None
        collection = queryset.get()
        return _zip_response(
            bundle_export_collection(collection), f"collection-{collection.pk}.zip"
        )
