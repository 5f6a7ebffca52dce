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

# Live conferences: the room at /c/<code>/ (cases/conference/audience.py), the presenter at
# /conference/<code>/ (cases/conference/presenter.py).
from .conference import audience, presenter  # noqa: E402

urlpatterns += [
    path("c/", audience.join, name="conference_join"),
    path("c/<str:code>/", audience.audience, name="conference_audience"),
    path("c/<str:code>/live/", audience.live, name="conference_live"),
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
