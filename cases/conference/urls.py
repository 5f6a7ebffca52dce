"""Conference URLs, included from cases/urls.py.

The room is at /c/<code>/ (audience.py), the presenter's console at /conference/<code>/
(presenter.py).
"""

from __future__ import annotations

from django.urls import path

from . import audience, presenter

urlpatterns = [
    path("c/", audience.join, name="conference_join"),
    path("c/<str:code>/", audience.audience, name="conference_audience"),
    path("c/<str:code>/live/", audience.live, name="conference_live"),
    path("c/<str:code>/events/", audience.events, name="conference_events"),
    path(
        "c/<str:code>/figures/<int:number>/",
        audience.audience_figure,
        name="conference_audience_figure",
    ),
    path("c/<str:code>/questions/<int:pk>/vote/", audience.vote, name="conference_vote"),
    path(
        "c/<str:code>/questions/<int:pk>/heatmap.png",
        audience.audience_heatmap,
        name="conference_audience_heatmap",
    ),
    path("conference/", presenter.conference_list, name="conference_list"),
    path("conference/new/", presenter.conference_new, name="conference_new"),
    path("conference/<str:code>/", presenter.console, name="conference_console"),
    path("conference/<str:code>/panel/", presenter.panel, name="conference_panel"),
    path("conference/<str:code>/viewer/", presenter.viewer, name="conference_viewer"),
    path(
        "conference/<str:code>/viewer/second/",
        presenter.viewer,
        {"viewport": 2},
        name="conference_viewer_second",
    ),
    path("conference/<str:code>/action/", presenter.action, name="conference_action"),
    path(
        "conference/<str:code>/questions/<int:pk>/heatmap.png",
        presenter.heatmap,
        name="conference_heatmap",
    ),
    path("conference/<str:code>/summary/", presenter.summary, name="conference_summary"),
    path(
        "conference/<str:code>/summary.csv",
        presenter.summary_csv,
        name="conference_summary_csv",
    ),
]
