from django.urls import path

from . import unknown, views
from .imaging import views as imaging_views

app_name = "cases"

urlpatterns = [
    path("", views.library, name="library"),
    path("cases/<slug:slug>/", views.article, name="article"),
    path("cases/<slug:slug>/figures/<int:number>/", imaging_views.figure, name="figure"),
    path("img/<str:token>.png", imaging_views.slice_image, name="slice_image"),
    path(
        "img/<str:token>.jpg",
        imaging_views.slice_image,
        {"fmt": "jpeg"},
        name="slice_image_jpeg",
    ),
    path("u/", unknown.unknown_library, name="unknown_library"),
    path("u/history/", unknown.unknown_history, name="unknown_history"),
    path("u/<str:public_id>/", unknown.unknown_step, name="unknown_case"),
    path("u/<str:public_id>/<int:step>/", unknown.unknown_step, name="unknown_step"),
    path(
        "u/<str:public_id>/figures/<int:number>/",
        unknown.unknown_figure,
        name="unknown_figure",
    ),
    path(
        "u/<str:public_id>/differential/",
        unknown.unknown_differential,
        name="unknown_differential",
    ),
]

# Discussion threads (cases/discussion/urls.py): /t/<public_id>/...
from .discussion.urls import urlpatterns as discussion_urlpatterns  # noqa: E402

urlpatterns += discussion_urlpatterns

# The library's collections and citation downloads (cases/library/urls.py).
from .library.urls import urlpatterns as library_urlpatterns  # noqa: E402

urlpatterns += library_urlpatterns
