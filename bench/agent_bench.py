"""Agent figures on the demo catalog with the local model (SmolLM2-135M, or the one
LLM_LOCAL_PROFILE names): latency per turn (p50, p95), task success, grounding and turns to
success over the scripted conversations (`agents/evaluation.py`), with the response cache
emptied first so every model call is made. Each run is stored as an evaluation run.

    python bench/agent_bench.py [--runs 3]

Runs on the curation bench's database (`recsys_curation_bench`, the demo loaded on first use).
"""

from __future__ import annotations

import argparse
import statistics

from _setup import machine, setup_bench_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    setup_bench_django("recsys_curation_bench")
    from curation_bench import _ensure_catalog
    from django.conf import settings

    from agents.evaluation import agent_evaluate
    from recsys_app.llmops.models import CacheEntry

    _ensure_catalog()
    print(f"machine: {machine()}; local model: {settings.LLM_LOCAL_PROFILE}; demo catalog")
    runs = []
    for number in range(1, args.runs + 1):
        CacheEntry.objects.all().delete()
        run = agent_evaluate()
        runs.append(run.scores)
        print(f"run {number}: {run.cases} conversations in {run.seconds:.1f} s; {run.scores}")
    for key in ("latency_p50_ms", "latency_p95_ms", "task_success", "grounding", "turns_to_success"):
        print(f"median of {len(runs)} runs, {key}: {statistics.median(r[key] for r in runs)}")


if __name__ == "__main__":
    main()
