"""HNSW recall against exact search on the item embeddings of the bench database.

For --queries user vectors, the 50 nearest items by cosine distance through the HNSW index
(at several hnsw.ef_search values) are compared with an exact scan (index scans off).
Recall is tie-aware: the share of HNSW's 50 whose distance is within the exact 50th
distance (the synthetic catalog has many items with near-identical text, whose order among
equals is arbitrary); the share of the exact ids returned is printed beside it.
Medians of per-query times.

    python bench/hnsw_bench.py [--queries 200] [--k 50]
"""

from __future__ import annotations

import argparse
import statistics
import time

from _setup import machine, setup_bench_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--iterative", default="off", choices=["off", "relaxed_order", "strict_order"])
    args = parser.parse_args()
    setup_bench_django()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM retrieval_itemembedding")
        (items,) = cursor.fetchone()
        cursor.execute("SELECT vector::text FROM retrieval_uservector ORDER BY random() LIMIT %s", [args.queries])
        queries = [row[0] for row in cursor.fetchall()]
        exact, exact_ms = _search(cursor, queries, args.k, index=False)
        bounds = [distances[-1] + 1e-6 for _, distances in exact]
        print(f"machine: {machine()}; {items:,} item vectors (384 dimensions), {len(queries)} queries, k={args.k}")
        print(f"exact scan: p50 {exact_ms:.2f} ms")
        cursor.execute(f"SET hnsw.iterative_scan = {args.iterative}")
        for ef in (40, 100, 200, 400):
            cursor.execute(f"SET hnsw.ef_search = {ef}")
            found, ms = _search(cursor, queries, args.k, index=True)
            recall = statistics.mean(
                sum(d <= bound for d in distances) / args.k for (_, distances), bound in zip(found, bounds, strict=True)
            )
            ids = statistics.mean(len(set(a) & set(b)) / args.k for (a, _), (b, _) in zip(found, exact, strict=True))
            print(f"HNSW ef_search={ef}: recall@{args.k} {recall:.3f} (exact ids {ids:.3f}), p50 {ms:.2f} ms, "
                  f"{exact_ms / ms:.0f}x faster than exact")  # fmt: skip


def _search(cursor, queries: list[str], k: int, *, index: bool) -> tuple[list[tuple[list[int], list[float]]], float]:  # type: ignore[no-untyped-def]
    cursor.execute(f"SET enable_indexscan = {'on' if index else 'off'}")
    results, timings = [], []
    for vector in queries:
        started = time.perf_counter()
        cursor.execute(
            "SELECT item_id, vector <=> %s::vector AS d FROM retrieval_itemembedding ORDER BY d LIMIT %s",
            [vector, k],
        )
        rows = cursor.fetchall()
        results.append(([row[0] for row in rows], sorted(row[1] for row in rows)))
        timings.append((time.perf_counter() - started) * 1000)
    cursor.execute("SET enable_indexscan = on")
    return results, statistics.median(timings)


if __name__ == "__main__":
    main()
