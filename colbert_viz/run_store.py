"""Runs kept for the page, by key, within a memory budget (oldest dropped first)."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict


class RunExpired(LookupError):
    """The key names no kept Run (unknown, or dropped to free memory)."""


def run_bytes(run) -> int:
    """About how much memory a Run holds: its arrays and texts."""
    analysis = run.analysis
    records = [analysis.query, *analysis.documents]
    return sum(r.vectors.nbytes + r.ids.nbytes + 4 * len(r.ids) + 2 * len(r.text) for r in records)


class RunStore:
    """Thread-safe ``key → Run`` within ``max_bytes``."""

    def __init__(self, max_bytes: int = 1024 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._runs: OrderedDict[str, tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, run) -> str:
        key = secrets.token_urlsafe(16)
        size = run_bytes(run)
        with self._lock:
            self._runs[key] = (run, size)
            while len(self._runs) > 1 and sum(s for _, s in self._runs.values()) > self.max_bytes:
                self._runs.popitem(last=False)
        return key

    def get(self, key: str):
        with self._lock:
            if key not in self._runs:
                raise RunExpired("This run was dropped to free memory; press Run again.")
            self._runs.move_to_end(key)
            return self._runs[key][0]
