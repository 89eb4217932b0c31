"""Write documents to a collection: encode, keep the scored tokens, upsert in batches.

The vector settings follow the model's launch post (one vector per token of
``size`` = the dimension, cosine, multivector comparator MAX_SIM); each offered
dimension (128, 96, 64 for jina-colbert-v2) is its own named vector
``colbert-{dim}``, so a search can run at each. A point's id is a UUID5 of the
model and the text: indexing the same document again rewrites the same point,
and a batch already stored is skipped without encoding, so an interrupted run
resumes where it stopped. A stored point written with another document length or
skiplist (its payload says) is not skipped but refused, with a message: its vectors
are not what this run would write. A point is written whole (vectors and payload in
one upsert) or not at all. Beside the multivectors, a new collection gets first-stage
vectors (``first_stage``: pooled and MUVERA, from the largest dimension, in an HNSW
index); a collection that has them gets them for every point written.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass

from colbert_viz.collections.backends import (
    DATATYPES,
    QUANTIZATIONS,
    Backend,
    CollectionSettingsError,
    StoredPoint,
    VectorSpec,
)
from colbert_viz.collections.first_stage import KINDS, FirstStage, MuveraParams, make, stages
from colbert_viz.collections.layouts import layout_name
from colbert_viz.engine.tokenization import check_texts
from colbert_viz.maths.vectors import truncate_dims

NAMESPACE = uuid.UUID("5d2f8f5e-8a8b-4c59-9d0a-6f1c0c2a9b11")  # colbert-viz's point ids
PAYLOAD_KEY = "colbert_viz"
OPTIMIZE_EVERY = 20_000  # points written between optimisations of a collection on disk
Progress = Callable[[int, int], None]


def vector_name(dim: int) -> str:
    """The named vector of one dimension.

    >>> vector_name(96)
    'colbert-96'
    """
    return f"colbert-{dim}"


def point_id(model_name: str, text: str) -> str:
    """A stable id for one document under one model: UUID5 of both.

    >>> point_id("jinaai/jina-colbert-v2", "Berlin") == point_id("jinaai/jina-colbert-v2", "Berlin")
    True
    """
    return str(uuid.uuid5(NAMESPACE, f"{model_name}\n{text}"))


def expected_specs(dimensions: Sequence[int], datatype: str = "float32", on_disk: bool = False) -> list[VectorSpec]:
    """The named vectors colbert-viz writes: one per dimension, cosine, MAX_SIM, stored as
    ``datatype`` (``"float32"`` or ``"float16"``), in RAM or ``on_disk``."""
    if datatype not in DATATYPES:
        raise ValueError(f"datatype must be one of {', '.join(DATATYPES)}; got {datatype!r}")
    return [VectorSpec(vector_name(d), d, datatype=datatype, on_disk=on_disk) for d in dimensions]


def optimize_due(specs, written: int, optimized: int) -> bool:
    """Whether to optimise now: a collection on disk every ``OPTIMIZE_EVERY`` points written
    (``optimized``: the count at the last optimisation), so its segments stay small; in RAM
    only at the end."""
    return any(s.on_disk for s in specs) and written - optimized >= OPTIMIZE_EVERY


def check_settings(specs: dict[str, VectorSpec], expected: Sequence[VectorSpec], where: str) -> None:
    """``CollectionSettingsError`` naming the first vector that does not fit."""
    for want in expected:
        have = specs.get(want.name)
        if have is None:
            names = ", ".join(repr(n) for n in specs) or "none"
            raise CollectionSettingsError(f"{where} has no vector {want.name!r} (it has {names}); "
                                          "index into a new collection")
        for what, got, need in (("size", have.size, want.size), ("distance", have.distance, want.distance),
                                ("comparator", have.comparator, want.comparator)):
            if got != need:
                raise CollectionSettingsError(f"{where}: vector {want.name!r} has {what} {got}, "
                                              f"colbert-viz needs {need}")


def check_stored(payloads, wanted: dict, where: str) -> None:
    """``CollectionSettingsError`` when a stored point of the batch was written with other
    settings than ``wanted`` (``layout``, ``doc_maxlen``): skipping it would keep other vectors."""
    for payload in payloads:
        stated = payload.get(PAYLOAD_KEY)
        stated = stated if isinstance(stated, dict) else {}
        for key, want in wanted.items():
            if stated.get(key) != want:
                flag = {"doc_maxlen": "--doc-maxlen", "layout": "--skiplist"}[key]
                raise CollectionSettingsError(
                    f"{where} holds these documents with {key} {stated.get(key)!r}, this run writes {want!r}: "
                    f"index with the same {flag}, or into a new collection")


@dataclass(frozen=True)
class IndexReport:
    """What one ``index`` call did: documents given, points ``written`` and ``skipped``
    (stored already), the collection's ``points`` after, tokens encoded, seconds."""

    documents: int
    written: int
    skipped: int
    points: int
    tokens: int
    seconds: float

    def to_dict(self) -> dict:
        out = asdict(self)
        out["seconds"] = round(self.seconds, 3)
        out["documents_per_second"] = round(self.written / self.seconds, 2) if self.seconds else None
        out["tokens_per_second"] = round(self.tokens / self.seconds, 1) if self.seconds else None
        return out


