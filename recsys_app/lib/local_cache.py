"""A per-process memo for small, hot, rarely-changed reads (surface settings, rules, running
experiments) on the serving path.

Entries live `ttl` seconds. Writes through the ORM clear the memo at once in the process that
made them (model signals, wired in the owning app's `ready`); other web processes see the
change within `ttl`. That bound is the price of not querying them on every request.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, ClassVar, Generic, TypeVar

V = TypeVar("V")


class LocalCache(Generic[V]):
    instances: ClassVar[list[LocalCache[Any] | LruCache[Any]]] = []  # every cache of the process

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()
        LocalCache.instances.append(self)

    @classmethod
    def clear_all(cls) -> None:
        """Forget every cache of this process (tests do, after emptying the database)."""
        for cache in cls.instances:
            cache.clear()

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = compute()  # outside the lock: two threads may compute once each, harmlessly
        with self._lock:
            self._entries[key] = (now + self.ttl, value)
        return value

    def clear(self, *_: object, **__: object) -> None:
        """Forget everything; usable directly as a signal receiver."""
        with self._lock:
            self._entries.clear()


class LruCache(Generic[V]):
    """A bounded per-process map with a time to live, for many small values read far more
    often than they change (item vectors on the serving path)."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size, self.ttl = size, ttl
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        LocalCache.instances.append(self)  # cleared with the others by LocalCache.clear_all

    def get_many(self, keys: list[Hashable]) -> tuple[dict[Hashable, V], list[Hashable]]:
        """(found, missing): live entries for `keys`, and the keys to load."""
        now = time.monotonic()
        found: dict[Hashable, V] = {}
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is not None and entry[0] > now:
                    found[key] = entry[1]
                    self._entries.move_to_end(key)
        return found, [key for key in keys if key not in found]

    def put_many(self, values: dict[Hashable, V]) -> None:
        expires = time.monotonic() + self.ttl
        with self._lock:
            for key, value in values.items():
                self._entries[key] = (expires, value)
                self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self, *_: object, **__: object) -> None:
        with self._lock:
            self._entries.clear()
