"""Where the vectors live: one interface (``Backend``), two backends.

- ``edge.EdgeBackend``: a Qdrant Edge shard in a folder (``qdrant-edge-py`` 0.9.0), the
  Qdrant engine in-process, no server. The default.
- ``client.ClientBackend``: a Qdrant server, Qdrant Cloud or a cluster through
  ``qdrant-client`` 1.20 (``QdrantClient(url=…, api_key=…)``); its local mode
  (``QdrantClient(path=…)`` or ``":memory:"``) runs the same code without a server.

Both speak in plain values: ``VectorSpec`` for a named vector's settings, numpy
arrays for multivectors, string point ids. Every failure of the store is a
``CollectionError`` with a one-line message.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

QUANTIZATIONS = ("none", "int8", "binary")
DATATYPES = ("float32", "float16")  # how a new collection stores its multivectors (Qdrant's datatype)
KEYS_ENV = "QDRANT_API_KEYS"  # one key per server: "URL=KEY,URL2=KEY2"


class CollectionError(Exception):
    """A collection cannot be used as asked; the message is one line that says why."""


class CollectionNotFound(CollectionError):
    """No collection at that folder or under that name."""


class CollectionUnreachable(CollectionError):
    """The Qdrant server did not answer."""


class CollectionAccessDenied(CollectionError):
    """The server refused the API key."""


class CollectionLocked(CollectionError):
    """Another process holds the Qdrant Edge folder (Edge opens a folder in one process at a time)."""


class CollectionSettingsError(CollectionError):
    """The collection's vector settings do not fit the model (size, distance, comparator)."""


class PointError(CollectionError):
    """A stored point cannot be explained: no text, or vectors of the wrong size."""


class EmptyCollectionError(CollectionError):
    """The collection holds no point."""


class ResultTooLarge(CollectionError):
    """The hits hold more stored vectors than one search may fetch."""


@dataclass(frozen=True)
class VectorSpec:
    """One named vector of a collection: ``size`` per token, ``distance`` (``"cosine"``,
    ``"dot"``, ``"euclid"``, ``"manhattan"``), ``comparator`` (``"max_sim"`` for a
    multivector, ``None`` for a single vector), the ``quantization`` applied to it
    (``"int8"``, ``"binary"``, another Qdrant kind, or ``None``), the storage ``datatype``
    (``"float32"``, ``"float16"``, …) and ``on_disk`` (memory-mapped and read from disk
    when searched, not held in RAM)."""

    name: str
    size: int
    distance: str = "cosine"
    comparator: str | None = "max_sim"
    quantization: str | None = None
    datatype: str = "float32"
    on_disk: bool = False


@dataclass(frozen=True)
class StoredPoint:
    """A point as colbert-viz writes and reads it: id, payload, multivectors by name
    (each ``(n_tokens, size)`` float32)."""

    id: str
    payload: dict
    vectors: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoredPoint(StoredPoint):
    """A point returned by a search, with Qdrant's score."""

    score: float = 0.0


class Backend(Protocol):
    """What ``index`` and ``search`` need from a store of multivectors."""

    description: str

    def specs(self) -> dict[str, VectorSpec] | None:
        """The collection's vectors by name, or ``None`` when it does not exist."""

    def create(self, specs: Sequence[VectorSpec], quantization: str, hnsw_m: int) -> None:
        """Create the collection with these vectors: multivectors (MaxSim, cosine) with HNSW
        degree ``hnsw_m``; single vectors (first stages, ``spec.distance``) with HNSW."""

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        """Write points (replacing any with the same id), durably."""

    def existing(self, ids: Sequence[str]) -> dict[str, dict]:
        """The points of ``ids`` stored already: id → payload."""

    def query(self, vectors: np.ndarray, using: str, limit: int, rescore: bool | None,
              oversampling: float | None = None, exact: bool = False) -> list[ScoredPoint]:
        """Top ``limit`` points by MaxSim against ``vectors`` (n_query_tokens, size), or by
        a single vector's distance against ``vectors`` (size,), best first, with their payload
        and no vector; ``rescore`` / ``oversampling`` go to Qdrant's quantization search
        parameters; ``exact`` skips any HNSW graph."""

    def query_two_stage(self, first: np.ndarray, first_using: str, candidates: int, vectors: np.ndarray,
                        using: str, limit: int) -> list[ScoredPoint]:
        """One Query API call: ``prefetch`` the top ``candidates`` by the single vector
        ``first_using`` (its HNSW), then the top ``limit`` of those by MaxSim on ``using``."""

    def scroll(self, offset, limit: int, using: Sequence[str]) -> tuple[list[StoredPoint], object]:
        """Up to ``limit`` points from ``offset`` (``None``: the first), with payload and the
        vectors ``using``; and the next offset (``None`` at the end)."""

    def vectors(self, ids: Sequence[str], using: str) -> dict[str, np.ndarray]:
        """The stored multivector ``using`` of each point of ``ids``: id → (n_tokens, size)."""

    def count(self) -> int:
        """Points in the collection."""

    def optimize(self) -> None:
        """Build what the settings ask for (quantized vectors) where the store leaves it to the caller."""

    def close(self) -> None:
        """Release the store."""


