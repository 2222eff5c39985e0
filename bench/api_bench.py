"""REST batch ingestion through gunicorn (2 sync workers): events/s into POST /api/v1/events.

Bodies of --batch events are encoded before timing; --clients threads post them over
keep-alive connections. Baseline in the same run: the same batches through the ingestion
service in-process (no HTTP, no JSON), which bounds what the web layer can reach.
Each figure is the median of --runs runs.

    python bench/api_bench.py [--events 200000] [--batch 1000] [--clients 4] [--runs 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
import uuid

from _setup import ROOT, machine, median, setup_bench_django, start_gunicorn

sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    url = setup_bench_django()
    users, items = _ensure_catalog()
    from recsys_app.accounts.services import api_token_create

    _, key = api_token_create(name="api-bench", scopes=["ingest"])
    web = start_gunicorn(url, args.port, "--workers", "2")
    try:
        http_rates, service_rates = [], []
        for run in range(args.runs):
            batches = _batches(args.events, args.batch, users, items)
            http_rates.append(_post_all(args.port, key, batches, args.clients))
            service_rates.append(_in_process(_batches(args.events, args.batch, users, items)))
            rates = http_rates[-1], service_rates[-1]
            print(f"run {run + 1}: HTTP {rates[0]:,.0f} events/s, in-process service {rates[1]:,.0f} events/s")
    finally:
        web.terminate()
        web.wait(timeout=20)
    print(f"\nmachine: {machine()}; gunicorn 2 sync workers, {args.clients} client threads, batches of {args.batch}")
    print(f"POST /api/v1/events through gunicorn: median {median(http_rates):,.0f} events/s")
    print(f"ingestion service in-process (baseline): median {median(service_rates):,.0f} events/s")
    print(f"ratio: {median(http_rates) / median(service_rates):.2f}")


def _ensure_catalog() -> tuple[list[str], list[str]]:
    from recsys_app.catalog.models import EndUser, Item
    from recsys_app.catalog.services import end_users_upsert, items_upsert

    if Item.objects.count() < 1000:
        items_upsert(rows=[{"external_id": f"sku-{n}", "title": f"Item {n}"} for n in range(1, 5001)])
        end_users_upsert(rows=[{"external_id": f"user-{n}"} for n in range(1, 1001)])
    users = list(EndUser.objects.values_list("external_id", flat=True)[:5000])
    items = list(Item.objects.values_list("external_id", flat=True)[:20000])
    return users, items


def _batches(total: int, size: int, users: list[str], items: list[str]) -> list[list[dict]]:
    run = uuid.uuid4().hex[:8]
    kinds = ["view", "click", "like", "add_to_cart", "purchase"]
    events = [
        {
            "user_id": users[n % len(users)],
            "item_id": items[(n * 7919) % len(items)],
            "type": kinds[n % 5],
            "timestamp": 1_700_000_000 + n,
            "surface": "home",
            "idempotency_key": f"{run}-{n}",
        }
        for n in range(total)
    ]
    return [events[start : start + size] for start in range(0, total, size)]


def _post_all(port: int, key: str, batches: list[list[dict]], clients: int) -> float:
    bodies = [json.dumps({"events": batch}).encode() for batch in batches]
    headers = {"Authorization": f"Token {key}", "Content-Type": "application/json"}
    stored: list[int] = []
    lock = threading.Lock()

    def worker(mine: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for body in mine:
            conn.request("POST", "/api/v1/events", body=body, headers=headers)
            response = conn.getresponse()
            result = json.loads(response.read())
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status}: {result}")
            with lock:
                stored.append(result["stored"])
        conn.close()

    threads = [threading.Thread(target=worker, args=(bodies[i::clients],)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert sum(stored) == sum(len(b) for b in batches), "every event must be stored once"
    return sum(stored) / elapsed


def _in_process(batches: list[list[dict]]) -> float:
    from recsys_app.catalog.services import interactions_ingest

    started = time.perf_counter()
    total = sum(interactions_ingest(rows=batch).stored for batch in batches)
    return total / (time.perf_counter() - started)


if __name__ == "__main__":
    main()
