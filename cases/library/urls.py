"""The library's routes: collections and citation downloads."""

from __future__ import annotations

from django.urls import path

from . import collections, views

urlpatterns = [
    path("cases/<slug:slug>/cite.bib", views.citation_bibtex, name="citation_bibtex"),
    path("cases/<slug:slug>/cite.ris", views.citation_ris, name="citation_ris"),
    path(
        "cases/<slug:slug>/references.ris",
        views.references_ris_download,
        name="references_ris",
    ),
    path("collections/", collections.collection_list, name="collections"),
    path("collections/new/", collections.collection_create, name="collection_create"),
    path("collections/add/", collections.collection_add, name="collection_add"),
    path("collections/<int:pk>/", collections.collection_detail, name="collection"),
    path("collections/<int:pk>/edit/", collections.collection_edit, name="collection_edit"),
    path("collections/<int:pk>/order/", collections.collection_order, name="collection_order"),
    path(
        "collections/<int:pk>/items/<int:item_id>/remove/",
        collections.collection_remove,
        name="collection_remove",
    ),
    path("collections/<int:pk>/share/", collections.collection_share, name="collection_share"),
    path("collections/<int:pk>/delete/", collections.collection_delete, name="collection_delete"),
    path(
        "collections/shared/<str:token>/",
        collections.collection_shared,
        name="collection_shared",
    ),
]
