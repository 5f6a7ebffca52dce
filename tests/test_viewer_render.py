"""The render endpoint: DICOM windowing on the real CT series, zoom, annotations, formats,
ETag/304 and the render store, bad parameters."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from unittest import mock

import numpy as np
import pydicom
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from PIL import Image

from cases.imaging.ingest import slice_create_from_bytes
from cases.imaging.params import RenderParams
from cases.imaging.render import slice_decode, slice_render
from cases.models import Annotation, Case, Figure, Slice

pytestmark = pytest.mark.django_db

CT_ZIP = Path(__file__).resolve().parent.parent / "cases" / "demo" / "dicom" / "ct-head-ge.zip"


def slice_image_url(image: Slice, **params) -> str:
    return RenderParams(image.token, **params).url()


def linear_voi(hu: float, width: float, center: float) -> int:
    """PS3.3 C.11.2.1.2.1 written out case by case, for one value (independent of the app)."""
    if hu <= center - 0.5 - (width - 1) / 2:
        return 0
    if hu > center - 0.5 + (width - 1) / 2:
        return 255
    return int(((hu - (center - 0.5)) / (width - 1) + 0.5) * 255 + 0.5)


def series() -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(CT_ZIP) as archive:
        return [(n, archive.read(n)) for n in sorted(archive.namelist()) if n.endswith(".dcm")]


@pytest.fixture
def ct_figure() -> Figure:
    case = Case.objects.create(slug="ct", title="CT", status=Case.Status.PUBLISHED)
    figure = Figure.objects.create(case=case, number=1, window_width=80, window_center=40)
    for position, (name, data) in enumerate(series()):
        slice_create_from_bytes(figure=figure, name=name, data=data, position=position)
    return figure


def png(response) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)))


def test_every_slice_of_the_ct_series_matches_the_dicom_formula(client, ct_figure):
    stored = {s.position: s for s in ct_figure.slices.all()}
    assert len(stored) == 28
    for position, (_name, data) in enumerate(series()):
        ds = pydicom.dcmread(io.BytesIO(data))
        hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        for width, center in ((80, 40), (2500, 480)):
            url = slice_image_url(stored[position], window_width=width, window_center=center)
            shown = png(client.get(url))
            # Every distinct HU value in the slice, through the formula written out above.
            values, first = np.unique(hu, return_index=True)
            expected = np.array([linear_voi(v, width, center) for v in values])
            assert np.array_equal(shown.ravel()[first], expected), (position, width)
    # The slices are in order along the stack, not in file-name order.
    locations = [stored[p].slice_location for p in range(28)]
    assert locations == sorted(locations) or locations == sorted(locations, reverse=True)


def test_zoom_is_a_crop_of_full_resolution_pixels_scaled_to_the_output(client, ct_figure):
    image = ct_figure.slices.get(position=14)
    full = png(client.get(slice_image_url(image, window_width=80, window_center=40)))
    url = slice_image_url(image, window_width=80, window_center=40, zoom=2, cx=0.25, cy=0.75)
    zoomed = png(client.get(url))
    assert zoomed.shape == full.shape == (512, 512)
    crop = full[256:512, 0:256]  # the lower-left quarter, magnified twice
    nearest = np.kron(crop, np.ones((2, 2), dtype=np.uint8))
    assert np.abs(zoomed.astype(int) - nearest).mean() < 4
    assert np.abs(zoomed.astype(int) - np.kron(full[0:256, 256:512], np.ones((2, 2)))).mean() > 20
    # A centre too near the edge is clamped so the box stays inside the image.
    edge = slice_image_url(image, window_width=80, window_center=40, zoom=2, cx=0.0, cy=1.0)
    assert np.array_equal(png(client.get(edge)), zoomed)


def test_jpeg_output_and_size(client, ct_figure):
    image = ct_figure.slices.get(position=3)
    response = client.get(slice_image_url(image, window_width=80, window_center=40, fmt="jpeg",
                                           size=256))  # fmt: skip
    assert response["Content-Type"] == "image/jpeg"
    picture = Image.open(io.BytesIO(response.content))
    assert (picture.format, picture.size) == ("JPEG", (256, 256))
    assert ".jpg?" in slice_image_url(image, window_width=1, window_center=1, fmt="jpeg")


def test_annotations_are_drawn_only_on_their_slice_and_only_when_asked(client, ct_figure):
    arrow = Annotation.objects.create(figure=ct_figure, x=0.5, y=0.5, angle=225, slice_index=14)
    annotated, other = ct_figure.slices.get(position=14), ct_figure.slices.get(position=2)
    plain = png(client.get(slice_image_url(annotated, window_width=80, window_center=40)))
    params = RenderParams(annotated.token, window_width=80, window_center=40)
    drawn = slice_render(annotated, params, annotations=[arrow])
    drawn = np.asarray(Image.open(io.BytesIO(drawn)))
    assert drawn.shape == (512, 512, 3)
    yellow = (drawn[..., 0] > 200) & (drawn[..., 1] > 170) & (drawn[..., 2] < 80)
    assert 200 < yellow.sum() < 5000
    ys, xs = np.nonzero(yellow)
    # The tip is at the centre and the shaft runs up and to the right (angle 225: down-left).
    assert abs(xs.min() - 256) < 20 and ys.max() < 270 and xs.max() > 256 + 20
    assert np.array_equal(drawn[..., 0][~yellow & (np.abs(drawn[..., 0] - plain) < 1)],
                          plain[~yellow & (np.abs(drawn[..., 0] - plain) < 1)])  # fmt: skip
    # Through the view: an ``ann`` digest asks for them; another slice has none to draw.
    from cases.imaging.render import annotations_digest

    digest = annotations_digest([arrow])
    url = slice_image_url(annotated, window_width=80, window_center=40, annotations=digest)
    assert png(client.get(url)).shape == (512, 512, 3)
    url = slice_image_url(other, window_width=80, window_center=40, annotations=digest)
    assert png(client.get(url)).ndim == 2
    # A made-up digest (a learner editing the URL before the findings step) draws nothing.
    guess = slice_image_url(annotated, window_width=80, window_center=40, annotations="0" * 10)
    assert np.array_equal(png(client.get(guess)), plain)


def test_repeat_is_304_without_a_query_and_a_render_takes_one(client, ct_figure):
    image = ct_figure.slices.get(position=5)
    url = slice_image_url(image, window_width=400, window_center=40, size=1024)
    with CaptureQueriesContext(connection) as queries:
        first = client.get(url)
    assert first.status_code == 200 and len(queries) == 1
    etag = first["ETag"]
    assert etag.startswith('"') and image.token not in etag
    assert "immutable" in first["Cache-Control"] and "max-age=31536000" in first["Cache-Control"]
    with CaptureQueriesContext(connection) as queries:
        stored = client.get(url)  # the store has it; is its case still published?
    assert stored.content == first.content and stored["ETag"] == etag and len(queries) == 1
    with CaptureQueriesContext(connection) as queries:
        again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and len(queries) == 0
    assert again["ETag"] == etag and again.content == b""
    # A list of tags, or a weak comparison, still matches; another window does not.
    assert client.get(url, headers={"If-None-Match": f'"x", W/{etag}'}).status_code == 304
    other = slice_image_url(image, window_width=80, window_center=40, size=1024)
    assert client.get(other, headers={"If-None-Match": etag}).status_code == 200
    # Without a window in the URL the figure's is used, and the ETag is the same rendering's.
    implicit = client.get(slice_image_url(image, size=1024).replace("?", "?x=1&"))
    explicit = client.get(slice_image_url(image, window_width=80, window_center=40, size=1024))
    assert implicit["ETag"] == explicit["ETag"]


def test_render_store_is_shared_a_new_worker_does_not_decode_again(client, ct_figure):
    image = ct_figure.slices.get(position=7)
    url = slice_image_url(image, window_width=1500, window_center=-600)
    first = client.get(url).content
    assert client.get(url).content == first  # asked for again: stored
    slice_decode.cache_clear()  # as in another worker process
    assert client.get(url).content == first
    assert slice_decode.cache_info().misses == 0


def test_bad_image_parameters_are_400_or_clamped_never_500(client, ct_figure):
    image = ct_figure.slices.get(position=0)
    base = slice_image_url(image)
    for query in ("ww=abc&wc=1", "size=999", "size=inf", "zoom=nan", "cx=1e999", "ann=zz",
                  "ann=0123456789abcdef"):  # fmt: skip
        assert client.get(f"{base}?{query}").status_code == 400, query
    for query in ("zoom=1e9&cx=-4&cy=9", "ww=-3&wc=1e12", "ww=0&wc=0", "invert=2", "size=256"):
        response = client.get(f"{base}?{query}")
        assert response.status_code == 200, query
        assert Image.open(io.BytesIO(response.content)).size[0] in (256, 512)
    assert client.get("/img/not-a-token.png").status_code == 404
    assert client.get(f"/img/{'0' * 32}.png").status_code == 404
    assert client.post(base).status_code == 405


def test_draft_images_are_404_except_for_staff(client, staff, ct_figure):
    Case.objects.filter(pk=ct_figure.case_id).update(status=Case.Status.DRAFT)
    url = slice_image_url(Slice.objects.filter(figure=ct_figure).first())
    assert client.get(url).status_code == 404
    client.force_login(staff)
    assert client.get(url).status_code == 200


def test_a_case_returned_to_draft_stops_serving_its_images_at_once(client, ct_figure):
    url = slice_image_url(ct_figure.slices.first(), window_width=80, window_center=40)
    for _ in range(3):  # rendered, stored, served from the store
        assert client.get(url).status_code == 200
    Case.objects.filter(pk=ct_figure.case_id).update(status=Case.Status.DRAFT)
    assert client.get(url).status_code == 404


def test_a_published_image_costs_one_query_rendered_or_stored(client, ct_figure):
    stack = list(ct_figure.slices.order_by("position"))
    url = slice_image_url(stack[9], window_width=350, window_center=45, fmt="jpeg")
    for _ in range(3):  # rendered, rendered again and stored, read from the store
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200 and len(queries) == 1
    params = RenderParams(stack[9].token, window_width=350, window_center=45, fmt="jpeg")
    assert response.content == slice_render(stack[9], params)
    # The figure's default window needs the figure as it is now: one query too.
    with CaptureQueriesContext(connection) as queries:
        assert client.get(slice_image_url(stack[9])).status_code == 200
    assert len(queries) == 1


def test_a_stack_returned_to_draft_stops_rendering_new_views(client, ct_figure):
    stack = list(ct_figure.slices.order_by("position"))
    assert (
        client.get(slice_image_url(stack[0], window_width=80, window_center=40)).status_code == 200
    )
    Case.objects.filter(pk=ct_figure.case_id).update(status=Case.Status.DRAFT)
    assert (
        client.get(slice_image_url(stack[3], window_width=90, window_center=40)).status_code == 404
    )


def refuse(get_response):
    """A middleware standing for everything after the image middleware (sessions, accounts)."""

    def middleware(request):
        raise AssertionError(f"{request.path} went past the image middleware")

    return middleware


def _wsgi(application, url: str, **headers) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of ``url`` from a WSGI ``application``, as gunicorn asks."""
    from django.test import RequestFactory

    started = []
    result = application(
        RequestFactory().get(url, headers=headers).environ,
        lambda status, response_headers, exc_info=None: started.append((status, response_headers)),
    )
    body = b"".join(result)
    if hasattr(result, "close"):
        result.close()
    status, response_headers = started[0]
    return int(status.split()[0]), dict(response_headers), body


