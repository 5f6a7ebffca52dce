"""Unknown-mode URLs, included from cases/urls.py: /u/ and a case's steps by its public id."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("u/", views.unknown_library, name="unknown_library"),
    path("u/history/", views.unknown_history, name="unknown_history"),
    path("u/<str:public_id>/", views.unknown_step, name="unknown_case"),
    path("u/<str:public_id>/<int:step>/", views.unknown_step, name="unknown_step"),
    path(
        "u/<str:public_id>/figures/<int:number>/",
        views.unknown_figure,
        name="unknown_figure",
    ),
    path("u/<str:public_id>/study/", views.unknown_study, name="unknown_study"),
    path(
        "u/<str:public_id>/differential/",
        views.unknown_differential,
        name="unknown_differential",
    ),
]
