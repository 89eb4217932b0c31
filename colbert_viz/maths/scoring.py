"""MaxSim scoring over token vectors (numpy only).

``score(q, d) = sum_i max_{j scored} q_i · d_j``: each query token adds the
similarity of its best document token. Punctuation on the skiplist is not a
candidate. With 32 normalised query vectors the score lies in [-32, 32].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import numpy as np

from colbert_viz.checks import positive_int
from colbert_viz.maths.vectors import truncate_dims as truncate_dims  # re-exported: its public name
from colbert_viz.records import TokenVectors


class RerankDocument(TypedDict):
    text: str


class RerankResult(TypedDict):
    """One entry of the hosted rerank API's ``results``."""

    index: int
    relevance_score: float
    document: RerankDocument


def check_dim(dim: int, allowed: Sequence[int]) -> int:
    """``dim`` if the model offers it, else a ``ValueError`` listing what it offers."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or int(dim) not in allowed:
        raise ValueError(f"dimensions must be one of {', '.join(map(str, allowed))}; got {dim!r}")
    return int(dim)


def similarity_matrix(query: np.ndarray, document: np.ndarray) -> np.ndarray:
    """(n_query_tokens, dim) × (n_doc_tokens, dim) → (n_query_tokens, n_doc_tokens) cosine similarities."""
    if query.shape[1] != document.shape[1]:
        raise ValueError(
            f"query vectors have {query.shape[1]} dimensions, document vectors have {document.shape[1]}"
        )
    return query @ document.T


def best_matches(similarity: np.ndarray, scored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query token, its best scored document token and that similarity.

    similarity: (n_query_tokens, n_doc_tokens); scored: (n_doc_tokens,) bool.
    Returns ``(best_index, best_similarity)``, both (n_query_tokens,); the index
    points into the full document axis. ``best_similarity.sum()`` is the score.

    >>> s = np.array([[0.1, 0.9, 0.5], [0.7, 0.2, 0.8]], dtype=np.float32)
    >>> idx, sim = best_matches(s, np.array([True, True, False]))
    >>> idx.tolist(), sim.tolist()
    ([1, 0], [0.8999999761581421, 0.699999988079071])
    """
    if similarity.shape[1] != scored.shape[0]:
        raise ValueError(
            f"similarity has {similarity.shape[1]} document tokens, scored mask has {scored.shape[0]}"
        )
    candidates = np.flatnonzero(scored)
    if candidates.size == 0:
        raise ValueError("the document has no scored token")
    sub = similarity[:, candidates]
    local = sub.argmax(axis=1)
    return candidates[local], sub[np.arange(sub.shape[0]), local]


def maxsim(query: TokenVectors, document: TokenVectors, dim: int | None = None) -> float:
    """The MaxSim score of one pair at ``dim`` dimensions (default: native)."""
    dim = query.dim if dim is None else dim
    sim = similarity_matrix(query.at_dim(dim), document.at_dim(dim))
    return score_of(best_matches(sim, document.scored)[1])


def score_of(best_similarity: np.ndarray) -> float:
    """Sum of per-query-token contributions, accumulated in float64."""
    return float(np.sum(best_similarity, dtype=np.float64))


def maxsim_scores(query: TokenVectors, documents: Sequence[TokenVectors], dim: int) -> np.ndarray:
    """(n_documents,) float64 MaxSim scores at ``dim`` dimensions."""
    q = query.at_dim(dim)
    return np.array([score_of(best_matches(similarity_matrix(q, d.at_dim(dim)), d.scored)[1])
                     for d in documents], dtype=np.float64)


def ranking(scores: np.ndarray) -> np.ndarray:
    """Document indices, best first; ties keep input order.

    >>> ranking(np.array([1.0, 3.0, 2.0, 3.0])).tolist()
    [1, 3, 2, 0]
    """
    return np.argsort(-scores, kind="stable")


def ranks(scores: np.ndarray) -> np.ndarray:
    """(n,) 1-based rank of each document.

    >>> ranks(np.array([1.0, 3.0, 2.0])).tolist()
    [3, 1, 2]
    """
    out = np.empty(len(scores), dtype=np.int64)
    out[ranking(scores)] = np.arange(1, len(scores) + 1)
    return out


def rerank_results(scores: np.ndarray, texts: Sequence[str], top_n: int | None = None) -> list[RerankResult]:
    """API-shaped records for the ``top_n`` best documents (all when ``None`` or
    0, as in the CLI and the page).

    >>> [r["index"] for r in rerank_results(np.array([0.1, 0.9]), ["a", "b"], top_n=0)]
    [1, 0]
    """
    if top_n is not None and not (top_n == 0 and not isinstance(top_n, bool)):
        top_n = positive_int(top_n, "top_n")
    order = ranking(scores)[: top_n or len(scores)]
    return [RerankResult(index=int(i), relevance_score=float(scores[i]), document={"text": texts[i]})
            for i in order]
