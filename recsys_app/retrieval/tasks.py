from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import shared_task

from recsys_app.ops.tasking import RecordedTask


@shared_task(base=RecordedTask, soft_time_limit=3300, time_limit=3600)
def item_embeddings_refresh_task(limit: int | None = None) -> dict[str, Any]:
    """Beat runs this every minute; with nothing stale it is one indexed query."""
    from recsys_app.retrieval.services import item_embeddings_refresh

    return asdict(item_embeddings_refresh(limit=limit))


@shared_task(base=RecordedTask, soft_time_limit=3300, time_limit=3600)
def collaborative_model_train_task(algorithm: str = "als") -> dict[str, Any]:
    from recsys_app.retrieval.collaborative import collaborative_model_train

    model = collaborative_model_train(algorithm=algorithm)
    return {"model": model.pk, "users": model.users, "items": model.items, "seconds": model.train_seconds}


@shared_task(base=RecordedTask, soft_time_limit=600, time_limit=660)
def user_vectors_refresh_task() -> dict[str, Any]:
    from recsys_app.retrieval.user_vectors import user_vectors_refresh_recent

    return asdict(user_vectors_refresh_recent())


@shared_task(base=RecordedTask, soft_time_limit=900, time_limit=960)
def item_stats_refresh_task() -> dict[str, Any]:
    from recsys_app.retrieval.stats import item_stats_refresh

    return asdict(item_stats_refresh())


@shared_task(base=RecordedTask, soft_time_limit=3300, time_limit=3600)
def item_neighbors_refresh_task() -> dict[str, Any]:
    from recsys_app.retrieval.stats import item_neighbors_refresh

    return asdict(item_neighbors_refresh())
