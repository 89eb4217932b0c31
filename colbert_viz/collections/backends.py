"""Where the vectors live: one interface, two backends.

- ``EdgeBackend``: a Qdrant Edge shard in a folder (``qdrant-edge-py`` 0.9.0), the
  Qdrant engine in-process, no server. The default.
- ``ClientBackend``: a Qdrant server, Qdrant Cloud or a cluster through
  ``qdrant-client`` 1.20 (``QdrantClient(url=…, api_key=…)``); its local mode
  (``QdrantClient(path=…)`` or ``":memory:"``) runs the same code without a server.

Both speak in plain values: ``VectorSpec`` for a named vector's settings, numpy
arrays for multivectors, string point ids. Every failure of the store is a
``CollectionError`` with a one-line message.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
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


def _unit_rows(rows) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1) if len(rows) else np.zeros((0, 0), np.float32)


def _named_vectors(vector, specs: dict[str, VectorSpec]) -> dict[str, np.ndarray]:
    """Qdrant's vector field (a dict by name, or the default vector itself) as arrays."""
    if vector is None:
        return {}
    if not isinstance(vector, dict):
        vector = {"": vector}
    return {name: _unit_rows(rows) for name, rows in vector.items() if name in specs and rows is not None}


# ---- Qdrant Edge ------------------------------------------------------------------------

_EDGE_CONFIG = "edge_config.json"


def _quantization_kind(config: dict | None) -> str | None:
    """``{"scalar": {"type": "int8", …}}`` → ``"int8"``; ``{"binary": …}`` → ``"binary"``."""
    if not config:
        return None
    kind = next(iter(config))
    if kind == "scalar":
        return str(config[kind].get("type", "int8")).lower()
    return str(kind).lower()


def _edge_specs(config: dict) -> dict[str, VectorSpec]:
    """Vector settings from an Edge shard's ``edge_config.json``."""
    shared = _quantization_kind(config.get("quantization_config"))
    specs = {}
    for name, params in (config.get("vectors") or {}).items():
        multi = params.get("multivector_config") or {}
        specs[name] = VectorSpec(
            name=name, size=int(params["size"]), distance=str(params.get("distance", "")).lower(),
            comparator=multi.get("comparator"),
            quantization=_quantization_kind(params.get("quantization_config")) or shared,
        )
    return specs


@contextmanager
def _edge_errors(what: str) -> Iterator[None]:
    try:
        yield
    except CollectionError:
        raise
    except Exception as err:  # qdrant_edge raises plain Exception with the engine's message
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CollectionError(f"{what}: {message}") from None


