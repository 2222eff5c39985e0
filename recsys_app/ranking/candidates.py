"""Building a scored candidate list live: every configured source, blended, then ordered by
the learned ranker where the surface uses one. Serving, the nearline pools and the ranker's
training examples all go through here."""

from __future__ import annotations

import logging
from dataclasses import replace

from django.db import DatabaseError

from recsys_app.catalog.models import Interaction
from recsys_app.ranking.blend import Scored, blend
from recsys_app.ranking.config import SurfaceConfig
from recsys_app.ranking.ranker import rank_pool
from recsys_app.retrieval.sources import SOURCES, Candidate, Query

logger = logging.getLogger(__name__)

RERANK_POOL = 300  # candidates that the ranker, rules and diversity look at


def candidate_pool(query: Query, config: SurfaceConfig) -> tuple[list[Scored], list[str]]:
    """Candidates of every configured source, blended, then ordered by the learned ranker when
    the surface uses one and a model is active. Also what the ranker is trained on."""
    by_source, degraded = _candidates(query, config)
    scored = blend(by_source, {name: setting.weight for name, setting in config.sources.items()})
    if config.ranker and scored:
        scored = rank_pool(query.user_id, scored[:RERANK_POOL]) + scored[RERANK_POOL:]
    return scored, degraded


def consumed_items(user_id: int) -> set[int]:
    """Every item the user has interacted with."""
    return set(Interaction.objects.filter(user_id=user_id).order_by().values_list("item_id", flat=True).distinct())


def _candidates(query: Query, config: SurfaceConfig) -> tuple[dict[str, list[Candidate]], list[str]]:
    """Each configured source's candidates; a failing source is skipped and reported, not fatal."""
    by_source: dict[str, list[Candidate]] = {}
    degraded: list[str] = []
    for name, setting in config.sources.items():
        try:
            asked = replace(query, collections_version=setting.prompt_version) if setting.prompt_version else query
            by_source[name] = SOURCES[name].fetch(asked, setting.limit)
        except DatabaseError as exc:
            logger.warning("source %s failed: %s", name, exc)
            degraded.append(f"{name}: unavailable")
    if not any(by_source.values()) and "category_popular" not in config.sources:
        # Last resort for a surface whose sources all came back empty: what is popular.
        by_source["category_popular"] = SOURCES["category_popular"].fetch(
            Query(None, query.filters, query.exclude), 100
        )
        degraded.append("fallback: popular items")
    return by_source, degraded
