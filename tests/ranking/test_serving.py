from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from recsys_app.catalog.models import Impression, Interaction, Item
from recsys_app.catalog.services import interactions_ingest
from recsys_app.ranking.models import BusinessRule, Surface
from recsys_app.retrieval.models import CollaborativeModel, ItemEmbedding
from tests.world import CATEGORIES, World

URL = "/api/v1/recommendations"


def get(client: APIClient, url: str = URL, **params: object) -> dict:
    response = client.get(url, {k: v for k, v in params.items() if v is not None})
    body = response.json()
    body["status"] = response.status_code
    return body


def test_personalised_list_with_sources_reasons_and_impressions(world: World, serve_client: APIClient) -> None:
    body = get(serve_client, user_id="shopper-0", k=6)
    assert body["status"] == 200 and body["page"] == 1 and body["degraded"] == []
    ids = [item["item_id"] for item in body["items"]]
    assert len(ids) == 6 == len(set(ids))
    liked = set(Interaction.objects.filter(user__external_id="shopper-0").values_list("item__external_id", flat=True))
    assert not liked & set(ids), "items the user already consumed are left out"
    personal = {"semantic", "collaborative", "covisit"}
    assert any(personal & set(item["sources"]) for item in body["items"]), body
    assert all(item["reason"]["code"] and item["reason"]["source"] in item["sources"] for item in body["items"])
    shown = Impression.objects.filter(request_id=body["request_id"]).order_by("position")
    assert [i.item.external_id for i in shown] == ids and shown[0].user_external_id == "shopper-0"


def test_events_answering_a_request_are_attributed_to_its_impressions(world: World, serve_client: APIClient) -> None:
    body = get(serve_client, user_id="shopper-1", k=3)
    clicked = body["items"][0]["item_id"]
    event = {
        "user_id": "shopper-1",
        "item_id": clicked,
        "type": "click",
        "timestamp": timezone.now().isoformat(),
        "request_id": body["request_id"],
    }
    assert interactions_ingest(rows=[event]).stored == 1
    click = Interaction.objects.get(type="click")
    impression = Impression.objects.get(request_id=click.request_id, item=click.item)
    assert impression.position == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    user=st.sampled_from(["shopper-2", "shopper-7", "stranger", "private"]),
    k=st.integers(min_value=1, max_value=7),
    pages=st.integers(min_value=1, max_value=4),
    category=st.sampled_from([None, "Kitchen", "Outdoor/Tents", "Books"]),
    price_max=st.sampled_from([None, "20", "35"]),
)
def test_pages_never_repeat_and_respect_filters(
    world: World, serve_client: APIClient, user: str, k: int, pages: int, category: str | None, price_max: str | None
) -> None:
    seen: list[str] = []
    recommendation_id = None
    non_empty = 0
    for _ in range(pages):
        body = get(
            serve_client, user_id=user, k=k, category=category, price_max=price_max, recommendation_id=recommendation_id
        )
        assert body["status"] == 200, body
        assert body["page"] == non_empty + 1, "a page is the next one after those that showed items"
        recommendation_id = body["recommendation_id"] if body["items"] else recommendation_id
        ids = [item["item_id"] for item in body["items"]]
        non_empty += bool(ids)
        assert len(ids) <= k
        seen.extend(ids)
    assert len(seen) == len(set(seen)), "no item twice within or across pages"
    items = Item.objects.filter(external_id__in=seen)
    assert items.count() == len(seen), "every id exists"
    for item in items:
        assert item.is_available
        assert category is None or item.category_path.startswith(category)
        assert price_max is None or item.price <= Decimal(price_max)


def test_operator_rules_shape_the_list(world: World, serve_client: APIClient) -> None:
    pinned = Item.objects.get(external_id="fiction-3")
    BusinessRule.objects.create(name="feature a book", action="pin", item=pinned, amount=2)
    BusinessRule.objects.create(name="no knives", action="filter", category="Kitchen/Knives")
    BusinessRule.objects.create(
        name="old promo",
        action="filter",
        category="Outdoor",
        starts_at=timezone.now() - timedelta(days=9),
        ends_at=timezone.now() - timedelta(days=1),
    )
    body = get(serve_client, user_id="shopper-1", k=8)  # shopper-1 likes knives
    ids = [item["item_id"] for item in body["items"]]
    assert ids[1] == "fiction-3" and body["items"][1]["reason"]["code"] == "featured"
    assert not [i for i in ids if i.startswith("knives-")]
    outdoor = get(serve_client, user_id="shopper-1", k=3, category="Outdoor")["items"]
    assert len(outdoor) == 3, "an expired rule filters nothing"


