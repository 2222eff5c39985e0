"""A bounded load test on loopback: gunicorn + PostgreSQL + Redis + two Celery workers (and beat),
mixed ingestion, recommendation and search traffic for a fixed duration.

Traffic: --clients threads, each request drawn at random: 20 % POST /api/v1/events (a batch of
20 new events, each with its own idempotency key), 60 % GET /api/v1/recommendations (home, a
random demo user, k=20), 20 % GET /api/v1/search (a word from a random title). Figures per run:
throughput, p50 / p95 / p99 latency per kind, errors (any non-2xx or failed request; target 0),
and the exactly-once check: the events stored under this run's key prefix must equal the events
the API reported stored, and every accepted key must be there once. Baseline in the same run:
/healthz through the same gunicorn and clients. Medians over --runs runs.

    python bench/load_bench.py [--duration 30] [--runs 3] [--clients 8]

Needs Redis on 127.0.0.1:6379 (database 12 is used and flushed) and the demo database (make run).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from _setup import ROOT, machine, median, setup_bench_django, start_gunicorn

BROKER = "redis://127.0.0.1:6379/12"
PORT = 8767


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    stored: int = 0
    accepted_keys: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _events(prefix: str, users: list[str], items: list[str], rng: random.Random) -> list[dict]:
    kinds = ["view", "click", "like"]
    return [
        {"user_id": rng.choice(users), "item_id": rng.choice(items), "type": rng.choice(kinds),
         "timestamp": time.time(), "idempotency_key": f"{prefix}{uuid.uuid4().hex}"}
        for _ in range(20)
    ]  # fmt: skip


def _client(stop: float, key: str, tally: Tally, mix: list[str], data: dict, seed: int) -> None:
    rng, conn = random.Random(seed), http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    headers = {"Authorization": f"Token {key}", "Content-Type": "application/json"}
    while time.monotonic() < stop:
        kind = rng.choice(mix)
        body = None
        if kind == "ingest":
            events = _events(data["prefix"], data["users"], data["items"], rng)
            method, path, body = "POST", "/api/v1/events", json.dumps({"events": events})
        elif kind == "recommend":
            method, path = "GET", f"/api/v1/recommendations?surface=home&k=20&user_id={rng.choice(data['users'])}"
        elif kind == "search":
            method, path = "GET", f"/api/v1/search?k=20&q={rng.choice(data['words'])}"
        else:
            method, path = "GET", "/healthz"
        started = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            ok = 200 <= response.status < 300
        except (OSError, http.client.HTTPException):
            conn.close()
            conn, ok, payload = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30), False, b""
        elapsed = (time.perf_counter() - started) * 1000
        with tally.lock:
            tally.latencies[kind].append(elapsed)
            if not ok:
                tally.errors[kind] += 1
            elif kind == "ingest":
                tally.stored += json.loads(payload)["stored"]
                tally.accepted_keys += [e["idempotency_key"] for e in json.loads(body or "{}")["events"]]


def _drive(duration: float, clients: int, key: str, mix: list[str], data: dict) -> Tally:
    tally, stop = Tally(), time.monotonic() + duration
    threads = [threading.Thread(target=_client, args=(stop, key, tally, mix, data, n)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(share * len(ordered)) - 1)] if ordered else 0.0


def _stored_once(prefix: str, keys: list[str]) -> tuple[int, int, int]:
    """(rows under the prefix, accepted keys, accepted keys not stored exactly once)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT idempotency_key, count(*) FROM catalog_interaction WHERE idempotency_key LIKE %s "
                       "GROUP BY 1", [prefix + "%"])  # fmt: skip
        counts = dict(cursor.fetchall())
    return sum(counts.values()), len(keys), sum(1 for k in keys if counts.get(k) != 1)


