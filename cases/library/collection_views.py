"""Collections: a user's ordered case lists, shared read-only by link, played at conferences.

Only the owner sees and changes a collection (anyone else gets 404, as if it did not exist);
a share link shows it read-only to anyone who has it, until the owner revokes it. Order is
set by numbers (no JavaScript), by up/down buttons, or by dragging (static/js/collections.js
fills in the numbers and submits the same form).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from cases.models import Case

from .collection_forms import CollectionForm
from .models import Collection


def _collections_for_user(request: HttpRequest) -> QuerySet[Collection]:
    return Collection.objects.filter(owner=request.user)


def _get_collection_for_user(request: HttpRequest, pk: int) -> Collection:
    return get_object_or_404(_collections_for_user(request), pk=pk)


def _positions_from(post) -> dict[int, float]:
    positions = {}
    for key, value in post.items():
        if key.startswith("position-"):
            try:
                positions[int(key.removeprefix("position-"))] = float(value)
            except ValueError:
                continue
    return positions


def _detail_response(request: HttpRequest, collection: Collection) -> HttpResponse:
    context = {
        "collection": collection,
        "items": collection.items_visible_to(request.user),
        "form": CollectionForm(instance=collection),
    }
    template = "cases/library/collection.html"
    if request.htmx:
        template += "#items"
    return render(request, template, context)


@require_GET
@login_required
def collection_list(request: HttpRequest) -> HttpResponse:
    collections = _collections_for_user(request).annotate(size=Count("items"))
    return render(
        request,
        "cases/library/collections.html",
        {"collections": collections, "form": CollectionForm()},
    )


@require_POST
@login_required
def collection_create(request: HttpRequest) -> HttpResponse:
    form = CollectionForm(request.POST)
    if not form.is_valid():
        collections = _collections_for_user(request).annotate(size=Count("items"))
        context = {"collections": collections, "form": form}
        return render(request, "cases/library/collections.html", context, status=422)
    form.instance.owner = request.user
    collection = form.save()
    return redirect(collection)


@require_GET
@login_required
@vary_on_headers("HX-Request")
def collection_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail_response(request, _get_collection_for_user(request, pk))


@require_POST
@login_required
def collection_edit(request: HttpRequest, pk: int) -> HttpResponse:
    collection = _get_collection_for_user(request, pk)
    form = CollectionForm(request.POST, instance=collection)
    if not form.is_valid():
        context = {
            "collection": collection,
            "items": collection.items_visible_to(request.user),
            "form": form,
        }
        return render(request, "cases/library/collection.html", context, status=422)
    form.save()
    return redirect(collection)


@require_POST
@login_required
def collection_add(request: HttpRequest) -> HttpResponse:
    """Add a case to one of the user's collections (from a library card or an article)."""
    collection = _get_collection_for_user(request, _int(request.POST.get("collection")))
    case = get_object_or_404(
        Case.objects.visible_to(request.user), pk=_int(request.POST.get("case"))
    )
    collection.case_add(case)
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(collection)


@require_POST
@login_required
@vary_on_headers("HX-Request")
def collection_order(request: HttpRequest, pk: int) -> HttpResponse:
    """Save the order from the numbers, or move one item up or down a place."""
    collection = _get_collection_for_user(request, pk)
    positions = _positions_from(request.POST)
    move = request.POST.get("move", "")
    if ":" in move:
        item_id, direction = move.split(":", 1)
        ids = list(collection.items.order_by("position", "id").values_list("pk", flat=True))
        if _int(item_id) in ids:
            index = ids.index(_int(item_id))
            other = index - 1 if direction == "up" else index + 1
            if 0 <= other < len(ids):
                ids[index], ids[other] = ids[other], ids[index]
            positions = {item: order for order, item in enumerate(ids, start=1)}
    collection.reorder(positions)
    if request.htmx:
        return _detail_response(request, collection)
    return redirect(collection)


@require_POST
@login_required
@vary_on_headers("HX-Request")
def collection_remove(request: HttpRequest, pk: int, item_id: int) -> HttpResponse:
    collection = _get_collection_for_user(request, pk)
    get_object_or_404(collection.items, pk=item_id).delete()
    collection.reorder({})
    if request.htmx:
        return _detail_response(request, collection)
    return redirect(collection)


@require_POST
@login_required
def collection_share(request: HttpRequest, pk: int) -> HttpResponse:
    """Create a read-only link (a new one each time, which retires the old) or revoke it."""
    collection = _get_collection_for_user(request, pk)
    if request.POST.get("action") == "revoke":
        collection.unshare()
    else:
        collection.share()
    return redirect(collection)


@require_http_methods(["GET", "POST"])
@login_required
def collection_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks "Delete collection X? (n cases)" with a form; only its POST deletes.

    The collection page's htmx link asks in a confirm dialog and posts here directly.
    """
    collection = _get_collection_for_user(request, pk)
    if request.method == "GET":
        context = {"collection": collection, "size": collection.items.count()}
        return render(request, "cases/library/collection_delete.html", context)
    collection.delete()
    if request.htmx:
        return HttpResponseClientRedirect(reverse("cases:collections"))
    return redirect("cases:collections")


@require_GET
def collection_shared(request: HttpRequest, token: str) -> HttpResponse:
    """A shared collection, read-only, for anyone with the link."""
    if not token:
        raise Http404
    collection = get_object_or_404(
        Collection.objects.select_related("owner").exclude(share_token=""), share_token=token
    )
    context = {
        "collection": collection,
        "items": collection.items_visible_to(request.user),
        "is_owner": request.user.is_authenticated and collection.owner_id == request.user.pk,
    }
    response = render(request, "cases/library/collection_shared.html", context)
    response["X-Robots-Tag"] = "noindex"
    return response


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404 from None
