from django.urls import path

from . import views

app_name = "cases"

urlpatterns = [
    path("", views.library, name="library"),
    path("cases/<slug:slug>/", views.article, name="article"),
    path("cases/<slug:slug>/figures/<int:number>/", views.figure, name="figure"),
    path("img/<str:token>.png", views.slice_image, name="slice_image"),
]
