"""Audiences (segments of end users) and what they have been engaging with lately; themes
proposed from clusters of those items."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

import numpy as np
from django.db import connection

from curation.models import Brief
from curation.schemas import Audience
from recsys_app.ranking.serving import item_vectors
from recsys_app.retrieval.sources import Candidate, Query, item_conditions
from recsys_app.retrieval.stats import data_now

WINDOW_DAYS = 90  # "lately": the last weeks of data (the demo's data ends in 2016, so relative to its last event)


def audience_users_sql(audience: Audience) -> tuple[str, list[Any]]:
    """A subquery of the ids of the end users in the audience."""
    sql = "SELECT u.id FROM catalog_enduser u WHERE u.attributes @> %s::jsonb"
    params: list[Any] = [json.dumps(audience.attributes)]
    if audience.categories:
        sql += (
            " AND u.id IN (SELECT x.user_id FROM catalog_interaction x JOIN catalog_interactiontype k "
            "ON k.code = x.type AND k.weight > 0 JOIN catalog_item i ON i.id = x.item_id "
            "WHERE split_part(i.category_path, '/', 1) = ANY(%s))"
        )
        params.append(audience.categories)
    return sql, params


def segment_trending(audience: Audience, query: Query, *, limit: int) -> list[Candidate]:
    """Items the audience engaged with positively in the last WINDOW_DAYS, by summed weight."""
    users, user_params = audience_users_sql(audience)
    where, params = item_conditions(query)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT x.item_id, sum(k.weight) FROM catalog_interaction x "
            "JOIN catalog_interactiontype k ON k.code = x.type AND k.weight > 0 "
            "JOIN catalog_item i ON i.id = x.item_id "
            f"WHERE x.occurred_at >= %s AND x.user_id IN ({users}) AND {where} "
            "GROUP BY x.item_id ORDER BY 2 DESC, 1 LIMIT %s",
            [data_now() - timedelta(days=WINDOW_DAYS), *user_params, *params, limit],
        )
        return [Candidate(int(item_id), "segment", float(score)) for item_id, score in cursor.fetchall()]


def themes_propose(*, audience: Audience, count: int = 3, by: Any = None, pool: int = 200) -> list[Brief]:
    """Briefs for the `count` clusters of what the audience engages with lately, each named by
    its most shared categories, its items kept as seeds for the pipeline."""
    from sklearn.cluster import KMeans

    trending = segment_trending(audience, Query(None), limit=pool)
    vectors = item_vectors([c.item_id for c in trending])
    trending = [c for c in trending if c.item_id in vectors]
    if len(trending) < count * 3:
        return []
    matrix = np.stack([vectors[c.item_id] for c in trending])
    labels = KMeans(n_clusters=count, n_init=4, random_state=0).fit_predict(matrix)
    briefs = []
    for cluster in range(count):
        members = [c.item_id for c, label in zip(trending, labels, strict=True) if label == cluster]
        briefs.append(
            Brief.objects.create(
                theme=_name(members, audience),
                audience=audience.model_dump(),
                seed_items=members[:30],
                origin=Brief.Origin.PROPOSED,
                created_by=by,
            )
        )
    return briefs


def _name(item_ids: list[int], audience: Audience) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tags, category_path FROM catalog_item WHERE id = ANY(%s)", [item_ids])
        counts: Counter[str] = Counter()
        for tags, path in cursor.fetchall():
            counts.update(set(tags) | ({path.split("/")[0]} if path else set()))
    top = [name for name, _ in counts.most_common(2)] or ["favourite"]
    who = "everyone" if audience.describe() == "everyone" else audience.describe()
    return f"{' and '.join(top)} picks trending with {who}"
