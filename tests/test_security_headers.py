"""Every URL pattern answers with the Content Security Policy and the other security headers.

The URLconf is walked, not listed by hand: a new pattern is checked the day it is added (and
fails here until PARAMS knows how to fill in its parameters). Each pattern gets a URL built
from real objects, and is fetched by staff (who can open everything, the admin included) and
by an anonymous visitor (who mostly gets redirects and 404s: those need the headers too).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from PIL import Image

from cases.imaging.ingest import slice_create_from_bytes
from cases.models import Case, Figure

from .conftest import case_build

pytestmark = pytest.mark.django_db

HTML_SCRIPT = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.IGNORECASE)
# A conference's figure and heat-map pages are 404 until the presenter shows something.
LIVE_ONLY = ("cases:conference_audience_", "cases:conference_heatmap", "cases:conference_viewer")


@dataclass(frozen=True)
class Route:
    """One leaf of the URLconf: its full pattern text, name and the view's ModelAdmin."""

    pattern: str
    name: str | None
    model_admin: object | None

    @property
    def label(self) -> str:
        return self.name or self.pattern


def routes(patterns=None, prefix: str = "", namespace: str = "") -> Iterator[Route]:
    patterns = get_resolver().url_patterns if patterns is None else patterns
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, [namespace, entry.namespace or ""]))
            yield from routes(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = entry.name and (f"{namespace}:{entry.name}" if namespace else entry.name)
            yield Route(
                prefix + str(entry.pattern), name, getattr(entry.callback, "model_admin", None)
            )


ROUTE_PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?:[^()]|\([^()]*\))*\)")


def route_path(route: Route, value: Callable[[Route, str], str]) -> str:
    """The pattern with each parameter replaced by ``value(route, name)``."""
    # Regex patterns (re_path) inside the admin and allauth first: fill the groups, drop the
    # anchors; then the path() parameters.
    text = REGEX_GROUP.sub(lambda m: value(route, m["name"]), route.pattern)
    text = text.replace("^", "").replace("$", "")
    return "/" + ROUTE_PARAM.sub(lambda m: value(route, m["name"]), text)


def optional_model(label: str):
    """A model another feature adds, or None while it does not exist."""
    try:
        return apps.get_model(label)
    except LookupError:
        return None


@pytest.fixture
def world(staff, django_user_model):
    """Real objects for every parameter: a case with a stored image, a comment, a user, and
    a collection and a conference (when those features exist)."""
    case = case_build(slug="headers-case", title="Headers case", size=1)
    figure = Figure.objects.create(case=case, number=9, caption="A real image")
    buffer = io.BytesIO()
    Image.new("L", (64, 64), 128).save(buffer, format="PNG")
    image = slice_create_from_bytes(
        figure=figure, name="grey.png", data=buffer.getvalue(), position=0
    )
    member = django_user_model.objects.create_user("member", password="member-pass-123")
    world = {"case": case, "slice": image, "staff": staff}
    if Comment := optional_model("cases.Comment"):
        world["comment"] = Comment.objects.create(
            case=case, author=member, body="A comment", body_html="<p>A comment</p>"
        )
    if Collection := optional_model("cases.Collection"):
        collection = Collection.objects.create(
            owner=staff, title="Headers", share_token="headers-share-token"
        )
        world["collection"] = collection
        world["collection_item"] = collection.items.create(case=case)
    if Conference := optional_model("cases.Conference"):
        conference = Conference.objects.create(title="Headers", presenter=staff)
        item = conference.items.create(case=case)
        world["conference"] = conference
        world["question"] = conference.questions.create(
            item=item, prompt="Which?", options=["A", "B"]
        )
    return world


