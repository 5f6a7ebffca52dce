from django.contrib.admin.apps import AdminConfig


class CaseViewerAdminConfig(AdminConfig):
    """Django's admin, on CaseViewer's site (the inbox badge in the menu)."""

    default_site = "cases.admin_site.CaseViewerAdminSite"