class EdgeBackend:
    """A Qdrant Edge shard in ``folder``: created by ``create``, else opened when used.

    ``max_search_threads`` bounds the shard's search pool (``None``: one per CPU).
    """

    def __init__(self, folder: str | os.PathLike, max_search_threads: int | None = None) -> None:
        self.folder = Path(folder)
        self.description = f"Qdrant Edge shard {self.folder}"
        self.max_search_threads = max_search_threads
        self._shard = None

    def __enter__(self) -> EdgeBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def specs(self) -> dict[str, VectorSpec] | None:
        file = self.folder / _EDGE_CONFIG
        if not file.is_file():
            if self.folder.exists() and not self.folder.is_dir():
                raise CollectionNotFound(f"{self.folder} is not a folder")
            return None
        try:
            return _edge_specs(json.loads(file.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise CollectionError(f"{file} is not a Qdrant Edge configuration ({err})") from None

    @property
    def shard(self):
        if self._shard is None:
            import qdrant_edge as q

            if self.specs() is None:
                raise CollectionNotFound(f"no Qdrant Edge collection in {self.folder} (index documents into it first)")
            with _edge_errors(f"cannot open {self.description}"):
                config = (q.EdgeConfig(max_search_threads=self.max_search_threads)
                          if self.max_search_threads else None)
                self._shard = q.EdgeShard.load(str(self.folder), config)
        return self._shard

    def create(self, specs: Sequence[VectorSpec], quantization: str = "none", hnsw_m: int = 0) -> None:
        import qdrant_edge as q

        if self.folder.exists() and (not self.folder.is_dir() or any(self.folder.iterdir())):
            raise CollectionError(f"{self.folder} is not empty and holds no Qdrant Edge collection; "
                                  "choose a new or empty folder")
        multi = q.MultiVectorConfig(comparator=q.MultiVectorComparator.MaxSim)
        vectors = {s.name: q.EdgeVectorParams(size=s.size, distance=q.Distance.Cosine, multivector_config=multi)
                   for s in specs}
        config = q.EdgeConfig(
            vectors=vectors,
            quantization_config=_edge_quantization(quantization),
            # m = 0: no HNSW graph, every search scans all points (exact top k without quantization).
            hnsw_config=q.HnswIndexConfig(m=hnsw_m, ef_construct=100, full_scan_threshold=10),
            # Quantized vectors exist only in optimised segments: optimise every segment.
            optimizers=q.EdgeOptimizersConfig(indexing_threshold=1, default_segment_number=1),
            max_search_threads=self.max_search_threads,
        )
        with _edge_errors(f"cannot create {self.description}"):
            self._shard = q.EdgeShard.create(str(self.folder), config)

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        import qdrant_edge as q

        batch = [q.Point(id=uuid.UUID(p.id), vector={k: v for k, v in p.vectors.items()}, payload=p.payload)
                 for p in points]
        with _edge_errors(f"cannot write to {self.description}"):
            self.shard.update(q.UpdateOperation.upsert_points(batch))
            self.shard.flush()

    def existing(self, ids: Sequence[str]) -> set[str]:
        with _edge_errors(f"cannot read {self.description}"):
            records = self.shard.retrieve([uuid.UUID(i) for i in ids], with_payload=False, with_vector=False)
        return {point_uuid(r.id) for r in records}

    def query(self, vectors: np.ndarray, using: str, limit: int, rescore: bool | None,
              oversampling: float | None = None) -> list[ScoredPoint]:
        import qdrant_edge as q

        specs = self.specs() or {}
        params = q.SearchParams(quantization=q.QuantizationSearchParams(rescore=rescore, oversampling=oversampling))
        request = q.QueryRequest(limit=limit, query=q.Query.Nearest(np.asarray(vectors, np.float32), using=using),
                                 params=params, with_payload=True, with_vector=True)
        with _edge_errors(f"cannot search {self.description}"):
            found = self.shard.query(request)
        return [ScoredPoint(id=point_uuid(p.id), payload=dict(p.payload or {}),
                            vectors=_named_vectors(p.vector, specs), score=float(p.score)) for p in found]

    def count(self) -> int:
        import qdrant_edge as q

        with _edge_errors(f"cannot count {self.description}"):
            return int(self.shard.count(q.CountRequest(exact=True)))

    def optimize(self) -> None:
        with _edge_errors(f"cannot optimise {self.description}"):
            self.shard.optimize()

    def close(self) -> None:
        if self._shard is not None:
            self._shard.close()
            self._shard = None


def _edge_quantization(kind: str):
    import qdrant_edge as q

    if kind == "int8":
        return q.ScalarQuantizationConfig(type=q.ScalarType.Int8, quantile=0.99, always_ram=True)
    if kind == "binary":
        return q.BinaryQuantizationConfig(always_ram=True)
    if kind in (None, "none"):
        return None
    raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}; got {kind!r}")


# ---- qdrant-client ------------------------------------------------------------------------


@contextmanager
def _client_errors(what: str) -> Iterator[None]:
    """qdrant-client's exceptions as one-line ``CollectionError``s."""
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    try:
        yield
    except CollectionError:
        raise
    except UnexpectedResponse as err:
        if err.status_code in (401, 403):
            raise CollectionAccessDenied(f"{what}: the server refused the API key (HTTP {err.status_code}); "
                                         "check --api-key or QDRANT_API_KEY") from None
        if err.status_code == 404:
            raise CollectionNotFound(f"{what}: not found (HTTP 404)") from None
        raise CollectionError(f"{what}: HTTP {err.status_code} {err.reason_phrase}") from None
    except (ResponseHandlingException, ConnectionError, OSError) as err:
        cause = err.source if isinstance(err, ResponseHandlingException) else err
        raise CollectionUnreachable(f"{what}: the server cannot be reached ({type(cause).__name__}: {cause})") from None
    except Exception as err:  # grpc errors and local mode's ValueError("Collection … not found")
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        if "not found" in message.lower():
            raise CollectionNotFound(f"{what}: {message}") from None
        if "unauthenticated" in message.lower() or "permission" in message.lower():
            raise CollectionAccessDenied(f"{what}: {message}") from None
        raise CollectionError(f"{what}: {message}") from None


class ClientBackend:
    """Collection ``name`` reached through a ``qdrant_client.QdrantClient``.

    Build it with ``ClientBackend.connect(url, name, api_key)`` for a server, Cloud or
    cluster, or pass a client (``QdrantClient(path=…)`` / ``":memory:"`` for local mode).
    """

    def __init__(self, client, name: str, description: str | None = None) -> None:
        self.client = client
        self.name = name
        self.description = description or f"Qdrant collection {name!r}"

    @classmethod
    def connect(cls, url: str, name: str, api_key: str | None = None, timeout: int = 10) -> ClientBackend:
        import warnings

        from qdrant_client import QdrantClient

        with warnings.catch_warnings():  # "Api key is used with an insecure connection": the user's choice
            warnings.simplefilter("ignore", UserWarning)
            client = QdrantClient(url=url, api_key=api_key or None, timeout=timeout, check_compatibility=False)
        return cls(client, name, f"Qdrant collection {name!r} at {url}")

    def __enter__(self) -> ClientBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def specs(self) -> dict[str, VectorSpec] | None:
        with _client_errors(f"cannot reach {self.description}"):
            if not self.client.collection_exists(self.name):
                return None
            info = self.client.get_collection(self.name)
        params = info.config.params.vectors
        params = params if isinstance(params, dict) else {"": params}
        shared = _client_quantization_kind(info.config.quantization_config)
        specs = {}
        for name, p in (params or {}).items():
            multi = p.multivector_config
            specs[name] = VectorSpec(
                name=name, size=int(p.size), distance=str(p.distance.value).lower(),
                comparator=str(multi.comparator.value).lower() if multi else None,
                quantization=_client_quantization_kind(p.quantization_config) or shared,
            )
        return specs

    def create(self, specs: Sequence[VectorSpec], quantization: str = "none", hnsw_m: int = 0) -> None:
        from qdrant_client import models as m

        multi = m.MultiVectorConfig(comparator=m.MultiVectorComparator.MAX_SIM)
        vectors = {s.name: m.VectorParams(size=s.size, distance=m.Distance.COSINE, multivector_config=multi)
                   for s in specs}
        with _client_errors(f"cannot create {self.description}"):
            self.client.create_collection(self.name, vectors_config=vectors,
                                          quantization_config=_client_quantization(quantization),
                                          hnsw_config=m.HnswConfigDiff(m=hnsw_m))

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        from qdrant_client import models as m

        batch = [m.PointStruct(id=p.id, vector={k: v.tolist() for k, v in p.vectors.items()}, payload=p.payload)
                 for p in points]
        with _client_errors(f"cannot write to {self.description}"):
            self.client.upsert(self.name, batch, wait=True)

    def existing(self, ids: Sequence[str]) -> set[str]:
        with _client_errors(f"cannot read {self.description}"):
            records = self.client.retrieve(self.name, list(ids), with_payload=False, with_vectors=False)
        return {point_uuid(r.id) for r in records}

    def query(self, vectors: np.ndarray, using: str, limit: int, rescore: bool | None,
              oversampling: float | None = None) -> list[ScoredPoint]:
        import warnings

        from qdrant_client import models as m

        specs = self.specs() or {}
        params = None
        if rescore is not None or oversampling is not None:
            params = m.SearchParams(quantization=m.QuantizationSearchParams(rescore=rescore, oversampling=oversampling))
        with _client_errors(f"cannot search {self.description}"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # local mode: "search_params has no effect"
            found = self.client.query_points(self.name, query=np.asarray(vectors, np.float32).tolist(),
                                             using=using or None, limit=limit, search_params=params,
                                             with_payload=True, with_vectors=True).points
        return [ScoredPoint(id=point_uuid(p.id), payload=dict(p.payload or {}),
                            vectors=_named_vectors(p.vector, specs), score=float(p.score)) for p in found]

    def count(self) -> int:
        with _client_errors(f"cannot count {self.description}"):
            return int(self.client.count(self.name, exact=True).count)

    def optimize(self) -> None:
        """The server optimises on its own."""

    def close(self) -> None:
        self.client.close()


def _client_quantization_kind(config) -> str | None:
    if config is None:
        return None
    if hasattr(config, "scalar"):
        return str(config.scalar.type.value).lower()
    if hasattr(config, "binary"):
        return "binary"
    if hasattr(config, "product"):
        return "product"
    return type(config).__name__.lower()


def _client_quantization(kind: str):
    from qdrant_client import models as m

    if kind == "int8":
        return m.ScalarQuantization(scalar=m.ScalarQuantizationConfig(type=m.ScalarType.INT8, quantile=0.99,
                                                                      always_ram=True))
    if kind == "binary":
        return m.BinaryQuantization(binary=m.BinaryQuantizationConfig(always_ram=True))
    if kind in (None, "none"):
        return None
    raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}; got {kind!r}")


def open_collection(target: str | os.PathLike, name: str | None = None, api_key: str | None = None,
                    max_search_threads: int | None = None) -> Backend:
    """A folder → ``EdgeBackend``; an ``http(s)://`` URL → ``ClientBackend`` for collection
    ``name`` (default ``"colbert-viz"``; a URL ending in ``/collections/NAME`` names it too).
    ``api_key`` defaults to ``QDRANT_API_KEY``."""
    text = os.fspath(target)
    if text.startswith(("http://", "https://")):
        url, _, tail = text.rstrip("/").partition("/collections/")
        name = name or tail or "colbert-viz"
        return ClientBackend.connect(url, name, api_key or os.environ.get("QDRANT_API_KEY"))
    if name:
        raise ValueError("a collection name goes with a server URL; a Qdrant Edge folder holds one collection")
    return EdgeBackend(text, max_search_threads=max_search_threads)
