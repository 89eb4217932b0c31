"""What the first stage missed: a two-stage search against the exact MaxSim, on demand.

``misses``: the documents exact MaxSim ranks in the top k that the first stage did not
fetch (its top ``candidates``), each with both scores and its first-stage rank, and
recall@k of the two-stage top k against the exact one. ``why``: for one document (by
id or text), its exact and first-stage ranks and scores, whether the prefetch fetched it,
and its token matches (each query token's best document token) beside the first-stage
similarity.

Bounds (the exact side scans every point): at most ``MAX_EXACT_POINTS`` points (about
5 s at 100 tokens a document on a 2-core machine); ranks are looked up within the top
``RANK_LIMIT`` of each stage, a document further down is ranked "beyond RANK_LIMIT".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass

import numpy as np

from colbert_viz.collections import first_stage as stage_of
from colbert_viz.collections.backends import (
    Backend,
    CollectionError,
    CollectionNotFound,
    EmptyCollectionError,
    ResultTooLarge,
)
from colbert_viz.collections.indexing import point_id
from colbert_viz.collections.layouts import LayoutMapper, unit_rows
from colbert_viz.collections.searching import DEFAULT_CANDIDATES, choose_vector
from colbert_viz.maths.scoring import check_dim

MAX_EXACT_POINTS = 200_000
RANK_LIMIT = 1_000


@dataclass(frozen=True)
class Miss:
    """An exact top-k document the first stage did not fetch."""

    id: str
    text: str
    exact_rank: int
    exact_score: float
    first_rank: int | None  # None: beyond RANK_LIMIT
    first_score: float


@dataclass
class MissReport:
    """``missed`` documents, ``recall`` (@``top_k``), the stage that ran, the ids of both top k."""

    query: str
    top_k: int
    dim: int
    first_stage: dict
    exact: list[str]
    two_stage: list[str]
    missed: list[Miss]
    recall: float
    seconds: float

    def to_dict(self) -> dict:
        return {"query": self.query, "top_k": self.top_k, "dimensions": self.dim, "first_stage": self.first_stage,
                f"recall@{self.top_k}": self.recall, "missed": [asdict(m) for m in self.missed],
                "exact_top_k": self.exact, "two_stage_top_k": self.two_stage, "seconds": round(self.seconds, 3),
                "rank_limit": RANK_LIMIT}


@dataclass
class DocumentWhy:
    """One document against both stages; ``matches``: per query token, its best document token
    and their cosine similarity (the MaxSim terms)."""

    id: str
    text: str
    dim: int
    first_stage: dict
    exact_rank: int | None
    exact_score: float
    first_rank: int | None
    first_score: float
    fetched: bool
    matches: list[dict]

    def to_dict(self) -> dict:
        return {**asdict(self), "rank_limit": RANK_LIMIT}


@dataclass
class _Plan:
    spec: object
    first: stage_of.FirstStage
    candidates: int
    dim: int
    points: int
    query: object  # the query's TokenVectors

    def first_vector(self) -> np.ndarray:
        return self.first.query(self.query.at_dim(self.first.source))

    @property
    def settings(self) -> dict:
        return {**self.first.settings(), "candidates": self.candidates}


def _plan(model, backend: Backend, query: str, top_k: int, first_stage: str, candidates: int | None,
          dim: int | None, muvera, encoding) -> _Plan:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    specs = backend.specs()
    if specs is None:
        raise CollectionNotFound(f"{backend.description} does not exist")
    usable = {s.size for s in specs.values() if s.size in model.dimensions and s.comparator}
    dim = check_dim(max(usable, default=model.info.dim) if dim is None else dim, model.dimensions)
    spec = choose_vector(specs, dim, backend.description)
    first = stage_of.choose(specs, first_stage, backend.description, muvera)
    candidates = stage_of.check_candidates(DEFAULT_CANDIDATES if candidates is None else candidates, top_k)
    points = backend.count()
    if points == 0:
        raise EmptyCollectionError(f"{backend.description} is empty: index documents first")
    if points > MAX_EXACT_POINTS:
        raise ResultTooLarge(f"{backend.description} holds {points:,} points; the misses view scans every point "
                             f"exactly and stops at {MAX_EXACT_POINTS:,}")
    with (encoding or nullcontext)():
        q = model.encode_queries([query])[0]
    return _Plan(spec, first, candidates, dim, points, q)


def misses(model, backend: Backend, query: str, top_k: int = 10, first_stage: str = "muvera",
           candidates: int | None = None, dim: int | None = None, muvera: stage_of.MuveraParams | None = None,
           text_field: str = "text", encoding: Callable[[], AbstractContextManager] | None = None) -> MissReport:
    """The exact top ``top_k`` documents the first stage's top ``candidates`` left out."""
    started = time.perf_counter()
    plan = _plan(model, backend, query, top_k, first_stage, candidates, dim, muvera, encoding)
    vectors, first = plan.query.at_dim(plan.dim), plan.first_vector()
    exact = backend.query(vectors, plan.spec.name, top_k, None, exact=True)
    fetched = {p.id for p in backend.query(first, plan.first.name, plan.candidates, None)}
    two = backend.query_two_stage(first, plan.first.name, plan.candidates, vectors, plan.spec.name, top_k)
    lost = [(rank, p) for rank, p in enumerate(exact, 1) if p.id not in fetched]
    missed = []
    if lost:
        ranking = [p.id for p in backend.query(first, plan.first.name, min(RANK_LIMIT, plan.points), None)]
        stored = backend.vectors([p.id for _, p in lost], plan.first.name)
        for rank, p in lost:
            text = p.payload.get(text_field)
            missed.append(Miss(p.id, text if isinstance(text, str) else "", rank, p.score,
                               ranking.index(p.id) + 1 if p.id in ranking else None,
                               plan.first.similarity(first, stored[p.id])))
    exact_ids = [p.id for p in exact]
    recall = len(set(exact_ids) & {p.id for p in two}) / len(exact_ids) if exact_ids else 1.0
    return MissReport(query, top_k, plan.dim, plan.settings, exact_ids, [p.id for p in two], missed, recall,
                      time.perf_counter() - started)


