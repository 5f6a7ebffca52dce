"""What the views of every part of the app share: the htmx request and two small answers."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import parse_etags
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's middleware, typed as django-stubs suggests."""

    htmx: HtmxDetails


def render_page(
    request: HtmxHttpRequest,
    template: str,
    context: dict,
    *,
    partial: str,
    status: int = 200,
) -> HttpResponse:
    """The whole page, or for htmx only its ``partial`` (the region htmx swaps)."""
    name = f"{template}#{partial}" if request.htmx else template
    return render(request, name, context, status=status)


def client_etags(request: HttpRequest) -> set[str]:
    """The ETags of ``If-None-Match``, for a weak comparison (RFC 9110 13.1.2).

    W/"x" matches "x". Read from META: ``request.headers`` would first sort out every header
    a browser sent.
    """
    header = request.META.get("HTTP_IF_NONE_MATCH", "")
    return {t.removeprefix("W/") for t in parse_etags(header)}
