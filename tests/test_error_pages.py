"""Error pages: 400, 403, 404 and 500 in the site's style, with no details, DEBUG off."""

from __future__ import annotations

import pytest
from django.core.exceptions import SuspiciousOperation
from django.template import loader
from django.urls import path

from caseviewer.urls import urlpatterns as site_urlpatterns

SECRET = "secret-detail-4711"


def _boom(request):
    raise RuntimeError(f"database password is {SECRET}")


def _suspicious(request):
    raise SuspiciousOperation(f"tampered with {SECRET}")


# This module is the URLconf of the tests marked with it: the site plus two test-only views.
urlpatterns = [*site_urlpatterns, path("test-boom/", _boom), path("test-suspicious/", _suspicious)]

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_error_pages")]


@pytest.fixture(autouse=True)
def _production(settings):
    settings.DEBUG = False


def _assert_styled(response, status: int, heading: str) -> str:
    assert response.status_code == status
    body = response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert '<header class="site">' in body and 'class="brand"' in body
    assert "css/caseviewer.css" in body
    assert f'<h1 id="error-title">{heading}</h1>' in body
    for leak in ("Traceback", SECRET, "Request Method", "settings.py", "DEBUG = True"):
        assert leak not in body
    return body


def test_missing_page_is_the_styled_404(client):
    response = client.get("/no/such/page/")
    body = _assert_styled(response, 404, "Page not found")
    assert "Log in" in body  # base.html's navigation, from the request context
    assert "/no/such/page/" not in body.split("<main", 1)[1]  # the path is not echoed back


def test_missing_case_is_the_styled_404(client):
    _assert_styled(client.get("/cases/no-such-case-anywhere/"), 404, "Page not found")


def test_permission_denied_is_the_styled_403_without_the_reason(client, learner):
    client.force_login(learner)
    response = client.get("/conference/")
    body = _assert_styled(response, 403, "Not allowed")
    assert "presenter permission" not in body  # the PermissionDenied message stays private
    assert "learner" in body  # signed-in navigation: the page has the request context


def test_suspicious_operation_is_the_styled_400(client):
    _assert_styled(client.get("/test-suspicious/"), 400, "Bad request")


def test_bad_host_is_the_styled_400(client):
    _assert_styled(client.get("/", HTTP_HOST="evil.example.com"), 400, "Bad request")


def test_bad_image_parameters_are_a_plain_400(client):
    response = client.get("/img/" + "0" * 32 + ".png?ww=abc")
    assert response.status_code == 400
    assert b"Traceback" not in response.content and b"<header" not in response.content


def test_server_error_is_the_styled_500_without_the_exception(client):
    client.raise_request_exception = False
    response = client.get("/test-boom/")
    body = _assert_styled(response, 500, "Something went wrong")
    assert "RuntimeError" not in body and "database password" not in body


def test_500_page_renders_with_no_context_and_no_queries(django_assert_num_queries):
    with django_assert_num_queries(0):
        html = loader.get_template("500.html").render()
    assert "css/caseviewer.css" in html and '<header class="site">' in html
    assert "{%" not in html and "csrf" not in html.lower()