def point_uuid(value: object) -> str:
    """Point ids as strings (Qdrant returns ``uuid.UUID`` or ``int``)."""
    return str(value)


def _as_rows(rows) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1) if len(rows) else np.zeros((0, 0), np.float32)


def named_vectors(vector, specs: dict[str, VectorSpec]) -> dict[str, np.ndarray]:
    """Qdrant's vector field (a dict by name, or the default vector itself) as arrays:
    a multivector (n_tokens, size), a single vector (size,)."""
    if vector is None:
        return {}
    if not isinstance(vector, dict):
        vector = {"": vector}
    return {name: _as_rows(rows) if specs[name].comparator else np.asarray(rows, np.float32)
            for name, rows in vector.items() if name in specs and rows is not None}


_NO_SCHEME = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):\d+(?:/.*)?$")


def check_target(target: str) -> str:
    """``target`` when it is a URL or a folder; ``ValueError`` for ``host:port`` without a scheme
    (which would otherwise become a local folder of that name).

    >>> check_target("localhost:6333")
    Traceback (most recent call last):
    ValueError: 'localhost:6333' has no scheme: did you mean http://localhost:6333?
    """
    if _NO_SCHEME.match(target):
        raise ValueError(f"{target!r} has no scheme: did you mean http://{target}?")
    return target


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL, the port made explicit (6333 for Qdrant, as qdrant-client assumes).

    >>> origin("https://Q.example/collections/docs")
    'https://q.example:6333'
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{parts.port or 6333}"


def configured_keys(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``QDRANT_API_KEYS="URL=KEY,URL2=KEY2"`` as ``{origin: key}`` (a key holds no comma);
    ``ValueError`` for a malformed entry, never showing a key.

    >>> configured_keys({"QDRANT_API_KEYS": "http://a:6333=k1, https://b.example=k2"})
    {'http://a:6333': 'k1', 'https://b.example:6333': 'k2'}
    """
    environ = os.environ if environ is None else environ
    keys: dict[str, str] = {}
    for number, item in enumerate(environ.get(KEYS_ENV, "").split(","), 1):
        url, sep, key = (part.strip() for part in item.partition("="))
        if not item.strip():
            continue
        if not sep or not key or not url.startswith(("http://", "https://")):
            raise ValueError(f"{KEYS_ENV}: entry {number} is not URL=KEY (the URL with http:// or https://)")
        keys[origin(url)] = key
    return keys


def api_key_for(url: str, api_key: str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The key for the server of ``url``: ``api_key``, else its entry in ``QDRANT_API_KEYS``,
    else ``QDRANT_API_KEY``."""
    environ = os.environ if environ is None else environ
    return api_key or configured_keys(environ).get(origin(url)) or environ.get("QDRANT_API_KEY") or None


def insecure_key_warning(url: str, api_key: str | None) -> str:
    """One line when ``api_key`` would go in clear text (``http://``) to a host other than
    this machine; ``""`` otherwise.

    >>> insecure_key_warning("http://localhost:6333", "k")
    ''
    >>> insecure_key_warning("http://10.0.0.5:6333", "k")
    'the API key goes over plain http to 10.0.0.5: use https:// for a server on another machine'
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not api_key or parts.scheme != "http" or host == "localhost":
        return ""
    try:
        if ipaddress.ip_address(host).is_loopback:
            return ""
    except ValueError:
        pass
    return f"the API key goes over plain http to {host}: use https:// for a server on another machine"


def open_collection(target: str | os.PathLike, name: str | None = None, api_key: str | None = None,
                    max_search_threads: int | None = None) -> Backend:
    """A folder → ``EdgeBackend``; an ``http(s)://`` URL → ``ClientBackend`` for collection
    ``name`` (default ``"colbert-viz"``; a URL ending in ``/collections/NAME`` names it too).
    ``api_key`` defaults to the URL's entry in ``QDRANT_API_KEYS``, else ``QDRANT_API_KEY``;
    a key that would go over plain http to another machine is named in the backend's
    ``warning``, for the caller to say. ``host:port`` without a scheme is refused."""
    text = check_target(os.fspath(target))
    if text.startswith(("http://", "https://")):
        url, _, tail = text.rstrip("/").partition("/collections/")
        name = name or tail or "colbert-viz"
        from colbert_viz.collections.client import ClientBackend

        key = api_key_for(url, api_key)
        backend = ClientBackend.connect(url, name, key)
        backend.warning = insecure_key_warning(url, key)
        return backend
    if name:
        raise ValueError("a collection name goes with a server URL; a Qdrant Edge folder holds one collection")
    from colbert_viz.collections.edge import EdgeBackend

    return EdgeBackend(text, max_search_threads=max_search_threads)
