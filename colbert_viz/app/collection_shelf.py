"""The collections the page's search mode offers, by name only (never a path or URL):

- the operator's: ``COLBERT_VIZ_COLLECTIONS="name=FOLDER_OR_URL,name2=…"`` (a folder
  is a Qdrant Edge shard, a URL a Qdrant server; each server's key from
  ``QDRANT_API_KEYS="URL=KEY,…"``, else ``QDRANT_API_KEY`` where all URLs are one server;
  a key that would go over plain http to another machine is logged and said on the page);
- the demo collection (``DEMO``): the example sets, indexed with the default model at
  start, in the background, one example set per encode slot, into a folder of this
  process (removed at exit: two apps on one machine never share one, as Qdrant Edge
  locks a folder to the process that opened it), or ``COLBERT_VIZ_DEMO_COLLECTION``
  (a folder, reused by a restart: indexing is idempotent; ``off``: no demo). When it
  cannot be built or opened (its folder held by another process) the search says so in
  one sentence, and the next search tries again;
- each session's private collection (``PRIVATE``): documents a visitor uploads,
  indexed into a Qdrant Edge shard in a folder of the process (removed at exit),
  offered to that session only, removed when the session ends. At most
  ``COLBERT_VIZ_PRIVATE_DOCS`` documents each (256), ``COLBERT_VIZ_PRIVATE_COLLECTIONS``
  at once (16; the least recently used is removed to make room) and
  ``COLBERT_VIZ_PRIVATE_MB`` MB on disk for all of them together (512), counted in the
  blocks the files occupy (Qdrant Edge pre-allocates sparse files: 556 MB apparent,
  2 MB occupied for the Berlin example), before each upload; one upload adds at most
  its tokens (``COLBERT_VIZ_MAX_TOKENS``) × 1,152 bytes of vectors (128 + 96 + 64
  float32 per token) and their log.

Every collection has a lock: one search or index at a time per collection. A collection
is removed outside the shelf's lock: removing one that is being indexed waits for that
index alone, never the menu of another session.
Every failure is a ``LimitError`` with one line that names the collection by its name.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path

from colbert_viz.app.limits import MB, LimitError
from colbert_viz.checks import positive_int_env
from colbert_viz.collections import CollectionError, IndexReport, SearchResult, index, open_collection, search
from colbert_viz.collections.backends import (
    Backend,
    CollectionLocked,
    api_key_for,
    check_target,
    configured_keys,
    insecure_key_warning,
    origin,
)
from colbert_viz.collections.first_stage import available
from colbert_viz.collections.searching import MAX_HIT_TOKENS

ENV = "COLBERT_VIZ_COLLECTIONS"
DEMO_ENV = "COLBERT_VIZ_DEMO_COLLECTION"
PRIVATE_DOCS_ENV, PRIVATE_COUNT_ENV, PRIVATE_MB_ENV = (
    "COLBERT_VIZ_PRIVATE_DOCS", "COLBERT_VIZ_PRIVATE_COLLECTIONS", "COLBERT_VIZ_PRIVATE_MB")
DEMO = "Demo: the example sets"
log = logging.getLogger(__name__)
PRIVATE = "My uploads (this session only)"


class CollectionUnavailable(LimitError):
    """A collection the page cannot search or write now; the message is one line."""


def configured_collections(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``COLBERT_VIZ_COLLECTIONS`` as ``{name: folder or URL}``; ``ValueError`` for a malformed entry.

    >>> configured_collections({"COLBERT_VIZ_COLLECTIONS": "docs=/srv/docs, wiki = http://q:6333/collections/w"})
    {'docs': '/srv/docs', 'wiki': 'http://q:6333/collections/w'}
    """
    environ = os.environ if environ is None else environ
    found: dict[str, str] = {}
    for item in environ.get(ENV, "").split(","):
        if not item.strip():
            continue
        name, sep, target = (part.strip() for part in item.partition("="))
        if not sep or not name or not target:
            raise ValueError(f"{ENV}: each entry is name=FOLDER_OR_URL; got {item.strip()!r}")
        if name in found or name in (DEMO, PRIVATE):
            raise ValueError(f"{ENV}: the name {name!r} is taken")
        try:
            found[name] = check_target(target)
        except ValueError as err:
            raise ValueError(f"{ENV}: {name}: {err}") from None
    return found


