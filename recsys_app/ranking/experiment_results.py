"""What an experiment shows per variant, joining both worlds: recommendation KPIs from
impressions and the events attributed to them, and the model side from the traces written
while its units were served.

Attribution (one rule, documented in README "Step 12"): an event that carries a `request_id`
counts for the impression of that request and item, and nowhere else. An event without one
counts for the user's latest impression of the item shown at most
`EXPERIMENT_ATTRIBUTION_MINUTES` before it (last touch), whichever experiment that impression
belongs to. An impression counts as clicked (converted) once, however many events point at it,
so nothing is counted twice."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from recsys_app.lib.traffic import POPULATIONS, Population, population_label, population_sql
from recsys_app.ranking.experiments import CLICK_TYPES, CONVERSION_TYPES, variant_specs
from recsys_app.ranking.models import Experiment
from recsys_app.ranking.stats import bootstrap_mean, srm_p_value, wilson

# Impressions of the experiment and, per impression, the events attributed to it.
_ATTRIBUTED = """
WITH imp AS (
    SELECT i.id, i.request_id, i.user_id, i.item_id, i.shown_at, i.provenance,
           i.assignments ->> %(experiment)s AS variant,
           CASE WHEN %(by_session)s AND i.session_id <> '' THEN 'session:' || i.session_id
                ELSE i.user_external_id END AS unit
    -- the first condition lets the partial GIN index (rows in some experiment) answer
    FROM catalog_impression i WHERE i.assignments <> '{}'::jsonb AND i.assignments ? %(experiment)s
      AND (%(population)s = 'all' OR i.simulated = (%(population)s = 'simulated'))
),
direct AS (
    SELECT x.type, x.value, x.item_id, imp.id AS impression_id
    FROM imp JOIN catalog_interaction x ON x.request_id = imp.request_id AND x.item_id = imp.item_id
    WHERE x.type = ANY(%(attributed)s)
),
windowed AS (
    SELECT x.type, x.value, x.item_id, last.id AS impression_id
    FROM catalog_interaction x
    CROSS JOIN LATERAL (
        SELECT j.id FROM catalog_impression j
        WHERE j.user_id = x.user_id AND j.item_id = x.item_id AND j.shown_at <= x.occurred_at
          AND j.shown_at > x.occurred_at - make_interval(mins => %(window)s)
        ORDER BY j.shown_at DESC, j.id DESC LIMIT 1
    ) last
    WHERE x.request_id IS NULL AND x.type = ANY(%(attributed)s)
      AND x.user_id IN (SELECT user_id FROM imp WHERE user_id IS NOT NULL)
      AND x.occurred_at >= (SELECT min(shown_at) FROM imp)
),
attributed AS (
    SELECT e.impression_id, bool_or(e.type = ANY(%(clicks)s)) AS clicked,
           bool_or(e.type = ANY(%(conversions)s)) AS converted,
           sum(CASE WHEN e.type = 'purchase' THEN coalesce(e.value, it.price) END) AS revenue
    FROM (SELECT * FROM direct UNION ALL SELECT * FROM windowed WHERE impression_id IN (SELECT id FROM imp)) e
    JOIN catalog_item it ON it.id = e.item_id
    GROUP BY e.impression_id
)
"""

_PER_UNIT = (
    _ATTRIBUTED
    + """
SELECT imp.variant, imp.unit, count(*), count(DISTINCT imp.request_id), count(*) FILTER (WHERE a.clicked),
       count(*) FILTER (WHERE a.converted), sum(a.revenue)
FROM imp LEFT JOIN attributed a ON a.impression_id = imp.id
GROUP BY imp.variant, imp.unit
"""
)

_TIMELINE = (
    _ATTRIBUTED
    + """
SELECT date_trunc(%(step)s, imp.shown_at), imp.variant, count(*), count(*) FILTER (WHERE a.clicked)
FROM imp LEFT JOIN attributed a ON a.impression_id = imp.id
GROUP BY 1, 2 ORDER BY 1
"""
)

# Which generated content the clicks went to: per variant and per draft / prompt version / model
# behind the text shown (a collection, an explanation, the agent's reply).
_BY_PROVENANCE = (
    _ATTRIBUTED
    + """
