"""Periodic aggregates that candidate sources read: popularity, trending, co-occurrence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from recsys_app.lib.traffic import in_training_sql
from recsys_app.ops.models import Watermark

LATEST_EVENT = "latest-event"
TRENDING_HALF_LIFE_DAYS = 7.0
TRENDING_WINDOW_DAYS = 60
NEIGHBORS_PER_ITEM = 50
HISTORY_FOR_COOCCURRENCE = 50  # each user's most recent positive items that pair up

# Trending decays from the newest event in the data rather than from the wall clock, so a
# catalog replayed from the past (the MovieLens demo ends in 2016) still has a trend.
_STATS = """
WITH latest AS (SELECT coalesce(max(occurred_at), now()) AS t FROM catalog_interaction x WHERE {training}),
positive AS (
    SELECT x.item_id, count(DISTINCT x.user_id)::float8 AS popularity
    FROM catalog_interaction x JOIN catalog_interactiontype k ON k.code = x.type AND k.weight > 0
    WHERE (%(items)s::bigint[] IS NULL OR x.item_id = ANY(%(items)s::bigint[])) AND {training}
    GROUP BY x.item_id
),
recent AS (
    SELECT x.item_id,
           sum(k.weight * power(0.5, extract(epoch FROM latest.t - x.occurred_at) / 86400.0 / %(half_life)s))
               AS trending
    FROM catalog_interaction x JOIN catalog_interactiontype k ON k.code = x.type, latest
    WHERE x.occurred_at > latest.t - make_interval(days => %(window)s)
      AND (%(items)s::bigint[] IS NULL OR x.item_id = ANY(%(items)s::bigint[])) AND {training}
    GROUP BY x.item_id
)
INSERT INTO retrieval_itemstats (item_id, popularity, trending, updated_at)
SELECT i.id, coalesce(p.popularity, 0), greatest(coalesce(r.trending, 0), 0), now()
FROM catalog_item i LEFT JOIN positive p ON p.item_id = i.id LEFT JOIN recent r ON r.item_id = i.id
WHERE %(items)s::bigint[] IS NULL OR i.id = ANY(%(items)s::bigint[])
ON CONFLICT (item_id) DO UPDATE SET popularity = EXCLUDED.popularity, trending = EXCLUDED.trending,
                                    updated_at = EXCLUDED.updated_at
"""

# Pairs of items among each user's recent positive items, scored by cosine of co-counts.
_NEIGHBORS = """
WITH recent AS (
    SELECT user_id, item_id FROM (
        SELECT x.user_id, x.item_id,
               row_number() OVER (PARTITION BY x.user_id ORDER BY max(x.occurred_at) DESC) AS r
        FROM catalog_interaction x JOIN catalog_interactiontype k ON k.code = x.type AND k.weight > 0
        JOIN catalog_enduser u ON u.id = x.user_id AND u.consent_training
        WHERE {training}
        GROUP BY x.user_id, x.item_id
    ) ranked WHERE r <= %(history)s
),
counts AS (SELECT item_id, count(*)::float8 AS n FROM recent GROUP BY item_id),
pairs AS (
    SELECT a.item_id AS item, b.item_id AS neighbor, count(*)::float8 AS together
    FROM recent a JOIN recent b ON a.user_id = b.user_id AND a.item_id <> b.item_id
    GROUP BY a.item_id, b.item_id
),
scored AS (
    SELECT p.item, p.neighbor, p.together / sqrt(ca.n * cb.n) AS score,
           row_number() OVER (PARTITION BY p.item ORDER BY p.together / sqrt(ca.n * cb.n) DESC, p.neighbor) AS r
    FROM pairs p JOIN counts ca ON ca.item_id = p.item JOIN counts cb ON cb.item_id = p.neighbor
    WHERE p.together >= 2
)
INSERT INTO retrieval_itemneighbor (item_id, neighbor_id, score)
SELECT item, neighbor, score FROM scored WHERE r <= %(per_item)s
"""


@dataclass
class StatsRefresh:
    items: int
    neighbors: int = 0


def item_stats_refresh(*, item_ids: list[int] | None = None) -> StatsRefresh:
    """Popularity and trending of every item, or of the given ones (after an erasure, so the
    counts no longer include the erased user's events)."""
    with transaction.atomic(), connection.cursor() as cursor:
        training = in_training_sql("x")  # simulated traffic moves no statistic unless settings say so
        params = {"half_life": TRENDING_HALF_LIFE_DAYS, "window": TRENDING_WINDOW_DAYS, "items": item_ids}
        cursor.execute(_STATS.format(training=training), params)
        items = cursor.rowcount
        cursor.execute(
            "INSERT INTO ops_watermark (name, value) SELECT %s, coalesce(max(occurred_at), now()) "
            f"FROM catalog_interaction x WHERE {training} ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            [LATEST_EVENT],
        )
        return StatsRefresh(items=items)


def data_now() -> datetime:
    """The time of the newest event as of the last stats refresh: "now" for features that age
    items, so a replayed dataset and live traffic age items the same way."""
    value = Watermark.objects.filter(name=LATEST_EVENT).values_list("value", flat=True).first()
    return value or timezone.now()


def item_neighbors_refresh() -> StatsRefresh:
    """Rebuild the co-occurrence table in one transaction (readers see the old one until commit)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM retrieval_itemneighbor")
        cursor.execute(_NEIGHBORS.format(training=in_training_sql("x")),
                       {"history": HISTORY_FOR_COOCCURRENCE, "per_item": NEIGHBORS_PER_ITEM})  # fmt: skip
        return StatsRefresh(items=0, neighbors=cursor.rowcount)
