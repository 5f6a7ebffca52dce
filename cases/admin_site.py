"""CaseViewer's admin site: Django's, with the inbox's waiting studies counted in the menu."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from .inbox.models import InboxStudy


class CaseViewerAdminSite(admin.AdminSite):
    def get_app_list(self, request, app_label=None) -> list[dict]:
        app_list = super().get_app_list(request, app_label)
        for app in app_list:
            for model in app["models"]:
                if model["model"] is InboxStudy:
                    model["name"] = inbox_badged_name(model["name"])
        return app_list


def inbox_badged_name(name: str) -> str:
    """The inbox's name with a badge of its unclaimed studies, when there are any."""
    count = InboxStudy.unclaimed_count()
    if not count:
        return name
    return format_html(
        '{} <span class="cv-badge" title="{} unclaimed">{}'
        '<span class="visually-hidden"> unclaimed</span></span>',
        name,
        count,
        count,
    )
