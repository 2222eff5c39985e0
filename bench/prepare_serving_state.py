"""Build the serving state (embeddings, factors, stats, co-occurrence, user vectors) in the
bench database, timing each step. Run after bench/import_bench.py has loaded the synthetic
catalog (100,000 items, 10,000 users, 1,000,000 interactions).

    python bench/prepare_serving_state.py
"""

from __future__ import annotations

import time

from _setup import machine, setup_bench_django


def main() -> None:
    setup_bench_django()
    from recsys_app.catalog.models import EndUser, Interaction, Item
    from recsys_app.retrieval.collaborative import collaborative_model_train
    from recsys_app.retrieval.services import item_embeddings_refresh
    from recsys_app.retrieval.stats import item_neighbors_refresh, item_stats_refresh
    from recsys_app.retrieval.user_vectors import user_vectors_compute

    print(f"machine: {machine()}; {Item.objects.count():,} items, {EndUser.objects.count():,} users, "
          f"{Interaction.objects.count():,} interactions")  # fmt: skip
    steps = [
        ("item embeddings (new or changed items)", lambda: item_embeddings_refresh().embedded),
        ("collaborative ALS", lambda: collaborative_model_train(algorithm="als").interactions),
        ("item stats", lambda: item_stats_refresh().items),
        ("item co-occurrence", lambda: item_neighbors_refresh().neighbors),
        ("user vectors", lambda: _all_user_vectors(user_vectors_compute, EndUser)),
    ]
    for label, step in steps:
        started = time.perf_counter()
        count = step()
        print(f"{label}: {time.perf_counter() - started:.1f}s ({count:,})", flush=True)


def _all_user_vectors(compute, end_user) -> int:  # type: ignore[no-untyped-def]
    ids = list(end_user.objects.values_list("pk", flat=True))
    return sum(compute(user_ids=ids[i : i + 1000]).updated for i in range(0, len(ids), 1000))


if __name__ == "__main__":
    main()
