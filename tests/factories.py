"""Small builders for catalog rows, going through the real services."""

from __future__ import annotations

from typing import Any

from recsys_app.catalog import services


def item_row(external_id: str, **overrides: Any) -> dict[str, Any]:
    row = {"external_id": external_id, "title": f"Item {external_id}", "category_path": "Shoes/Running"}
    row.update(overrides)
    return row


def event_row(user: str, item: str, **overrides: Any) -> dict[str, Any]:
    row = {"user_id": user, "item_id": item, "type": "click", "timestamp": "2024-05-01T12:00:00Z"}
    row.update(overrides)
    return row


def make_catalog(*, items: int = 3, users: int = 2) -> None:
    assert not services.items_upsert(rows=[item_row(f"i{n}") for n in range(1, items + 1)]).errors
    assert not services.end_users_upsert(rows=[{"external_id": f"u{n}"} for n in range(1, users + 1)]).errors
