"""What runs inside a snapshot database (the child process of `lib/snapshot.py`): build the
serving state from the snapshot's events with the ordinary services, then serve lists.

Imported only by the management commands that run there (`evaluation_pipeline_lists`,
`evaluation_replay_lists`), never by the parent process.
"""

from __future__ import annotations

from recsys_app.catalog.models import EndUser
from recsys_app.ranking.config import SurfaceConfig
from recsys_app.ranking.models import Surface
from recsys_app.ranking.serving import RecommendationRequest, recommendations_serve
from recsys_app.retrieval.collaborative import collaborative_model_train
from recsys_app.retrieval.stats import item_neighbors_refresh, item_stats_refresh
from recsys_app.retrieval.user_vectors import user_vectors_compute


def serving_state_build(*, user_ids: list[int]) -> dict[int, str]:
    """Train and refresh what serving reads; return the users' external ids by id."""
    collaborative_model_train()
    item_stats_refresh()
    item_neighbors_refresh()
    for start in range(0, len(user_ids), 500):
        user_vectors_compute(user_ids=user_ids[start : start + 500])
    return dict(EndUser.objects.filter(pk__in=user_ids).values_list("pk", "external_id"))


def surface_store(*, name: str, config: SurfaceConfig) -> str:
    """A surface row of this snapshot with exactly this configuration; returns its name."""
    Surface.objects.update_or_create(name=name, defaults={"config": config.model_dump(mode="json")})
    return name


def served_items(*, surface: str, user_external_id: str, k: int) -> list[int]:
    request = RecommendationRequest(surface=surface, k=k, user_external_id=user_external_id, log_impressions=False)
    return [item.item_id for item in recommendations_serve(request=request).items]
