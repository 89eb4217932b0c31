"""An ``Analysis`` under the storage settings: its documents as each system
stores and scores them, with explanations and comparisons, exact or stored.

``StoredAnalysis`` computes each setting's ``StoredRun`` (seconds of k-means
and clustering for some) and the decision table once, and keeps them through
``keep(name, compute)``, which its owner passes: by default a dict of its own
(a notebook, the CLI, a file export); the app's ``RunStore`` passes one that
charges what is kept to its memory budget. The ``Analysis`` itself stays a
value: nothing is written into it.

A setting that cannot be computed for a Run (over a documented limit, or a
failure) is unavailable: ``stored`` raises ``StorageUnavailable``, whose one
sentence names the method and says why, and every other setting still works.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from colbert_viz.maths.analysis import Analysis
from colbert_viz.maths.compare import DimensionComparison, DocumentComparison, compare_documents, kendall_tau
from colbert_viz.maths.explain import Explanation, merge
from colbert_viz.maths.scoring import check_dim
from colbert_viz.storage import settings
from colbert_viz.storage.settings import (
    EXACT,
    METHODS,
    StorageLimitError,
    StorageSetting,
    StoredRun,
    explain_stored,
    merges_words,
)

Keep = Callable[[Hashable, Callable[[], object]], object]
logger = logging.getLogger(__name__)


class StorageUnavailable(ValueError):
    """A storage setting a Run cannot be stored under: the message names the method and says why."""


def _attempt(setting: StorageSetting, query, documents) -> StoredRun | StorageUnavailable:
    """``settings.apply``, or why it cannot be (kept like a result, so it is not tried again)."""
    try:
        return settings.apply(setting, query, documents)
    except StorageLimitError as err:
        return StorageUnavailable(f"{setting.name} is unavailable for this Run: {err}")
    except Exception:  # one setting that fails never takes the others down
        logger.exception("storage setting %s failed", setting.id)
        return StorageUnavailable(f"{setting.name} is unavailable for this Run: it could not be computed")


def own_keep() -> Keep:
    """A ``keep`` that keeps every value in a dict of its own."""
    memo: dict = {}

    def keep(name: Hashable, compute: Callable[[], object]) -> object:
        if name not in memo:
            memo[name] = compute()
        return memo[name]

    return keep


@dataclass(frozen=True)
class StoredAnalysis:
    """``analysis`` under every storage setting (``settings.METHODS`` at each of its
    dimensions), each setting's stored run and the decision table computed on
    first use and kept by ``keep(name, compute)`` (default: ``own_keep()``).

    ``storage`` arguments name a method (``"float32"``, the default, is the
    exact vectors: the ``Analysis`` itself answers)."""

    analysis: Analysis
    keep: Keep = field(default_factory=own_keep, repr=False, compare=False)

    @property
    def dimensions(self) -> tuple[int, ...]:
        return self.analysis.dimensions

    def stored(self, setting: StorageSetting | str) -> StoredRun:
        """The documents stored under ``setting`` (a ``StorageSetting`` or an id like
        ``"64/int8"``) and the query scored against them; ``StorageUnavailable`` if
        the Run cannot be stored so."""
        setting = setting if isinstance(setting, StorageSetting) else StorageSetting.parse(setting)
        if setting.dim not in self.dimensions:
            raise ValueError(f"dimensions must be one of {', '.join(map(str, self.dimensions))}; got {setting.dim}")
        a = self.analysis
        run = self.keep(("stored", setting.id), lambda: _attempt(setting, a.query, a.documents))
        if isinstance(run, StorageUnavailable):
            raise run
        return run

    def unavailable(self) -> dict[str, str]:
        """``{method: why}`` for each method this Run cannot be stored under at one of its
        dimensions (each setting computed once, as ``stored``); the others are available."""
        out = {}
        for setting in settings.all_settings(self.dimensions):
            if setting.name not in out:
                try:
                    self.stored(setting)
                except StorageUnavailable as err:
                    out[setting.name] = str(err)
        return out

    def compression_table(self) -> list[dict]:
        """For every available storage setting × dimension (``unavailable`` says which are
        not): bytes, Kendall tau, largest rank and score change against exact float32 at the
        native size (rows of plain values, JSON-ready; see ``settings.compression_rows``)."""
        a = self.analysis
        methods = tuple(m for m in METHODS if m not in self.unavailable())
        rows = self.keep(("table",), lambda: settings.compression_rows(a.query, a.documents, a.dimensions,
                                                                       stored=self.stored, methods=methods))
        return [dict(row) for row in rows]

    def explain(self, index: int, dim: int, merge_words: bool = False, storage: str = EXACT) -> Explanation:
        """Explanation of document ``index`` (input order) at ``dim``, with the exact
        vectors or as ``storage`` stores and scores them. Pooled items (``pool-*``)
        are not merged into words."""
        if storage == EXACT:
            return self.analysis.explain(index, dim, merge_words)
        dim = check_dim(dim, self.dimensions)
        self.analysis.check_index(index)
        if merge_words and not merges_words(storage):
            raise ValueError(f"{storage} stores pooled items: they are not merged into words")
        a = self.analysis
        expl = explain_stored(self.stored(f"{dim}/{storage}"), a.query, a.documents[index], index)
        return merge(expl) if merge_words else expl

    def compare_dimensions(self, storage: str = EXACT) -> DimensionComparison:
        """Scores, ranks and Kendall tau across all dimensions, with the exact
        vectors or with the documents stored as ``storage``: each dimension's
        ranking as that system orders it, and tau between those rankings
        (between the ranks where the order is not the score order: binary+rescore)."""
        if storage == EXACT:
            return self.analysis.compare_dimensions()
        runs = {d: self.stored(f"{d}/{storage}") for d in self.dimensions}
        keys = {d: -run.ranks.astype(np.float64) if run.keeps_originals else run.scores for d, run in runs.items()}
        return DimensionComparison(
            dimensions=self.dimensions,
            scores={d: run.scores for d, run in runs.items()},
            ranks={d: run.ranks for d, run in runs.items()},
            tau={(a, b): kendall_tau(keys[a], keys[b]) for a, b in combinations(self.dimensions, 2)},
        )

    def compare_documents(self, a: int, b: int, dim: int, merge_words: bool = False,
                          storage: str = EXACT) -> DocumentComparison:
        """Why document ``a`` scores above or below ``b`` at ``dim`` (exact, or as ``storage`` scores them)."""
        return compare_documents(self.explain(a, dim, merge_words, storage), self.explain(b, dim, merge_words, storage))


def as_stored(run: Analysis | StoredAnalysis) -> StoredAnalysis:
    """``run`` as a ``StoredAnalysis``: itself, or an ``Analysis`` with a keep of its own."""
    return run if isinstance(run, StoredAnalysis) else StoredAnalysis(run)
