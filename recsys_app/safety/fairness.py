"""Fairness of exposure: who gets seen. From the impression log, per day, surface and experiment
variant: each creator group's and popularity band's share of impressions against its share of
the available catalog, the Gini coefficient of impressions over available items, and coverage.

Popularity bands rank available items by `ItemStats.popularity` (distinct users with a positive
event): `head` is the most popular 20 %, `mid` the next 30 %, `tail` the rest (items nobody has
engaged with yet included). A creator's group is `Creator.group` (`(none)` when unset).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
from django.db import connection
from django.utils import timezone

from recsys_app.safety.models import ExposureDaily

BANDS = (("head", 0.2), ("mid", 0.5), ("tail", 1.0))  # upper bound of each band's popularity rank share
NO_GROUP = "(none)"

_CATALOG = """
SELECT i.id, coalesce(nullif(c."group", ''), %s),
       percent_rank() OVER (ORDER BY coalesce(s.popularity, 0) DESC, i.id)
FROM catalog_item i
LEFT JOIN catalog_creator c ON c.id = i.creator_id
LEFT JOIN retrieval_itemstats s ON s.item_id = i.id
WHERE i.is_available
"""
_SHOWN = """
SELECT surface, experiment, variant, item_id, count(*)
FROM catalog_impression WHERE shown_at >= %s AND shown_at < %s {where}
GROUP BY surface, experiment, variant, item_id
"""


@dataclass(frozen=True)
class Catalog:
    index: dict[int, int]  # item id -> position in the arrays
    group: np.ndarray  # creator group of each item
    band: np.ndarray  # popularity band of each item


def catalog_now() -> Catalog:
    with connection.cursor() as cursor:
        cursor.execute(_CATALOG, [NO_GROUP])
        rows = cursor.fetchall()
    bands = [next(name for name, upper in BANDS if rank <= upper) for _id, _group, rank in rows]
    return Catalog({row[0]: n for n, row in enumerate(rows)}, np.array([r[1] for r in rows], dtype=object),
                   np.array(bands, dtype=object))  # fmt: skip


def exposure(counts: np.ndarray, catalog: Catalog) -> dict[str, Any]:
    """The figures for one slice: `counts[i]` impressions of the catalog's i-th item."""
    total = int(counts.sum())
    groups: dict[str, Any] = {}
    for dimension, labels in (("creator_group", catalog.group), ("popularity_band", catalog.band)):
        groups[dimension] = {
            str(label): {
                "impressions": int(counts[labels == label].sum()),
                "impression_share": round(float(counts[labels == label].sum()) / total, 4) if total else 0.0,
                "catalog_share": round(float((labels == label).mean()), 4),
            }
            for label in sorted(set(labels.tolist()))
        }
    return {"impressions": total, "items_shown": int((counts > 0).sum()), "catalog_items": len(counts),
            "gini": round(gini(counts), 4), "coverage": round(float((counts > 0).mean()), 4) if len(counts) else 0.0,
            "groups": groups}  # fmt: skip


def gini(counts: np.ndarray) -> float:
    """0 when every item gets the same exposure, towards 1 when one item gets it all."""
    n = len(counts)
    if n == 0 or counts.sum() == 0:
        return 0.0
    ordered = np.sort(counts.astype(float))
    ranks = np.arange(1, n + 1)
    return float((2 * (ranks * ordered).sum()) / (n * ordered.sum()) - (n + 1) / n)


def exposure_daily_compute(*, day: date) -> int:
    """Store the day's figures per surface and variant (recomputing the day replaces them)."""
    start = timezone.make_aware(datetime.combine(day, time.min))
    catalog = catalog_now()
    slices = _shown(start, start + timedelta(days=1), catalog)
    ExposureDaily.objects.filter(day=day).delete()
    ExposureDaily.objects.bulk_create(
        ExposureDaily(day=day, surface=surface, experiment=experiment, variant=variant, **exposure(counts, catalog))
        for (surface, experiment, variant), counts in slices.items()
    )
    return len(slices)


def exposure_compare(*, experiment: str, since: datetime, until: datetime, catalog: Catalog | None = None
                     ) -> dict[str, dict[str, Any]]:  # fmt: skip
    """The figures of each variant of an experiment over its impressions in the period (pass
    `catalog` to compare several experiments against one reading of the catalog)."""
    catalog = catalog or catalog_now()
    slices = _shown(since, until, catalog, experiment=experiment)
    merged: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(len(catalog.index), dtype=np.int64))
    for (_surface, _experiment, variant), counts in slices.items():
        merged[variant] += counts
    return {variant: exposure(counts, catalog) for variant, counts in sorted(merged.items())}


def _shown(since: datetime, until: datetime, catalog: Catalog, experiment: str | None = None
           ) -> dict[tuple[str, str, str], np.ndarray]:  # fmt: skip
    """Impressions per item of the catalog, per (surface, experiment, variant). Impressions of
    items no longer available are left out: the denominator is today's available catalog."""
    params: list[Any] = [since, until]
    where = ""
    if experiment:
        where = "AND experiment = %s"
        params.append(experiment)
    out: dict[tuple[str, str, str], np.ndarray] = {}
    with connection.cursor() as cursor:
        cursor.execute(_SHOWN.format(where=where), params)
        for surface, exp, variant, item_id, count in cursor.fetchall():
            position = catalog.index.get(item_id)
            if position is None:
                continue
            key = (surface, exp, variant)
            if key not in out:
                out[key] = np.zeros(len(catalog.index), dtype=np.int64)
            out[key][position] += count
    return out