@pytest.fixture
def handled():
    """The requests Django's handler saw (its request_started signal), as a list of paths.

    The handler's signals keep the test's connection open, as Django's test client has them.
    """
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    paths = []

    def seen(sender, environ, **kwargs):
        paths.append(environ["PATH_INFO"])

    request_started.connect(seen)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield paths
    request_started.disconnect(seen)
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_the_wsgi_application_answers_published_images_before_djangos_handler(ct_figure, handled):
    from django.core.handlers.wsgi import WSGIHandler

    from cases.imaging.middleware import published_images_wsgi
    from caseviewer import operations

    django = WSGIHandler()  # Django's application, without setting Django up again
    application = published_images_wsgi(django)
    stack = list(ct_figure.slices.order_by("position"))
    url = slice_image_url(stack[5], window_width=300, window_center=50, fmt="jpeg")
    with mock.patch.object(operations, "request_log") as log:
        status, headers, body = _wsgi(application, url)
    assert (status, len(handled), body[:2]) == (200, 0, b"\xff\xd8")
    logged = log.log.call_args.kwargs["extra"]  # the request log has it
    assert (logged["path"], logged["status"]) == (url.split("?")[0], 200)
    # The same answer, headers and all, as Django's handler gives (the security middleware
    # above published_images, loaded and run the same way).
    assert _wsgi(django, url) == (status, headers, body)
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert "Content-Security-Policy" in headers
    assert headers["Content-Length"] == str(len(body))  # not chunked
    status, _, body = _wsgi(application, url, **{"If-None-Match": headers["ETag"]})
    assert (status, body, len(handled)) == (304, b"", 1)  # the one: Django's, just above

    # What needs the visitor or the figure goes on to Django.
    assert _wsgi(application, slice_image_url(stack[5]))[0] == 200
    assert _wsgi(application, f"{url}&size=7")[0] == 400  # the view says why
    assert _wsgi(application, url.replace(stack[5].token, "0" * 32))[0] == 404
    assert len(handled) == 4


