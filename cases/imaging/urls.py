"""Imaging URLs, included from cases/urls.py: a case's figure viewer and the slice images."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("cases/<slug:slug>/figures/<int:number>/", views.figure, name="figure"),
    path("cases/<slug:slug>/study/", views.study, name="study"),
    path("img/<str:token>.png", views.slice_image, name="slice_image"),
    path("img/<str:token>/value", views.slice_value, name="slice_value"),
    path(
        "img/<str:token>.jpg",
        views.slice_image,
        {"fmt": "jpeg"},
        name="slice_image_jpeg",
    ),
]
