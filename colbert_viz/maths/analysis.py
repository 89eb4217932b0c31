"""``Analysis``: one query and its documents, encoded once, explored at any dimension.

This is what the app keeps per request and what a notebook user holds: ranking,
explanations, dimension comparison and document comparison are all numpy over
the stored vectors; nothing here re-encodes text.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, fields
from itertools import combinations

import numpy as np

from colbert_viz.maths.compare import (
    DimensionComparison,
    DocumentComparison,
    MatchChange,
    compare_documents,
    kendall_tau,
    match_changes,
)
from colbert_viz.maths.explain import Explanation, explain, merge
from colbert_viz.maths.scoring import RerankResult, check_dim, maxsim_scores, ranks, rerank_results
from colbert_viz.records import TokenVectors

EXACT = "float32"  # the storage method of the vectors as encoded


def merges_words(storage: str) -> bool:
    """Whether sub-words merge into words under storage method ``storage``: not
    for pooled items (``pool-*``), which already stand for several tokens.

    >>> merges_words("int8"), merges_words("pool-2")
    (True, False)
    """
    return not storage.startswith("pool-")


@dataclass
class Analysis:
    """query : the encoded query; documents : the encoded documents, input order;
    dimensions : the sizes the vectors may be cut to, native first."""

    query: TokenVectors
    documents: list[TokenVectors]
    dimensions: tuple[int, ...]
    _scores: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    _ranges: dict[int, tuple[float, float]] = field(default_factory=dict, repr=False)

    @property
    def texts(self) -> list[str]:
        return [d.text for d in self.documents]

    def scores(self, dim: int) -> np.ndarray:
        """(n_documents,) MaxSim scores at ``dim``, input order."""
        dim = check_dim(dim, self.dimensions)
        if dim not in self._scores:
            self._scores[dim] = maxsim_scores(self.query, self.documents, dim)
        return self._scores[dim]

    def ranks(self, dim: int) -> np.ndarray:
        """(n_documents,) 1-based ranks at ``dim``, input order."""
        return ranks(self.scores(dim))

    def rerank(self, dim: int, top_n: int | None = None) -> list[RerankResult]:
        return rerank_results(self.scores(dim), self.texts, top_n)

    def explain(self, index: int, dim: int, merge_words: bool = False, storage: str = EXACT) -> Explanation:
        """Explanation of document ``index`` (input order) at ``dim``, with the
        exact vectors or as ``storage`` (a ``colbert_viz.storage.settings`` method) stores
        and scores them. Pooled items (``pool-*``) are not merged into words."""
        dim = check_dim(dim, self.dimensions)
        if not 0 <= index < len(self.documents):
            raise IndexError(f"document index {index} is out of range (0..{len(self.documents) - 1})")
        if storage == EXACT:
            return explain(self.query, self.documents[index], dim, merge_words=merge_words)
        from colbert_viz.storage.settings import explain_stored

        if merge_words and not merges_words(storage):
            raise ValueError(f"{storage} stores pooled items: they are not merged into words")
        expl = explain_stored(self.stored(f"{dim}/{storage}"), self.query, self.documents[index], index)
        return merge(expl) if merge_words else expl

    def similarity_range(self, dim: int) -> tuple[float, float]:
        """(lowest, highest) token similarity over every document at ``dim``: one
        colour scale for all heatmaps, so documents can be compared by eye."""
        dim = check_dim(dim, self.dimensions)
        if dim not in self._ranges:  # every redraw asks: computed once per dimension
            q = self.query.at_dim(dim)
            sims = [q @ d.at_dim(dim).T for d in self.documents]
            self._ranges[dim] = (min(float(s.min()) for s in sims), max(float(s.max()) for s in sims))
        return self._ranges[dim]

    def compare_dimensions(self, storage: str = EXACT) -> DimensionComparison:
        """Scores, ranks and Kendall tau across all dimensions, with the exact
        vectors or with the documents stored as ``storage`` (a
        ``colbert_viz.storage.settings`` method): each dimension's ranking as that system
        orders it, and tau between those rankings (between the ranks where the
        order is not the score order: binary+rescore)."""
        if storage == EXACT:
            scores = {d: self.scores(d) for d in self.dimensions}
            order_ranks = {d: ranks(s) for d, s in scores.items()}
            keys = scores
        else:
            runs = {d: self.stored(f"{d}/{storage}") for d in self.dimensions}
            scores = {d: run.scores for d, run in runs.items()}
            order_ranks = {d: run.ranks for d, run in runs.items()}
            keys = {d: -order_ranks[d].astype(np.float64) if run.keeps_originals else run.scores
                    for d, run in runs.items()}
        return DimensionComparison(
            dimensions=self.dimensions,
            scores=scores,
            ranks=order_ranks,
            tau={(a, b): kendall_tau(keys[a], keys[b]) for a, b in combinations(self.dimensions, 2)},
        )

    def match_changes(self, index: int, dim: int, reference: int | None = None) -> list[MatchChange]:
        """Query tokens of document ``index`` whose best match at ``dim`` differs from
        the ``reference`` dimension (default: native)."""
        reference = reference or self.dimensions[0]
        return match_changes(self.explain(index, reference), self.explain(index, dim))

    def show(self, title: str = "colbert-viz", *, dimension: int | None = None, storage: str = EXACT,
             document: int | None = None, merge_words: bool = False, **options):
        """The interactive explorer of every view of this Run: shown by a
        notebook (``_repr_html_``), or written to a file with ``.save(path)``.
        It opens at ``dimension`` (default: native), with the documents stored as
        ``storage`` (a ``colbert_viz.storage.settings`` method), on ``document`` (default:
        the best one), sub-words merged or not. ``options`` go to
        ``ExplorerView.of`` (``embed_storage``) and ``explorer.run_payload``
        (``top_n``, ``display_name``, ``dtype``)."""
        from colbert_viz.explorer.html import ExplorerView
        from colbert_viz.explorer.view_state import ViewState

        view = ViewState.of(self, dim=dimension, document=document, storage=storage, merge_words=merge_words)
        return ExplorerView.of(self, title, view=view, **options)

    def compare_documents(self, a: int, b: int, dim: int, merge_words: bool = False,
                          storage: str = EXACT) -> DocumentComparison:
        """Why document ``a`` scores above or below ``b`` at ``dim`` (exact, or as ``storage`` scores them)."""
        return compare_documents(self.explain(a, dim, merge_words, storage), self.explain(b, dim, merge_words, storage))

    def compression_table(self) -> list[dict]:
        """For every storage setting × dimension: bytes, Kendall tau, largest rank and
        score change against exact float32 at the native size (rows of plain values,
        JSON-ready; see ``colbert_viz.storage.settings``). Seconds of k-means and clustering,
        computed at each call: ``kept`` keeps it."""
        from colbert_viz.storage.settings import compression_rows

        return compression_rows(self.query, self.documents, self.dimensions, stored=self.stored)

    def stored(self, setting):
        """The documents stored under ``setting`` (a ``storage.StorageSetting`` or an
        id like ``"64/int8"``) and the query scored against them, computed at each call."""
        from colbert_viz.storage.settings import StorageSetting, apply

        setting = setting if isinstance(setting, StorageSetting) else StorageSetting.parse(setting)
        if setting.dim not in self.dimensions:
            raise ValueError(f"dimensions must be one of {', '.join(map(str, self.dimensions))}; got {setting.dim}")
        return apply(setting, self.query, self.documents)

    def kept(self, keep: Keep | None = None) -> KeptAnalysis:
        """This Analysis (the same records and scores) with its storage settings and
        table computed once each, through ``keep(name, compute)`` (default: a dict
        of its own). The app's ``RunStore`` passes a ``keep`` that charges what it
        keeps to the memory budget."""
        if keep is None:
            memo: dict = {}

            def keep(name, compute):
                if name not in memo:
                    memo[name] = compute()
                return memo[name]

        values = {f.name: getattr(self, f.name) for f in fields(Analysis)}
        return KeptAnalysis(**values, keep=keep)


Keep = Callable[[Hashable, Callable[[], object]], object]


@dataclass
class KeptAnalysis(Analysis):
    """An ``Analysis`` whose storage settings and decision table are kept by
    ``keep(name, compute)``: computed on first use, then the kept value."""

    keep: Keep | None = field(default=None, repr=False, compare=False)

    def stored(self, setting):
        from colbert_viz.storage.settings import StorageSetting

        setting = setting if isinstance(setting, StorageSetting) else StorageSetting.parse(setting)
        return self.keep(("stored", setting.id), lambda: Analysis.stored(self, setting))

    def compression_table(self) -> list[dict]:
        rows = self.keep(("table",), lambda: Analysis.compression_table(self))
        return [dict(row) for row in rows]