def find_point(model, backend: Backend, document: str) -> str:
    """The id of the point ``document`` names: its id, or the id colbert-viz gives its text."""
    document = document.strip()
    if not document:
        raise ValueError("name a document by its id or its text")
    for candidate in (document, point_id(model.info.name, document)):
        try:
            if backend.existing([candidate]):
                return candidate
        except (CollectionError, ValueError):  # not an id this store takes (text, a malformed UUID)
            continue
    shown = document if len(document) <= 60 else document[:59] + "…"
    raise CollectionNotFound(f"no point {shown!r} in {backend.description} (neither an id nor the text of one)")


def why(model, backend: Backend, query: str, document: str, top_k: int = 10, first_stage: str = "muvera",
        candidates: int | None = None, dim: int | None = None, muvera: stage_of.MuveraParams | None = None,
        text_field: str = "text", encoding: Callable[[], AbstractContextManager] | None = None) -> DocumentWhy:
    """Where ``document`` (an id or a text) ranks exactly and in the first stage, and why."""
    plan = _plan(model, backend, query, top_k, first_stage, candidates, dim, muvera, encoding)
    pid = find_point(model, backend, document)
    vectors, first = plan.query.at_dim(plan.dim), plan.first_vector()
    stored = backend.vectors([pid], plan.spec.name)[pid]
    doc_first = backend.vectors([pid], plan.first.name)[pid]
    sims = vectors @ unit_rows(stored).T
    limit = min(RANK_LIMIT, plan.points)
    exact_ids = [p.id for p in backend.query(vectors, plan.spec.name, limit, None, exact=True)]
    first_ids = [p.id for p in backend.query(first, plan.first.name, limit, None)]
    text = backend.existing([pid])[pid].get(text_field)
    text = text if isinstance(text, str) else ""
    labels = _labels(model, text, stored, encoding) if text.strip() else [f"#{i}" for i in range(len(stored))]
    best = sims.argmax(axis=1)
    matches = [{"query_token": token, "document_token": labels[b], "document_position": int(b),
                "similarity": float(sims[i, b])} for i, (token, b) in enumerate(zip(plan.query.tokens, best))]
    fetched = pid in {p.id for p in backend.query(first, plan.first.name, plan.candidates, None)}
    first_rank = first_ids.index(pid) + 1 if pid in first_ids else None
    return DocumentWhy(pid, text, plan.dim, plan.settings,
                       exact_ids.index(pid) + 1 if pid in exact_ids else None,
                       float(sims.max(axis=1).astype(np.float64).sum()), first_rank,
                       plan.first.similarity(first, doc_first),
                       fetched, matches)


def _labels(model, text: str, stored: np.ndarray, encoding) -> list[str]:
    """The stored vectors' tokens, as the search names them (``layouts``); positions where it cannot."""
    def encode(t: str, maxlen: int):
        with (encoding or nullcontext)():
            return model.encode_documents([t], maxlen)[0]

    try:
        return list(LayoutMapper(model.tokenizer, encode).map(text, stored, None, None).record.tokens)
    except (CollectionError, ValueError):
        return [f"#{i}" for i in range(len(stored))]
