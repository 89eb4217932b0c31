"""The owner of the Runs the app keeps: one store for all sessions, one memory budget.

Each session holds only a key (a random string) in its state; the Run lives
here with the session it belongs to, a lock, and everything derived from it
since (document and storage views, storage settings, the decision table,
engine comparisons). A key is good only for its session: from any other
session it is "not found", like a dropped Run. A session keeps one Run: a new
Run replaces its previous one.

Derived work goes through ``derive``: it runs on the app's ``background.Executor``
(bounded, below the encodes), once per name under the Run's lock (callers
asking for the same name share the computation), and what is kept is charged
to the budget when it is computed. When the Runs and what they keep add up to
more than the budget, the least recently used Runs are dropped (their queued
jobs cancelled); a value that does not fit beside its own Run alone is handed
back but not kept, and drops nothing: other sessions' Runs are dropped only
for a value that is then kept. A session whose Run was dropped gets ``RunExpired`` ("press
Run again"). The budget is ``COLBERT_VIZ_RUN_MEMORY_MB`` (default 1024).
"""

from __future__ import annotations

import secrets
import sys
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field, replace

import numpy as np

from colbert_viz.app.background import Busy, Executor
from colbert_viz.app.limits import MB, LimitError
from colbert_viz.app.service import Run
from colbert_viz.checks import positive_int, positive_int_env
from colbert_viz.records import record_bytes
from colbert_viz.storage.analysis import StoredAnalysis

DEFAULT_MEMORY_MB = 1024
ENV = "COLBERT_VIZ_RUN_MEMORY_MB"
WAIT_S = 300.0  # the longest a caller waits for a derived value
WAITING, SESSION_WAITING = 24, 8  # callers waiting in ``derive`` at most, in all and per session: each holds
# one of Gradio's 40 worker threads


class RunExpired(LimitError):
    """The Run behind a key is gone (dropped to free memory), or was never this session's."""

    def __init__(self) -> None:
        super().__init__("This run was dropped to free memory; press Run again.")


def run_bytes(run: Run) -> int:
    """Estimated bytes a Run holds: its numpy arrays (vectors, ids, flags), texts,
    token strings and spans, query and documents."""
    analysis = run.analysis
    return record_bytes(analysis.query) + sum(record_bytes(d) for d in analysis.documents)


def derived_bytes(value: object) -> int:
    """Estimated bytes of a derived value: numpy arrays by their size, strings by
    their length, containers and objects (a ``storage.StoredRun``) walked through.

    >>> derived_bytes({"sim": "x" * 1000, "scores": [0.5, 0.25]}) > 1000
    True
    """
    seen: set[int] = set()

    def size(v) -> int:
        if isinstance(v, np.ndarray):
            return v.nbytes + 112
        if isinstance(v, str | bytes):
            return sys.getsizeof(v)
        if isinstance(v, bool | int | float | None):
            return 28
        if id(v) in seen:
            return 0
        seen.add(id(v))
        if isinstance(v, Mapping):
            return sys.getsizeof(v) + sum(size(k) + size(x) for k, x in v.items())
        if isinstance(v, list | tuple | set | frozenset):
            return sys.getsizeof(v) + sum(size(x) for x in v)
        if hasattr(v, "__dict__"):
            return 64 + size(vars(v))
        if hasattr(v, "__slots__"):
            return 64 + sum(size(getattr(v, s, None)) for s in v.__slots__)
        return sys.getsizeof(v)

    return size(value)


@dataclass(eq=False)
class Kept:
    """One kept Run: its session, its lock, and what has been derived from it."""

    run: Run | None
    session: str
    own_bytes: int
    lock: threading.RLock = field(default_factory=threading.RLock)
    derived: dict[Hashable, tuple[object, int]] = field(default_factory=dict)
    pending: dict[Hashable, Future] = field(default_factory=dict)
    alive: bool = True

    @property
    def bytes(self) -> int:
        return self.own_bytes + sum(size for _, size in self.derived.values())