def _workers(url: str) -> list[subprocess.Popen[bytes]]:
    env = {**__import__("os").environ, "DATABASE_URL": url, "CELERY_BROKER_URL": BROKER}
    base = [sys.executable, "-m", "celery", "-A", "recsys_app"]
    worker = [*base, "worker", "--loglevel", "WARNING", "--concurrency", "1", "--without-gossip", "--without-mingle"]
    beat = [*base, "beat", "--loglevel", "WARNING", "-s", "/tmp/load-beat-schedule"]
    commands = [[*worker, "-n", f"load-{n}@%h"] for n in range(2)] + [beat]
    return [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL) for cmd in commands]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of mixed traffic per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    url = setup_bench_django("recsys")
    from kombu import Connection

    from recsys_app.accounts.services import api_token_create
    from recsys_app.catalog.models import EndUser, Item

    with Connection(BROKER) as conn:
        conn.default_channel.client.flushdb()
    users = list(EndUser.objects.filter(consent_personalization=True).values_list("external_id", flat=True)[:600])
    titles = list(Item.objects.order_by("?").values_list("title", "external_id")[:2000])
    _, key = api_token_create(name="load-bench", scopes=["ingest", "serve"], rate_per_minute=10_000_000)
    data = {"users": users, "items": [e for _, e in titles],
            "words": [w for t, _ in titles for w in t.split() if len(w) > 3 and w.isalpha()][:2000]}  # fmt: skip
    processes = _workers(url)
    web = start_gunicorn(url, PORT, "--workers", "2", "--worker-class", "gthread", "--threads", "4")
    mix = ["ingest"] * 2 + ["recommend"] * 6 + ["search"] * 2
    rows: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    checks = []
    try:
        _drive(5, args.clients, key, mix, {**data, "prefix": "load-warmup-"})
        for run in range(args.runs):
            data["prefix"] = f"load-{uuid.uuid4().hex[:8]}-"
            floor = _drive(min(10.0, args.duration), args.clients, key, ["healthz"], data)
            tally = _drive(args.duration, args.clients, key, mix, data)
            for kind, values in tally.latencies.items():
                rows[kind].append((len(values) / args.duration, statistics.median(values),
                                   _percentile(values, 0.95), _percentile(values, 0.99)))  # fmt: skip
            total = sum(len(v) for v in tally.latencies.values())
            rows["all"].append((total / args.duration, 0, 0, 0))
            stored_rows, accepted, wrong = _stored_once(data["prefix"], tally.accepted_keys)
            checks.append((sum(tally.errors.values()), tally.stored, stored_rows, accepted, wrong))
            hz = floor.latencies["healthz"]
            rows["baseline /healthz"].append((len(hz) / min(10.0, args.duration), statistics.median(hz),
                                              _percentile(hz, 0.95), _percentile(hz, 0.99)))  # fmt: skip
            print(
                f"run {run + 1}: {total / args.duration:.0f} req/s, errors {dict(tally.errors)}, "
                f"events stored {tally.stored}, rows {stored_rows}, keys not stored once {wrong}",
                flush=True,
            )
    finally:
        web.terminate()
        for process in processes:
            process.terminate()
        for process in [web, *processes]:
            process.wait(timeout=30)
    print(f"\nmachine: {machine()}; {args.clients} clients, {args.duration:.0f} s a run, medians over {args.runs} runs")
    print("gunicorn 2 x 4 threads, 2 Celery workers + beat on Redis, PostgreSQL (embedded), loopback")
    print("| traffic | requests/s | p50 ms | p95 ms | p99 ms |\n| --- | ---: | ---: | ---: | ---: |")
    for kind in ("ingest", "recommend", "search", "baseline /healthz"):
        r = rows[kind]
        print(
            f"| {kind} | {median([x[0] for x in r]):.1f} | {median([x[1] for x in r]):.1f} | "
            f"{median([x[2] for x in r]):.1f} | {median([x[3] for x in r]):.1f} |"
        )
    print(f"\nall mixed traffic: {median([x[0] for x in rows['all']]):.1f} requests/s")
    errors, reported, rows_found, accepted, wrong = (sum(c[n] for c in checks) for n in range(5))
    print(
        f"\nerrors: {errors} (target 0); events the API reported stored: {reported}; rows under the runs' "
        f"key prefixes: {rows_found}; accepted keys: {accepted}; accepted keys not stored exactly once: {wrong}"
    )


if __name__ == "__main__":
    main()
