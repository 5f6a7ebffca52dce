"""Preview as a learner: staff see any page as an anonymous visitor would, drafts included.

``/preview/<path>`` serves the page at ``<path>`` with the visitor replaced by
``PreviewLearner`` (an anonymous visitor who may also see drafts) and with every URL the page
prints kept under ``/preview/`` (the script prefix), so links, forms, htmx requests and
images stay in the preview. The page is the anonymous learner's, byte for byte, but for that
prefix, the per-request tokens and the banner (``templates/base.html``). Nothing is recorded:
the preview learner is not signed in (no ``Attempt``), and unknown mode keeps its progress
under its own session key. Steps may be opened in any order. Anyone but staff gets a 404,
so a draft stays invisible.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import AnonymousUser
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import Resolver404, get_script_prefix, resolve, reverse, set_script_prefix
from django.utils.cache import add_never_cache_headers

PREFIX = "/preview"
# The pages a learner reads (by URL name in the "cases" namespace); the rest (posting a
# comment, collections, conferences, accounts) has nothing to preview and is a 404 here.
PREVIEW_PAGES = frozenset(
    {
        "library", "article", "figure", "slice_image", "slice_image_jpeg",
        "citation_bibtex", "citation_ris", "references_ris", "discussion_thread",
        "unknown_library", "unknown_case", "unknown_step", "unknown_figure",
        "unknown_differential", "study", "unknown_study",
    }
)  # fmt: skip


class PreviewLearner(AnonymousUser):
    """An anonymous visitor who may see drafts: what staff are in a preview."""

    sees_drafts = True


def is_previewing(request: HttpRequest) -> bool:
    return getattr(request, "preview", False)


def sees_drafts(user) -> bool:
    """Staff, and staff previewing as a learner, see drafts; nobody else does."""
    return (user.is_authenticated and user.is_staff) or getattr(user, "sees_drafts", False)


def preview_url(url: str) -> str:
    """``url`` (as ``reverse`` gives it) in the preview: "/cases/x/" -> "/preview/cases/x/"."""
    prefix = get_script_prefix()
    return prefix + PREFIX.strip("/") + "/" + url[len(prefix) :]


def case_preview_urls(case) -> dict[str, str]:
    """Where staff preview a case: its article and the first step of its unknown mode."""
    urls = {"article": preview_url(reverse("cases:article", args=[case.slug]))}
    if case.diagnosis and not case.is_sample:  # unknown mode lists only cases with a story
        urls["unknown"] = preview_url(reverse("cases:unknown_step", args=[case.public_id, 1]))
    return urls


def preview_mode(get_response: Callable[[HttpRequest], HttpResponse]):
    """Serve ``/preview/<path>`` as ``<path>`` seen by a learner; placed after accounts."""

    def middleware(request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            return get_response(request)
        if not (request.user.is_authenticated and request.user.is_staff):
            raise Http404("No such page")
        inner = path[len(PREFIX) :] or "/"
        if not _previewable(inner):
            raise Http404("Not a page a learner reads")
        prefix = get_script_prefix()
        request.preview = True
        # Where the banner's "leave the preview" goes: the same page, as staff see it.
        request.preview_exit = prefix.rstrip("/") + inner
        if request.META.get("QUERY_STRING"):
            request.preview_exit += "?" + request.META["QUERY_STRING"]
        request.path_info = inner
        request.user = PreviewLearner()
        set_script_prefix(prefix + PREFIX.strip("/") + "/")
        try:
            response = get_response(request)
        finally:
            set_script_prefix(prefix)
        add_never_cache_headers(response)  # a draft's page: never in a shared cache
        return response

    return middleware


def _previewable(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return match.namespace == "cases" and match.url_name in PREVIEW_PAGES
