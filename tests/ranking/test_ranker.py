from __future__ import annotations

import numpy as np
import pytest

from recsys_app.catalog.services import end_users_upsert, interactions_ingest, items_upsert
from recsys_app.ranking.blend import Scored
from recsys_app.ranking.features import FEATURES, feature_matrix
from recsys_app.ranking.models import RankerModel
from recsys_app.ranking.ranker import rank_pool, ranker_train
from recsys_app.ranking.serving import RecommendationRequest, recommendations_serve
from recsys_app.retrieval.collaborative import collaborative_model_train
from recsys_app.retrieval.stats import item_neighbors_refresh, item_stats_refresh

GROUPS = {"coffee": "Kitchen/Coffee", "tents": "Outdoor/Tents", "novels": "Books/Fiction"}


def _shop(users: int = 45, per_group: int = 12) -> None:
    items_upsert(rows=[{"external_id": f"{g}-{n}", "title": f"{g} {n}", "category_path": path}
                       for g, path in GROUPS.items() for n in range(per_group)])  # fmt: skip
    end_users_upsert(rows=[{"external_id": f"u{n}"} for n in range(users)])
    rng = np.random.default_rng(5)
    events = []
    for n in range(users):
        group = list(GROUPS)[n % 3]
        for step, item in enumerate(rng.permutation(per_group)[:8]):
            events.append({"user_id": f"u{n}", "item_id": f"{group}-{item}", "type": "like",
                           "timestamp": 1_700_000_000 + 3600 * (n * 10 + step)})  # fmt: skip
    assert interactions_ingest(rows=events).rejected == 0


def test_ranker_learns_from_later_events_and_is_gated_by_the_blend(db: None) -> None:
    _shop()
    ranker = ranker_train()
    assert ranker.features == FEATURES and ranker.examples > 0 and ranker.users >= 10
    assert set(ranker.metrics) == {"ranker_ndcg@10", "blend_ndcg@10", "validation_users"}
    assert ranker.is_active == (ranker.metrics["ranker_ndcg@10"] >= ranker.metrics["blend_ndcg@10"])
    collaborative_model_train(iterations=3)
    item_stats_refresh()
    item_neighbors_refresh()
    served = recommendations_serve(request=RecommendationRequest(surface="home", k=5, user_external_id="u0"))
    assert len(served.items) == 5 and all(
        item.external_id.startswith(("coffee", "tents", "novels")) for item in served.items
    )


def test_too_little_history_is_a_clear_error(db: None) -> None:
    _shop(users=6, per_group=3)
    with pytest.raises(ValueError, match="users have a held-out positive"):
        ranker_train()


def test_without_an_active_ranker_the_pool_keeps_the_blend_order(db: None) -> None:
    pool = [Scored(1, 0.9, {"trending": 0.9}, {"trending": 1.0}), Scored(2, 0.5, {"fresh": 0.5}, {"fresh": 0.5})]
    assert not RankerModel.objects.filter(is_active=True).exists()
    assert [s.item_id for s in rank_pool(None, pool)] == [1, 2]
    assert feature_matrix(None, pool, now_epoch=0.0, model_id=None).shape == (2, len(FEATURES))