def configured_api_keys(targets: Mapping[str, str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The API key of each server collection of ``targets`` (by name): its server's entry in
    ``QDRANT_API_KEYS``, else ``QDRANT_API_KEY``, which is refused (``ValueError``) when it
    would go to more than one server."""
    environ = os.environ if environ is None else environ
    urls = {name: t for name, t in targets.items() if t.startswith(("http://", "https://"))}
    listed = configured_keys(environ)
    unlisted = sorted({origin(u) for u in urls.values()} - set(listed))
    if environ.get("QDRANT_API_KEY") and len(unlisted) > 1:
        raise ValueError(f"QDRANT_API_KEY would go to {len(unlisted)} servers ({', '.join(unlisted)}): give each "
                         "server its key in QDRANT_API_KEYS=URL=KEY,URL2=KEY2")
    keys = {name: api_key_for(url, environ=environ) for name, url in urls.items()}
    return {name: key for name, key in keys.items() if key}


def demo_folder(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the demo collection lives: ``COLBERT_VIZ_DEMO_COLLECTION`` (``None`` for ``off``),
    else a new folder of this process, removed at exit."""
    environ = os.environ if environ is None else environ
    value = environ.get(DEMO_ENV, "").strip()
    if value.lower() == "off":
        return None
    if value:
        return Path(value).expanduser()
    folder = Path(tempfile.mkdtemp(prefix="colbert-viz-demo-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def demo_failure(entry: Entry, err: Exception) -> str:
    """Why the demo collection cannot be searched now, in one sentence (retried at the next search)."""
    why = "its folder is in use by another process" if isinstance(err, CollectionLocked) else entry.message(err)
    return f"The demo collection cannot be opened now ({why}); the next search tries again."


@dataclass(eq=False)
class Entry:
    """One collection on offer: its ``name`` (all the page shows), where it lives,
    the model that wrote it (``None``: search with the page's model), its owner
    session (private ones), its lock and its open backend."""

    name: str
    target: str
    model_name: str | None = None
    session: str | None = None
    building: str = ""  # why it cannot be searched yet (the demo while it is built, or why it failed)
    retry: Callable[[], None] | None = None  # the demo's build, after it failed: run again at the next search
    documents: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    backend: Backend | None = None
    api_key: str | None = field(default=None, repr=False)
    removed: bool = False  # taken off the shelf: its folder goes once the work on it ends

    @property
    def warning(self) -> str:
        """One line when this collection's API key goes over plain http to another machine."""
        return insecure_key_warning(self.target, self.api_key).replace("the API key", f"the API key of “{self.name}”")

    def open(self) -> Backend:
        if self.backend is None:
            try:
                backend = open_collection(self.target, api_key=self.api_key)
            except (CollectionError, ValueError) as err:
                raise CollectionUnavailable(self.message(err)) from None
            backend.description = f"collection “{self.name}”"
            self.backend = backend
        return self.backend

    def close(self) -> None:
        if self.backend is not None:
            with suppress(Exception):  # closing a broken connection
                self.backend.close()
            self.backend = None

    def message(self, err: Exception) -> str:
        """``err`` in one line, the collection named by its name (never its folder or URL)."""
        text = (str(err).splitlines() or [type(err).__name__])[0]
        targets = {self.target, self.target.rstrip("/"), str(Path(self.target)), self.target.partition("/collections/")[0]}
        for secret in sorted((t for t in targets if t), key=len, reverse=True):
            text = text.replace(secret, f"“{self.name}”")
        return text


class CollectionShelf:
    """The collections on offer, by name, per session (thread-safe)."""

    def __init__(self, configured: Mapping[str, str] | None = None, private_root: Path | None = None,
                 private_docs: int = 256, private_count: int = 16, private_bytes: int = 512 * MB,
                 api_keys: Mapping[str, str] | None = None) -> None:
        self._lock = threading.RLock()
        keys = api_keys or {}
        self._shared: dict[str, Entry] = {name: Entry(name, target, api_key=keys.get(name))
                                          for name, target in (configured or {}).items()}
        for entry in self._shared.values():
            if entry.warning:
                log.warning(entry.warning)
        self._private: OrderedDict[str, Entry] = OrderedDict()  # session → its collection, least recent first
        self._root = Path(private_root) if private_root else None
        self.private_docs, self.private_count, self.private_bytes = private_docs, private_count, private_bytes
        self.demo_thread: threading.Thread | None = None
        self.demo_report: IndexReport | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CollectionShelf:
        environ = os.environ if environ is None else environ
        configured = configured_collections(environ)
        return cls(configured,
                   private_docs=positive_int_env(PRIVATE_DOCS_ENV, 256, environ),
                   private_count=positive_int_env(PRIVATE_COUNT_ENV, 16, environ),
                   private_bytes=positive_int_env(PRIVATE_MB_ENV, 512, environ) * MB,
                   api_keys=configured_api_keys(configured, environ))

    # ---- what a session sees -------------------------------------------------------

    def names(self, session: str | None = None) -> list[str]:
        """The menu: the demo, the operator's collections, then this session's own."""
        with self._lock:
            names = list(self._shared)
            if session in self._private:
                names.append(PRIVATE)
        return names

    def entry(self, name: str | None, session: str | None) -> Entry:
        """The collection ``name`` as ``session`` may use it; one message for every name
        it may not (unknown, or another session's)."""
        with self._lock:
            if name == PRIVATE and session in self._private:
                self._private.move_to_end(session)
                return self._private[session]
            if isinstance(name, str) and name in self._shared:
                return self._shared[name]
        if name == PRIVATE:
            raise CollectionUnavailable("This page has no uploaded collection (none yet, or it was removed to make "
                                        "room): upload documents and press Index.")
        raise CollectionUnavailable("Choose a collection from the menu.")

    # ---- searching ----------------------------------------------------------------

    def dimensions(self, name: str, session: str | None, offered: Sequence[int]) -> tuple[list[int], bool]:
        """The sizes of the collection's MaxSim vectors among ``offered``, largest first, and
        whether any is quantized (``[]`` when it cannot be read now)."""
        entry = self.entry(name, session)
        if entry.retry is not None:
            entry.retry()
        if entry.building:
            return [], False
        try:
            with entry.lock:
                specs = entry.open().specs() or {}
        except (CollectionError, CollectionUnavailable):
            entry.close()
            return [], False
        sizes = sorted({s.size for s in specs.values() if s.comparator == "max_sim" and s.size in offered},
                       reverse=True)
        return sizes, any(s.quantization for s in specs.values())

    def search(self, name: str, session: str | None, model, query: str, top_k: int, dim: int | None,
               rescore: bool | None, encoding: Callable[[], object] | None = None,
               max_tokens: int = MAX_HIT_TOKENS, first_stage: str | None = None,
               candidates: int | None = None) -> SearchResult:
        """``collections.search`` on collection ``name`` (each encode within ``encoding()``, an
        encode slot, the calls to Qdrant outside it; at most ``max_tokens`` stored vectors
        fetched; ``first_stage``/``candidates``: two stages); every failure a one-line
        ``CollectionUnavailable``."""
        return self._use(name, session, lambda backend: search(
            model, backend, query, top_k=top_k, dim=dim, rescore=rescore, max_tokens=max_tokens, encoding=encoding,
            first_stage=first_stage, candidates=candidates))

    def misses(self, name: str, session: str | None, model, query: str, top_k: int, dim: int | None,
               first_stage: str, candidates: int | None, document: str = "",
               encoding: Callable[[], object] | None = None):
        """``collections.misses.misses`` on ``name``, and ``why`` of ``document`` when one is named."""
        from colbert_viz.collections.misses import misses, why

        shared = dict(top_k=top_k, dim=dim, first_stage=first_stage, candidates=candidates, encoding=encoding)
        return self._use(name, session, lambda backend: (
            misses(model, backend, query, **shared),
            why(model, backend, query, document, **shared) if document.strip() else None))

    def _use(self, name: str, session: str | None, work):
        """``work(backend)`` on collection ``name``, its failures one-line ``CollectionUnavailable``s."""
        entry = self.entry(name, session)
        if entry.retry is not None:
            entry.retry()
        if entry.building:
            raise CollectionUnavailable(entry.building)
        with entry.lock:
            backend = entry.open()
            try:
                return work(backend)
            except (CollectionError, ValueError) as err:
                entry.close()  # a server that went away, a refused key: connect again next time
                raise CollectionUnavailable(entry.message(err)) from None

    # ---- the demo collection -------------------------------------------------------

    def add_demo(self, folder: Path, model_name: str, model, document_sets: Sequence[Sequence[str]],
                 encoding: Callable[[], object] | None = None, background: bool = True) -> None:
        """Offer the demo collection (first in the menu) and index ``document_sets`` into
        ``folder`` with ``model``, one set per ``encoding()`` slot; points already stored are
        skipped, so a restart costs one look-up per set. ``background``: in a daemon thread."""
        total = sum(len(s) for s in document_sets)
        entry = Entry(DEMO, str(folder), model_name=model_name,
                      building=f"The demo collection is being built ({total} documents); try again in a moment.")
        with self._lock:
            self._shared = {DEMO: entry, **self._shared}
        once = threading.Lock()  # one build at a time: a retry waits for a build under way

        def build() -> None:
            with once:
                if entry.retry is build or entry.building.startswith("The demo collection is being built"):
                    _build()

        def _build() -> None:
            started = time.perf_counter()
            written = skipped = tokens = 0
            try:
                for texts in document_sets:
                    with entry.lock, (encoding or nullcontext)():
                        report = index(model, entry.open(), list(texts), batch_size=16, first_stages=available())
                    written, skipped, tokens = written + report.written, skipped + report.skipped, \
                        tokens + report.tokens
                with entry.lock:
                    points = entry.open().count()
                self.demo_report = IndexReport(total, written, skipped, points, tokens,
                                               time.perf_counter() - started)
                entry.building, entry.retry = "", None
            except Exception as err:  # said on the page, never a traceback
                entry.close()
                entry.building, entry.retry = demo_failure(entry, err), build

        if background:
            self.demo_thread = threading.Thread(target=build, name="colbert-viz-demo-collection", daemon=True)
            self.demo_thread.start()
        else:
            build()

    # ---- private collections -------------------------------------------------------

    def _private_root(self) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="colbert-viz-collections-"))
            atexit.register(shutil.rmtree, self._root, True)
        self._root.mkdir(parents=True, exist_ok=True)
        return self._root

    def private_bytes_used(self) -> int:
        """Bytes the private collections occupy on disk: their files' blocks (``st_blocks``
        × 512), not their apparent sizes, which count the holes of sparse files."""
        return _blocks(self._root) if self._root is not None else 0

    def add_private(self, session: str, model_name: str, model, texts: Sequence[str],
                    encoding: Callable[[], object] | None = None) -> IndexReport:
        """Index ``texts`` into ``session``'s private collection (made on first use, with
        ``model``), within the bounds; ``CollectionUnavailable`` when over one."""
        if not isinstance(session, str) or not session:
            raise CollectionUnavailable("A private collection belongs to a page session; reload the page.")
        removed: list[Entry] = []
        try:
            with self._lock:
                entry = self._private.get(session)
                if entry is not None and entry.model_name != model_name:
                    raise CollectionUnavailable(f"Your collection was indexed with {entry.model_name}; choose "
                                                "that model to add documents to it.")
                if entry is not None and entry.documents + len(texts) > self.private_docs:
                    raise CollectionUnavailable(f"Your collection holds {entry.documents} documents; with these "
                                                f"{len(texts)} it would pass the limit of {self.private_docs}.")
                removed += self._evict(keep=session)
                if self.private_bytes_used() - sum(_blocks(Path(e.target)) for e in removed) >= self.private_bytes:
                    raise CollectionUnavailable("Uploaded collections fill the space the server gives them; "
                                                "try again later.")
                if entry is None:
                    while len(self._private) >= self.private_count:
                        removed.append(self._take(next(iter(self._private))))
                    folder = Path(tempfile.mkdtemp(prefix="session-", dir=self._private_root()))
                    entry = Entry(PRIVATE, str(folder), model_name=model_name, session=session)
                    self._private[session] = entry
                self._private.move_to_end(session)
        finally:
            for old in removed:
                _delete(old)
        with entry.lock:
            if entry.removed or (entry.backend is None and not Path(entry.target).exists()):
                raise CollectionUnavailable("Your uploaded collection was removed to make room: upload again.")
            try:
                report = index(model, entry.open(), texts, encoding=encoding, first_stages=available())
            except CollectionError as err:
                raise CollectionUnavailable(entry.message(err)) from None
            entry.documents = report.points
        return report

    def _evict(self, keep: str) -> list[Entry]:
        """Take collections off the shelf, least recently used first, until the blocks of the
        rest fit (lock held); the caller deletes them, outside the lock."""
        used, taken = self.private_bytes_used(), []
        for session in list(self._private):
            if used < self.private_bytes:
                break
            if session != keep:
                used -= _blocks(Path(self._private[session].target))
                taken.append(self._take(session))
        return taken

    def _take(self, session: str) -> Entry:
        """Forget ``session``'s collection (lock held); ``_delete`` removes its folder."""
        entry = self._private.pop(session)
        entry.removed = True
        return entry

    def remove_session(self, session: str | None) -> bool:
        """Remove ``session``'s private collection (the session ended); whether it had one.
        An index running on it ends first; other sessions do not wait."""
        with self._lock:
            entry = self._take(session) if session in self._private else None
        if entry is not None:
            _delete(entry)
        return entry is not None

    def close(self) -> None:
        """Close every backend and remove every private collection."""
        with self._lock:
            taken = [self._take(session) for session in list(self._private)]
        for entry in taken:
            _delete(entry)
        with self._lock:
            for entry in self._shared.values():
                with entry.lock:
                    entry.close()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)


def _delete(entry: Entry) -> None:
    """Close ``entry``'s backend and delete its folder, once the search or index on it ends."""
    with entry.lock:
        entry.close()
        shutil.rmtree(entry.target, ignore_errors=True)


def _blocks(folder: Path) -> int:
    """Bytes the files under ``folder`` occupy: their blocks (``st_blocks`` × 512)."""
    return sum(f.lstat().st_blocks * 512 for f in folder.rglob("*") if f.is_file()) if folder.exists() else 0
