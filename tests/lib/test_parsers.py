"""Text PostgreSQL cannot store is refused at the door, naming where it is (found by fuzzing:
a NUL character in an item's description was a 500)."""

from __future__ import annotations

from rest_framework.test import APIClient

from recsys_app.catalog.models import Item


def test_nul_characters_and_lone_surrogates_are_refused_naming_the_field(ingest_client: APIClient) -> None:
    nul = ingest_client.post("/api/v1/items/bulk", '{"items": [{"external_id": "i1", "title": "ok"}, '
                             '{"external_id": "i2", "title": "T", "description": "a\\u0000b"}]}',
                             content_type="application/json")  # fmt: skip
    assert nul.status_code == 400
    assert nul.json()["error"] == {"code": "invalid_text", "details": {"field": "items[1].description"},
                                   "message": "items[1].description: contains a NUL character (\\u0000), "
                                              "which cannot be stored."}  # fmt: skip
    surrogate = ingest_client.post("/api/v1/users/bulk", '{"users": [{"external_id": "u\\ud800"}]}',
                                   content_type="application/json")  # fmt: skip
    assert surrogate.status_code == 400 and "users[0].external_id: contains an unpaired" in surrogate.json()["error"][
        "message"]  # fmt: skip
    key = ingest_client.post("/api/v1/items/bulk", '{"items": [{"external_id": "i3", "title": "T", '
                             '"attributes": {"a\\u0000": 1}}]}', content_type="application/json")  # fmt: skip
    assert key.json()["error"]["details"] == {"field": "items[0].attributes.a\x00"}
    assert not Item.objects.exists(), "nothing of a refused body is stored"
    emoji = ingest_client.post("/api/v1/items/bulk", '{"items": [{"external_id": "i4", "title": "\\ud83d\\ude00"}]}',
                               content_type="application/json")  # fmt: skip
    assert emoji.status_code == 200 and Item.objects.get().title == "\U0001f600", "paired surrogates are fine"
