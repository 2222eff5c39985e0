"""What attribution logging costs a served request, and how long an experiment's results take.

In one process against the MovieLens demo (its own database, `recsys_experiment_bench`), the
same requests (`trending`, k=20, a random demo user each) are served in three modes, taken in
turn request by request so the machine's noise falls on all of them alike:
- no logging: `log_impressions=False` (the baseline);
- logging, outside any experiment: impressions with session, empty assignments, provenance;
- logging inside two running experiments (two layers): assignments written, and the partial GIN
  index over them updated.
Each run reports p50 and p95 per mode; the figures are medians over --runs runs. Then the
experiment's results (attribution SQL, intervals, SRM, the model side) are timed over all the
impressions the runs logged.

    python bench/experiment_bench.py --runs 5 --requests 300
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from _setup import ensure_demo_catalog, machine, median, setup_bench_django

MODES = ("no logging (baseline)", "logging, no experiment", "logging, two experiments")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300, help="per mode and run")
    args = parser.parse_args()
    setup_bench_django("recsys_experiment_bench")
    ensure_demo_catalog()
    from recsys_app.catalog.models import EndUser, Impression
    from recsys_app.ranking.experiment_results import experiment_results
    from recsys_app.ranking.models import Experiment, ExperimentExposure
    from recsys_app.ranking.serving import RecommendationRequest, recommendations_serve

    users = list(EndUser.objects.values_list("external_id", flat=True)[:600])
    Impression.objects.filter(surface__in=["trending", "bench-plain"]).delete()
    Experiment.objects.filter(name__startswith="bench-").delete()
    ExperimentExposure.objects.filter(experiment__startswith="bench-").delete()
    _surfaces()
    experiments = [
        Experiment.objects.create(name="bench-diversity", surface="trending", layer="bench-a", status="running",
                                  variants=[{"name": "a", "weight": 1}, {"name": "b", "weight": 1,
                                            "config": {"diversity": 0.3}}]),
        Experiment.objects.create(name="bench-cap", surface="trending", layer="bench-b", status="running",
                                  variants=[{"name": "a", "weight": 1}, {"name": "b", "weight": 1,
                                            "config": {"creator_cap": 2}}]),
    ]  # fmt: skip

    def serve(mode: int, user: str) -> float:
        # The plain surface is a copy of trending that no experiment runs on.
        surface = "trending" if mode == 2 else "bench-plain"
        started = time.perf_counter()
        recommendations_serve(request=RecommendationRequest(surface=surface, k=20, user_external_id=user,
                                                            log_impressions=mode > 0, session_id="bench"))  # fmt: skip
        return (time.perf_counter() - started) * 1000

    rng = random.Random(3)
    for _ in range(30):  # warm caches and connections
        serve(rng.randrange(3), rng.choice(users))
    per_run: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    for _ in range(args.runs):
        times: dict[int, list[float]] = {0: [], 1: [], 2: []}
        for _ in range(args.requests):
            user = rng.choice(users)
            for mode in rng.sample(range(3), 3):
                times[mode].append(serve(mode, user))
        for mode, label in enumerate(MODES):
            ordered = sorted(times[mode])
            per_run[label].append((statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]))
    logged = Impression.objects.filter(experiment__startswith="bench-").count()
    started = time.perf_counter()
    for experiment in experiments:
        experiment_results(experiment=experiment)
    results_ms = (time.perf_counter() - started) * 1000 / len(experiments)
    _report(per_run, args, logged, results_ms)


def _surfaces() -> None:
    from recsys_app.ranking.config import DEFAULT_SURFACES
    from recsys_app.ranking.models import Surface

    Surface.objects.update_or_create(name="bench-plain", defaults={"config": DEFAULT_SURFACES["trending"].model_dump(
        mode="json")})  # fmt: skip


def _report(per_run: dict[str, list[tuple[float, float]]], args: argparse.Namespace, logged: int, ms: float) -> None:
    base_p50 = median([p50 for p50, _ in per_run[MODES[0]]])
    base_p95 = median([p95 for _, p95 in per_run[MODES[0]]])
    print(f"\nmachine: {machine()}; {args.runs} runs x {args.requests} requests per mode, trending k=20, in process")
    print(f"{'mode':<28} {'p50 ms':>8} {'p95 ms':>8} {'p50 added':>10} {'p95 added':>10}")
    for label in MODES:
        p50 = median([p for p, _ in per_run[label]])
        p95 = median([p for _, p in per_run[label]])
        print(f"{label:<28} {p50:8.2f} {p95:8.2f} {p50 - base_p50:+9.2f}  {p95 - base_p95:+9.2f}")
    print(f"experiment results over {logged:,} impressions: {ms:.0f} ms per experiment (median of one run)")


if __name__ == "__main__":
    main()
