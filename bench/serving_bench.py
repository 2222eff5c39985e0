"""Latency and throughput of GET /api/v1/recommendations through gunicorn, at concurrency 8.

gunicorn runs 2 processes x 4 threads (gthread) against the database; 8 client threads
each send requests for random users of a sample (k=20, impressions logged as in production).
Two paths, alternating within each run:
- pooled: the `home` surface, whose candidate pools the worker keeps precomputed (nearline);
  the bench first rebuilds the sample's pools the way the worker does, and times that;
- live: the same settings with `precompute` off, so every request queries every source.
Baselines in the same run: /healthz through the same gunicorn and client (a plain Django view
running SELECT 1: the floor of the HTTP stack on this machine), and the bare pgvector HNSW
query (100 nearest items to a user vector), the floor under any personalised request. Also the
pooled path with one client (service time without queueing). Medians over --runs runs.

    python bench/serving_bench.py --database demo      # the MovieLens demo (var/pgdata, recsys)
    python bench/serving_bench.py --database bench     # the synthetic catalog (run prepare_serving_state.py)
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable

from _setup import ROOT, machine, median, setup_bench_django, start_gunicorn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["demo", "bench"], default="demo")
    parser.add_argument("--requests", type=int, default=800, help="per run, across all clients")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--users", type=int, default=2000, help="users in the traffic sample")
    args = parser.parse_args()
    url = _database(args.database)
    from recsys_app.accounts.services import api_token_create
    from recsys_app.catalog.models import EndUser, Item

    sample = list(EndUser.objects.filter(consent_personalization=True).order_by("?")[: args.users])
    users = [user.external_id for user in sample]
    items = Item.objects.count()
    _live_surface()
    pool_seconds = _build_pools([user.pk for user in sample])
    _, key = api_token_create(name="serving-bench", scopes=["serve"])
    web = start_gunicorn(url, args.port, "--workers", "2", "--worker-class", "gthread", "--threads", "4")
    paths = {
        "pooled (nearline candidates)": lambda rng: f"{URL}?k=20&surface=home&user_id={rng.choice(users)}",
        "live (every source per request)": lambda rng: f"{URL}?k=20&surface={LIVE}&user_id={rng.choice(users)}",
        "HTTP floor: /healthz (Django view, SELECT 1)": lambda rng: "/healthz",
    }
    results: dict[str, list[tuple[float, float, float]]] = {label: [] for label in paths}
    floors, single = [], []
    try:
        for build in paths.values():  # warm connections, caches, models
            _load(args.port, key, build, 40, args.concurrency)
        for run in range(args.runs):
            for label, build in paths.items():
                latencies, seconds = _load(args.port, key, build, args.requests, args.concurrency)
                results[label].append((_pct(latencies, 50), _pct(latencies, 99), len(latencies) / seconds))
                p50, p99, rps = results[label][-1]
                print(f"run {run + 1} {label}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, {rps:.0f} req/s")
            latencies, _ = _load(args.port, key, paths["pooled (nearline candidates)"], 200, 1)
            single.append(_pct(latencies, 50))
            floors.append(_hnsw_floor())
    finally:
        web.terminate()
        web.wait(timeout=30)
    print(f"\nmachine: {machine()}; {args.database}: {items:,} items, {EndUser.objects.count():,} users")
    print(f"gunicorn 2 processes x 4 threads, {args.concurrency} client threads, {len(users):,} users in the sample")
    print(f"nearline pool build: {len(users) / pool_seconds:.0f} users/s ({pool_seconds:.1f} s)")
    for label, figures in results.items():
        print(
            f"{label}: p50 {median([r[0] for r in figures]):.1f} ms, "
            f"p99 {median([r[1] for r in figures]):.1f} ms, {median([r[2] for r in figures]):.0f} req/s"
        )
    print(f"pooled, one client at a time (service time): p50 {median(single):.1f} ms")
    print(f"bare pgvector HNSW query, 100 nearest (floor): p50 {median(floors):.2f} ms")


LIVE = "bench_live"
URL = "/api/v1/recommendations"


def _live_surface() -> None:
    """`home` as configured, with precompute off."""
    from recsys_app.ranking.models import Surface
    from recsys_app.ranking.surfaces import surface_config

    config = surface_config("home").model_copy(update={"precompute": False})
    Surface.objects.update_or_create(name=LIVE, defaults={"config": config.model_dump(mode="json")})


def _build_pools(user_ids: list[int]) -> float:
    """What the worker does when these users' events arrive; returns the seconds it took."""
    from recsys_app.ranking.pools import candidate_pools_refresh

    started = time.perf_counter()
    for start in range(0, len(user_ids), 500):
        candidate_pools_refresh(user_ids=user_ids[start : start + 500])
    return time.perf_counter() - started


def _database(name: str) -> str:
    if name == "bench":
        return setup_bench_django()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recsys_app.settings")
    import django
    from django.conf import settings

    django.setup()
    return settings.DATABASE_URL


def _load(
    port: int, key: str, build: Callable[[random.Random], str], total: int, concurrency: int
) -> tuple[list[float], float]:
    latencies: list[float] = []
    lock = threading.Lock()
    headers = {"Authorization": f"Token {key}"}

    def client(count: int, seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(count):
            started = time.perf_counter()
            conn.request("GET", build(rng), headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status}")
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)
        conn.close()

    threads = [threading.Thread(target=client, args=(total // concurrency, n)) for n in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started


def _pct(values: list[float], percentile: int) -> float:
    return statistics.quantiles(values, n=100)[percentile - 1] if percentile < 100 else max(values)


def _hnsw_floor(queries: int = 200) -> float:
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT vector::text FROM retrieval_uservector ORDER BY random() LIMIT %s", [queries])
        vectors = [row[0] for row in cursor.fetchall()]
        timings = []
        for vector in vectors:
            started = time.perf_counter()
            cursor.execute(
                "SELECT item_id FROM retrieval_itemembedding WHERE model_name = %s "
                "ORDER BY vector <=> %s::vector LIMIT 100",
                [settings.EMBEDDING_MODEL, vector],
            )
            cursor.fetchall()
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


if __name__ == "__main__":
    main()
