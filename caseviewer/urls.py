from django.contrib import admin
from django.urls import include, path

from .operations import healthz

admin.site.site_header = "CaseViewer authoring"
admin.site.site_title = "CaseViewer"
admin.site.index_title = "Cases and teaching material"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("cases.urls")),
]
