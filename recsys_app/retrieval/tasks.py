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