class RunStore:
    """Runs by random key, bound to a session, within ``max_bytes`` in all (thread-safe).

    ``put(run, session)`` keeps a Run (the session's previous one is dropped) and
    drops the least recently used others while the total is over the budget (the
    new Run is always kept); ``get(key, session)`` returns it and marks it used,
    or raises ``RunExpired``; ``derive(key, session, name, compute)`` is the
    value ``compute(run)`` on the executor, computed once and kept.
    """

    def __init__(self, max_bytes: int, executor: Executor | None = None, max_waiting: int = WAITING,
                 per_session_waiting: int = SESSION_WAITING) -> None:
        self.max_bytes = positive_int(max_bytes, "max_bytes")
        self.executor = executor or Executor()
        self.max_waiting = positive_int(max_waiting, "max_waiting")
        self.per_session_waiting = positive_int(per_session_waiting, "per_session_waiting")
        self._waiting: Counter[str] = Counter()  # callers blocked in ``derive``, by session
        self._runs: OrderedDict[str, Kept] = OrderedDict()
        self._sessions: dict[str, str] = {}  # session → its key
        self._lock = threading.RLock()  # a cancelled job's callback (``_forget``) runs under it
        self._total = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, executor: Executor | None = None) -> RunStore:
        """A store whose budget is ``COLBERT_VIZ_RUN_MEMORY_MB`` MB (default 1024)."""
        return cls(positive_int_env(ENV, DEFAULT_MEMORY_MB, environ) * MB, executor)

    # ---- keeping and dropping ----------------------------------------------------

    def put(self, run: Run, session: str) -> str:
        """Keep ``run`` for ``session``; its key (unguessable: 128 random bits)."""
        if not isinstance(session, str) or not session:
            raise ValueError(f"a Run is kept for a session; got session {session!r}")
        key = secrets.token_urlsafe(16)
        kept = Kept(run=run, session=session, own_bytes=run_bytes(run))
        with self._lock:
            previous = self._sessions.get(kept.session)
            if previous in self._runs:
                self._drop(previous)
            self._runs[key] = kept
            self._sessions[kept.session] = key
            self._total += kept.own_bytes
            self._fit(keep=kept)
        return key

    def _fit(self, keep: Kept) -> None:
        """Drop the least recently used Runs other than ``keep`` while over the budget (lock held)."""
        for key in list(self._runs):
            if self._total <= self.max_bytes:
                return
            if self._runs[key] is not keep:
                self._drop(key)

    def _drop(self, key: str) -> None:
        """Forget the Run under ``key`` and cancel its queued jobs (lock held)."""
        kept = self._runs.pop(key)
        self._total -= kept.bytes
        if self._sessions.get(kept.session) == key:
            del self._sessions[kept.session]
        kept.alive = False
        kept.run = None
        kept.derived.clear()
        for future in list(kept.pending.values()):
            future.cancel()

    def _kept(self, key: str | None, session: str | None) -> Kept:
        with self._lock:
            kept = self._runs.get(key) if isinstance(key, str) else None
            if kept is None or kept.session != session:
                raise RunExpired()
            self._runs.move_to_end(key)
            return kept

    def get(self, key: str | None, session: str | None) -> Run:
        """The Run stored under ``key`` for ``session``; ``RunExpired`` when unknown,
        dropped, or another session's."""
        run = self._kept(key, session).run
        if run is None:
            raise RunExpired()
        return run

    # ---- what is derived from a Run --------------------------------------------

    def derive(self, key: str | None, session: str | None, name: Hashable | None,
               compute: Callable[[Run], object], keep: bool = True, timeout: float = WAIT_S):
        """``compute(run)`` for the Run under ``key``, on the executor; waits for it.

        ``run.stored`` keeps its storage settings and decision table here.
        With ``keep`` (and a ``name``) the value is kept and charged to the
        budget, and every caller asking for ``name`` shares one computation;
        ``name=None`` runs ``compute`` each time (an export, written to disk).
        ``RunExpired`` when the Run is not this session's or is dropped meanwhile;
        ``background.Busy`` when the executor's queue is full, or ``per_session_waiting``
        callers of this session (``max_waiting`` in all) are waiting already."""
        kept = self._kept(key, session)
        with self._lock:
            if name is not None and name in kept.derived:
                return kept.derived[name][0]
            if self._waiting[kept.session] >= self.per_session_waiting:
                raise Busy("This page has too many views being computed; wait for them, then try again.")
            if sum(self._waiting.values()) >= self.max_waiting:
                raise Busy("The server is busy computing views for other visitors; try again in a moment.")
            future = self._future(kept, name, compute, keep)
            self._waiting[kept.session] += 1
        try:
            return future.result(timeout)
        except CancelledError:
            raise RunExpired() from None
        except TimeoutError:
            raise Busy("The server is busy computing views for other visitors; try again in a moment.") from None
        finally:
            with self._lock:
                self._waiting[kept.session] -= 1
                if not self._waiting[kept.session]:
                    del self._waiting[kept.session]

    def start(self, key: str | None, session: str | None, name: Hashable,
              compute: Callable[[Run], object]) -> Future | None:
        """Start ``derive(key, session, name, compute)`` without waiting for it (work
        the page will ask for soon); ``None`` when the Run is gone, the value is
        kept already, or the executor is busy (it is computed when asked for)."""
        try:
            kept = self._kept(key, session)
        except RunExpired:
            return None
        with self._lock:
            if name in kept.derived:
                return None
            try:
                return self._future(kept, name, compute, True)
            except Busy:
                return None

    def _future(self, kept: Kept, name: Hashable | None, compute: Callable[[Run], object], keep: bool) -> Future:
        """The job computing ``name`` (queued now unless it is already; lock held)."""
        future = kept.pending.get(name) if name is not None else None
        if future is None:
            future = self.executor.submit(kept.session, lambda: self._job(kept, name, compute, keep))
            if name is not None:
                kept.pending[name] = future
                future.add_done_callback(lambda f: self._forget(kept, name, f))
        return future

    def _forget(self, kept: Kept, name: Hashable, future: Future) -> None:
        with self._lock:
            if kept.pending.get(name) is future:
                del kept.pending[name]

    def _job(self, kept: Kept, name: Hashable | None, compute: Callable[[Run], object], keep: bool):
        run = kept.run
        if run is None:
            raise RunExpired()
        owned = replace(run, stored=StoredAnalysis(run.analysis, lambda n, c: self._keep(kept, ("analysis", *n), c)))
        with kept.lock:
            if name is None or not keep:
                return compute(owned)
            return self._keep(kept, name, lambda: compute(owned))

    def _keep(self, kept: Kept, name: Hashable, compute: Callable[[], object]):
        """The value kept under ``name``, else ``compute()`` kept and charged now
        (run on the executor, with ``kept.lock`` held)."""
        with self._lock:
            if name in kept.derived:
                return kept.derived[name][0]
        self.executor.pause_point()
        value = compute()
        size = derived_bytes(value)
        with self._lock:
            # kept only if it fits beside its own Run alone: else nothing is dropped for it
            if kept.alive and name not in kept.derived and kept.bytes + size <= self.max_bytes:
                kept.derived[name] = (value, size)
                self._total += size
                self._fit(keep=kept)
        return value

    # ---- reading ----------------------------------------------------------------

    @property
    def total_bytes(self) -> int:
        """Bytes of the kept Runs and what they keep, as charged."""
        with self._lock:
            return self._total

    def __len__(self) -> int:
        return len(self._runs)
