"""Deleting a collection asks first: a confirmation page without JavaScript, a dialog with htmx."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.library.models import Collection, CollectionItem
from tests.conftest import case_build

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def collection(learner):
    collection = Collection.objects.create(owner=learner, title="Chest set")
    for position in (1, 2):
        case = case_build(slug=f"case-{position}")
        CollectionItem.objects.create(collection=collection, case=case, position=position)
    return collection


def delete_url(collection) -> str:
    return reverse("cases:collection_delete", args=[collection.pk])


def test_the_collection_page_links_to_the_question_not_a_delete_form(client, learner, collection):
    client.force_login(learner)
    page = client.get(collection.get_absolute_url()).text
    assert f'<a class="button danger" href="{delete_url(collection)}"' in page
    assert f'hx-post="{delete_url(collection)}"' in page
    assert 'hx-confirm="Delete collection “Chest set”? (2 cases)"' in page
    assert f'<form method="post" action="{delete_url(collection)}"' not in page


def test_get_asks_and_deletes_nothing(client, learner, collection):
    client.force_login(learner)
    response = client.get(delete_url(collection))
    assert response.status_code == 200
    assert "Delete collection “Chest set”? (2 cases)" in response.text
    assert f'<form method="post" action="{delete_url(collection)}"' in response.text
    assert Collection.objects.filter(pk=collection.pk).exists()


def test_post_deletes_and_goes_back_to_the_collections(client, learner, collection):
    client.force_login(learner)
    response = client.post(delete_url(collection))
    assert response.status_code == 302 and response["Location"] == reverse("cases:collections")
    assert not Collection.objects.exists()


def test_htmx_post_deletes_and_sends_the_page_to_the_collections(client, learner, collection):
    client.force_login(learner)
    response = client.post(delete_url(collection), **HX)
    assert response["HX-Redirect"] == reverse("cases:collections")
    assert not Collection.objects.exists()


def test_others_get_404_and_anonymous_users_the_log_in(client, collection, django_user_model):
    response = client.get(delete_url(collection))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    intruder = django_user_model.objects.create_user("intruder", password="x-pass-123456")
    client.force_login(intruder)
    assert client.get(delete_url(collection)).status_code == 404
    assert client.post(delete_url(collection)).status_code == 404
    assert client.put(delete_url(collection)).status_code == 405
    assert Collection.objects.exists()
