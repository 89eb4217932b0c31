"""Search a collection and explain every hit from its stored vectors.

The query is encoded once; Qdrant returns the top k at the chosen dimension
(with the collection's quantization, rescoring on or off), ids and payloads only;
then the hits' stored vectors of that dimension are fetched, one hit at a time,
within ``max_tokens`` stored vectors for all hits together (``MAX_HIT_TOKENS``;
counts the payload states are checked before anything is fetched), and become a Run
(an ``Analysis``) that the explorer shows at that dimension and the smaller ones.
Each hit keeps Qdrant's score and rank beside the exact MaxSim recomputed from the
vectors Qdrant scored; for an unquantized collection the two are equal (to float32
rounding). A hit whose payload does not state its layout is re-encoded once to name
its vectors (``layouts``).

With a first stage (``first_stage``: ``"pooled"`` or ``"muvera"``), the search is one
Query API call: ``prefetch`` the top ``candidates`` by the first-stage vector (HNSW),
then MaxSim on the multivector ranks them. Without one it is the exact full scan.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace

import numpy as np

from colbert_viz.collections import first_stage as stage_of
from colbert_viz.collections.backends import (
    Backend,
    CollectionNotFound,
    CollectionSettingsError,
    EmptyCollectionError,
    PointError,
    ResultTooLarge,
    ScoredPoint,
    VectorSpec,
)
from colbert_viz.collections.indexing import PAYLOAD_KEY, vector_name
from colbert_viz.collections.layouts import LAYOUTS, LayoutMapper, unit_rows
from colbert_viz.maths.analysis import Analysis
from colbert_viz.maths.scoring import check_dim

MAX_HIT_TOKENS = 65_536  # stored vectors one search fetches, all hits together (32 MB at 128 dimensions)
DEFAULT_CANDIDATES = 100  # a two-stage search's prefetch


@dataclass(frozen=True)
class Hit:
    """One search result: Qdrant's ``rank`` (1-based) and ``score``, the ``exact`` MaxSim
    of the vectors it scored, the point ``id``, its ``index`` in ``analysis.documents``,
    and how its vectors were named (``layout``: ``None`` for positional labels; ``basis``:
    ``"stated"``, ``"verified"`` or ``"position"``; ``note``)."""

    rank: int
    id: str
    score: float
    exact: float
    index: int
    layout: str | None
    note: str
    basis: str = "position"


@dataclass
class SearchResult:
    """``analysis``: the Run of the query and the hits' stored vectors (hit order);
    ``hits``: Qdrant's ranking; the ``dim``, vector name, quantization and rescore used."""

    analysis: Analysis
    hits: list[Hit]
    dim: int
    vector: str
    quantization: str | None
    rescore: bool | None
    oversampling: float | None = None
    first_stage: dict | None = None  # the first stage's settings and "candidates"; None: exact search
    datatype: str = "float32"  # how the searched multivectors are stored
    on_disk: bool = False

    def to_dict(self, explain: bool = False) -> dict:
        """Shaped like the hosted rerank API (``results`` of ``index``, ``relevance_score``,
        ``document.text``) with Qdrant's rank and score, the exact MaxSim and the layout;
        ``explain`` adds each hit's token-level explanation."""
        results = []
        for hit in self.hits:
            doc = self.analysis.documents[hit.index]
            row = {"index": hit.index, "relevance_score": hit.score, "document": {"text": doc.text},
                   "id": hit.id, "qdrant_rank": hit.rank, "qdrant_score": hit.score, "exact_maxsim": hit.exact,
                   "layout": hit.layout, "layout_basis": hit.basis, "layout_note": hit.note}
            if explain:
                row["explanation"] = self.analysis.explain(hit.index, self.dim).to_dict()
            results.append(row)
        return {"dimensions": self.dim, "vector": self.vector, "quantization": self.quantization,
                "rescore": self.rescore, "oversampling": self.oversampling,
                "storage": {"datatype": self.datatype, "on_disk": self.on_disk},
                "first_stage": self.first_stage or {"kind": "none", "search": "exact MaxSim over every point"},
                "results": results,
                "usage": {"total_tokens": len(self.analysis.query)}}


