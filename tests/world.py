"""A small shop with real embeddings, factors, stats and user vectors, built through the services."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from recsys_app.catalog.services import creators_upsert, end_users_upsert, interactions_ingest, items_upsert
from recsys_app.retrieval.collaborative import collaborative_model_train
from recsys_app.retrieval.services import item_embeddings_refresh
from recsys_app.retrieval.stats import item_neighbors_refresh, item_stats_refresh
from recsys_app.retrieval.user_vectors import user_vectors_refresh_recent

CATEGORIES = {
    "Kitchen/Coffee": ["espresso machine", "burr grinder", "pour-over kettle", "milk frother", "coffee scale"],
    "Kitchen/Knives": ["chef knife", "paring knife", "bread knife", "knife sharpener", "cutting board"],
    "Outdoor/Tents": ["two-person tent", "ultralight tent", "family tent", "tent footprint", "bivy sack"],
    "Outdoor/Stoves": ["gas stove", "wood stove", "titanium pot", "fuel canister", "windscreen"],
    "Books/Fiction": ["mystery novel", "fantasy saga", "romance novel", "thriller", "short stories"],
}


@dataclass
class World:
    items: list[str]
    users: list[str]


def item_id(category: str, n: int) -> str:
    return f"{category.split('/')[1].lower()}-{n}"


@pytest.fixture
def world(transactional_db: None, django_db_serialized_rollback: None) -> World:
    creators_upsert(rows=[{"external_id": f"maker-{n}", "group": "small" if n % 2 else "large"} for n in range(3)])
    rows = []
    for c, (category, titles) in enumerate(CATEGORIES.items()):
        for n, title in enumerate(titles):
            rows.append(
                {
                    "external_id": item_id(category, n),
                    "title": title.capitalize(),
                    "category_path": category,
                    "price": f"{10 + 7 * n + c}.00",
                    "currency": "EUR",
                    "creator_id": f"maker-{n % 3}",
                    "tags": [category.split("/")[0].lower()],
                }
            )
    assert not items_upsert(rows=rows).errors
    users = [f"shopper-{n}" for n in range(12)]
    end_users_upsert(
        rows=[{"external_id": u} for u in users] + [{"external_id": "private", "consent_personalization": False}]
    )
    events = []
    for n, user in enumerate(users):
        favourite = list(CATEGORIES)[n % len(CATEGORIES)]
        for step in range(4):
            events.append(
                {
                    "user_id": user,
                    "item_id": item_id(favourite, (n + step) % 5),
                    "type": "like",
                    "timestamp": 1_700_000_000 + n * 1000 + step,
                }
            )
    events.append({"user_id": "private", "item_id": "coffee-0", "type": "like", "timestamp": 1_700_000_000})
    assert interactions_ingest(rows=events).rejected == 0
    item_embeddings_refresh()
    collaborative_model_train(iterations=3)
    item_stats_refresh()
    item_neighbors_refresh()
    user_vectors_refresh_recent()
    return World(items=[r["external_id"] for r in rows], users=users)
