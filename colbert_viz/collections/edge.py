"""``EdgeBackend``: a collection in a folder, a Qdrant Edge shard (``qdrant-edge-py`` 0.9.0).

The Qdrant engine runs in-process: no server. Its settings are read from the
shard's ``edge_config.json``; every engine error becomes a one-line ``CollectionError``.
Qdrant Edge lets one process hold a folder (its write-ahead log is locked): within
this process every ``EdgeBackend`` of one real path (symlinks resolved) shares one
open shard, closed when the last of them closes; another process gets a message.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from colbert_viz.collections.backends import (
    DATATYPES,
    QUANTIZATIONS,
    CollectionError,
    CollectionLocked,
    CollectionNotFound,
    ScoredPoint,
    StoredPoint,
    VectorSpec,
    named_vectors,
    point_uuid,
)

_EDGE_CONFIG = "edge_config.json"
# Search threads of a shard this package creates: a few, never more than the CPUs
# (Qdrant Edge's own default starts 8, whatever the machine).
SEARCH_THREADS = min(os.cpu_count() or 1, 4)
# A collection on disk keeps segments of at most this many KB (Qdrant's max_segment_size), each
# optimised as it fills: a merge never copies the whole collection at once.
SEGMENT_KB = 2_000_000

_open_lock = threading.Lock()
_open: dict[str, list] = {}  # real path → [shard, backends using it]


def _share(key: str, make):
    """The open shard of real path ``key`` (``make()`` opens it when none is), one more user."""
    with _open_lock:
        held = _open.get(key)
        if held is None:
            held = _open[key] = [make(), 0]
        held[1] += 1
        return held[0]


def _unshare(key: str) -> None:
    """One user fewer of ``key``'s shard; the last one closes it."""
    with _open_lock:
        held = _open[key]
        held[1] -= 1
        if held[1] == 0:
            del _open[key]
            held[0].close()


def edge_id(value: str):
    """A point id for Qdrant Edge: an unsigned integer or a UUID (both come back as strings)."""
    return int(value) if value.isdigit() else uuid.UUID(value)


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
            datatype=str(params.get("datatype") or "float32").lower(),
            on_disk=params.get("memory") == "cold" or params.get("on_disk") is True,
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
        if "WouldBlock" in message:  # the write-ahead log is locked by another process
            raise CollectionLocked(f"{what}: another process holds this folder (Qdrant Edge opens a folder in one "
                                   "process at a time); close it there, or serve the collection with a Qdrant server"
                                   ) from None
        raise CollectionError(f"{what}: {message}") from None


