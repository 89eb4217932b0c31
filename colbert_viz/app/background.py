"""Where the app's work runs: encodes in a few slots, everything derived from a
Run on one bounded executor below them.

- ``EncodeSlots``: at most ``COLBERT_VIZ_CONCURRENCY`` encodes at once. Model
  loads never take a slot (they happen before), so a Run on a loaded model never
  waits for another model's load.
- ``Executor``: the work derived from a kept Run (document and storage views,
  the decision table, exports, engine comparisons) on ``COLBERT_VIZ_BACKGROUND_WORKERS``
  threads (default 1) at a lower OS priority (``nice`` +10). A job, and each
  step of a job (``pause_point``: each storage setting, each view), waits while
  an encode runs or a Run's payload is on its way to the page (at most
  ``yield_s`` each time, so a steady stream of Runs cannot starve it).
  At most ``max_pending`` jobs are queued or running for all sessions together
  (``COLBERT_VIZ_BACKGROUND_QUEUE``, default 16) and ``per_session`` (4) for one
  session; beyond that a call is refused at once with ``Busy``.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager, suppress

from colbert_viz.app.limits import LimitError
from colbert_viz.checks import positive_int, positive_int_env

NICE = 10
HOLD_S = 10.0  # the longest background work waits for one Run's payload to reach its page


class Busy(LimitError):
    """Too much derived work queued, for this session or for all of them."""


class EncodeSlots:
    """At most ``n`` encodes at once. Background work waits while any encode runs
    or waits, and while a Run's payload is on its way to a page (``hold`` until
    ``release``, or ``HOLD_S`` at most)."""

    def __init__(self, n: int = 1) -> None:
        self.n = positive_int(n, "encode slots")
        self._slots = threading.BoundedSemaphore(self.n)
        self._changed = threading.Condition()
        self._active = 0
        self._holds: dict[str, float] = {}  # session → until when (monotonic)

    @contextmanager
    def encoding(self) -> Iterator[None]:
        """Hold a slot for one encode (waiting for one if all are taken)."""
        with self._changed:
            self._active += 1
        try:
            with self._slots:
                yield
        finally:
            with self._changed:
                self._active -= 1
                self._changed.notify_all()

    def hold(self, session: str | None) -> None:
        """A Run of ``session`` started: background work waits until ``release`` (its
        payload is on the page) or ``HOLD_S``."""
        with self._changed:
            self._holds[str(session)] = time.monotonic() + HOLD_S

    def release(self, session: str | None) -> None:
        with self._changed:
            self._holds.pop(str(session), None)
            self._changed.notify_all()

    def _idle(self) -> bool:
        now = time.monotonic()
        for session in [s for s, until in self._holds.items() if until <= now]:
            del self._holds[session]
        return self._active == 0 and not self._holds

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for no encode and no Run on its way; whether there is none."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self._idle():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.1))
            return True


def _lower_priority() -> None:
    """Lower this thread's OS priority (Linux: ``setpriority`` on a thread id)."""
    with suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)


class Executor:
    """Derived jobs, first in first out, on ``workers`` low-priority threads.

    ``submit(session, fn)`` returns a ``Future``; it raises ``Busy`` when
    ``max_pending`` jobs are queued or running in all, or ``per_session`` for
    ``session``. A cancelled future's job is skipped.
    """

    def __init__(self, slots: EncodeSlots | None = None, workers: int = 1, max_pending: int = 16,
                 per_session: int = 4, yield_s: float = 2.0) -> None:
        self.slots = slots
        self.workers = positive_int(workers, "workers")
        self.max_pending = positive_int(max_pending, "max_pending")
        self.per_session = positive_int(per_session, "per_session")
        self.yield_s = yield_s
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._pending: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    @classmethod
    def from_env(cls, slots: EncodeSlots | None = None, environ: Mapping[str, str] | None = None) -> Executor:
        return cls(slots, workers=positive_int_env("COLBERT_VIZ_BACKGROUND_WORKERS", 1, environ),
                   max_pending=positive_int_env("COLBERT_VIZ_BACKGROUND_QUEUE", 16, environ))

    @property
    def pending(self) -> int:
        """Jobs queued or running."""
        return sum(self._pending.values())

    def submit(self, session: str, fn: Callable[[], object]) -> Future:
        with self._lock:
            if self._pending[session] >= self.per_session:
                raise Busy("This page has too many views being computed; wait for them, then try again.")
            if sum(self._pending.values()) >= self.max_pending:
                raise Busy("The server is busy computing views for other visitors; try again in a moment.")
            self._pending[session] += 1
            if len(self._threads) < self.workers:
                thread = threading.Thread(target=self._work, name=f"colbert-viz-derived-{len(self._threads)}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()
        future: Future = Future()
        self._jobs.put((session, future, fn))
        return future

    def pause_point(self) -> None:
        """Inside a job: wait while an encode runs or a Run's payload is on its way
        (at most ``yield_s``), so long jobs give way between their steps."""
        if self.slots is not None and threading.current_thread() in self._threads:
            self.slots.wait_idle(self.yield_s)

    def _work(self) -> None:
        _lower_priority()
        while True:
            session, future, fn = self._jobs.get()
            try:
                if self.slots is not None:
                    self.slots.wait_idle(self.yield_s)
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn())
                    except BaseException as err:  # handed to whoever waits on the future
                        future.set_exception(err)
            finally:
                del fn, future
                with self._lock:
                    self._pending[session] -= 1
                    if not self._pending[session]:
                        del self._pending[session]
