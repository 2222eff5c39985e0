"""Precomputed candidate pools: the retrieval half of a recommendation, done nearline.

Querying six sources, blending and running the learned ranker costs tens of milliseconds at
100k items, and a user's candidates change only when their events, the models or the item
statistics do. So for surfaces with `precompute` on, the worker keeps each active user's
best RERANK_POOL candidates in `CandidatePool` (rebuilt when their events arrive, through the
`user_vectors_refreshed` signal), and a request reads that one row. What must be exact at
request time stays there: availability, items consumed since the pool was built, items
already shown under the recommendation id, rules, diversity and pins (`serving.py`).

A missing or expired pool is built live and stored on the spot (read-through), so serving
never depends on the worker being current; pools expire after CANDIDATE_POOL_TTL seconds
and are dropped when a new collaborative model or ranker is activated.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from recsys_app.catalog.models import EndUser
from recsys_app.lib.local_cache import LocalCache
from recsys_app.ranking.blend import Scored
from recsys_app.ranking.candidates import RERANK_POOL, candidate_pool, consumed_items
from recsys_app.ranking.config import DEFAULT_SURFACES, SurfaceConfig
from recsys_app.ranking.models import CandidatePool, RankerModel, Surface
from recsys_app.ranking.surfaces import SETTINGS_TTL, effective_config
from recsys_app.retrieval.models import CollaborativeModel
from recsys_app.retrieval.sources import Query

# Events are stamped on arrival but visible at commit; a pool also leaves out items consumed
# this long before it was built, in case their events were not yet visible to it.
CONSUMED_OVERLAP = timedelta(minutes=2)
_active_models: LocalCache[tuple[int | None, int | None]] = LocalCache(SETTINGS_TTL)


@dataclass
class StoredPool:
    scored: list[Scored]
    degraded: list[str]
    consumed_since: set[int] = field(default_factory=set)  # consumed after the pool was built


def pool_key(config: SurfaceConfig) -> str:
    """Pools are shared by every surface and variant whose candidate settings are the same,
    and belong to the models that built them: a newly activated model starts new pools."""
    collaborative, ranker = _active_models.get("ids", _active_model_ids)
    relevant = config.model_dump_json(include={"sources", "ranker", "exclude_consumed"})
    stamp = f"{relevant}|{collaborative}|{ranker if config.ranker else None}|{settings.EMBEDDING_MODEL}"
    return hashlib.sha256(stamp.encode()).hexdigest()[:32]


def active_models_forget(*_: object, **__: object) -> None:
    """A signal receiver: another model was activated (other processes notice within the TTL)."""
    _active_models.clear()


def _active_model_ids() -> tuple[int | None, int | None]:
    collaborative = CollaborativeModel.objects.filter(is_active=True).values_list("pk", flat=True).first()
    ranker = RankerModel.objects.filter(is_active=True).values_list("pk", flat=True).first()
    return collaborative, ranker


def pool_read(user_id: int, config: SurfaceConfig) -> StoredPool | None:
    """The user's unexpired pool for this configuration, with what they consumed since."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.entries, p.degraded, ARRAY(SELECT x.item_id FROM catalog_interaction x "
            "WHERE x.user_id = p.user_id AND x.received_at >= p.computed_at - make_interval(secs => %s)) "
            "FROM ranking_candidatepool p WHERE p.user_id = %s AND p.config_key = %s AND p.computed_at > %s",
            [CONSUMED_OVERLAP.total_seconds(), user_id, pool_key(config), _expiry()],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    entries, degraded, consumed = row
    if isinstance(entries, str):
        entries = json.loads(entries)
    scored = [Scored(int(item_id), float(score), contributions) for item_id, score, contributions in entries]
    return StoredPool(scored, list(degraded), set(consumed) if config.exclude_consumed else set())


def pool_build(user_id: int, config: SurfaceConfig, surface: str) -> StoredPool:
    """Build the pool live and store it, replacing any older one."""
    exclude = consumed_items(user_id) if config.exclude_consumed else set()
    scored, degraded = candidate_pool(Query(user_id=user_id, exclude=exclude), config)
    scored = scored[:RERANK_POOL]
    entries = [[entry.item_id, round(entry.score, 6), entry.contributions] for entry in scored]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ranking_candidatepool (user_id, config_key, surface, entries, degraded, computed_at) "
            "VALUES (%s, %s, %s, %s, %s, now()) ON CONFLICT (user_id, config_key) DO UPDATE SET "
            "surface = EXCLUDED.surface, entries = EXCLUDED.entries, degraded = EXCLUDED.degraded, "
            "computed_at = EXCLUDED.computed_at",
            [user_id, pool_key(config), surface, json.dumps(entries), degraded],
        )
    return StoredPool(scored, degraded)


@dataclass
class PoolRefresh:
    users: int = 0
    pools: int = 0


def candidate_pools_refresh(*, user_ids: list[int]) -> PoolRefresh:
    """Rebuild these users' pools for every surface that precomputes (each user's experiment
    variant included); users who withheld consent to personalisation get none."""
    result = PoolRefresh()
    surfaces = _precomputed_surfaces()
    users = EndUser.objects.filter(pk__in=user_ids, consent_personalization=True).values_list("pk", "external_id")
    for user_id, external_id in users:
        result.users += 1
        built: set[str] = set()
        for surface in surfaces:
            config, _ = effective_config(surface, external_id)
            if config.precompute and pool_key(config) not in built:
                pool_build(user_id, config, surface)
                built.add(pool_key(config))
                result.pools += 1
    return result


def candidate_pools_prune() -> int:
    """Delete expired pools (and those of configurations no longer in use, which expire too)."""
    deleted, _ = CandidatePool.objects.filter(computed_at__lte=_expiry()).delete()
    return deleted


def _precomputed_surfaces() -> list[str]:
    """Every surface: its own settings or a running experiment's variant may precompute."""
    return sorted(set(DEFAULT_SURFACES) | set(Surface.objects.values_list("name", flat=True)))


def _expiry() -> datetime:
    return timezone.now() - timedelta(seconds=settings.CANDIDATE_POOL_TTL)
