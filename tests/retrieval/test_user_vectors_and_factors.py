from __future__ import annotations

import numpy as np
import pytest
from pgvector.django import CosineDistance

from recsys_app.catalog.models import EndUser
from recsys_app.catalog.services import end_users_upsert, interactions_ingest, items_upsert
from recsys_app.retrieval import encoder
from recsys_app.retrieval.collaborative import collaborative_model_train
from recsys_app.retrieval.models import CollaborativeModel, ItemEmbedding, ItemFactor, UserFactor, UserVector
from recsys_app.retrieval.services import item_embeddings_refresh
from recsys_app.retrieval.user_vectors import user_vectors_compute, user_vectors_refresh_recent
from tests.factories import item_row

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

CATALOG = [
    item_row("espresso", title="Espresso machine", category_path="Kitchen/Coffee"),
    item_row("grinder", title="Burr coffee grinder", category_path="Kitchen/Coffee"),
    item_row("kettle", title="Gooseneck pour-over kettle", category_path="Kitchen/Coffee"),
    item_row("tent", title="Backpacking tent", category_path="Outdoor/Tents"),
    item_row("stove", title="Camping gas stove", category_path="Outdoor/Stoves"),
]


def _ingest(rows: list[dict]) -> None:
    assert interactions_ingest(rows=rows).stored == len(rows)


def _event(user: str, item: str, kind: str, day: int) -> dict:
    return {"user_id": user, "item_id": item, "type": kind, "timestamp": 1_700_000_000 + day * 86400}


def test_user_vector_leans_towards_liked_and_away_from_disliked_items() -> None:
    items_upsert(rows=CATALOG)
    end_users_upsert(rows=[{"external_id": "coffee-fan"}, {"external_id": "grump"}])
    item_embeddings_refresh()
    _ingest(
        [
            _event("coffee-fan", "espresso", "like", 1),
            _event("coffee-fan", "grinder", "purchase", 2),
            _event("coffee-fan", "tent", "dislike", 3),
            _event("grump", "stove", "dislike", 1),
        ]
    )
    result = user_vectors_refresh_recent()
    assert (result.users, result.updated) == (2, 1), "only negative history: no vector"
    fan = UserVector.objects.get(user__external_id="coffee-fan").vector
    ranked = ItemEmbedding.objects.order_by(CosineDistance("vector", fan)).values_list("item__external_id", flat=True)
    assert set(list(ranked)[:3]) == {"espresso", "grinder", "kettle"}
    assert list(ranked)[-1] == "tent"
    assert abs(float(np.linalg.norm(np.asarray(fan))) - 1) < 1e-4
    again = user_vectors_refresh_recent()  # inside the overlap window: recomputed, unchanged
    assert np.allclose(UserVector.objects.get(user__external_id="coffee-fan").vector, fan) and again.updated == 1


def test_recent_events_weigh_more_than_old_ones() -> None:
    items_upsert(rows=CATALOG)
    end_users_upsert(rows=[{"external_id": "u"}])
    item_embeddings_refresh()
    _ingest([_event("u", "tent", "like", 0), _event("u", "espresso", "like", 365)])
    user = EndUser.objects.get(external_id="u")
    user_vectors_compute(user_ids=[user.pk])
    vector = np.asarray(UserVector.objects.get(user=user).vector)
    espresso, tent = encoder.encode(["Espresso machine. Kitchen > Coffee", "Backpacking tent. Outdoor > Tents"])
    assert vector @ espresso > vector @ tent + 0.2


def test_collaborative_training_stores_factors_and_keeps_two_models() -> None:
    items_upsert(rows=CATALOG)
    end_users_upsert(
        rows=[{"external_id": f"u{n}"} for n in range(6)] + [{"external_id": "private", "consent_training": False}]
    )
    rows = [
        _event(f"u{n}", item, "like", n) for n in range(6) for item in ("espresso", "grinder", "kettle")[: 1 + n % 3]
    ]
    _ingest([*rows, _event("private", "tent", "like", 1)])
    first = collaborative_model_train(algorithm="als", iterations=3)
    assert (first.users, first.items, first.is_active) == (6, 3, True), "non-consenting users are left out"
    assert ItemFactor.objects.filter(model=first).count() == 3 and UserFactor.objects.filter(model=first).count() == 6
    second = collaborative_model_train(algorithm="bpr", iterations=3)
    third = collaborative_model_train(algorithm="als", iterations=3)
    assert list(CollaborativeModel.objects.values_list("pk", "is_active")) == [(third.pk, True), (second.pk, False)]
    assert not ItemFactor.objects.filter(model_id=first.pk).exists()


def test_training_without_data_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no interactions to train on"):
        collaborative_model_train()
    with pytest.raises(ValueError, match="unknown algorithm"):
        collaborative_model_train(algorithm="svd")