def index(model, backend: Backend, texts: Sequence[str], *, batch_size: int = 32, doc_maxlen: int | None = None,
          quantization: str = "none", hnsw_m: int = 0, first_stages: Sequence[str] = KINDS,
          muvera: MuveraParams | None = None, datatype: str = "float32", on_disk: bool = False,
          progress: Progress | None = None,
          encoding: Callable[[], AbstractContextManager] | None = None) -> IndexReport:
    """Encode ``texts`` with ``model`` and write them to ``backend``'s collection.

    Creates the collection when it does not exist (``quantization``: ``"none"``,
    ``"int8"`` or ``"binary"``; ``hnsw_m`` 0: no HNSW graph on the multivectors, exact
    full scans; ``first_stages``: the first-stage vectors to add, ``muvera`` their MUVERA
    parameters; ``datatype`` ``"float16"`` halves the multivectors' bytes, ``on_disk`` keeps
    them memory-mapped on disk, optimised every ``OPTIMIZE_EVERY`` points); an existing one
    must have colbert-viz's vectors with these settings, and keeps the first stages and the
    storage it has.
    ``progress(done, total)`` is called after each batch; ``encoding()`` is held around
    each batch's encode (the app's encode slot), never around a write.
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}; got {quantization!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    texts = list(dict.fromkeys(check_texts(texts, "document")))  # the same document twice is one point
    settings = model.tokenizer.settings
    maxlen = settings.doc_maxlen if doc_maxlen is None else doc_maxlen
    expected = expected_specs(model.dimensions, datatype, on_disk)
    specs = backend.specs()
    if specs is None:
        firsts = [make(kind, max(model.dimensions), muvera) for kind in dict.fromkeys(first_stages)]
        backend.create([*expected, *(f.spec() for f in firsts)], quantization, hnsw_m)
    else:
        check_settings(specs, expected, backend.description)
        firsts = stages(specs)
        expected = [specs[s.name] for s in expected]  # the collection's own storage
    start = time.perf_counter()
    written = skipped = tokens = optimized = 0
    layout = layout_name("recipe" if settings.skip_words is not None else settings.skiplist)
    for first in range(0, len(texts), batch_size):
        batch = texts[first: first + batch_size]
        ids = [point_id(model.info.name, t) for t in batch]
        stored = backend.existing(ids)
        check_stored(stored.values(), {"layout": layout, "doc_maxlen": maxlen}, backend.description)
        todo = [(i, t) for i, t in zip(ids, batch) if i not in stored]
        skipped += len(batch) - len(todo)
        if todo:
            with (encoding or nullcontext)():
                records = model.encode_documents([t for _, t in todo], maxlen)
            points = []
            for (pid, _), record in zip(todo, records):
                kept = record.vectors[record.scored]
                payload = {"text": record.text, "id": pid, PAYLOAD_KEY: {
                    "model": model.info.name, "layout": layout, "doc_maxlen": maxlen,
                    "tokens": int(record.scored.sum()), "truncated": record.truncated}}
                vectors = {s.name: truncate_dims(kept, s.size) for s in expected}
                points.append(StoredPoint(pid, payload, {**vectors, **first_vectors(firsts, kept)}))
                tokens += len(record)
            backend.upsert(points)
            written += len(points)
            if optimize_due(expected, written, optimized):
                backend.optimize()
                optimized = written
        if progress is not None:
            progress(min(first + batch_size, len(texts)), len(texts))
    backend.optimize()
    return IndexReport(len(texts), written, skipped, backend.count(), tokens, time.perf_counter() - start)


def first_vectors(firsts: Sequence[FirstStage], vectors) -> dict:
    """Each first stage's vector of a document's token vectors (n_tokens, ≥ source size), by name."""
    return {f.name: f.document(truncate_dims(vectors, f.source)) for f in firsts}
