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

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

QUANTIZATIONS = ("none", "int8", "binary")


class CollectionError(Exception):
    """A collection cannot be used as asked; the message is one line that says why."""


class CollectionNotFound(CollectionError):
    """No collection at that folder or under that name."""


class CollectionUnreachable(CollectionError):
    """The Qdrant server did not answer."""


class CollectionAccessDenied(CollectionError):
    """The server refused the API key."""


class CollectionSettingsError(CollectionError):
    """The collection's vector settings do not fit the model (size, distance, comparator)."""


class PointError(CollectionError):
    """A stored point cannot be explained: no text, or vectors of the wrong size."""


class EmptyCollectionError(CollectionError):
    """The collection holds no point."""


@dataclass(frozen=True)
class VectorSpec:
    """One named vector of a collection: ``size`` per token, ``distance`` (``"cosine"``,
    ``"dot"``, ``"euclid"``, ``"manhattan"``), ``comparator`` (``"max_sim"`` for a
    multivector, ``None`` for a single vector) and the ``quantization`` applied to it
    (``"int8"``, ``"binary"``, another Qdrant kind, or ``None``)."""

    name: str
    size: int
    distance: str = "cosine"
    comparator: str | None = "max_sim"
    quantization: str | None = None


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
        """Create the collection with these vectors (cosine, MaxSim)."""

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        """Write points (replacing any with the same id), durably."""

    def existing(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored already."""

    def query(self, vectors: np.ndarray, using: str, limit: int, rescore: bool | None,
              oversampling: float | None = None) -> list[ScoredPoint]:
        """Top ``limit`` points by MaxSim against ``vectors`` (n_query_tokens, size),
        best first, with payload and every stored vector; ``rescore`` / ``oversampling``
        go to Qdrant's quantization search parameters."""

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
    """Qdrant's vector field (a dict by name, or the default vector itself) as arrays."""
    if vector is None:
        return {}
    if not isinstance(vector, dict):
        vector = {"": vector}
    return {name: _as_rows(rows) for name, rows in vector.items() if name in specs and rows is not None}


def open_collection(target: str | os.PathLike, name: str | None = None, api_key: str | None = None,
                    max_search_threads: int | None = None) -> Backend:
    """A folder → ``EdgeBackend``; an ``http(s)://`` URL → ``ClientBackend`` for collection
    ``name`` (default ``"colbert-viz"``; a URL ending in ``/collections/NAME`` names it too).
    ``api_key`` defaults to ``QDRANT_API_KEY``."""
    text = os.fspath(target)
    if text.startswith(("http://", "https://")):
        url, _, tail = text.rstrip("/").partition("/collections/")
        name = name or tail or "colbert-viz"
        from colbert_viz.collections.client import ClientBackend

        return ClientBackend.connect(url, name, api_key or os.environ.get("QDRANT_API_KEY"))
    if name:
        raise ValueError("a collection name goes with a server URL; a Qdrant Edge folder holds one collection")
    from colbert_viz.collections.edge import EdgeBackend

    return EdgeBackend(text, max_search_threads=max_search_threads)