def test_a_failing_published_image_is_answered_by_djangos_handler(ct_figure, handled):
    from django.core.handlers.wsgi import WSGIHandler

    from cases.imaging import middleware

    stack = list(ct_figure.slices.order_by("position"))
    url = slice_image_url(stack[0], window_width=80, window_center=40)
    application = middleware.published_images_wsgi(WSGIHandler())
    with mock.patch.object(middleware, "published_image", side_effect=OSError("disk")):
        status, _, _ = _wsgi(application, url)
    # Django's handler saw it, and answered (and logged) the error its own way.
    assert (status, handled) == (500, [url.split("?")[0]])


def test_the_wsgi_application_redirects_to_https_as_django_does(ct_figure, settings, handled):
    from django.core.handlers.wsgi import WSGIHandler

    from cases.imaging.middleware import published_images_wsgi

    stack = list(ct_figure.slices.order_by("position"))
    url = slice_image_url(stack[0], window_width=80, window_center=40)
    settings.SECURE_SSL_REDIRECT = True
    status, headers, _ = _wsgi(published_images_wsgi(WSGIHandler()), url)
    assert (status, headers["Location"]) == (301, f"https://testserver{url}")


def test_images_of_published_cases_are_served_before_sessions_and_accounts(ct_figure, settings):
    stack = list(ct_figure.slices.order_by("position"))
    seen = slice_image_url(stack[0], window_width=80, window_center=40)
    position = settings.MIDDLEWARE.index("cases.imaging.middleware.published_images")
    settings.MIDDLEWARE = [*settings.MIDDLEWARE[: position + 1], "tests.test_viewer_render.refuse"]
    client = Client()  # a client loads the middleware once, at its first request

    for url in (seen, slice_image_url(stack[5], window_width=300, window_center=50, fmt="jpeg")):
        response = client.get(url)
        assert response.status_code == 200
        # The security middleware above it still speaks.
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Cross-Origin-Resource-Policy"] == "same-origin"
        assert "Content-Security-Policy" in response
        assert client.get(url, headers={"If-None-Match": response["ETag"]}).status_code == 304
    # What needs the visitor or the database goes on to the view.
    with pytest.raises(AssertionError, match="went past"):
        client.get(slice_image_url(stack[5]))  # the figure's window: read from the database
    with pytest.raises(AssertionError, match="went past"):
        client.get(slice_image_url(stack[5], window_width=80, window_center=40) + "&size=7")
