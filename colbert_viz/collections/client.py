"""``ClientBackend``: a collection on a Qdrant server, Qdrant Cloud or a cluster, through
``qdrant-client`` 1.20; its local mode (``QdrantClient(path=…)`` / ``":memory:"``) runs
the same code without a server. Every client error becomes a one-line ``CollectionError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from colbert_viz.collections.backends import (
    DATATYPES,
    QUANTIZATIONS,
    CollectionAccessDenied,
    CollectionError,
    CollectionNotFound,
    CollectionUnreachable,
    ScoredPoint,
    StoredPoint,
    VectorSpec,
    named_vectors,
    point_uuid,
)


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
        self.warning = ""  # set by ``open_collection`` when the API key would go over plain http
        # a new collection's shards and each shard's copies on a cluster (None: the server's defaults)
        self.shards: int | None = None
        self.replicas: int | None = None

    @classmethod
    def connect(cls, url: str, name: str, api_key: str | None = None, timeout: int = 10) -> ClientBackend:
        import warnings

        from qdrant_client import QdrantClient

        with warnings.catch_warnings():  # "Api key is used with an insecure connection": open_collection says it
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
                datatype=str(p.datatype.value).lower() if p.datatype else "float32",
                on_disk=bool(p.on_disk),
            )
        return specs

    def create(self, specs: Sequence[VectorSpec], quantization: str = "none", hnsw_m: int = 0) -> None:
        from qdrant_client import models as m

        from colbert_viz.collections.first_stage import FIRST_STAGE_M

        multi = m.MultiVectorConfig(comparator=m.MultiVectorComparator.MAX_SIM)
        distances = {"cosine": m.Distance.COSINE, "dot": m.Distance.DOT}
        # multivectors: HNSW degree hnsw_m (0: none, MaxSim scans); a first-stage vector: its own graph
        datatypes = {"float32": None, "float16": m.Datatype.FLOAT16, "uint8": m.Datatype.UINT8}
        for s in specs:
            if s.datatype not in datatypes:  # uint8: kept when another pipeline's collection is copied
                raise ValueError(f"datatype must be one of {', '.join(DATATYPES)}; got {s.datatype!r}")
        vectors = {s.name: m.VectorParams(size=s.size, distance=m.Distance.COSINE, multivector_config=multi,
                                          hnsw_config=m.HnswConfigDiff(m=hnsw_m), datatype=datatypes[s.datatype],
                                          on_disk=s.on_disk or None)
                   if s.comparator else m.VectorParams(size=s.size, distance=distances[s.distance],
                                                       hnsw_config=m.HnswConfigDiff(m=FIRST_STAGE_M))
                   for s in specs}
        with _client_errors(f"cannot create {self.description}"):
            self.client.create_collection(self.name, vectors_config=vectors,
                                          quantization_config=_client_quantization(quantization),
                                          hnsw_config=m.HnswConfigDiff(m=hnsw_m), shard_number=self.shards,
                                          replication_factor=self.replicas)

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        from qdrant_client import models as m

        batch = [m.PointStruct(id=_client_id(p.id), vector={k: v.tolist() for k, v in p.vectors.items()},
                               payload=p.payload)
                 for p in points]
        with _client_errors(f"cannot write to {self.description}"):
            self.client.upsert(self.name, batch, wait=True)

    def existing(self, ids: Sequence[str]) -> dict[str, dict]:
        with _client_errors(f"cannot read {self.description}"):
            records = self.client.retrieve(self.name, [_client_id(i) for i in ids], with_payload=True,
                                           with_vectors=False)
        return {point_uuid(r.id): dict(r.payload or {}) for r in records}

    def query(self, vectors: np.ndarray, using: str, limit: int, rescore: bool | None,
              oversampling: float | None = None, exact: bool = False) -> list[ScoredPoint]:
        from qdrant_client import models as m

        params = None
        if rescore is not None or oversampling is not None or exact:
            params = m.SearchParams(exact=exact, quantization=m.QuantizationSearchParams(
                ignore=exact, rescore=rescore, oversampling=oversampling))
        return self._query(query=np.asarray(vectors, np.float32).tolist(), using=using or None, limit=limit,
                           search_params=params)

    def query_two_stage(self, first: np.ndarray, first_using: str, candidates: int, vectors: np.ndarray,
                        using: str, limit: int) -> list[ScoredPoint]:
        from qdrant_client import models as m

        prefetch = m.Prefetch(query=np.asarray(first, np.float32).tolist(), using=first_using, limit=candidates)
        return self._query(prefetch=[prefetch], query=np.asarray(vectors, np.float32).tolist(), using=using or None,
                           limit=limit)

    def _query(self, **request) -> list[ScoredPoint]:
        import warnings

        with _client_errors(f"cannot search {self.description}"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # local mode: "search_params has no effect"
            found = self.client.query_points(self.name, with_payload=True, with_vectors=False, **request).points
        return [ScoredPoint(id=point_uuid(p.id), payload=dict(p.payload or {}), score=float(p.score)) for p in found]

    def scroll(self, offset, limit: int, using: Sequence[str]) -> tuple[list[StoredPoint], object]:
        specs = self.specs() or {}
        with _client_errors(f"cannot read {self.description}"):
            records, following = self.client.scroll(self.name, offset=offset, limit=limit, with_payload=True,
                                                    with_vectors=list(using))
        return [StoredPoint(point_uuid(r.id), dict(r.payload or {}), named_vectors(r.vector, specs))
                for r in records], following

    def vectors(self, ids: Sequence[str], using: str) -> dict[str, np.ndarray]:
        specs = self.specs() or {}
        with _client_errors(f"cannot read {self.description}"):
            records = self.client.retrieve(self.name, [_client_id(i) for i in ids], with_payload=False,
                                           with_vectors=[using] if using else True)
        return {point_uuid(r.id): named_vectors(r.vector, specs).get(using, np.zeros((0, 0), np.float32))
                for r in records}

    def count(self) -> int:
        with _client_errors(f"cannot count {self.description}"):
            return int(self.client.count(self.name, exact=True).count)

    def optimize(self) -> None:
        """The server optimises on its own."""

    def close(self) -> None:
        self.client.close()


def _client_id(value: str) -> int | str:
    """A point id as qdrant-client takes it: an unsigned integer or a UUID string."""
    return int(value) if value.isdigit() else value


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
