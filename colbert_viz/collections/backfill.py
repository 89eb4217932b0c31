"""Give an existing collection a first stage from its stored vectors, without encoding again.

Qdrant cannot add a named vector to an existing collection, so the points are copied into
a new collection (``target``): payload and multivectors as stored, plus first-stage vectors
computed from the largest cosine MAX_SIM multivector. Works for colbert-viz's collections and
other pipelines'. Resumable: a point already in ``target`` is not written again; each batch is
one upsert, whole or not at all.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from colbert_viz.collections.backends import (
    Backend,
    CollectionNotFound,
    CollectionSettingsError,
    EmptyCollectionError,
    StoredPoint,
)
from colbert_viz.collections.first_stage import KINDS, MuveraParams, make, stages
from colbert_viz.collections.indexing import Progress, check_settings, first_vectors, optimize_due


@dataclass(frozen=True)
class BackfillReport:
    """Points ``written`` to the target, ``skipped`` (there already), the target's ``points``,
    the first stages' ``vectors`` names, seconds."""

    written: int
    skipped: int
    points: int
    vectors: list[str]
    seconds: float

    def to_dict(self) -> dict:
        return {**asdict(self), "seconds": round(self.seconds, 3)}


def add_first_stage(source: Backend, target: Backend, kinds: Sequence[str] = KINDS,
                    muvera: MuveraParams | None = None, batch_size: int = 256,
                    progress: Progress | None = None) -> BackfillReport:
    """Copy ``source``'s points into ``target`` with first-stage vectors of ``kinds``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    specs = source.specs()
    if specs is None:
        raise CollectionNotFound(f"{source.description} does not exist")
    multi = [s for s in specs.values() if s.comparator == "max_sim"]
    usable = [s for s in multi if s.distance == "cosine"]
    if not usable:
        raise CollectionSettingsError(f"{source.description} has no cosine MAX_SIM multivector to compute a "
                                      "first stage from")
    if stages(specs):
        raise CollectionSettingsError(f"{source.description} has a first stage already")
    base = max(usable, key=lambda s: s.size)
    firsts = [make(kind, base.size, muvera) for kind in dict.fromkeys(kinds)]
    total = source.count()
    if total == 0:
        raise EmptyCollectionError(f"{source.description} is empty: nothing to copy")
    wanted = [*multi, *(f.spec() for f in firsts)]
    have = target.specs()
    if have is None:
        quantization = base.quantization if base.quantization in ("int8", "binary") else "none"
        target.create(wanted, quantization, 0)
    else:
        check_settings(have, wanted, target.description)
    start = time.perf_counter()
    written = skipped = optimized = 0
    offset = None
    while True:
        points, offset = source.scroll(offset, batch_size, [s.name for s in multi])
        stored = target.existing([p.id for p in points]) if points else {}
        todo = [p for p in points if p.id not in stored]
        skipped += len(points) - len(todo)
        batch = []
        for p in todo:
            vectors = p.vectors.get(base.name)
            if vectors is None or vectors.size == 0:
                raise CollectionSettingsError(f"point {p.id} of {source.description} has no {base.name!r} vectors")
            batch.append(StoredPoint(p.id, p.payload, {**p.vectors, **first_vectors(firsts, vectors)}))
        if batch:
            target.upsert(batch)
            written += len(batch)
            if optimize_due(multi, written, optimized):
                target.optimize()
                optimized = written
        if progress is not None:
            progress(min(written + skipped, total), total)
        if offset is None or not points:
            break
    target.optimize()
    return BackfillReport(written, skipped, target.count(), [f.name for f in firsts], time.perf_counter() - start)
