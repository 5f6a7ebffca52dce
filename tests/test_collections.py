"""Collections: create, add, order, share read-only, and play as a conference."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.library.models import Collection, CollectionItem
from tests.conftest import case_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def cases(db):
    return [case_build(slug=f"case-{i}", title=f"Case number {i}") for i in range(1, 4)]


@pytest.fixture
def collection(learner, cases):
    collection = Collection.objects.create(owner=learner, title="Chest set")
    for position, case in enumerate(cases, start=1):
        CollectionItem.objects.create(collection=collection, case=case, position=position)
    return collection


def _order(collection) -> list[str]:
    return [case.slug for case in collection.playlist()]


def test_create_a_collection(client, learner):
    client.force_login(learner)
    response = client.post(
        reverse("cases:collection_create"), {"title": "Neuro", "description": ""}
    )
    collection = Collection.objects.get(owner=learner)
    assert response.status_code == 302 and response["Location"] == collection.get_absolute_url()
    assert client.get(reverse("cases:collections")).content.decode().count("Neuro") >= 1


def test_create_needs_a_title(client, learner):
    client.force_login(learner)
    response = client.post(reverse("cases:collection_create"), {"title": ""})
    assert response.status_code == 422
    assert not Collection.objects.exists()


def test_collections_need_login(client, collection):
    response = client.get(reverse("cases:collections"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    response = client.get(reverse("cases:collection", args=[collection.pk]))
    assert response.status_code == 302


def test_add_a_case_from_the_library_once(client, learner, cases):
    client.force_login(learner)
    collection = Collection.objects.create(owner=learner, title="Mine")
    library = client.get(reverse("cases:library")).content.decode()
    assert 'action="/collections/add/"' in library and "Mine</option>" in library
    for _ in range(2):
        response = client.post(
            reverse("cases:collection_add"),
            {"collection": collection.pk, "case": cases[1].pk, "next": "/?q=case"},
        )
        assert response.status_code == 302 and response["Location"] == "/?q=case"
    client.post(reverse("cases:collection_add"), {"collection": collection.pk, "case": cases[0].pk})
    assert _order(collection) == ["case-2", "case-1"]


def test_add_refuses_foreign_redirects_and_drafts(client, learner, draft_case):
    client.force_login(learner)
    collection = Collection.objects.create(owner=learner, title="Mine")
    response = client.post(
        reverse("cases:collection_add"),
        {"collection": collection.pk, "case": draft_case.pk, "next": "https://evil.example/"},
    )
    assert response.status_code == 404
    assert not collection.items.exists()


def test_order_by_numbers_without_javascript(client, learner, collection):
    client.force_login(learner)
    items = {item.case.slug: item.pk for item in collection.items.all()}
    response = client.post(
        reverse("cases:collection_order", args=[collection.pk]),
        {f"position-{items['case-3']}": "1", f"position-{items['case-1']}": "2",
         f"position-{items['case-2']}": "3"},
    )  # fmt: skip
    assert response.status_code == 302
    assert _order(collection) == ["case-3", "case-1", "case-2"]
    assert list(collection.items.values_list("position", flat=True)) == [1, 2, 3]


def test_order_by_moving_up_over_htmx(client, learner, collection):
    client.force_login(learner)
    third = collection.items.get(case__slug="case-3")
    response = client.post(
        reverse("cases:collection_order", args=[collection.pk]),
        {"move": f"{third.pk}:up"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<form id="collection-items"')
    assert _order(collection) == ["case-1", "case-3", "case-2"]
    assert html.index("Case number 3") < html.index("Case number 2")


def test_remove_an_item_renumbers(client, learner, collection):
    client.force_login(learner)
    first = collection.items.get(case__slug="case-1")
    client.post(reverse("cases:collection_remove", args=[collection.pk, first.pk]))
    assert _order(collection) == ["case-2", "case-3"]
    assert list(collection.items.values_list("position", flat=True)) == [1, 2]


def test_others_cannot_see_or_change_a_collection(client, collection, django_user_model, cases):
    intruder = django_user_model.objects.create_user("intruder", password="x-pass-123456")
    client.force_login(intruder)
    item = collection.items.first()
    assert client.get(reverse("cases:collection", args=[collection.pk])).status_code == 404
    for url, data in [
        (reverse("cases:collection_order", args=[collection.pk]), {f"position-{item.pk}": "9"}),
        (reverse("cases:collection_remove", args=[collection.pk, item.pk]), {}),
        (reverse("cases:collection_share", args=[collection.pk]), {"action": "share"}),
        (reverse("cases:collection_delete", args=[collection.pk]), {}),
        (reverse("cases:collection_edit", args=[collection.pk]), {"title": "Mine now"}),
        (reverse("cases:collection_add"), {"collection": collection.pk, "case": cases[0].pk}),
    ]:
        assert client.post(url, data).status_code == 404, url
    collection.refresh_from_db()
    assert collection.title == "Chest set" and not collection.share_token
    assert collection.items.count() == 3


def test_share_link_is_read_only_and_revocable(client, learner, collection):
    client.force_login(learner)
    client.post(reverse("cases:collection_share", args=[collection.pk]), {"action": "share"})
    collection.refresh_from_db()
    link = collection.share_url
    assert collection.share_token and link
    client.logout()
    shared = client.get(link)
    html = shared.content.decode()
    assert shared.status_code == 200
    assert html.index("Case number 1") < html.index("Case number 3")
    assert "position-" not in html and "Remove" not in html  # nothing to change
    assert shared["X-Robots-Tag"] == "noindex"
    client.force_login(learner)
    client.post(reverse("cases:collection_share", args=[collection.pk]), {"action": "revoke"})
    client.logout()
    assert client.get(link).status_code == 404


def test_share_link_hides_drafts_from_non_staff(client, learner, collection, draft_case):
    CollectionItem.objects.create(collection=collection, case=draft_case, position=9)
    collection.share_token = "tok-123"
    collection.save()
    assert "Draft case" not in client.get(collection.share_url).content.decode()


def test_shared_view_rejects_unknown_tokens_and_post(client, collection):
    assert client.get(reverse("cases:collection_shared", args=["nope"])).status_code == 404
    collection.share_token = "tok-123"
    collection.save()
    assert client.post(collection.share_url).status_code == 405


def test_collection_views_reject_get_on_post_routes(client, learner, collection):
    client.force_login(learner)
    assert client.get(reverse("cases:collection_order", args=[collection.pk])).status_code == 405


def test_playlist_for_a_conference_keeps_order_and_hides_drafts(
    learner, collection, draft_case, staff
):
    CollectionItem.objects.create(collection=collection, case=draft_case, position=0)
    assert _order(collection) == ["draft-case", "case-1", "case-2", "case-3"]
    assert [c.slug for c in collection.playlist(user=learner)] == ["case-1", "case-2", "case-3"]
    assert [c.slug for c in collection.playlist(user=staff)][0] == "draft-case"


def test_delete_a_collection(client, learner, collection):
    client.force_login(learner)
    response = client.post(reverse("cases:collection_delete", args=[collection.pk]))
    assert response.status_code == 302
    assert not Collection.objects.exists()
