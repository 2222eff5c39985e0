"""Set-based writes that Django's ORM does not express: COPY-fed upserts that report changes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection


def upsert_rows(
    *,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    key: str | Sequence[str],
    update: Sequence[str],
) -> tuple[int, int]:
    """COPY rows into a staging table, then insert new keys and update changed rows.

    Returns (created, updated). Rows whose `update` columns are unchanged are not written, so
    a re-sent feed costs reads only. Must run inside a transaction: the staging table is a
    per-connection temporary table emptied on commit.
    """
    if not rows:
        return 0, 0
    if not connection.in_atomic_block:
        raise RuntimeError("upsert_rows must run inside transaction.atomic()")
    quote = connection.ops.quote_name
    stage = quote(f"stage_{table}")
    names = ", ".join(quote(c) for c in columns)
    sets = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in update)
    changed = " OR ".join(f"{quote(table)}.{quote(c)} IS DISTINCT FROM EXCLUDED.{quote(c)}" for c in update)
    table = quote(table)
    key = ", ".join(quote(k) for k in ([key] if isinstance(key, str) else key))
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS SELECT {names} FROM {table} WITH NO DATA"
        )
        cursor.execute(f"TRUNCATE {stage}")
        with cursor.cursor.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} "
            f"ON CONFLICT ({key}) DO UPDATE SET {sets}, updated_at = now() WHERE {changed} "
            "RETURNING (xmax = 0)"
        )
        inserted = [flag for (flag,) in cursor.fetchall()]
    created = sum(1 for flag in inserted if flag)
    return created, len(inserted) - created


@contextmanager
def advisory_lock(name: str) -> Iterator[bool]:
    """A session-level PostgreSQL advisory lock; yields False when another session holds it.

    Periodic jobs take one so that a run still going when the next is scheduled makes the
    newcomer return at once instead of doing the same work twice.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [name])
        (acquired,) = cursor.fetchone()
    try:
        yield bool(acquired)
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [name])
