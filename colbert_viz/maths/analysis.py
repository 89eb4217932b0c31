"""``Analysis``: one query and its documents, encoded once, explored at any dimension.

This is what the app keeps per request and what a notebook user holds: ranking,
explanations, dimension comparison and document comparison are all numpy over
the encoded vectors; nothing here re-encodes text. An ``Analysis`` is a value:
its scores at every dimension are computed when it is built, and nothing is
cached on it later. The documents as a storage setting keeps them are
``colbert_viz.storage.StoredAnalysis``; the explorer of a Run is
``colbert_viz.show``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from types import MappingProxyType

import numpy as np

from colbert_viz.maths.compare import (
    DimensionComparison,
    DocumentComparison,
    MatchChange,
    compare_documents,
    kendall_tau,
    match_changes,
)
from colbert_viz.maths.explain import Explanation, explain
from colbert_viz.maths.scoring import RerankResult, check_dim, maxsim_scores, ranks, rerank_results
from colbert_viz.records import TokenVectors


@dataclass(frozen=True)
class Analysis:
    """query : the encoded query; documents : the encoded documents, input order;
    dimensions : the sizes the vectors may be cut to, native first."""

    query: TokenVectors
    documents: list[TokenVectors]
    dimensions: tuple[int, ...]
    _scores: MappingProxyType = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        scores = {}
        for dim in self.dimensions:
            s = maxsim_scores(self.query, self.documents, dim)
            s.setflags(write=False)
            scores[dim] = s
        object.__setattr__(self, "_scores", MappingProxyType(scores))

    @property
    def texts(self) -> list[str]:
        return [d.text for d in self.documents]

    def scores(self, dim: int) -> np.ndarray:
        """(n_documents,) MaxSim scores at ``dim``, input order (read-only)."""
        return self._scores[check_dim(dim, self.dimensions)]

    def ranks(self, dim: int) -> np.ndarray:
        """(n_documents,) 1-based ranks at ``dim``, input order."""
        return ranks(self.scores(dim))

    def rerank(self, dim: int, top_n: int | None = None) -> list[RerankResult]:
        return rerank_results(self.scores(dim), self.texts, top_n)

    def explain(self, index: int, dim: int, merge_words: bool = False) -> Explanation:
        """Explanation of document ``index`` (input order) at ``dim``."""
        dim = check_dim(dim, self.dimensions)
        return explain(self.query, self.documents[self.check_index(index)], dim, merge_words=merge_words)

    def check_index(self, index: int) -> int:
        """``index`` when it names a document; ``IndexError`` otherwise."""
        if not 0 <= index < len(self.documents):
            raise IndexError(f"document index {index} is out of range (0..{len(self.documents) - 1})")
        return index

    def similarity_range(self, dim: int) -> tuple[float, float]:
        """(lowest, highest) token similarity over every document at ``dim``: one
        colour scale for all heatmaps, so documents can be compared by eye."""
        dim = check_dim(dim, self.dimensions)
        q = self.query.at_dim(dim)
        sims = [q @ d.at_dim(dim).T for d in self.documents]
        return min(float(s.min()) for s in sims), max(float(s.max()) for s in sims)

    def compare_dimensions(self) -> DimensionComparison:
        """Scores, ranks and Kendall tau across all dimensions."""
        scores = {d: self.scores(d) for d in self.dimensions}
        return DimensionComparison(
            dimensions=self.dimensions,
            scores=scores,
            ranks={d: ranks(s) for d, s in scores.items()},
            tau={(a, b): kendall_tau(scores[a], scores[b]) for a, b in combinations(self.dimensions, 2)},
        )

    def match_changes(self, index: int, dim: int, reference: int | None = None) -> list[MatchChange]:
        """Query tokens of document ``index`` whose best match at ``dim`` differs from
        the ``reference`` dimension (default: native)."""
        reference = reference or self.dimensions[0]
        return match_changes(self.explain(index, reference), self.explain(index, dim))

    def compare_documents(self, a: int, b: int, dim: int, merge_words: bool = False) -> DocumentComparison:
        """Why document ``a`` scores above or below ``b`` at ``dim``."""
        return compare_documents(self.explain(a, dim, merge_words), self.explain(b, dim, merge_words))
