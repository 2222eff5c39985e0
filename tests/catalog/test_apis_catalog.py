from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from recsys_app.catalog.models import Creator, EndUser, Item
from tests.factories import item_row


def upsert(client: APIClient, what: str, rows: list) -> dict:
    response = client.post(f"/api/v1/{what}/bulk", {what: rows}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def test_items_are_created_then_updated_only_when_changed(ingest_client: APIClient) -> None:
    upsert(ingest_client, "creators", [{"external_id": "c1", "name": "Acme", "group": "small-seller"}])
    rows = [
        item_row(
            "i1", price="19.99", currency="EUR", tags=["trail", "men"], creator_id="c1", attributes={"size": [42, 43]}
        ),
        item_row("i2", kind="video", description="How to run"),
    ]
    first = upsert(ingest_client, "items", rows)
    assert (first["created"], first["updated"], first["unchanged"], first["rejected"]) == (2, 0, 0, 0)
    item = Item.objects.select_related("creator").get(external_id="i1")
    assert (item.price, item.currency, item.tags, item.creator.name) == (
        Decimal("19.99"),
        "EUR",
        ["trail", "men"],
        "Acme",
    )
    assert item.attributes == {"size": [42, 43]}
    old_hash = item.content_hash

    again = upsert(ingest_client, "items", rows)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)

    rows[0] = {**rows[0], "price": "17.50"}
    rows[1] = {**rows[1], "title": "Running 101"}
    changed = upsert(ingest_client, "items", rows)
    assert (changed["updated"], changed["unchanged"]) == (2, 0)
    item.refresh_from_db()
    assert item.price == Decimal("17.50")
    assert item.content_hash == old_hash, "a price change must not trigger re-embedding"
    assert Item.objects.get(external_id="i2").content_hash != Item.objects.get(external_id="i1").content_hash


def test_invalid_item_rows_are_reported_and_the_rest_stored(ingest_client: APIClient) -> None:
    rows = [
        item_row("ok"),
        {"external_id": "no-title"},
        item_row("neg", price="-1", currency="EUR"),
        item_row("nocur", price="5"),
        item_row("badcur", price="5", currency="euro"),
        item_row("kind", kind="spaceship"),
        {**item_row("extra"), "colour": "red"},
        item_row("ghost", creator_id="nobody"),
        item_row("ok"),
        item_row("tags", tags="not-a-list"),
        ["not", "an", "object"],
    ]
    body = upsert(ingest_client, "items", rows)
    assert (body["created"], body["rejected"]) == (1, 10)
    where = {(e["index"], e["field"]) for e in body["errors"]}
    assert where == {
        (1, "title"),
        (2, "price"),
        (3, "(row)"),
        (4, "currency"),
        (5, "kind"),
        (6, "colour"),
        (7, "creator_id"),
        (8, "external_id"),
        (9, "tags"),
        (10, "(row)"),
    }
    messages = {e["index"]: e["message"] for e in body["errors"]}
    assert "currency is required" in messages[3]
    assert "unknown creator 'nobody'" in messages[7]
    assert "repeats the row at index 0" in messages[8]
    assert list(Item.objects.values_list("external_id", flat=True)) == ["ok"]


def test_users_upsert_keeps_consent_flags(ingest_client: APIClient) -> None:
    body = upsert(
        ingest_client,
        "users",
        [
            {"external_id": "u1", "consent_generative": True, "attributes": {"country": "FR"}},
            {"external_id": "u2", "consent_training": False},
            {"external_id": "u3", "consent_personalization": "maybe"},
        ],
    )
    assert (body["created"], body["rejected"], body["errors"][0]["field"]) == (2, 1, "consent_personalization")
    u1, u2 = EndUser.objects.order_by("external_id")
    assert (u1.consent_personalization, u1.consent_generative, u1.consent_training) == (True, True, True)
    assert (u2.consent_generative, u2.consent_training) == (False, False)


def test_creators_upsert_updates_the_fairness_group(ingest_client: APIClient) -> None:
    upsert(ingest_client, "creators", [{"external_id": "c1", "group": "a"}])
    body = upsert(ingest_client, "creators", [{"external_id": "c1", "group": "b"}, {"external_id": ""}])
    assert (body["updated"], body["rejected"]) == (1, 1)
    assert Creator.objects.get().group == "b"


def test_upsert_batch_limit_is_413(ingest_client: APIClient, settings) -> None:
    settings.UPSERT_MAX_BATCH = 2
    response = ingest_client.post("/api/v1/items/bulk", {"items": [item_row(str(n)) for n in range(3)]}, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "batch_too_large"


def test_item_list_pages_with_a_constant_number_of_queries(
    ingest_client: APIClient, serve_client: APIClient, django_assert_max_num_queries
) -> None:
    upsert(ingest_client, "creators", [{"external_id": "c1"}])
    upsert(ingest_client, "items", [item_row(f"i{n}", creator_id="c1") for n in range(30)])
    with django_assert_max_num_queries(4):  # token lookup, its rate counter, page, nothing per row
        page = serve_client.get("/api/v1/items?page_size=10").json()
    assert len(page["results"]) == 10 and page["results"][0]["creator_id"] == "c1"
    seen = {r["external_id"] for r in page["results"]}
    while page["next"]:
        page = serve_client.get(page["next"]).json()
        seen |= {r["external_id"] for r in page["results"]}
    assert len(seen) == 30


def test_item_detail_and_404(ingest_client: APIClient, serve_client: APIClient) -> None:
    upsert(ingest_client, "items", [item_row("sku/1")])
    assert serve_client.get("/api/v1/items/sku/1").json()["title"] == "Item sku/1"
    missing = serve_client.get("/api/v1/items/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "No item with external_id 'nope'."


@pytest.mark.parametrize("path", ["/api/v1/items", "/api/v1/items/x", "/api/v1/users/x", "/api/schema/?format=json"])
def test_nothing_is_readable_anonymously(anon_client: APIClient, path: str) -> None:
    response = anon_client.get(path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("what", ["items", "users", "creators"])
def test_nothing_is_writable_anonymously(anon_client: APIClient, what: str, db: None) -> None:
    assert anon_client.post(f"/api/v1/{what}/bulk", {what: []}, format="json").status_code == 401
    assert anon_client.post("/api/v1/events", {"events": []}, format="json").status_code == 401
