"""User vectors in the item text space, refreshed nearline from newly received events."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from recsys_app.lib.sql import advisory_lock, upsert_rows
from recsys_app.lib.vectors import parse_vector, vector_literal
from recsys_app.ops.models import Watermark
from recsys_app.retrieval.encoder import DIMENSIONS
from recsys_app.retrieval.models import UserVector
from recsys_app.retrieval.signals import user_vectors_refreshed

HISTORY = 200  # most recent events per user that shape the vector
HALF_LIFE_DAYS = 30.0  # an event's pull halves every HALF_LIFE_DAYS, relative to the user's latest
_WATERMARK = "user-vectors"
# Events are stamped when inserted but become visible at commit, which can be later; each run
# looks this far behind its watermark again. Recomputing a user is idempotent.
OVERLAP = timedelta(minutes=2)

_HISTORY_SQL = """
SELECT h.user_id, h.weight, extract(epoch FROM h.occurred_at), e.vector::text
FROM (
    SELECT x.user_id, x.item_id, x.occurred_at, t.weight,
           row_number() OVER (PARTITION BY x.user_id ORDER BY x.occurred_at DESC) AS recent
    FROM catalog_interaction x JOIN catalog_interactiontype t ON t.code = x.type
    WHERE x.user_id = ANY(%s) AND t.weight <> 0
) h
JOIN retrieval_itemembedding e ON e.item_id = h.item_id AND e.model_name = %s
WHERE h.recent <= %s
"""


@dataclass
class UserVectorRefresh:
    users: int = 0
    updated: int = 0
    skipped_busy: bool = False


def user_vectors_compute(*, user_ids: list[int]) -> UserVectorRefresh:
    """Recompute the vectors of these users from their recent events; users whose history
    nets out to nothing positive get no vector (cold start serves them)."""
    model_name = settings.EMBEDDING_MODEL
    with connection.cursor() as cursor:
        cursor.execute(_HISTORY_SQL, [user_ids, model_name, HISTORY])
        rows = cursor.fetchall()
    vectors = _taste_vectors(rows)
    now = timezone.now()
    records = [
        (user_id, model_name, vector_literal(vector), count, now) for user_id, (vector, count) in vectors.items()
    ]
    with transaction.atomic():
        UserVector.objects.filter(user_id__in=set(user_ids) - set(vectors), model_name=model_name).delete()
        upsert_rows(
            table=UserVector._meta.db_table,
            columns=["user_id", "model_name", "vector", "events_used", "updated_at"],
            rows=records,
            key=["user_id", "model_name"],
            update=["vector", "events_used"],
        )
    return UserVectorRefresh(users=len(user_ids), updated=len(records))


def _taste_vectors(rows: list[tuple]) -> dict[int, tuple[np.ndarray, int]]:
    by_user: dict[int, list[tuple[float, float, str]]] = {}
    for user_id, weight, ts, text in rows:
        by_user.setdefault(user_id, []).append((float(weight), float(ts), text))
    out = {}
    for user_id, events in by_user.items():
        latest = max(ts for _, ts, _ in events)
        total = np.zeros(DIMENSIONS, dtype=np.float64)
        for weight, ts, text in events:
            decay = math.pow(0.5, (latest - ts) / 86400.0 / HALF_LIFE_DAYS)
            total += weight * decay * parse_vector(text, np.float64)
        norm = float(np.linalg.norm(total))
        if norm > 1e-9 and any(weight > 0 for weight, _, _ in events):
            out[user_id] = ((total / norm).astype(np.float32), len(events))
    return out


def user_vectors_refresh_recent(*, batch: int = 1000) -> UserVectorRefresh:
    """Nearline: recompute users with events received since the last run (beat, every 30 s)."""
    result = UserVectorRefresh()
    with advisory_lock(_WATERMARK) as acquired:
        if not acquired:
            result.skipped_busy = True
            return result
        mark, _ = Watermark.objects.get_or_create(name=_WATERMARK, defaults={"value": _epoch() + OVERLAP})
        upto = timezone.now()
        users = _users_with_events_between(mark.value - OVERLAP, upto)
        for start in range(0, len(users), batch):
            part = user_vectors_compute(user_ids=users[start : start + batch])
            result.users += part.users
            result.updated += part.updated
            user_vectors_refreshed.send(sender=UserVector, user_ids=users[start : start + batch])
        Watermark.objects.filter(name=_WATERMARK).update(value=upto)
    return result


def _users_with_events_between(after: datetime, upto: datetime) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT user_id FROM catalog_interaction WHERE received_at > %s AND received_at <= %s",
            [after, upto],
        )
        return [row[0] for row in cursor.fetchall()]


def _epoch() -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.get_current_timezone())
