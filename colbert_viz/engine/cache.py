"""A thread-safe LRU cache of token vectors, bounded by the bytes it holds."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from colbert_viz.records import TokenVectors, record_bytes


class VectorCache:
    """Maps a key (model, kind, maximum length, text) to a ``TokenVectors``.

    Holds at most ``max_bytes``; the least recently used records go first. A
    record larger than the whole budget is not stored. All methods hold a lock,
    so concurrent requests can share one cache.
    """

    def __init__(self, max_bytes: int = 256 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[TokenVectors, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> TokenVectors | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: Hashable, record: TokenVectors) -> None:
        size = record_bytes(record)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            # evict before adding, so ``nbytes`` (read without the lock) never exceeds the budget
            while self._items and self._bytes + size > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped
            self._items[key] = (record, size)
            self._bytes += size

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)
