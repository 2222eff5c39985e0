"""The dashboard's figures: one aggregate query per panel, over the last WINDOW_DAYS days.

Every panel reads rows the product already writes (items, events, impressions with their
latency, traces, review actions, evaluation runs, exposure rows, task runs), so the page costs
a fixed number of queries whatever the size of the catalog (pinned in tests/console).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count
from django.utils import timezone

from recsys_app.console.charts import Series, bar_chart, line_chart
from recsys_app.evaluation.models import EvaluationRun
from recsys_app.lib.paginator import table_estimate
from recsys_app.lib.traffic import POPULATION_NAMES, Population, population_sql
from recsys_app.ops.models import TaskRun, Watermark
from recsys_app.ops.simulated_traffic import simulated_counts
from recsys_app.ranking.experiments import CLICK_TYPES, CONVERSION_TYPES
from recsys_app.ranking.models import Experiment
from recsys_app.safety.models import ExposureDaily

WINDOW_DAYS = 30


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _series(rows: list[tuple[Any, ...]]) -> Series:
    """(day, name, value) rows into {name: [(day, value), ...]}, days in order."""
    out: Series = defaultdict(list)
    for day, name, value in sorted(rows, key=lambda row: row[0]):
        out[str(name)].append((day.isoformat(), float(value or 0)))
    return dict(out)


_GROWTH = """
SELECT created_at::date AS day, 'items', count(*) FROM catalog_item WHERE created_at >= %(since)s GROUP BY 1
UNION ALL
SELECT created_at::date, 'end users', count(*) FROM catalog_enduser WHERE created_at >= %(since)s GROUP BY 1
"""


def catalog_panel(since: datetime) -> dict[str, Any]:
    totals = _rows("SELECT (SELECT count(*) FROM catalog_item), (SELECT count(*) FROM catalog_enduser)", [])[0]
    return {
        "items": totals[0], "users": totals[1], "events": table_estimate("catalog_interaction"),
        "chart": line_chart(_series(_rows(_GROWTH, {"since": since})), title="New items and end users per day"),  # type: ignore[arg-type]
    }  # fmt: skip


def events_panel(population: Population = "all") -> dict[str, Any]:
    """Events per day and type over the window that ends at the newest event (demo data is old;
    simulated events, left out of the watermark, are as new as the simulator)."""
    mark = Watermark.objects.filter(name="latest-event").values_list("value", flat=True).first()
    simulated = _rows("SELECT occurred_at FROM catalog_interaction WHERE simulated ORDER BY id DESC LIMIT 1", [])
    latest = [moment for moment in (mark, simulated[0][0] if simulated and population != "real" else None) if moment]
    until = max(latest) if latest else timezone.now()
    since = until - timedelta(days=WINDOW_DAYS)
    rows = _rows(
        "SELECT occurred_at::date, type, count(*) FROM catalog_interaction x "
        f"WHERE occurred_at > %s AND occurred_at <= %s AND {population_sql('x', population)} GROUP BY 1, 2",
        [since, until],
    )
    return {"chart": line_chart(_series(rows), title=f"Events per day and type, to {until:%Y-%m-%d}")}


_ENGAGEMENT = """
SELECT i.shown_at::date, i.surface, i.experiment, i.variant, count(DISTINCT i.id),
       count(DISTINCT i.id) FILTER (WHERE x.type = ANY(%(clicks)s)),
       count(DISTINCT i.id) FILTER (WHERE x.type = ANY(%(conversions)s))
