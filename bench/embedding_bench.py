"""Embedding pipeline throughput, end to end with writes, against bare model encode.

Each run deletes the stored vectors in the bench database (synthetic items from
import_bench.py, or the demo catalog) and
times `item_embeddings_refresh` (select stale items, build texts, encode, COPY + upsert with
HNSW maintenance); the baseline encodes the same texts with the same batch size and nothing
else, in the same process. Medians over --runs runs.

    python bench/embedding_bench.py [--items 3000] [--runs 3]
"""

from __future__ import annotations

import argparse
import time

from _setup import machine, median, setup_bench_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    setup_bench_django()
    from recsys_app.catalog.demo import demo_load
    from recsys_app.catalog.models import Item
    from recsys_app.retrieval import encoder
    from recsys_app.retrieval.models import ItemEmbedding
    from recsys_app.retrieval.services import item_embeddings_refresh, item_text

    if not Item.objects.exists():
        demo_load(hold_back=False)  # every rating: figures stay comparable across steps
    items = list(Item.objects.order_by("id")[: args.items])  # what a refresh after deletion takes first
    texts = [
        item_text(title=i.title, description=i.description, category_path=i.category_path, tags=i.tags) for i in items
    ]
    encoder.encode(texts[:8])  # load the model outside the timings
    pipeline, bare = [], []
    for run in range(args.runs):
        ItemEmbedding.objects.all().delete()
        started = time.perf_counter()
        result = item_embeddings_refresh(limit=len(items))
        pipeline.append(time.perf_counter() - started)
        assert result.embedded == len(items)
        started = time.perf_counter()
        for start in range(0, len(texts), 256):
            encoder.encode(texts[start : start + 256])
        bare.append(time.perf_counter() - started)
        rates = len(items) / pipeline[-1], len(items) / bare[-1]
        print(f"run {run + 1}: pipeline {rates[0]:,.0f} items/s, bare encode {rates[1]:,.0f} items/s")
    print(f"\nmachine: {machine()}; {len(items)} catalog items, all-MiniLM-L6-v2 on CPU")
    print(f"pipeline (select, encode, write with HNSW): median {len(items) / median(pipeline):,.0f} items/s")
    print(f"bare encode of the same texts: median {len(items) / median(bare):,.0f} items/s")
    print(f"ratio: {median(bare) / median(pipeline):.2f}")


if __name__ == "__main__":
    main()
