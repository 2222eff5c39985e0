from __future__ import annotations

import json
import uuid

import pytest
from rest_framework.test import APIClient

from recsys_app.catalog.models import Interaction
from tests.factories import event_row, make_catalog

URL = "/api/v1/events"


@pytest.fixture
def catalog(db: None) -> None:
    make_catalog(items=3, users=2)


def post(client: APIClient, body: object) -> dict:
    response = client.post(URL, body, format="json")
    return {"status": response.status_code, **response.json()}


def test_valid_batch_is_stored_with_every_field(ingest_client: APIClient, catalog: None) -> None:
    request_id = str(uuid.uuid4())
    event = event_row(
        "u1",
        "i2",
        type="purchase",
        value=19.5,
        surface="home",
        context={"device": "ios"},
        idempotency_key="k-1",
        request_id=request_id,
    )
    body = post(ingest_client, {"events": [event, event_row("u2", "i1", timestamp=1714564800)]})
    assert body == {"status": 200, "received": 2, "stored": 2, "duplicates": 0, "rejected": 0, "errors": []}
    stored = Interaction.objects.get(idempotency_key="k-1")
    assert (stored.user.external_id, stored.item.external_id, stored.type_id) == ("u1", "i2", "purchase")
    assert (stored.value, stored.surface, stored.context) == (19.5, "home", {"device": "ios"})
    assert str(stored.request_id) == request_id
    assert stored.occurred_at.isoformat() == "2024-05-01T12:00:00+00:00"
    epoch = Interaction.objects.get(user__external_id="u2")
    assert epoch.occurred_at.isoformat() == "2024-05-01T12:00:00+00:00"


def test_retried_events_are_stored_once(ingest_client: APIClient, catalog: None) -> None:
    keyed = event_row("u1", "i1", idempotency_key="same")
    unkeyed = event_row("u2", "i2", type="like")
    first = post(ingest_client, {"events": [keyed, unkeyed, keyed]})
    assert (first["stored"], first["duplicates"]) == (2, 1)
    again = post(ingest_client, {"events": [keyed, unkeyed]})
    assert (again["stored"], again["duplicates"]) == (0, 2)
    assert Interaction.objects.count() == 2


def test_partly_invalid_batch_stores_the_valid_rows_and_names_the_rest(ingest_client: APIClient, catalog: None) -> None:
    rows = [
        event_row("u1", "i1"),  # 0 valid
        event_row("nobody", "i1"),  # 1 unknown user
        event_row("u1", "missing"),  # 2 unknown item
        event_row("u1", "i1", type="teleport"),  # 3 unknown type
        event_row("u1", "i1", value="lots"),  # 4 wrong type
        event_row("u1", "i1", timestamp="yesterday"),  # 5 unparsable
        event_row("u1", "i1", timestamp="2024-05-01T12:00:00"),  # 6 no offset
        {**event_row("u1", "i1"), "colour": "red"},  # 7 unknown field
        {"item_id": "i1", "type": "click", "timestamp": "2024-05-01T12:00:00Z"},  # 8 missing user
        "not an object",  # 9
        event_row("u1", "i1", context=[1, 2]),  # 10 context not an object
        event_row("u1", "i1", request_id="abc"),  # 11 bad uuid
        event_row("u1", "i1", timestamp="2999-01-01T00:00:00Z"),  # 12 future
        event_row("u1", "i3", user_id=["u1"]),  # 13 wrong type of id
        event_row("u2", "i3", type="like"),  # 14 valid
        {"user_id": "u1", "item_id": "i2", "type": "click"},  # 15 no timestamp
    ]
    body = post(ingest_client, {"events": rows})
    assert (body["status"], body["received"], body["stored"], body["rejected"]) == (200, 16, 2, 14)
    where = {(e["index"], e["field"]) for e in body["errors"]}
    assert where == {
        (1, "user_id"),
        (2, "item_id"),
        (3, "type"),
        (4, "value"),
        (5, "timestamp"),
        (6, "timestamp"),
        (7, "colour"),
        (8, "user_id"),
        (9, "(row)"),
        (10, "context"),
        (11, "request_id"),
        (12, "timestamp"),
        (13, "user_id"),
        (15, "timestamp"),
    }
    messages = {e["index"]: e["message"] for e in body["errors"]}
    assert "unknown user 'nobody'" in messages[1]
    assert "unknown interaction type 'teleport'" in messages[3]
    assert "timezone offset" in messages[6]
    assert messages[15] == "is required"
    stored = sorted(Interaction.objects.values_list("user__external_id", "item__external_id", "type"))
    assert stored == [("u1", "i1", "click"), ("u2", "i3", "like")]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ([event_row("u1", "i1")], 400, "invalid_body"),
        ({"events": event_row("u1", "i1")}, 400, "invalid_body"),
        ({"events": []}, 400, "empty_batch"),
        ({"events": [event_row("u1", "i1")], "extra": 1}, 400, "unknown_field"),
    ],
)
def test_request_level_mistakes_are_4xx(
    ingest_client: APIClient, catalog: None, body: object, status: int, code: str
) -> None:
    result = post(ingest_client, body)
    assert (result["status"], result["error"]["code"]) == (status, code)
    assert Interaction.objects.count() == 0


def test_malformed_json_is_400_with_the_parser_message(ingest_client: APIClient, catalog: None) -> None:
    response = ingest_client.post(URL, data='{"events": [', content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["error"]["message"]


def test_oversized_batch_is_refused_whole(ingest_client: APIClient, catalog: None, settings) -> None:
    settings.EVENTS_MAX_BATCH = 3
    result = post(ingest_client, {"events": [event_row("u1", "i1", idempotency_key=str(n)) for n in range(4)]})
    assert (result["status"], result["error"]["code"]) == (413, "batch_too_large")
    assert "limit is 3" in result["error"]["message"]
    assert Interaction.objects.count() == 0


def test_a_full_batch_of_ten_thousand_is_accepted(ingest_client: APIClient, catalog: None) -> None:
    rows = [event_row(f"u{1 + n % 2}", f"i{1 + n % 3}", idempotency_key=f"e{n}") for n in range(10_000)]
    body = ingest_client.post(URL, json.dumps({"events": rows}), content_type="application/json").json()
    assert (body["stored"], body["rejected"]) == (10_000, 0)


def test_documented_event_fields_are_the_validated_ones() -> None:
    from recsys_app.catalog.apis import EventDoc
    from recsys_app.catalog.events import COLUMNS

    assert set(EventDoc.model_fields) == set(COLUMNS)


def test_oversized_body_is_refused_before_parsing(ingest_client: APIClient, catalog: None, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"events": [event_row("u1", "i1", idempotency_key=f"k{n}") for n in range(50)]})
    response = ingest_client.post(URL, body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert Interaction.objects.count() == 0


def test_non_json_content_type_is_415(ingest_client: APIClient, catalog: None) -> None:
    response = ingest_client.post(URL, "user_id=u1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["error"]["message"]
