"""The catalog as a client sees it: the public item listing, page by page."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

from simulation.client import ApiClient


def catalog_items(client: ApiClient, *, limit: int = 2000, page_size: int = 200) -> list[dict[str, Any]]:
    """Available items from the public item listing, following its cursor up to `limit` items."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(items) < limit:
        page = client.items(page_size=page_size, cursor=cursor)
        items += [item for item in page["results"] if item.get("is_available", True)]
        cursor = _cursor(page.get("next"))
        if cursor is None:
            break
    return items[:limit]


def _cursor(link: str | None) -> str | None:
    return parse_qs(urlparse(link).query).get("cursor", [None])[0] if link else None
