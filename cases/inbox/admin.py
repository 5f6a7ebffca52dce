"""The inbox in the admin: received studies with counts, flags and the sending AE."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import ngettext

from .dicomweb import DicomwebError, dicomweb_client, dicomweb_find, dicomweb_retrieve_task
from .forms import DicomwebPullForm
from .models import InboxSeries, InboxStudy
from .receive import study_assemble

# The search runs in the request (so a wrong key or a PACS that is down is said at once);
# the retrieval, which can take minutes, runs on the worker.
PULL_SEARCH_TIMEOUT = 20


class InboxSeriesInline(admin.TabularInline):
    model = InboxSeries
    extra = 0
    fields = ["figure_link", "modality", "burned_in", "checked_by", "checked_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Figure")
    def figure_link(self, obj: InboxSeries) -> str:
        url = reverse("admin:cases_inboxseries_change", args=[obj.pk])
        slices = obj.figure.slices
        keys = slices.filter(is_key=True).count()
        return format_html(
            '<a href="{}">{} ({} slices{})</a>',
            url,
            obj.figure,
            slices.count(),
            f", {keys} key" if keys else "",
        )


@admin.register(InboxStudy)
class InboxStudyAdmin(admin.ModelAdmin):
    list_display = [
        "case_link",
        "modality",
        "series_count",
        "instance_count",
        "flagged_count",
        "calling_ae",
        "patient",
        "same_patient",
        "last_received",
        "claimed_by",
    ]
    list_filter = ["modality", "source", ("claimed_by", admin.EmptyFieldListFilter)]
    search_fields = ["case__title", "calling_ae", "patient", "description"]
    readonly_fields = [
        "case_link",
        "key",
        "patient",
        "same_patient",
        "source",
        "calling_ae",
        "modality",
        "body_part",
        "description",
        "study_month",
        "received",
        "last_received",
        "assembled",
        "claimed_by",
        "claimed_at",
    ]
    fields = ["case_link", "notes", *readonly_fields[1:]]
    inlines = [InboxSeriesInline]
    actions = ["claim", "assemble"]

    def has_add_permission(self, request) -> bool:
        return False

    def get_urls(self):
        pull = self.admin_site.admin_view(self.pull_view)
        return [path("pull/", pull, name="cases_inboxstudy_pull"), *super().get_urls()]

    def pull_view(self, request: HttpRequest) -> HttpResponse:
        """Find a study on a configured PACS (QIDO-RS), then queue its retrieval (WADO-RS)."""
        # A pull makes draft cases: whoever may add a case may pull.
        if not request.user.has_perm("cases.add_case"):
            raise PermissionDenied
        servers = list(settings.DICOMWEB_SERVERS)
        form = DicomwebPullForm(request.POST or None)
        if request.method == "POST" and servers and form.is_valid():
            query = form.query()
            try:
                client = dicomweb_client(
                    query["base_url"], timeout=PULL_SEARCH_TIMEOUT, retry=False
                )
                uids = dicomweb_find(**query, client=client)
            except DicomwebError as exc:
                form.add_error(None, f"Nothing was pulled: {exc}.")
            else:
                if uids:
                    dicomweb_retrieve_task.enqueue(query["base_url"], uids)
                    messages.success(request, _pull_queued_message(query["base_url"], len(uids)))
                    return redirect(reverse("admin:cases_inboxstudy_changelist"))
                form.add_error(None, "The PACS holds no study for that; nothing was pulled.")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Pull a study from a PACS",
            "form": form,
            "servers": servers,
        }
        status = 422 if request.method == "POST" else 200
        return TemplateResponse(request, "admin/cases/inboxstudy/pull.html", context, status=status)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("case", "claimed_by")
            .annotate(
                series_total=Count("series", distinct=True),
                instance_total=Count("series__instances", distinct=True),
                flagged_total=Count(
                    "series",
                    filter=Q(series__burned_in__gt="", series__checked_at=None),
                    distinct=True,
                ),
            )
        )

    @admin.display(description="Draft case", ordering="case__title")
    def case_link(self, obj: InboxStudy) -> str:
        url = reverse("admin:cases_case_change", args=[obj.case_id])
        return format_html('<a href="{}">{}</a>', url, obj.case.title)

    @admin.display(description="Series", ordering="series_total")
    def series_count(self, obj: InboxStudy) -> int:
        return obj.series_total

    @admin.display(description="Instances", ordering="instance_total")
    def instance_count(self, obj: InboxStudy) -> int:
        return obj.instance_total

    @admin.display(description="Burned-in text to check", ordering="flagged_total")
    def flagged_count(self, obj: InboxStudy) -> int:
        return obj.flagged_total

    @admin.display(description="Other studies of this patient")
    def same_patient(self, obj: InboxStudy) -> str:
        others = InboxStudy.objects.filter(patient=obj.patient).exclude(pk=obj.pk)
        return ", ".join(f"{o.case.title}" for o in others.select_related("case")[:5]) or "-"

    @admin.action(description="Claim the selected studies (they are kept)")
    def claim(self, request, queryset) -> None:
        for study in queryset:
            study.claim(request.user)
        count = queryset.count()
        self.message_user(
            request, ngettext("%d study claimed.", "%d studies claimed.", count) % count
        )

    @admin.action(description="Make the draft cases now (sort slices, title)")
    def assemble(self, request, queryset) -> None:
        for study in queryset:
            study_assemble(study_id=study.pk)
        self.message_user(request, "Assembled.", messages.SUCCESS)


def _pull_queued_message(base_url: str, count: int) -> str:
    studies = ngettext("%d study", "%d studies", count) % count
    return (
        f"Queued: {studies} from {urlsplit(base_url).netloc}. Each appears here as a draft "
        "case once retrieved and de-identified; the authors are e-mailed as for a DICOM send."
    )


@admin.register(InboxSeries)
class InboxSeriesAdmin(admin.ModelAdmin):
    list_display = ["figure", "study", "modality", "burned_in", "checked_by", "checked_at"]
    list_filter = [
        ("burned_in", admin.EmptyFieldListFilter),
        ("checked_at", admin.EmptyFieldListFilter),
    ]
    readonly_fields = [
        "study",
        "figure",
        "key",
        "modality",
        "burned_in",
        "checked_by",
        "checked_at",
    ]
    fields = readonly_fields
    actions = ["confirm_checked"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Checked: no burned-in text identifies anyone (or it was blanked)")
    def confirm_checked(self, request, queryset) -> None:
        flagged = queryset.filter(burned_in__gt="", checked_at=None)
        count = 0
        for series in flagged:
            series.check_burned_in(request.user)
            count += 1
        self.message_user(
            request, ngettext("%d series checked.", "%d series checked.", count) % count
        )
