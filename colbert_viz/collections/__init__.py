"""Qdrant collections: index documents, search them, explain every hit from its stored vectors.

>>> from colbert_viz.collections import EdgeBackend, index, search   # doctest: +SKIP
>>> with EdgeBackend("my-collection") as store:                      # doctest: +SKIP
...     index(model, store, documents)
...     result = search(model, store, "What is the population of Berlin?", top_k=10)
>>> colbert_viz.show(result.analysis)                                # doctest: +SKIP
>>> two = search(model, store, "Berlin", first_stage="muvera", candidates=100)   # doctest: +SKIP
>>> misses(model, store, "Berlin", first_stage="muvera").recall        # doctest: +SKIP

This subpackage is ``colbert_viz.collections``; inside colbert_viz every import is
absolute, so ``collections`` alone is still the standard library.
"""

from __future__ import annotations

from colbert_viz.collections.backends import (
    Backend,
    CollectionAccessDenied,
    CollectionError,
    CollectionNotFound,
    CollectionSettingsError,
    CollectionUnreachable,
    EmptyCollectionError,
    PointError,
    ResultTooLarge,
    VectorSpec,
    open_collection,
)
from colbert_viz.collections.backfill import BackfillReport, add_first_stage
from colbert_viz.collections.client import ClientBackend
from colbert_viz.collections.edge import EdgeBackend
from colbert_viz.collections.first_stage import MuveraParams
from colbert_viz.collections.indexing import IndexReport, index, point_id
from colbert_viz.collections.layouts import LAYOUTS, LayoutMapper, Mapping
from colbert_viz.collections.misses import DocumentWhy, MissReport, misses, why
from colbert_viz.collections.searching import Hit, SearchResult, search

__all__ = [
    "LAYOUTS",
    "Backend",
    "BackfillReport",
    "ClientBackend",
    "CollectionAccessDenied",
    "CollectionError",
    "CollectionNotFound",
    "CollectionSettingsError",
    "CollectionUnreachable",
    "DocumentWhy",
    "EdgeBackend",
    "EmptyCollectionError",
    "Hit",
    "IndexReport",
    "LayoutMapper",
    "Mapping",
    "MissReport",
    "MuveraParams",
    "PointError",
    "ResultTooLarge",
    "SearchResult",
    "VectorSpec",
    "add_first_stage",
    "index",
    "misses",
    "open_collection",
    "point_id",
    "search",
    "why",
]