def param_value(world: dict) -> Callable[[Route, str], str]:
    """How to fill in each parameter name, per kind of route; fails on a name it lacks."""

    def admin_object(route: Route) -> str:
        if route.name == "admin:view_on_site":
            return str(world["case"].pk)
        # A model with no row here gets a missing id: the admin redirects, headers still apply.
        obj = route.model_admin.model.objects.order_by("pk").first()
        return str(obj.pk) if obj else "0"

    def pk(route: Route) -> str:
        name = route.name or ""
        if name.startswith("admin:cases_case"):
            return str(world["case"].pk)
        if name.startswith("cases:collection"):
            return str(world["collection"].pk)
        if name.startswith("cases:conference"):
            return str(world["question"].pk)
        return str(world["comment"].pk)

    def token(route: Route) -> str:
        if (route.name or "").startswith("cases:collection"):
            return world["collection"].share_token
        return world["slice"].token

    params: dict[str, Callable[[Route], str]] = {
        "slug": lambda r: world["case"].slug,
        "public_id": lambda r: world["case"].public_id,
        "number": lambda r: "9" if "figure" in (r.name or "") else "1",
        "step": lambda r: "1",
        "token": token,
        "pk": pk,
        "item_id": lambda r: str(world["collection_item"].pk),
        "code": lambda r: world["conference"].code,
        "object_id": admin_object,
        "content_type_id": lambda r: str(ContentType.objects.get_for_model(Case).pk),
        "id": lambda r: str(world["staff"].pk),
        "app_label": lambda r: "cases",
        "url": lambda r: "no-such-page/",
        # allauth's e-mail confirmation and password reset links, with keys that do not exist.
        "key": lambda r: "not-a-real-key",
        "uidb36": lambda r: "zz",
    }

    def value(route: Route, name: str) -> str:
        assert name in params, f"{route.label}: add a value for <{name}> to param_value()"
        return params[name](route)

    return value


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def assert_secure_headers(response, url: str) -> None:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"{url}: no Content-Security-Policy"
    csp = csp_directives(header)
    assert csp["default-src"] == ["'self'"], url
    scripts = csp["script-src"]
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, url
    assert "*" not in scripts and "data:" not in scripts, url
    assert csp["object-src"] == ["'none'"], url
    assert csp["base-uri"] == ["'none'"], url
    assert csp["frame-ancestors"] == ["'none'"], url
    assert "'unsafe-inline'" not in csp["style-src"], url
    assert response.headers.get("X-Content-Type-Options") == "nosniff", url
    assert response.headers.get("Referrer-Policy") == "same-origin", url
    assert response.headers.get("Cross-Origin-Opener-Policy") == "same-origin", url
    assert response.headers.get("X-Frame-Options") == "DENY", url
    assert response.headers.get("Cross-Origin-Resource-Policy") == "same-origin", url
    assert "camera=()" in response.headers.get("Permissions-Policy", ""), url

    if "text/html" in response.headers.get("Content-Type", "") and not response.streaming:
        html = response.content.decode()
        nonces = [v[len("'nonce-") : -1] for v in scripts if v.startswith("'nonce-")]
        for attributes in HTML_SCRIPT.findall(html):
            if "src=" in attributes or 'type="application/json"' in attributes:
                continue
            # An inline script runs only with this response's nonce.
            assert any(f'nonce="{n}"' in attributes for n in nonces), (url, attributes)
        assert not EVENT_HANDLER.search(html), (url, EVENT_HANDLER.search(html)[0])
        assert not STYLE_ATTRIBUTE.search(html), (url, STYLE_ATTRIBUTE.search(html)[0])


def test_the_walk_covers_the_whole_urlconf():
    labels = {route.label for route in routes()}
    # A sample from each part: if the walk missed a whole include, these would be absent.
    for expected in (
        "admin:cases_case_change",
        "account_login",
        "cases:article",
        "cases:slice_image",
        "cases:unknown_step",
        "cases:discussion_thread",
    ):
        assert expected in labels
    assert len(labels) > 60


def test_every_url_pattern_is_sent_with_the_policy_and_headers(world):
    value = param_value(world)
    staff_client, anonymous = Client(), Client()
    staff_client.force_login(world["staff"])
    statuses = {}
    for route in routes():
        url = route_path(route, value)
        for who, client in (("staff", staff_client), ("anonymous", anonymous)):
            response = client.get(url)
            assert response.status_code < 500, (who, url, response.status_code)
            assert_secure_headers(response, f"{who} {url}")
            statuses[who, route.label] = response.status_code
    # Staff open the pages themselves, not a 404 for a URL this test built wrongly.
    staff_ok = {label for (who, label), code in statuses.items() if who == "staff" and code < 400}
    for label in (
        "admin:index",
        "admin:cases_case_change",
        "admin:cases_figure_change",
        "admin:auth_user_password_change",
        "cases:library",
        "cases:article",
        "cases:figure",
        "cases:slice_image",
        "cases:slice_image_jpeg",
        "cases:unknown_step",
        "cases:unknown_figure",
        "cases:discussion_thread",
        "cases:discussion_comment",
        "account_login",
    ):
        assert label in staff_ok, (label, statuses["staff", label])
    not_found = sorted(
        label
        for (who, label), code in statuses.items()
        if who == "staff" and code == 404 and not label.startswith(LIVE_ONLY)
    )
    # Only the admin's catch-all (a made-up page) is meant to be missing.
    assert not_found == ["admin/(?P<url>.*)$"], not_found


def test_html_pages_carry_the_nonce_that_the_header_names(client, world):
    response = client.get(f"/cases/{world['case'].slug}/")
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])[1]
    assert f'nonce="{nonce}"' in response.content.decode()
    # A fresh nonce on every response.
    again = client.get(f"/cases/{world['case'].slug}/")
    assert nonce not in again.headers["Content-Security-Policy"]


def test_htmx_is_told_not_to_inject_styles_or_eval(client, world):
    html = client.get("/").content.decode()
    assert '"includeIndicatorStyles": false' in html
    assert '"allowEval": false' in html
    # The config meta comes before htmx reads it.
    assert html.index('name="htmx-config"') < html.index("htmx")


def test_error_responses_carry_the_headers_too(world):
    client = Client(enforce_csrf_checks=True)
    refused = client.post("/accounts/login/", {"login": "x", "password": "y"})
    assert refused.status_code == 403
    assert_secure_headers(refused, "CSRF failure")
    missing = client.get("/cases/no-such-case/")
    assert missing.status_code == 404
    assert_secure_headers(missing, "404")
    wrong_method = client.post(f"/u/{world['case'].public_id}/1/")
    assert wrong_method.status_code in (403, 405)
    assert_secure_headers(wrong_method, "405")
