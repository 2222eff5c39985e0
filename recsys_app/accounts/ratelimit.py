"""Fixed-window counters shared by every web process, kept in PostgreSQL.

`rate_hit(key, window_s)` counts one hit of `key` in the current window and returns the count
and the seconds until the window ends; callers compare the count with their limit. One upsert
a hit (an UNLOGGED table, so no WAL). A fixed window lets a burst of up to twice the limit
straddle a boundary; that is accepted for abuse protection, which is what these limits are.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

PRUNE_CHANCE = 0.001  # about one hit in a thousand removes windows older than a day

_HIT = """
INSERT INTO accounts_ratecounter (key, window_start, hits) VALUES (%s, %s, 1)
ON CONFLICT (key, window_start) DO UPDATE SET hits = accounts_ratecounter.hits + 1
RETURNING hits
"""


@dataclass(frozen=True)
class RateHit:
    count: int
    reset_s: int


def _window_start(now: datetime, window_s: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_s, tz=now.tzinfo)


def rate_hit(key: str, window_s: int) -> RateHit:
    now = timezone.now()
    start = _window_start(now, window_s)
    with connection.cursor() as cursor:
        cursor.execute(_HIT, [key[:200], start])
        count = int(cursor.fetchone()[0])
        if random.random() < PRUNE_CHANCE:
            cursor.execute("DELETE FROM accounts_ratecounter WHERE window_start < %s", [now - timedelta(days=1)])
    return RateHit(count, max(1, int((start + timedelta(seconds=window_s) - now).total_seconds()) + 1))


def rate_count(key: str, window_s: int) -> int:
    """Hits of `key` in the current window, without counting one."""
    start = _window_start(timezone.now(), window_s)
    with connection.cursor() as cursor:
        cursor.execute("SELECT hits FROM accounts_ratecounter WHERE key = %s AND window_start = %s", [key[:200], start])
        row = cursor.fetchone()
    return int(row[0]) if row else 0
