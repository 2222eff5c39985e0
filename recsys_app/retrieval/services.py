"""Writes of retrieval data: item embeddings."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from recsys_app.lib.sql import advisory_lock, upsert_rows
from recsys_app.lib.vectors import vector_literal
from recsys_app.ops.tasking import task_progress
from recsys_app.retrieval import encoder
from recsys_app.retrieval.models import ItemEmbedding

_STALE_ITEMS = """
SELECT i.id, i.content_hash, i.title, i.description, i.category_path, i.tags
FROM catalog_item i
LEFT JOIN retrieval_itemembedding e ON e.item_id = i.id AND e.model_name = %s
WHERE (e.id IS NULL OR e.content_hash <> i.content_hash) AND i.id > %s
ORDER BY i.id
LIMIT %s
"""


@dataclass
class EmbeddingRefresh:
    embedded: int = 0
    batches: int = 0
    encode_seconds: float = 0.0
    write_seconds: float = 0.0
    skipped_busy: bool = False


def item_text(*, title: str, description: str, category_path: str, tags: list[str]) -> str:
    """What an item's embedding is computed from (the same fields as its content hash)."""
    parts = [title, category_path.replace("/", " > "), ", ".join(tags), description]
    return ". ".join(part for part in parts if part)[:2000]


def item_embeddings_refresh(*, batch_size: int = 256, limit: int | None = None) -> EmbeddingRefresh:
    """Embed every item whose vector is missing or older than its content, in batches.

    Only one refresh runs at a time (an advisory lock); each batch commits on its own, so an
    interrupted run loses at most one batch of work.
    """
    model_name = settings.EMBEDDING_MODEL
    result = EmbeddingRefresh()
    with advisory_lock(f"item-embeddings:{model_name}") as acquired:
        if not acquired:
            result.skipped_busy = True
            return result
        # Writes (HNSW inserts cost about a millisecond a vector) go to a thread with its own
        # connection, overlapping the encoding of the next batch.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed-write") as writer:
            pending: Future[None] | None = None
            after = queued = 0
            while limit is None or queued < limit:
                size = batch_size if limit is None else min(batch_size, limit - queued)
                rows = _stale_items(model_name, after, size)
                if not rows:
                    break
                records = _encode_batch(model_name, rows, result)
                if pending is not None:
                    pending.result()
                pending = writer.submit(_write_batch, records, result)
                after, queued = rows[-1][0], queued + len(rows)
                task_progress(queued, limit, f"{queued} item(s) encoded")
            if pending is not None:
                pending.result()
    return result


def _stale_items(model_name: str, after: int, size: int) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(_STALE_ITEMS, [model_name, after, size])
        return cursor.fetchall()


def _encode_batch(model_name: str, rows: list[tuple], result: EmbeddingRefresh) -> list[tuple]:
    texts = [item_text(title=t, description=d, category_path=c, tags=g) for _, _, t, d, c, g in rows]
    started = time.perf_counter()
    vectors = encoder.encode(texts)
    result.encode_seconds += time.perf_counter() - started
    now = timezone.now()
    return [
        (item_id, model_name, vector_literal(vector), content_hash, now, now)
        for (item_id, content_hash, *_), vector in zip(rows, vectors, strict=True)
    ]


def _write_batch(records: list[tuple], result: EmbeddingRefresh) -> None:
    started = time.perf_counter()
    try:
        with transaction.atomic():
            upsert_rows(
                table=ItemEmbedding._meta.db_table,
                columns=["item_id", "model_name", "vector", "content_hash", "created_at", "updated_at"],
                rows=records,
                key=["item_id", "model_name"],
                update=["vector", "content_hash"],
            )
    finally:
        connection.close()  # the writer thread's own connection
    result.write_seconds += time.perf_counter() - started
    result.embedded += len(records)
    result.batches += 1