FROM catalog_impression i
LEFT JOIN catalog_interaction x ON x.request_id = i.request_id AND x.item_id = i.item_id
WHERE i.shown_at >= %(since)s AND (%(population)s = 'all' OR i.simulated = (%(population)s = 'simulated'))
GROUP BY 1, 2, 3, 4
"""


def engagement_panel(since: datetime, population: Population = "all") -> dict[str, Any]:
    """CTR and conversion per day, by surface and by experiment variant (events sent back with
    the response's request id count for the impression they answer)."""
    params = {"since": since, "clicks": list(CLICK_TYPES), "conversions": list(CONVERSION_TYPES),
              "population": population}  # fmt: skip
    rows = _rows(_ENGAGEMENT, params)  # type: ignore[arg-type]
    by_surface: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    by_variant: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for day, surface, experiment, variant, shown, clicks, conversions in rows:
        for key, table in (((day, surface), by_surface), ((day, f"{experiment}:{variant}"), by_variant)):
            if table is by_variant and not experiment:
                continue
            totals = table[key]
            totals[0], totals[1], totals[2] = totals[0] + shown, totals[1] + clicks, totals[2] + conversions

    def rate(table: dict[tuple[date, str], list[int]], column: int) -> Series:
        return _series([(day, name, t[column] / t[0] if t[0] else 0.0) for (day, name), t in table.items()])

    return {
        "impressions": sum(t[0] for t in by_surface.values()),
        "ctr_surface": line_chart(rate(by_surface, 1), title="CTR per day by surface", share=True),
        "conversion_surface": line_chart(rate(by_surface, 2), title="Conversion per day by surface", share=True),
        "ctr_variant": line_chart(rate(by_variant, 1), title="CTR per day by experiment variant", share=True),
        "conversion_variant": line_chart(rate(by_variant, 2), title="Conversion per day by experiment variant",
                                         share=True),
    }  # fmt: skip


_LATENCY = """
SELECT shown_at::date, surface,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms), percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)
FROM catalog_impression
WHERE shown_at >= %s AND position = 1 AND latency_ms IS NOT NULL
  AND (%s = 'all' OR simulated = (%s = 'simulated'))
GROUP BY 1, 2
"""


def latency_panel(since: datetime, population: Population = "all") -> dict[str, Any]:
    """Server time per recommendation request (one impression per request: its first position)."""
    rows = _rows(_LATENCY, [since, population, population])
    p95 = _series([(day, f"{surface} p95", high) for day, surface, _, high in rows])
    p50 = _series([(day, f"{surface} p50", mid) for day, surface, mid, _ in rows])
    return {"chart": line_chart({**p50, **p95}, title="Recommendation latency per day (ms)")}


_LLM = """
SELECT started_at::date, count(*), sum(tokens_in + tokens_out), sum(cost),
       count(*) FILTER (WHERE cache_hit <> ''), count(*) FILTER (WHERE status <> 'ok')
FROM llmops_trace WHERE kind = 'llm' AND started_at >= %s GROUP BY 1
"""


def llm_panel(since: datetime) -> dict[str, Any]:
    rows = _rows(_LLM, [since])
    calls = _series([(d, "calls", n) for d, n, *_ in rows] + [(d, "errors", e) for d, *_, e in rows])
    tokens = _series([(d, "tokens", t) for d, _, t, *_ in rows])
    cost = _series([(d, "cost", c) for d, _, _, c, *_ in rows])
    hits = _series([(d, "cache-hit rate", h / n if n else 0.0) for d, n, _, _, h, _ in rows])
    total = sum(row[1] for row in rows)
    return {
        "calls": total, "errors": sum(row[5] for row in rows), "cost": sum(float(row[3] or 0) for row in rows),
        "calls_chart": line_chart(calls, title="Model calls and errors per day"),
        "tokens_chart": line_chart(tokens, title="Tokens per day"),
        "cost_chart": line_chart(cost, title="Cost per day"),
        "cache_chart": line_chart(hits, title="Cache-hit rate per day", share=True),
    }  # fmt: skip


_REVIEW = """
SELECT status, count(*), NULL::date FROM curation_draft GROUP BY status
UNION ALL
SELECT action, count(*), at::date FROM curation_reviewaction
WHERE at >= %s AND action IN ('approve', 'reject', 'publish') GROUP BY 1, 3
"""


def review_panel(since: datetime) -> dict[str, Any]:
    rows = _rows(_REVIEW, [since])
    statuses = {name: n for name, n, day in rows if day is None}
    done = _series([(day, name, n) for name, n, day in rows if day is not None])
    queue = statuses.get("pending_review", 0) + statuses.get("in_review", 0)
    return {"queue": queue, "statuses": bar_chart(statuses, title="Drafts by status"),
            "throughput": line_chart(done, title="Review decisions per day")}  # fmt: skip


def evaluation_panel() -> dict[str, Any]:
    # An experiment's replay (params.kind "replay") has its own page; this panel is the baselines' run.
    done = EvaluationRun.objects.filter(status=EvaluationRun.Status.DONE).exclude(params__contains={"kind": "replay"})
    run = done.order_by("-finished_at").first()
    if run is None:
        return {"run": None, "chart": bar_chart({}, title="Latest offline evaluation")}
    ndcg = {name: float(scores.get("ndcg@10", 0.0)) for name, scores in run.results.items()}
    title = f"NDCG@10 by recommender, run #{run.pk} of {run.finished_at:%Y-%m-%d %H:%M}"
    return {"run": run, "chart": bar_chart(ndcg, title=title)}


def fairness_panel(since: datetime) -> dict[str, Any]:
    rows = list(
        ExposureDaily.objects.filter(day__gte=since.date(), experiment="").values_list(
            "day", "surface", "gini", "coverage"
        )
    )
    return {
        "gini": line_chart(_series([(d, s, g) for d, s, g, _ in rows]),
                           title="Gini of exposure per surface (lower is more even)", share=True),
        "coverage": line_chart(_series([(d, s, c) for d, s, _, c in rows]), title="Catalog coverage per surface",
                               share=True),
    }  # fmt: skip


def jobs_panel(since: datetime) -> dict[str, Any]:
    recent = TaskRun.objects.filter(started_at__gte=since).order_by()
    counts = dict(recent.values_list("status").annotate(n=Count("id")))
    return {"counts": counts, "failed": counts.get(TaskRun.Status.FAILED, 0)}


def simulated_panel(population: Population) -> dict[str, Any]:
    """What simulated users wrote, how the page counts it, and the purge (lib/traffic.py)."""
    counts = simulated_counts()
    label = {"all": "mixed" if counts.total else "real", "real": "real", "simulated": "simulated"}[population]
    return {"counts": counts, "population": population, "populations": list(POPULATION_NAMES.items()),
            "label": label}  # fmt: skip


def dashboard_context(population: Population = "all") -> dict[str, Any]:
    since = timezone.now() - timedelta(days=WINDOW_DAYS)
    return {
        "window_days": WINDOW_DAYS,
        "simulated": simulated_panel(population),
        "catalog": catalog_panel(since),
        "events": events_panel(population),
        "engagement": engagement_panel(since, population),
        "latency": latency_panel(since, population),
        "llm": llm_panel(since),
        "review": review_panel(since),
        "evaluation": evaluation_panel(),
        "fairness": fairness_panel(since),
        "jobs": jobs_panel(since),
        "experiments": experiments_panel(),
    }


def experiments_panel() -> list[dict[str, Any]]:
    """Running experiments first, then the latest stopped ones; each links to its page."""
    shown = Experiment.objects.exclude(status=Experiment.Status.DRAFT).order_by("status", "-created_at")
    return [dict(row) for row in shown.values("pk", "name", "surface", "status")[:8]]
