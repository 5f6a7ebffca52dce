"""The library's routes: collections and citation downloads."""

from __future__ import annotations

from django.urls import path

from . import collection_views, views

urlpatterns = [
    path("cases/<slug:slug>/cite.bib", views.citation_bibtex, name="citation_bibtex"),
    path("cases/<slug:slug>/cite.ris", views.citation_ris, name="citation_ris"),
    path(
        "cases/<slug:slug>/references.ris",
        views.references_ris_download,
        name="references_ris",
    ),
    path("collections/", collection_views.collection_list, name="collections"),
    path("collections/new/", collection_views.collection_create, name="collection_create"),
    path("collections/add/", collection_views.collection_add, name="collection_add"),
    path("collections/<int:pk>/", collection_views.collection_detail, name="collection"),
    path("collections/<int:pk>/edit/", collection_views.collection_edit, name="collection_edit"),
    path("collections/<int:pk>/order/", collection_views.collection_order, name="collection_order"),
    path(
        "collections/<int:pk>/items/<int:item_id>/remove/",
        collection_views.collection_remove,
        name="collection_remove",
    ),
    path("collections/<int:pk>/share/", collection_views.collection_share, name="collection_share"),
    path(
        "collections/<int:pk>/delete/", collection_views.collection_delete, name="collection_delete"
    ),
    path(
        "collections/shared/<str:token>/",
        collection_views.collection_shared,
        name="collection_shared",
    ),
]