SELECT imp.variant, p.key, p.value ->> 'prompt', p.value ->> 'prompt_version', p.value ->> 'draft',
       p.value ->> 'model', count(*), count(*) FILTER (WHERE a.clicked), count(*) FILTER (WHERE a.converted)
FROM imp CROSS JOIN LATERAL jsonb_each(imp.provenance) p
LEFT JOIN attributed a ON a.impression_id = imp.id
WHERE imp.provenance IS NOT NULL AND jsonb_typeof(p.value) = 'object'
GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5
"""
)

_LLM_SIDE = """
SELECT t.attributes -> 'experiments' ->> %(experiment)s, count(*), count(*) FILTER (WHERE t.status = 'error'),
       coalesce(sum(t.tokens_in + t.tokens_out), 0), coalesce(sum(t.cost), 0),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY t.latency_ms),
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(t.guardrails) g
                                      WHERE g ->> 'passed' = 'false' AND g ->> 'action' = 'block')),
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(t.guardrails) g
                                      WHERE g ->> 'passed' = 'false' AND g ->> 'action' = 'flag')),
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(t.guardrails) g
                                      WHERE g ->> 'guardrail' = 'grounding')),
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(t.guardrails) g
                                      WHERE g ->> 'guardrail' = 'grounding' AND g ->> 'passed' = 'true')),
       avg((r.scores ->> 'judge')::float)
FROM llmops_trace t
LEFT JOIN LATERAL (SELECT e.scores FROM llmops_evalresult e WHERE e.trace_id = t.id AND e.scores ? 'judge'
                   ORDER BY e.id DESC LIMIT 1) r ON true
WHERE t.attributes ? 'experiments' AND t.attributes -> 'experiments' ? %(experiment)s AND t.kind = 'llm'
  AND NOT EXISTS (SELECT 1 FROM llmops_trace s WHERE s.id IN (t.parent_id, t.root_id) AND s.attributes ? 'evaluation')
