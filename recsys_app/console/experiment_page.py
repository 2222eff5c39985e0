"""The experiment page: per variant, the recommendation KPIs and the model side with their
intervals, CTR over time, the sample-ratio and minimum-sample verdicts, guard stops, and the
offline replay next to the live results."""

from __future__ import annotations

from typing import Any

from recsys_app.console.charts import line_chart
from recsys_app.lib.traffic import POPULATION_NAMES, Population
from recsys_app.ops.simulator import simulation_bench_latest
from recsys_app.ranking.experiment_results import experiment_results, experiment_results_body
from recsys_app.ranking.models import Experiment


def experiment_context(experiment: Experiment, population: Population = "all") -> dict[str, Any]:
    results = experiment_results(experiment=experiment, population=population)
    body = experiment_results_body(results)
    hourly = any(len(points) > 1 and points[1][0].hour != points[0][0].hour
                 for points in results.timeline.values())  # fmt: skip
    fmt = "%m-%d %H:00" if hourly else "%Y-%m-%d"
    series = {name: [(moment.strftime(fmt), rate) for moment, rate in points]
              for name, points in results.timeline.items()}  # fmt: skip
    return {
        "experiment": experiment,
        "results": body,
        "rows": [_row(v) for v in body["variants"]],
        "ctr_chart": line_chart(series, title="CTR by variant", share=True, width=640),
        "replay": _replay(body.get("replay")),
        "populations": list(POPULATION_NAMES.items()),
        "simulation": simulation_bench_latest(experiment=experiment.name),
    }


def _interval(rate: dict[str, float] | None, *, percent: bool = True) -> str:
    if rate is None:
        return "-"
    if percent:
        return f"{rate['rate']:.2%} [{rate['low']:.2%}, {rate['high']:.2%}]"
    return f"{rate['rate']:.2f} [{rate['low']:.2f}, {rate['high']:.2f}]"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _row(v: dict[str, Any]) -> dict[str, Any]:
    llm = v["llm"]
    return {
        "variant": v["variant"], "stopped": v["stopped"], "units": v["units"], "impressions": v["impressions"],
        "ctr": _interval(v["ctr"]), "conversion": _interval(v["conversion_rate"]),
        "revenue": _interval(v["revenue_per_unit"], percent=False), "calls": llm["calls"], "tokens": llm["tokens"],
        "cost": f"{llm['cost_per_1000_requests']:.4f}",
        "p95": "-" if llm["latency_p95_ms"] is None else f"{llm['latency_p95_ms']:.0f} ms",
        "block": _share(llm["block_rate"] if llm["calls"] else None),
        "flag": _share(llm["flag_rate"] if llm["calls"] else None),
        "errors": _share(llm["error_rate"] if llm["calls"] else None),
        "grounding": _share(llm["grounding_rate"]), "judge": "-" if llm["judge"] is None else f"{llm['judge']:.2f}",
    }  # fmt: skip


def _replay(replay: dict[str, Any] | None) -> dict[str, Any] | None:
    """The replay's metrics as rows (variant, each metric with its change against the control)."""
    if not replay:
        return None
    results = replay.get("results") or {}
    variants: dict[str, dict[str, float]] = results.get("variants") or {}
    metrics = sorted({metric for values in variants.values() for metric in values})
    delta = results.get("delta") or {}
    rows = [
        {"variant": name, "values": [(values.get(m), (delta.get(name) or {}).get(m)) for m in metrics]}
        for name, values in variants.items()
    ]
    return {**replay, "metrics": metrics, "rows": rows}
