"""Conference URLs, included from cases/urls.py.

The room is at /c/<code>/, the presenter's console at /conference/<code>/.
"""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("c/", views.join, name="conference_join"),
    path("c/<str:code>/", views.audience, name="conference_audience"),
    path("c/<str:code>/live/", views.live, name="conference_live"),
    path(
        "c/<str:code>/figures/<int:number>/",
        views.audience_figure,
        name="conference_audience_figure",
    ),
    path("c/<str:code>/questions/<int:pk>/vote/", views.vote, name="conference_vote"),
    path(
        "c/<str:code>/questions/<int:pk>/heatmap.png",
        views.audience_heatmap,
        name="conference_audience_heatmap",
    ),
    path("conference/", views.conference_list, name="conference_list"),
    path("conference/new/", views.conference_new, name="conference_new"),
    path("conference/<str:code>/", views.console, name="conference_console"),
    path("conference/<str:code>/panel/", views.panel, name="conference_panel"),
    path("conference/<str:code>/viewer/", views.viewer, name="conference_viewer"),
    path("conference/<str:code>/action/", views.action, name="conference_action"),
    path(
        "conference/<str:code>/questions/<int:pk>/heatmap.png",
        views.heatmap,
        name="conference_heatmap",
    ),
    path("conference/<str:code>/summary/", views.summary, name="conference_summary"),
    path(
        "conference/<str:code>/summary.csv",
        views.summary_csv,
        name="conference_summary_csv",
    ),
]
