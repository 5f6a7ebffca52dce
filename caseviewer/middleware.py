"""Security headers Django does not send by itself; NUL characters refused at the edge."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

# The app uses none of these browser features; deny them to anything the page embeds too.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
)


def security_headers(get_response: Callable[[HttpRequest], HttpResponse]):
    """Permissions-Policy, and Cross-Origin-Resource-Policy so other sites cannot embed images."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        return response

    return middleware


NUL_REFUSED = (
    "Bad request: the address or a form field contains a NUL character (%00), "
    "which no page of CaseViewer accepts. Remove it and try again.\n"
)
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def nul_refused(get_response: Callable[[HttpRequest], HttpResponse]):
    """A 400 that says why for a NUL character in the path, query string or a form field.

    PostgreSQL cannot store or compare text holding NUL (the query fails, the answer was a
    500), and no address or form of the app has a use for one. Refused once, here, before
    any view reads the request: nothing is stored. Files are left alone: their content may
    hold NUL bytes (a DICOM file does), and Django's parser drops NUL from their names.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        if _has_nul(request):
            return HttpResponseBadRequest(NUL_REFUSED, content_type="text/plain; charset=utf-8")
        return get_response(request)

    return middleware


def _has_nul(request: HttpRequest) -> bool:
    # The raw query string: %00 is the only way to write NUL in it (or a raw byte).
    query = request.META.get("QUERY_STRING", "")
    if "\x00" in request.path or "%00" in query or "\x00" in query:
        return True
    if request.method != "POST" or request.content_type not in _FORM_TYPES:
        return False
    return any(
        "\x00" in name or any("\x00" in value for value in values)
        for name, values in request.POST.lists()
    )
