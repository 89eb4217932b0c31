"""Comparisons: rankings across Matryoshka dimensions, and document against document."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from colbert_viz.maths.explain import Explanation
from colbert_viz.maths.scoring import ranks


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b between two score vectors (1: same order, -1: reversed).

    Ties count as in tau-b; a vector with every value tied gives ``nan``.

    >>> kendall_tau(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0]))
    1.0
    >>> kendall_tau(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0]))
    -1.0
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare {a.shape[0]} scores with {b.shape[0]}")
    i, j = np.triu_indices(len(a), k=1)
    da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    concordant_minus_discordant = float(np.sum(da * db))
    denom = np.sqrt(float(np.sum(da != 0)) * float(np.sum(db != 0)))
    return float(concordant_minus_discordant / denom) if denom else float("nan")


def agreement(reference: np.ndarray, other: np.ndarray, other_ranks: np.ndarray | None = None) -> dict:
    """How far a second ranking of the same documents is from a reference one.

    reference, other : (n_documents,) scores; ``other_ranks`` (1-based), when
    the second system's order is not its score order (a rescored search).
    Returns JSON-ready ``kendall_tau`` (``None`` when undefined),
    ``largest_rank_change`` and ``largest_score_change``.

    >>> agreement(np.array([3.0, 2.0, 1.0]), np.array([2.75, 3.0, 1.0]))
    {'kendall_tau': 0.3333333333333333, 'largest_rank_change': 1, 'largest_score_change': 1.0}
    """
    reference, other = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    tau = kendall_tau(reference, other if other_ranks is None else -np.asarray(other_ranks, np.float64))
    other_ranks = ranks(other) if other_ranks is None else np.asarray(other_ranks)
    return {"kendall_tau": None if np.isnan(tau) else tau,
            "largest_rank_change": int(np.max(np.abs(other_ranks - ranks(reference)))),
            "largest_score_change": float(np.max(np.abs(other - reference)))}


@dataclass(frozen=True)
class MatchChange:
    """A query token whose best document token differs between two dimensions."""

    query_position: int
    query_token: str
    reference_match: str
    reference_position: int
    other_match: str
    other_position: int


@dataclass(frozen=True)
class DimensionComparison:
    """Scores and ranks of every document at each dimension.

    scores[d] : (n_documents,) float64; ranks[d] : (n_documents,) 1-based.
    tau[(d1, d2)] : Kendall tau between the scores at d1 and d2.
    """

    dimensions: tuple[int, ...]
    scores: dict[int, np.ndarray]
    ranks: dict[int, np.ndarray]
    tau: dict[tuple[int, int], float]


def match_changes(reference: Explanation, other: Explanation) -> list[MatchChange]:
    """Query tokens whose best match moved between two explanations of one pair.

    A match is the document tokens behind the matched item (``Axis.groups``), so
    explanations whose document axes differ (pooled items, clustered anew at each
    dimension) compare too; positions index each explanation's own axis."""
    if len(reference.query) != len(other.query) or reference.document_text != other.document_text:
        raise ValueError("the explanations are not of the same query-document pair")
    changes = []
    for i, (j_ref, j_other) in enumerate(zip(reference.best_index, other.best_index)):
        if reference.document.groups[j_ref] != other.document.groups[j_other]:
            changes.append(MatchChange(
                query_position=i, query_token=reference.query.labels[i],
                reference_match=reference.document.labels[j_ref], reference_position=int(j_ref),
                other_match=other.document.labels[j_other], other_position=int(j_other),
            ))
    return changes


@dataclass(frozen=True)
class TokenDifference:
    """One query item's contribution to document A, to document B, and the gap."""

    query_position: int
    query_token: str
    contribution_a: float
    contribution_b: float
    difference: float
    match_a: str
    match_b: str


@dataclass(frozen=True)
class DocumentComparison:
    """Why A scores above (or below) B: the per-query-token differences.

    ``differences`` keeps query order; ``total == score_a - score_b`` and equals
    the sum of the differences.
    """

    score_a: float
    score_b: float
    total: float
    differences: list[TokenDifference]


def compare_documents(a: Explanation, b: Explanation) -> DocumentComparison:
    """Per-query-token contribution differences between two explanations (same query, same dim)."""
    if a.query.labels != b.query.labels or a.dim != b.dim:
        raise ValueError("compare explanations of the same query at the same dimension")
    diffs = [
        TokenDifference(
            query_position=i, query_token=a.query.labels[i],
            contribution_a=float(a.contributions[i]), contribution_b=float(b.contributions[i]),
            difference=float(a.contributions[i] - b.contributions[i]),
            match_a=a.document.labels[a.best_index[i]], match_b=b.document.labels[b.best_index[i]],
        )
        for i in range(len(a.query))
    ]
    return DocumentComparison(score_a=a.score, score_b=b.score, total=a.score - b.score, differences=diffs)
