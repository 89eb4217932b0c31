"""A memory budget for the Runs the app keeps: one store for all sessions.

Each session holds only a key (a random string) in its state; the Runs live
here, and when their estimated sizes add up to more than the budget the least
recently used are dropped. A session whose Run was dropped gets ``RunExpired``
("press Run again"). The budget is ``COLBERT_VIZ_RUN_MEMORY_MB`` (default 1024).
"""

from __future__ import annotations

import secrets
import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping

from colbert_viz.app.limits import MB, LimitError
from colbert_viz.app.service import Run
from colbert_viz.checks import positive_int, positive_int_env
from colbert_viz.records import TokenVectors

DEFAULT_MEMORY_MB = 1024
ENV = "COLBERT_VIZ_RUN_MEMORY_MB"


class RunExpired(LimitError):
    """The Run behind a key is gone (dropped to free memory, or never stored)."""

    def __init__(self) -> None:
        super().__init__("This run was dropped to free memory; press Run again.")


def _record_bytes(record: TokenVectors) -> int:
    arrays = (record.vectors, record.ids, record.special, record.marker, record.expansion, record.skipped)
    strings = sum(sys.getsizeof(t) for t in record.tokens) + sys.getsizeof(record.text)
    return sum(a.nbytes for a in arrays) + strings + 64 * len(record.spans)


def run_bytes(run: Run) -> int:
    """Estimated bytes a Run holds: its numpy arrays (vectors, ids, flags), texts,
    token strings and spans, query and documents, and the storage settings
    computed for it so far (``Analysis.stored_bytes``)."""
    analysis = run.analysis
    return (_record_bytes(analysis.query) + sum(_record_bytes(d) for d in analysis.documents)
            + analysis.stored_bytes())


class RunStore:
    """Runs by random key within ``max_bytes`` in all (thread-safe).

    ``put`` stores a Run and drops the least recently used others while the
    total is over the budget (the new Run is always kept); sizes are measured
    again at each ``put``, since a Run grows when its storage settings are
    computed. ``get`` returns a Run and marks it used, or raises ``RunExpired``.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = positive_int(max_bytes, "max_bytes")
        self._runs: OrderedDict[str, Run] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RunStore:
        """A store whose budget is ``COLBERT_VIZ_RUN_MEMORY_MB`` MB (default 1024)."""
        return cls(positive_int_env(ENV, DEFAULT_MEMORY_MB, environ) * MB)

    def put(self, run: Run) -> str:
        """Store ``run``; its key."""
        key = secrets.token_urlsafe(16)
        with self._lock:
            self._runs[key] = run
            sizes = {k: run_bytes(r) for k, r in self._runs.items()}
            total = sum(sizes.values())
            while total > self.max_bytes and len(self._runs) > 1:
                dropped, _ = self._runs.popitem(last=False)
                total -= sizes[dropped]
        return key

    def get(self, key: str | None) -> Run:
        """The Run stored under ``key``; ``RunExpired`` when unknown or dropped."""
        with self._lock:
            if key not in self._runs:
                raise RunExpired()
            self._runs.move_to_end(key)
            return self._runs[key]

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return sum(run_bytes(r) for r in self._runs.values())

    def __len__(self) -> int:
        return len(self._runs)
