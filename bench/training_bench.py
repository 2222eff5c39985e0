"""Training time of the collaborative models (fit only, medians of --runs) and, once, the
learned ranker end to end (snapshot, candidate features for up to 2,000 users, LightGBM fit).

    python bench/training_bench.py --database demo     # MovieLens, 100,004 ratings
    python bench/training_bench.py --database bench    # synthetic, 1,000,000 interactions
"""

from __future__ import annotations

import argparse
import time

from _setup import machine, median
from serving_bench import _database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["demo", "bench"], default="demo")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ranker", action="store_true", help="also time ranker_train once")
    args = parser.parse_args()
    _database(args.database)
    from recsys_app.retrieval.collaborative import _fit, _params
    from recsys_app.retrieval.interactions import build_matrix, weighted_events

    started = time.perf_counter()
    events = weighted_events()
    matrix = build_matrix(events)
    print(
        f"machine: {machine()}; {args.database}: {len(events):,} interactions, "
        f"{matrix.shape[0]:,} users x {matrix.shape[1]:,} items (loaded in {time.perf_counter() - started:.1f}s)"
    )
    for algorithm in ("als", "bpr"):
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            _fit(algorithm, _params(algorithm, None), matrix)
            times.append(time.perf_counter() - started)
        print(f"{algorithm} fit (64 factors): median {median(times):.2f}s over {args.runs} runs")
    if args.ranker:
        from recsys_app.ranking.ranker import ranker_train

        started = time.perf_counter()
        ranker = ranker_train()
        print(
            f"ranker end to end: {time.perf_counter() - started:.1f}s, {ranker.examples:,} examples, {ranker.metrics}"
        )


if __name__ == "__main__":
    main()
