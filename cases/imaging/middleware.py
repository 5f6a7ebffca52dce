"""Rendered images of published stacks, served before the session and account middleware."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .views import published_image

# The two image routes of cases/urls.py (``slice_image``, ``slice_image_jpeg``).
_IMAGE_PATH = re.compile(r"/img/([0-9a-f]{32})\.(png|jpg)")
_FORMATS = {"png": "png", "jpg": "jpeg"}


def published_images(get_response: Callable[[HttpRequest], HttpResponse]):
    """Answer an image request from ``published_image`` when it can, like whitenoise.

    An image of a stack seen published moments ago (or a 304) needs no session, CSRF check,
    user or URL resolution; skipping them is about half the cost of serving a stored image.
    Everything else (drafts, the first request for a stack in this worker, bad parameters)
    goes on through the whole stack to the view.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        if request.method == "GET" and (match := _IMAGE_PATH.fullmatch(request.path_info)):
            token, extension = match.groups()
            if response := published_image(request, token, _FORMATS[extension]):
                return response
        return get_response(request)

    return middleware
