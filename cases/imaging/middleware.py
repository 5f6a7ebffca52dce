"""Rendered images of published stacks, answered before sessions, accounts and Django's handler.

Two layers, like whitenoise's middleware and WSGI application for static files:

* ``published_images``, a middleware placed before sessions and accounts, answers any request
  that reaches Django (the test client, and what the WSGI layer passes on);
* ``published_images_wsgi`` wraps the WSGI application (``caseviewer.wsgi``) and answers the
  same requests before Django's handler: no request signals, no URL prefix, no middleware but
  the ones above ``published_images`` in ``MIDDLEWARE`` (logging, security headers, CSP), which
  it loads and runs as Django does, so a response carries the same headers either way.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from .views import published_image

# The two image routes of cases/urls.py (``slice_image``, ``slice_image_jpeg``).
_IMAGE_PATH = re.compile(r"/img/([0-9a-f]{32})\.(png|jpg)")
_FORMATS = {"png": "png", "jpg": "jpeg"}
MIDDLEWARE_NAME = "cases.imaging.middleware.published_images"


def published_images(get_response: Callable[[HttpRequest], HttpResponse]):
    """Answer an image request from ``published_image`` when it can, like whitenoise.

    An image of a published case (or a 304) needs no session, CSRF check, user or URL
    resolution; skipping them is about half the cost of serving a stored image. Whether the
    case is published is asked of the database each time (``published_image``), so a case
    returned to draft stops serving at once everywhere. Everything else (drafts, the
    figure's own window, bad parameters) goes on through the whole stack to the view.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        if response := _published_answer(request):
            return response
        return get_response(request)

    return middleware


def _published_answer(request: HttpRequest) -> HttpResponse | None:
    if request.method == "GET" and (match := _IMAGE_PATH.fullmatch(request.path_info)):
        token, extension = match.groups()
        return published_image(request, token, _FORMATS[extension])
    return None


def published_images_wsgi(application: Callable) -> Callable:
    """``application`` (Django's), with published images answered before its handler.

    Skipping Django's handler (its signals, URL prefix and exception layers) serves more
    stored renders and 304s per second through gunicorn (bench/viewer.py). What
    ``published_image`` cannot answer, or fails on, goes to ``application`` untouched, where
    the middleware and the view answer it (and report any error) as for any request. The
    handler's signals do not run here: the published check's query uses the worker's
    persistent connection, and a connection the database dropped fails that check, goes on
    to the handler, whose ``request_started`` closes it and whose view connects afresh.
    """
    outer = _middleware_above(lambda request: request.published_response)

    def wsgi(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET" and _IMAGE_PATH.fullmatch(
            environ.get("PATH_INFO", "")
        ):
            request = WSGIRequest(environ)
            request.received = time.perf_counter()  # the request log counts the rendering
            try:
                answer = _published_answer(request)
            except Exception:  # Django's handler tries again, and answers the error its way
                answer = None
            if answer is not None:
                request.published_response = answer
                response = outer(request)
                # As django.core.handlers.wsgi.WSGIHandler sends a response.
                start_response(
                    f"{response.status_code} {response.reason_phrase}",
                    [
                        *response.items(),
                        *(("Set-Cookie", c.OutputString()) for c in response.cookies.values()),
                    ],
                )
                return [response.content]
        return application(environ, start_response)

    return wsgi


def _middleware_above(answer: Callable[[HttpRequest], HttpResponse]) -> Callable:
    """The middleware listed above ``published_images``, around ``answer``, as Django loads
    them (each wrapped so that an exception becomes Django's error response)."""
    handler = convert_exception_to_response(answer)
    for path in reversed(settings.MIDDLEWARE[: settings.MIDDLEWARE.index(MIDDLEWARE_NAME)]):
        try:
            handler = convert_exception_to_response(import_string(path)(handler))
        except MiddlewareNotUsed:
            continue
    return handler