GROUP BY 1
"""


@dataclass
class VariantResult:
    variant: str
    weight: float
    stopped: str = ""
    units: int = 0
    requests: int = 0
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    revenue_per_unit: tuple[float, float, float] | None = None  # None: no purchase had a price
    llm: dict[str, Any] = field(default_factory=dict)

    @property
    def ctr(self) -> tuple[float, float, float]:
        return wilson(self.clicks, self.impressions)

    @property
    def conversion_rate(self) -> tuple[float, float, float]:
        return wilson(self.conversions, self.impressions)


@dataclass
class ExperimentResults:
    experiment: Experiment
    variants: list[VariantResult]
    srm_p: float | None  # None: too few units to test
    not_enough: list[str]  # why results are not yet to be read (empty: enough data)
    timeline: dict[str, list[tuple[datetime, float]]]  # CTR per variant per hour or day
    window_minutes: int
    by_provenance: list[dict[str, Any]] = field(default_factory=list)  # clicks per generated content shown
    population: Population = "all"  # the traffic counted: all, real (people) or simulated
    simulated_impressions: int = 0  # of the experiment's impressions in that population
    total_impressions: int = 0

    @property
    def label(self) -> str:
        """'simulated', 'mixed', 'real' (or '' before any impression): shown wherever results are."""
        return population_label(self.simulated_impressions, self.total_impressions)

    @property
    def srm(self) -> bool:
        return self.srm_p is not None and self.srm_p < settings.EXPERIMENT_SRM_P

    @property
    def guard(self) -> list[str]:
        return [f"{v.variant}: {v.stopped}" for v in self.variants if v.stopped]


def experiment_results(*, experiment: Experiment, population: Population = "all") -> ExperimentResults:
    """Results over all traffic, or only people's (`real`) or only the simulator's."""
    if population not in POPULATIONS:
        raise ValueError(f"population: {population!r} is not one of {', '.join(POPULATIONS)}")
    specs = variant_specs(experiment)
    found = {spec.name: VariantResult(spec.name, spec.weight, spec.stopped) for spec in specs}
    revenues: dict[str, list[float]] = {name: [] for name in found}
    priced: set[str] = set()
    with connection.cursor() as cursor:
        cursor.execute(_PER_UNIT, _params(experiment, population=population))
        for variant, _unit, impressions, requests, clicks, conversions, revenue in cursor.fetchall():
            result = found.get(variant)
            if result is None:  # a variant removed from the experiment after it served
                continue
            result.units += 1
            result.requests += requests
            result.impressions += impressions
            result.clicks += clicks
            result.conversions += conversions
            revenues[variant].append(float(revenue or 0))
            if revenue is not None:
                priced.add(variant)
        # The denominator: every unit served under the variant, shown items or not.
        cursor.execute("SELECT variant, count(*) FROM ranking_experimentexposure e WHERE experiment = %s "
                       f"AND {population_sql('e', population)} GROUP BY variant", [experiment.name])  # fmt: skip
        for variant, exposed in cursor.fetchall():
            if variant in found:
                found[variant].units = max(found[variant].units, exposed)
    llm = llm_side(experiment=experiment)
    for name, result in found.items():
        if priced:  # units that saw nothing or bought nothing spent 0
            result.revenue_per_unit = bootstrap_mean(revenues[name] + [0.0] * (result.units - len(revenues[name])))
        result.llm = llm.get(name, _no_calls())
        requests = max(result.requests, 1)
        result.llm["cost_per_1000_requests"] = round(result.llm["cost"] / requests * 1000, 6)
    variants = list(found.values())
    return ExperimentResults(
        experiment=experiment,
        variants=variants,
        srm_p=srm_p_value([v.units for v in variants if not v.stopped], [v.weight for v in variants if not v.stopped]),
        not_enough=_not_enough(variants),
        timeline=_timeline(experiment, population),
        window_minutes=settings.EXPERIMENT_ATTRIBUTION_MINUTES,
        by_provenance=_by_provenance(experiment, population),
        population=population,
        **_simulated_share(experiment, population),
    )


def _simulated_share(experiment: Experiment, population: Population) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FILTER (WHERE i.simulated), count(*) FROM catalog_impression i "
                       "WHERE i.assignments <> '{}'::jsonb AND i.assignments ? %s AND "
                       + population_sql("i", population), [experiment.name])  # fmt: skip
        simulated, total = cursor.fetchone()
    return {"simulated_impressions": simulated, "total_impressions": total}


def _params(experiment: Experiment, **extra: Any) -> dict[str, Any]:
    return {
        "experiment": experiment.name,
        "by_session": experiment.unit == Experiment.Unit.SESSION,
        "window": settings.EXPERIMENT_ATTRIBUTION_MINUTES,
        "clicks": list(CLICK_TYPES),
        "conversions": list(CONVERSION_TYPES),
        "attributed": list(CLICK_TYPES + CONVERSION_TYPES),
        "population": "all",
        **extra,
    }


def _not_enough(variants: list[VariantResult]) -> list[str]:
    """The minimum-sample rule: every variant needs EXPERIMENT_MIN_UNITS units and
    EXPERIMENT_MIN_IMPRESSIONS impressions before its intervals are worth reading."""
    short = []
    for v in variants:
        if v.stopped:  # its results are frozen; the others decide when the experiment reads
            continue
        if v.units < settings.EXPERIMENT_MIN_UNITS:
            short.append(f"{v.variant}: {v.units} of {settings.EXPERIMENT_MIN_UNITS} units")
        elif v.impressions < settings.EXPERIMENT_MIN_IMPRESSIONS:
            short.append(f"{v.variant}: {v.impressions} of {settings.EXPERIMENT_MIN_IMPRESSIONS} impressions")
    return short


def _timeline(experiment: Experiment, population: Population) -> dict[str, list[tuple[datetime, float]]]:
    """CTR per variant per hour for an experiment younger than three days, else per day."""
    young = experiment.starts_at is not None and (timezone.now() - experiment.starts_at).days < 3
    series: dict[str, list[tuple[datetime, float]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_TIMELINE, _params(experiment, population=population, step="hour" if young else "day"))
        for moment, variant, shown, clicks in cursor.fetchall():
            series.setdefault(variant, []).append((moment, clicks / shown if shown else 0.0))
    return series


def _by_provenance(experiment: Experiment, population: Population) -> list[dict[str, Any]]:
    keys = ("variant", "shown", "prompt", "prompt_version", "draft", "model", "impressions", "clicks", "conversions")
    with connection.cursor() as cursor:
        cursor.execute(_BY_PROVENANCE, _params(experiment, population=population))
        rows = [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        row["prompt_version"] = int(row["prompt_version"]) if row["prompt_version"] else None
        row["draft"] = int(row["draft"]) if row["draft"] else None
        row["ctr"] = _rate(wilson(row["clicks"], row["impressions"]))
    return rows


def _no_calls() -> dict[str, Any]:
    return {"calls": 0, "errors": 0, "tokens": 0, "cost": 0.0, "latency_p95_ms": None, "error_rate": 0.0,
            "block_rate": 0.0, "flag_rate": 0.0, "grounding_rate": None, "judge": None}  # fmt: skip


def llm_side(*, experiment: Experiment) -> dict[str, dict[str, Any]]:
    """Per variant, the model calls made while its units were served (traces tagged with the
    experiment): calls, errors, tokens, cost, latency p95, guardrail block and flag rates, the
    share of grounding checks passed, and the mean online judge score of the sampled ones."""
    side = {}
    with connection.cursor() as cursor:
        cursor.execute(_LLM_SIDE, {"experiment": experiment.name})
        for variant, calls, errors, tokens, cost, p95, blocked, flagged, grounded, passed, judge in cursor.fetchall():
            side[variant] = {
                "calls": calls, "errors": errors, "tokens": int(tokens), "cost": float(cost),
                "latency_p95_ms": round(p95, 1) if p95 is not None else None, "error_rate": errors / calls,
                "block_rate": blocked / calls, "flag_rate": flagged / calls,
                "grounding_rate": passed / grounded if grounded else None,
                "judge": round(judge, 4) if judge is not None else None,
            }  # fmt: skip
    return side


def _rate(values: tuple[float, float, float] | None, digits: int = 6) -> dict[str, float] | None:
    if values is None:
        return None
    return {"rate": round(values[0], digits), "low": round(values[1], digits), "high": round(values[2], digits)}


def _variant_body(v: VariantResult) -> dict[str, Any]:
    return {
        "variant": v.variant, "weight": v.weight, "stopped": v.stopped, "units": v.units, "users": v.units,
        "requests": v.requests, "impressions": v.impressions, "clicks": v.clicks, "conversions": v.conversions,
        "ctr": _rate(v.ctr), "conversion_rate": _rate(v.conversion_rate),
        "revenue_per_unit": _rate(v.revenue_per_unit, 4), "llm": v.llm,
    }  # fmt: skip


def experiment_results_body(results: ExperimentResults) -> dict[str, Any]:
    """The results as JSON (the API's body; the console renders the same numbers)."""
    from recsys_app.evaluation.selectors import experiment_replay_latest

    experiment = results.experiment
    return {
        "experiment": experiment.name,
        "surface": experiment.surface,
        "status": experiment.status,
        "unit": experiment.unit,
        "layer": experiment.layer_name,
        "traffic": experiment.traffic,
        "population": {
            "counted": results.population,
            "label": results.label,
            "simulated_impressions": results.simulated_impressions,
            "impressions": results.total_impressions,
        },
        "attribution_window_minutes": results.window_minutes,
        "enough_data": not results.not_enough,
        "not_enough": results.not_enough,
        "srm": {"p_value": results.srm_p, "detected": results.srm, "threshold": settings.EXPERIMENT_SRM_P},
        "guard": results.guard,
        "variants": [_variant_body(v) for v in results.variants],
        "by_provenance": results.by_provenance,
        "replay": experiment_replay_latest(experiment_name=experiment.name),
    }