def test_bury_and_boost(world: World, serve_client: APIClient) -> None:
    config = {"sources": {"trending": {}}, "creator_cap": None, "diversity": 0, "exclude_consumed": False}
    Surface.objects.create(name="plain", config=config)
    before = [item["item_id"] for item in get(serve_client, surface="plain", k=25)["items"]]
    BusinessRule.objects.create(name="sink the top", action="bury", item=Item.objects.get(external_id=before[0]))
    BusinessRule.objects.create(
        name="lift the last", action="boost", item=Item.objects.get(external_id=before[-1]), amount=100
    )
    after = [item["item_id"] for item in get(serve_client, surface="plain", k=25)["items"]]
    assert len(before) > 3 and after[0] == before[-1] and after[-1] == before[0]


def test_creator_cap_and_diversity_come_from_the_surface(world: World, serve_client: APIClient) -> None:
    Surface.objects.create(
        name="capped",
        config={"sources": {"trending": {"limit": 50}}, "creator_cap": 2, "diversity": 0.5, "exclude_consumed": False},
    )
    body = get(serve_client, surface="capped", k=10)
    creators = Item.objects.filter(external_id__in=[i["item_id"] for i in body["items"]]).values_list(
        "creator__external_id", flat=True
    )
    assert len(body["items"]) == 6, "three creators, at most two items each"
    assert max(list(creators).count(c) for c in set(creators)) <= 2


def test_cold_start_and_consent(world: World, serve_client: APIClient) -> None:
    for user in ("stranger", "private"):
        body = get(serve_client, user_id=user, k=5)
        assert body["status"] == 200 and len(body["items"]) == 5
        assert all(not {"semantic", "collaborative", "covisit"} & set(i["sources"]) for i in body["items"])


def test_missing_models_degrade_instead_of_failing(world: World, serve_client: APIClient) -> None:
    CollaborativeModel.objects.all().delete()
    ItemEmbedding.objects.all().delete()
    body = get(serve_client, user_id="shopper-3", k=5)
    assert body["status"] == 200 and len(body["items"]) == 5


def test_similar_items(world: World, serve_client: APIClient) -> None:
    body = get(serve_client, "/api/v1/items/tents-0/similar", k=4)
    assert body["status"] == 200 and "tents-0" not in [i["item_id"] for i in body["items"]]
    assert body["items"][0]["item_id"].startswith(("tents-", "stoves-"))
    missing = get(serve_client, "/api/v1/items/nope/similar")
    assert missing["status"] == 404 and "nope" in missing["error"]["message"]


def test_bad_parameters_are_400_naming_them(world: World, serve_client: APIClient) -> None:
    assert "k" in get(serve_client, k=0)["error"]["details"]
    assert "k" in get(serve_client, k=101)["error"]["details"]
    assert "price_min" in get(serve_client, price_min="50", price_max="10")["error"]["details"]
    assert "price_max" in get(serve_client, price_max="cheap")["error"]["details"]
    unknown = get(serve_client, surface="moon")
    assert unknown["status"] == 400 and "unknown surface 'moon'" in unknown["error"]["message"]
    first = get(serve_client, user_id="shopper-4", k=2)
    stolen = get(serve_client, user_id="shopper-5", recommendation_id=first["recommendation_id"])
    assert stolen["status"] == 400 and stolen["error"]["code"] == "recommendation_mismatch"
    assert get(serve_client, recommendation_id=str(uuid.uuid4()))["error"]["code"] == "unknown_recommendation"


def test_serving_needs_the_serve_scope(world: World, anon_client: APIClient, ingest_client: APIClient) -> None:
    assert anon_client.get(URL).status_code == 401
    assert ingest_client.get(URL).status_code == 403
    assert len(CATEGORIES) == 5
