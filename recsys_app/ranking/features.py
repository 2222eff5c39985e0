"""Features of (user, candidate) pairs for the learned ranker, computed for a whole pool at once."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection

from recsys_app.ranking.blend import Scored
from recsys_app.retrieval.sources import SOURCES

SOURCE_NAMES = sorted(SOURCES)
FEATURES = [
    *(f"signal_{name}" for name in SOURCE_NAMES),
    "blend_score",
    "n_sources",
    "semantic_similarity",
    "collaborative_score",
    "log_popularity",
    "log_trending",
    "age_days",
    "log_price",
    "category_affinity",
    "creator_affinity",
]

_ITEMS = """
SELECT i.id, coalesce(s.popularity, 0), coalesce(s.trending, 0), extract(epoch FROM i.created_at)::float8,
       coalesce(i.price, 0)::float8, split_part(i.category_path, '/', 1), coalesce(i.creator_id, -1),
       (SELECT f.vector <#> u.vector FROM retrieval_itemfactor f JOIN retrieval_userfactor u
            ON u.model_id = f.model_id AND u.user_id = %(user)s
        WHERE f.item_id = i.id AND f.model_id = %(model)s),
       (SELECT e.vector <=> v.vector FROM retrieval_itemembedding e JOIN retrieval_uservector v
            ON v.model_name = e.model_name AND v.user_id = %(user)s
        WHERE e.item_id = i.id AND e.model_name = %(embedding)s)
FROM catalog_item i LEFT JOIN retrieval_itemstats s ON s.item_id = i.id
WHERE i.id = ANY(%(ids)s)
"""

_AFFINITY = """
SELECT split_part(i.category_path, '/', 1), coalesce(i.creator_id, -1), sum(k.weight)
FROM catalog_interaction x JOIN catalog_interactiontype k ON k.code = x.type JOIN catalog_item i ON i.id = x.item_id
WHERE x.user_id = %s AND k.weight > 0
GROUP BY 1, 2
"""


@dataclass
class _Affinity:
    category: dict[str, float]
    creator: dict[int, float]


def feature_matrix(user_id: int | None, pool: list[Scored], *, now_epoch: float, model_id: int | None) -> np.ndarray:
    """One row per pool entry, columns as FEATURES (missing signals are 0)."""
    rows = _item_rows([entry.item_id for entry in pool], user_id, model_id)
    affinity = _affinity(user_id)
    out = np.zeros((len(pool), len(FEATURES)), dtype=np.float32)
    for r, entry in enumerate(pool):
        item = rows.get(entry.item_id)
        for c, name in enumerate(SOURCE_NAMES):
            out[r, c] = entry.signals.get(name, 0.0)
        out[r, len(SOURCE_NAMES)] = entry.score  # the fallback blend, so the ranker can start from it
        base = len(SOURCE_NAMES) + 1
        out[r, base] = len(entry.signals)
        if item is None:
            continue
        popularity, trending, created, price, category, creator, ip_distance, cos_distance = item
        out[r, base + 1] = 0.0 if cos_distance is None else 1.0 - cos_distance
        out[r, base + 2] = 0.0 if ip_distance is None else -ip_distance
        out[r, base + 3] = math.log1p(popularity)
        out[r, base + 4] = math.log1p(max(trending, 0.0))
        out[r, base + 5] = max(now_epoch - created, 0.0) / 86400.0
        out[r, base + 6] = math.log1p(price)
        out[r, base + 7] = affinity.category.get(category, 0.0)
        out[r, base + 8] = affinity.creator.get(creator, 0.0) if creator >= 0 else 0.0
    return out


def _item_rows(ids: list[int], user_id: int | None, model_id: int | None) -> dict[int, tuple]:
    params: dict[str, Any] = {
        "ids": ids, "user": user_id or -1, "model": model_id or -1, "embedding": settings.EMBEDDING_MODEL,
    }  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(_ITEMS, params)
        return {row[0]: row[1:] for row in cursor.fetchall()}


def _affinity(user_id: int | None) -> _Affinity:
    if user_id is None:
        return _Affinity({}, {})
    with connection.cursor() as cursor:
        cursor.execute(_AFFINITY, [user_id])
        rows = cursor.fetchall()
    total = sum(weight for *_, weight in rows) or 1.0
    category: dict[str, float] = {}
    creator: dict[int, float] = {}
    for top, maker, weight in rows:
        category[top] = category.get(top, 0.0) + weight / total
        if maker >= 0:
            creator[maker] = creator.get(maker, 0.0) + weight / total
    return _Affinity(category, creator)