class EdgeBackend:
    """A Qdrant Edge shard in ``folder``: created by ``create``, else opened when used.

    ``max_search_threads`` bounds the search pool of a shard this backend creates
    (``None``: ``SEARCH_THREADS``, at most 4); an existing shard is opened with the
    settings it was created with.
    """

    def __init__(self, folder: str | os.PathLike, max_search_threads: int | None = None) -> None:
        self.folder = Path(folder)
        self.description = f"Qdrant Edge shard {self.folder}"
        self.max_search_threads = max_search_threads or SEARCH_THREADS
        self._shard = None
        self._key: str | None = None  # the real path of the shard this backend holds

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
            key = os.path.realpath(self.folder)
            with _edge_errors(f"cannot open {self.description}"):
                # no config: a partial EdgeConfig (say only max_search_threads) is refused by load, and a
                # whole one would overwrite what is on disk; an existing shard keeps its own settings
                self._shard = _share(key, lambda: q.EdgeShard.load(key))
            self._key = key
        return self._shard

    def create(self, specs: Sequence[VectorSpec], quantization: str = "none", hnsw_m: int = 0) -> None:
        import qdrant_edge as q

        if self.folder.exists() and (not self.folder.is_dir() or any(self.folder.iterdir())):
            raise CollectionError(f"{self.folder} is not empty and holds no Qdrant Edge collection; "
                                  "choose a new or empty folder")
        from colbert_viz.collections.first_stage import FIRST_STAGE_M

        multi = q.MultiVectorConfig(comparator=q.MultiVectorComparator.MaxSim)
        graph = q.HnswIndexConfig(m=FIRST_STAGE_M, ef_construct=100, full_scan_threshold=10)
        distances = {"cosine": q.Distance.Cosine, "dot": q.Distance.Dot}
        vectors = {s.name: q.EdgeVectorParams(size=s.size, distance=q.Distance.Cosine, multivector_config=multi,
                                              datatype=_edge_datatype(s.datatype),
                                              memory=q.Memory.Cold if s.on_disk else None)
                   if s.comparator else q.EdgeVectorParams(size=s.size, distance=distances[s.distance],
                                                           hnsw_config=graph)
                   for s in specs}
        # Quantized vectors exist only in optimised segments: optimise every segment. In RAM: one
        # segment; on disk: segments of at most SEGMENT_KB, so an optimisation copies one of them.
        on_disk = any(s.on_disk for s in specs)
        optimizers = q.EdgeOptimizersConfig(indexing_threshold=1, max_segment_size=SEGMENT_KB) if on_disk else \
            q.EdgeOptimizersConfig(indexing_threshold=1, default_segment_number=1)
        config = q.EdgeConfig(
            vectors=vectors,
            quantization_config=_edge_quantization(quantization),
            # m = 0: no HNSW graph for the multivectors, a MaxSim search scans all points (exact top k
            # without quantization); a first-stage vector has its own graph (above).
            hnsw_config=q.HnswIndexConfig(m=hnsw_m, ef_construct=100, full_scan_threshold=10),
            optimizers=optimizers,
            max_search_threads=self.max_search_threads,
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        key = os.path.realpath(self.folder)
        with _edge_errors(f"cannot create {self.description}"):
            self._shard = _share(key, lambda: q.EdgeShard.create(key, config))
        self._key = key

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        import qdrant_edge as q

        batch = [q.Point(id=edge_id(p.id), vector={k: v for k, v in p.vectors.items()}, payload=p.payload)
                 for p in points]
        with _edge_errors(f"cannot write to {self.description}"):
            self.shard.update(q.UpdateOperation.upsert_points(batch))
            self.shard.flush()

    def existing(self, ids: Sequence[str]) -> dict[str, dict]:
        with _edge_errors(f"cannot read {self.description}"):
            records = self.shard.retrieve([edge_id(i) for i in ids], with_payload=True, with_vector=False)
        return {point_uuid(r.id): dict(r.payload or {}) for r in records}

    def query(self, vectors: np.ndarray, using: str, limit: int, rescore: bool | None,
              oversampling: float | None = None, exact: bool = False) -> list[ScoredPoint]:
        import qdrant_edge as q

        params = q.SearchParams(exact=exact,
                                quantization=q.QuantizationSearchParams(ignore=exact, rescore=rescore,
                                                                                  oversampling=oversampling))
        request = q.QueryRequest(limit=limit, query=q.Query.Nearest(np.asarray(vectors, np.float32), using=using),
                                 params=params, with_payload=True, with_vector=False)
        return self._query(request)

    def query_two_stage(self, first: np.ndarray, first_using: str, candidates: int, vectors: np.ndarray,
                        using: str, limit: int) -> list[ScoredPoint]:
        import qdrant_edge as q

        prefetch = q.Prefetch(limit=candidates, query=q.Query.Nearest(np.asarray(first, np.float32), using=first_using))
        request = q.QueryRequest(limit=limit, prefetches=[prefetch],
                                 query=q.Query.Nearest(np.asarray(vectors, np.float32), using=using),
                                 with_payload=True, with_vector=False)
        return self._query(request)

    def _query(self, request) -> list[ScoredPoint]:
        with _edge_errors(f"cannot search {self.description}"):
            found = self.shard.query(request)
        return [ScoredPoint(id=point_uuid(p.id), payload=dict(p.payload or {}), score=float(p.score)) for p in found]

    def scroll(self, offset, limit: int, using: Sequence[str]) -> tuple[list[StoredPoint], object]:
        import qdrant_edge as q

        specs = self.specs() or {}
        with _edge_errors(f"cannot read {self.description}"):
            records, following = self.shard.scroll(q.ScrollRequest(offset=offset, limit=limit, with_payload=True,
                                                                   with_vector=list(using)))
        return [StoredPoint(point_uuid(r.id), dict(r.payload or {}), named_vectors(r.vector, specs))
                for r in records], following

    def vectors(self, ids: Sequence[str], using: str) -> dict[str, np.ndarray]:
        specs = self.specs() or {}
        with _edge_errors(f"cannot read {self.description}"):
            records = self.shard.retrieve([edge_id(i) for i in ids], with_payload=False,
                                          with_vector=[using] if using else True)
        return {point_uuid(r.id): named_vectors(r.vector, specs).get(using, np.zeros((0, 0), np.float32))
                for r in records}

    def count(self) -> int:
        import qdrant_edge as q

        with _edge_errors(f"cannot count {self.description}"):
            return int(self.shard.count(q.CountRequest(exact=True)))

    def optimize(self) -> None:
        with _edge_errors(f"cannot optimise {self.description}"):
            self.shard.optimize()

    def close(self) -> None:
        if self._shard is not None:
            self._shard = None
            _unshare(self._key)


def _edge_datatype(name: str):
    import qdrant_edge as q

    kinds = {"float32": None, "float16": q.VectorStorageDatatype.Float16, "uint8": q.VectorStorageDatatype.Uint8}
    if name not in kinds:  # uint8: kept when another pipeline's collection is copied
        raise ValueError(f"datatype must be one of {', '.join(DATATYPES)}; got {name!r}")
    return kinds[name]  # None: Qdrant's default, float32


def _edge_quantization(kind: str):
    import qdrant_edge as q

    if kind == "int8":
        return q.ScalarQuantizationConfig(type=q.ScalarType.Int8, quantile=0.99, always_ram=True)
    if kind == "binary":
        return q.BinaryQuantizationConfig(always_ram=True)
    if kind in (None, "none"):
        return None
    raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}; got {kind!r}")
