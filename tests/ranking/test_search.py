from __future__ import annotations

from rest_framework.test import APIClient

from recsys_app.catalog.models import Impression
from tests.world import World

URL = "/api/v1/search"


def test_hybrid_search_finds_by_words_and_by_meaning(world: World, serve_client: APIClient) -> None:
    body = serve_client.get(URL, {"q": "kettle", "k": 3}).json()
    assert body["items"][0]["item_id"] == "coffee-2" and "lexical" in body["items"][0]["sources"]
    meaning = serve_client.get(URL, {"q": "something to sleep in outdoors", "k": 5}).json()["items"]
    assert any(item["item_id"].startswith("tents-") for item in meaning)
    assert all("semantic" in item["sources"] for item in meaning if item["item_id"].startswith("tents-"))
    assert Impression.objects.filter(surface="search", request_id=body["request_id"]).count() == 3


def test_search_respects_filters_and_validates(world: World, serve_client: APIClient) -> None:
    body = serve_client.get(URL, {"q": "knife", "category": "Books", "k": 5}).json()
    assert all(item["item_id"].startswith("fiction-") for item in body["items"])
    missing = serve_client.get(URL, {"k": 5})
    assert missing.status_code == 400 and "q" in missing.json()["error"]["details"]
    assert serve_client.get(URL, {"q": "x" * 201}).status_code == 400
