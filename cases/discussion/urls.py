"""Thread URLs, included from cases/urls.py: every one names the case by its public id."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("t/<str:public_id>/", views.thread, name="discussion_thread"),
    path("t/<str:public_id>/comments/", views.comment_post, name="discussion_create"),
    path("t/<str:public_id>/preview/", views.comment_preview, name="discussion_preview"),
    path("t/<str:public_id>/follow/", views.thread_follow, name="discussion_follow"),
    path(
        "t/<str:public_id>/comments/<int:pk>/",
        views.comment_detail,
        name="discussion_comment",
    ),
    path(
        "t/<str:public_id>/comments/<int:pk>/reply/",
        views.reply_form,
        name="discussion_reply",
    ),
    path(
        "t/<str:public_id>/comments/<int:pk>/edit/",
        views.comment_edit_view,
        name="discussion_edit",
    ),
    path(
        "t/<str:public_id>/comments/<int:pk>/delete/",
        views.comment_delete_view,
        name="discussion_delete",
    ),
    path(
        "t/<str:public_id>/comments/<int:pk>/report/",
        views.comment_report,
        name="discussion_report",
    ),
    path(
        "t/<str:public_id>/comments/<int:pk>/hide/",
        views.comment_moderate,
        {"action": "hide"},
        name="discussion_hide",
    ),
    path(
        "t/<str:public_id>/comments/<int:pk>/restore/",
        views.comment_moderate,
        {"action": "restore"},
        name="discussion_restore",
    ),
]
