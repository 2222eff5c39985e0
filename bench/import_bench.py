"""Import throughput of `manage.py import_data interactions` on 1,000,000 synthetic rows.

Baseline in the same run: a bare COPY of the same CSV into an unindexed, unconstrained table
(the floor set by PostgreSQL itself). Each figure is the median of --runs runs; the
interaction table is emptied between runs.

    python bench/import_bench.py [--interactions 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from _setup import ROOT, machine, median, setup_bench_django

sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    url = setup_bench_django()
    from synth import generate

    out = ROOT / "bench" / "out" / f"import-{args.interactions}"
    paths = generate(out, items=args.items, users=args.users, interactions=args.interactions)
    env_url = {"DATABASE_URL": url}
    for kind in ("creators", "items", "users"):
        _import(kind, paths[kind], env_url)
    ours, floor, table = [], [], []
    for run in range(args.runs):
        _reset()
        ours.append(_timed_import(paths["interactions"], env_url))
        floor.append(_bare_copy(paths["interactions"]))
        table.append(_reload_table())
        rates = [args.interactions / t[-1] for t in (ours, floor, table)]
        print(
            f"run {run + 1}: import_data {rates[0]:,.0f} rows/s, bare COPY {rates[1]:,.0f} rows/s, "
            f"COPY into the indexed table {rates[2]:,.0f} rows/s"
        )
    print(f"\nmachine: {machine()}")
    print(f"import_data interactions ({args.interactions:,} rows, validated, ids resolved, deduplicated):")
    print(f"  median {median(ours):.2f}s = {args.interactions / median(ours):,.0f} rows/s")
    print("bare COPY of the same file into an unconstrained table (floor):")
    print(f"  median {median(floor):.2f}s = {args.interactions / median(floor):,.0f} rows/s")
    print("COPY of the already-resolved rows into catalog_interaction with its indexes (storage floor):")
    print(f"  median {median(table):.2f}s = {args.interactions / median(table):,.0f} rows/s")
    print(f"import_data / storage floor: {median(table) / median(ours):.2f}")


def _import(kind: str, path: Path, env_url: dict[str, str]) -> float:
    import os

    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", "import_data", kind, str(path), "--no-progress"],
        cwd=ROOT,
        env={**os.environ, **env_url},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def _timed_import(path: Path, env_url: dict[str, str]) -> float:
    return _import("interactions", path, env_url)


def _reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE catalog_interaction")
        cursor.execute("DELETE FROM catalog_importrun WHERE kind = 'interactions'")
        cursor.execute("CHECKPOINT")


def _reload_table() -> float:
    """Export the imported rows, empty the table, time COPYing them back (indexes and all)."""
    from django.db import connection

    columns = "user_id, item_id, type, value, occurred_at, surface, context, request_id, idempotency_key, received_at"
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY (SELECT {columns} FROM catalog_interaction) TO STDOUT") as copy:
            data = b"".join(bytes(block) for block in copy)
        cursor.execute("TRUNCATE catalog_interaction")
        cursor.execute("CHECKPOINT")
        started = time.perf_counter()
        with cursor.cursor.copy(f"COPY catalog_interaction ({columns}) FROM STDIN") as copy:
            copy.write(data)
        return time.perf_counter() - started


def _bare_copy(path: Path) -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy_floor")
        cursor.execute(
            "CREATE UNLOGGED TABLE bench_copy_floor (user_id text, item_id text, type text, ts text, key text)"
        )
        started = time.perf_counter()
        with (
            path.open("rb") as handle,
            cursor.cursor.copy("COPY bench_copy_floor FROM STDIN (FORMAT csv, HEADER)") as copy,
        ):
            while block := handle.read(1 << 20):
                copy.write(block)
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_copy_floor")
    return elapsed


if __name__ == "__main__":
    main()
