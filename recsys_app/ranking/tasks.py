from __future__ import annotations

from typing import Any

from celery import shared_task

from recsys_app.ops.tasking import RecordedTask


@shared_task(base=RecordedTask, soft_time_limit=120, time_limit=150)
def explanation_phrase_task(explanation_id: int) -> dict[str, Any]:
    """`explain=model`: the model phrases one explanation off the request path."""
    from recsys_app.ranking.explanations import explanation_phrase

    found = explanation_phrase(explanation_id=explanation_id)
    return {"explanation": explanation_id, "phrased_by": found.phrased_by if found else None}


@shared_task(base=RecordedTask, soft_time_limit=3300, time_limit=3600)
def ranker_train_task() -> dict[str, Any]:
    from recsys_app.ranking.ranker import ranker_train

    ranker = ranker_train()
    return {"ranker": ranker.pk, "active": ranker.is_active, "metrics": ranker.metrics}


@shared_task(base=RecordedTask, soft_time_limit=7200, time_limit=7500)
def models_bootstrap_task() -> dict[str, Any]:
    """First start: build every model and table serving reads, in dependency order."""
    from recsys_app.catalog.models import EndUser
    from recsys_app.ranking.ranker import ranker_train
    from recsys_app.retrieval.collaborative import collaborative_model_train
    from recsys_app.retrieval.services import item_embeddings_refresh
    from recsys_app.retrieval.stats import item_neighbors_refresh, item_stats_refresh
    from recsys_app.retrieval.user_vectors import user_vectors_compute

    embedded = item_embeddings_refresh().embedded
    model = collaborative_model_train()
    item_stats_refresh()
    item_neighbors_refresh()
    users = list(EndUser.objects.values_list("pk", flat=True))
    for start in range(0, len(users), 1000):
        user_vectors_compute(user_ids=users[start : start + 1000])
    try:
        ranker = ranker_train()
        ranker_state: dict[str, Any] = {"ranker": ranker.pk, "active": ranker.is_active}
    except ValueError as exc:
        ranker_state = {"ranker": None, "reason": str(exc)}
    from recsys_app.ranking.pools import candidate_pools_refresh

    pools = candidate_pools_refresh(user_ids=users).pools  # after the ranker: pools belong to the active models
    return {"embedded": embedded, "collaborative_model": model.pk, "users": len(users), "pools": pools, **ranker_state}


@shared_task(base=RecordedTask, soft_time_limit=600, time_limit=660)
def candidate_pools_refresh_task(user_ids: list[int]) -> dict[str, Any]:
    """Nearline: queued after user vectors were refreshed for these users."""
    from dataclasses import asdict

    from recsys_app.ranking.pools import candidate_pools_refresh

    return asdict(candidate_pools_refresh(user_ids=user_ids))


@shared_task(base=RecordedTask, soft_time_limit=600, time_limit=660)
def candidate_pools_prune_task() -> dict[str, Any]:
    from recsys_app.ranking.pools import candidate_pools_prune

    return {"deleted": candidate_pools_prune()}


@shared_task(base=RecordedTask, soft_time_limit=120, time_limit=150)
def experiments_guard_task() -> dict[str, Any]:
    """Beat: stop variants whose model calls cross the guard's thresholds (audited)."""
    from recsys_app.ranking.experiments import experiments_guard

    return {"stopped": experiments_guard()}