def choose_vector(specs: dict[str, VectorSpec], dim: int, where: str) -> VectorSpec:
    """The collection's MaxSim vector of size ``dim``: colbert-viz's ``colbert-{dim}``, or
    any other cosine MAX_SIM vector of that size (a collection made by another pipeline)."""
    fitting = [s for s in specs.values() if s.comparator == "max_sim" and s.distance == "cosine" and s.size == dim]
    if not fitting:
        offered = ", ".join(f"{s.name or '(default)'}: size {s.size}, {s.distance}, "
                            f"{s.comparator or 'single vector'}" for s in specs.values()) or "no vectors"
        raise CollectionSettingsError(f"{where} has no cosine MAX_SIM multivector of size {dim} ({offered})")
    named = [s for s in fitting if s.name == vector_name(dim)]
    return (named or fitting)[0]


def search(model, backend: Backend, query: str, top_k: int = 10, dim: int | None = None,
           rescore: bool | None = None, layout: str | None = None, text_field: str = "text",
           oversampling: float | None = None, max_tokens: int = MAX_HIT_TOKENS,
           encoding: Callable[[], AbstractContextManager] | None = None, first_stage: str | None = None,
           candidates: int | None = None, muvera: stage_of.MuveraParams | None = None) -> SearchResult:
    """Top ``top_k`` points for ``query`` at ``dim`` (default: the largest the collection
    offers), explained from their stored vectors.

    ``rescore``: with a quantized collection, rescore the candidates with the original
    vectors (``None``: Qdrant's default), from ``oversampling`` × ``top_k`` candidates
    (``None``: Qdrant's default, 1). ``layout``: how the writer laid out the
    vectors (one of ``layouts.LAYOUTS``) where the payload does not say. ``text_field``:
    the payload key that holds the text. ``max_tokens``: stored vectors fetched for all
    hits together (``ResultTooLarge`` past it). ``encoding()``: a context held around each
    encode (the app's encode slot), never around a call to Qdrant. ``first_stage``
    (``"pooled"``, ``"muvera"``; ``None``/``"none"``: exact): two stages, the first fetching
    ``candidates`` (``top_k`` to ``MAX_CANDIDATES``; default ``DEFAULT_CANDIDATES``) points;
    ``muvera``: the MUVERA parameters the caller expects (refused when the collection's differ).
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    if oversampling is not None and not oversampling >= 1:
        raise ValueError(f"oversampling must be a number of at least 1, got {oversampling!r}")
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
    encoding = encoding or nullcontext
    specs = backend.specs()
    if specs is None:
        raise CollectionNotFound(f"{backend.description} does not exist")
    usable = {s.size for s in specs.values() if s.size in model.dimensions}
    dim = check_dim(max(usable, default=model.info.dim) if dim is None else dim, model.dimensions)
    spec = choose_vector(specs, dim, backend.description)
    first = None
    if first_stage not in (None, "none"):
        first = stage_of.choose(specs, first_stage, backend.description, muvera)
        candidates = stage_of.check_candidates(DEFAULT_CANDIDATES if candidates is None else candidates, top_k)
        if first.source not in model.dimensions:
            raise CollectionSettingsError(f"{backend.description}'s {first.kind} first stage was computed from "
                                          f"{first.source}-dimension vectors, which {model.info.name} does not offer")
    if backend.count() == 0:
        raise EmptyCollectionError(f"{backend.description} is empty: index documents first")
    with encoding():
        q = model.encode_queries([query])[0]
    if first is None:
        found = backend.query(q.at_dim(dim), spec.name, top_k, rescore, oversampling)
    else:
        found = backend.query_two_stage(first.query(q.at_dim(first.source)), first.name, candidates,
                                        q.at_dim(dim), spec.name, top_k)
    if not found:
        raise EmptyCollectionError(f"{backend.description} returned no point for the query")
    stated = [_stated(point) for point in found]
    vectors = _fetch(backend, found, [s for s, _ in stated], spec, max_tokens)

    def encode(text: str, maxlen: int):
        with encoding():
            return model.encode_documents([text], maxlen)[0]

    mapper = LayoutMapper(model.tokenizer, encode)
    documents, hits = [], []
    for rank, (point, (said, ignored)) in enumerate(zip(found, stated), 1):
        scored = vectors[point.id]
        exact = float((q.at_dim(dim) @ unit_rows(scored).T).max(axis=1).astype(np.float64).sum())
        text = point.payload.get(text_field)
        if not isinstance(text, str) or not text.strip():
            raise PointError(f"point {point.id} has no text in its payload field {text_field!r}; "
                             "colbert-viz explains points that store their text")
        mapping = mapper.map(text, scored, layout or said.get("layout"), said.get("doc_maxlen") if not layout else None)
        documents.append(mapping.record)
        writer = said.get("model")
        note = mapping.note + ignored + (f"; written by {writer}, searched with {model.info.name}"
                                         if writer and writer != model.info.name else "")
        hits.append(Hit(rank, point.id, point.score, exact, rank - 1, mapping.layout, note, mapping.basis))
    dimensions = tuple(d for d in model.dimensions if d <= spec.size)
    analysis = Analysis(query=replace(q, vectors=q.at_dim(spec.size)), documents=documents, dimensions=dimensions)
    stage = None if first is None else {**first.settings(), "candidates": candidates}
    return SearchResult(analysis, hits, dim, spec.name, spec.quantization, rescore, oversampling, stage,
                        spec.datatype, spec.on_disk)


def _stated(point: ScoredPoint) -> tuple[dict, str]:
    """What colbert-viz's payload of ``point`` states (``layout``, ``doc_maxlen``, ``model``,
    ``tokens``), the values of the wrong type left out, and a note on what was ignored."""
    said = point.payload.get(PAYLOAD_KEY)
    if said is None:
        return {}, ""
    if not isinstance(said, dict):
        return {}, f"; its {PAYLOAD_KEY!r} payload is not an object, ignored"
    kinds = {"layout": str, "doc_maxlen": int, "model": str, "tokens": int}
    kept = {k: v for k, v in said.items() if k in kinds and isinstance(v, kinds[k]) and not isinstance(v, bool)}
    if kept.get("layout") not in (None, *LAYOUTS):
        del kept["layout"]
    wrong = sorted(k for k in kinds if k in said and k not in kept)
    return kept, (f"; its {PAYLOAD_KEY!r} payload has unusable {', '.join(wrong)}, ignored" if wrong else "")


def _fetch(backend: Backend, found: list[ScoredPoint], stated: list[dict], spec: VectorSpec,
           max_tokens: int) -> dict[str, np.ndarray]:
    """The ``spec`` vectors of each hit, checked, one hit at a time: ``ResultTooLarge`` before
    fetching when the counts the payloads state pass ``max_tokens``, or as soon as the fetched do."""
    counted = sum(s.get("tokens", 0) for s in stated)
    if counted > max_tokens:
        raise ResultTooLarge(f"the top {len(found)} hold {counted:,} stored vectors, more than one search fetches "
                             f"({max_tokens:,}): ask for fewer hits")
    vectors: dict[str, np.ndarray] = {}
    total = 0
    for point in found:
        got = backend.vectors([point.id], spec.name).get(point.id)
        vectors[point.id] = _vectors(point.id, got, spec)
        total += len(vectors[point.id])
        if total > max_tokens:
            raise ResultTooLarge(f"the top {len(found)} hold more than {max_tokens:,} stored vectors, more than "
                                 "one search fetches: ask for fewer hits")
    return vectors


def _vectors(point_id: str, vectors: np.ndarray | None, spec: VectorSpec) -> np.ndarray:
    """A point's stored ``spec`` vectors, checked: (n_tokens, spec.size)."""
    if vectors is None or vectors.size == 0:
        raise PointError(f"point {point_id} has no {spec.name or 'default'!r} vectors")
    if vectors.ndim != 2 or vectors.shape[1] != spec.size:
        raise PointError(f"point {point_id}: its {spec.name or 'default'!r} vectors have shape "
                         f"{vectors.shape}, expected (tokens, {spec.size})")
    return vectors
