"""The app's URLs, all in the "cases" namespace.

The library and article pages are here; each sub-package's pages come from its own urls.py.
"""

from __future__ import annotations

from django.urls import include, path

from . import views

app_name = "cases"

urlpatterns = [
    path("", views.library, name="library"),
    path("cases/<slug:slug>/", views.article, name="article"),
    path("", include("cases.imaging.urls")),
    path("", include("cases.unknown.urls")),
    path("", include("cases.discussion.urls")),
    path("", include("cases.library.urls")),
    path("", include("cases.conference.urls")),
]
