"""What Jina's API says beside what the open weights say, for one query and its documents.

Three comparisons, each with Kendall tau and the largest rank change:

- ``rerank``: ``/v1/rerank``'s scores beside the MaxSim over the API's own 128-d vectors;
- ``dimensions``: the API's 96 and 64 (what it returns for ``dimensions``) beside
  the cut of its 128 (first k components, re-normalised);
- ``local`` (when a local model is given): the local vectors beside the API's
  (largest absolute difference per document, where both have the same tokens) and
  the local MaxSim ranking beside the API's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from colbert_viz.maths.compare import agreement, kendall_tau
from colbert_viz.maths.scoring import ranks


def _rank_agreement(reference_ranks: np.ndarray, other_ranks: np.ndarray) -> dict:
    """Kendall tau (``None``: undefined) and the largest rank change of two 1-based rankings."""
    tau = kendall_tau(-reference_ranks.astype(np.float64), -other_ranks.astype(np.float64))
    return {"kendall_tau": None if np.isnan(tau) else tau,
            "largest_rank_change": int(np.max(np.abs(reference_ranks - other_ranks)))}


def compare_api(api, query: str, documents: Sequence[str], local=None, doc_maxlen: int | None = None) -> dict:
    """``api``: an ``ApiEncoder`` with a key; ``local``: a ``ColbertModel`` or ``None``.
    JSON-ready; ``tokens_used`` is what Jina's API counted for all the requests.
    Raises ``JinaApiError`` (one sentence) when the API fails."""
    q = api.tokenizer.tokenize_queries([query])[0]
    docs = api.tokenizer.tokenize_documents(documents, doc_maxlen)
    analysis = api.analyze_tokenized(q, docs)
    dim = api.info.dim
    maxsim, maxsim_ranks = analysis.scores(dim), analysis.ranks(dim)
    reranked = api.client.rerank(query, analysis.texts)
    rerank_scores = np.full(len(docs), np.nan)
    rerank_ranks = np.full(len(docs), len(docs), dtype=np.int64)
    for rank, r in enumerate(reranked, start=1):
        rerank_scores[r["index"]], rerank_ranks[r["index"]] = r["relevance_score"], rank
    out: dict = {
        "model": api.info.display_name, "dimensions": dim,
        "rerank": {**_rank_agreement(rerank_ranks, maxsim_ranks), "documents": [
            {"index": i, "rerank_score": float(rerank_scores[i]), "rerank_rank": int(rerank_ranks[i]),
             "maxsim": float(maxsim[i]), "maxsim_rank": int(maxsim_ranks[i])} for i in range(len(docs))]},
        "dimensions_compared": [],
    }
    for d in (d for d in (96, 64) if d < dim):
        other = api.with_dimensions(d)
        native = other.analyze_tokenized(q, docs)
        cut, own = analysis.scores(d), native.scores(d)
        out["dimensions_compared"].append({"dimensions": d, **agreement(cut, own), "documents": [
            {"index": i, "cut_score": float(cut[i]), "cut_rank": int(ranks(cut)[i]),
             "api_score": float(own[i]), "api_rank": int(ranks(own)[i])} for i in range(len(docs))]})
        api.notes.extend(other.notes)
    if local is not None:
        out["local"] = compare_vectors(analysis, local, doc_maxlen)
    out["tokens_used"] = api.tokens_used
    out["note"] = api.note()
    return out


def compare_vectors(analysis, local, doc_maxlen: int | None = None) -> dict:
    """The local model's vectors and MaxSim ranking beside those of ``analysis`` (the API's),
    at the native size of both; a document whose tokens differ gets no vector difference."""
    q = local.tokenizer.tokenize_queries([analysis.query.text])[0]
    docs = local.tokenizer.tokenize_documents(analysis.texts, doc_maxlen)
    mine = local.analyze_tokenized(q, docs)
    dim = min(local.info.dim, analysis.query.dim)

    def difference(a, b) -> float | None:
        if a.tokens != b.tokens or a.vectors.shape != b.vectors.shape:
            return None
        return float(np.max(np.abs(a.at_dim(dim) - b.at_dim(dim))))

    query_difference = difference(analysis.query, mine.query)
    doc_differences = [difference(a, b) for a, b in zip(analysis.documents, mine.documents)]
    known = [x for x in [query_difference, *doc_differences] if x is not None]
    api_scores, local_scores = analysis.scores(dim), mine.scores(dim)
    return {"model": local.info.display_name, "dimensions": dim,
            "max_vector_difference": max(known) if known else None, "query_vector_difference": query_difference,
            **agreement(api_scores, local_scores), "documents": [
                {"index": i, "api_score": float(api_scores[i]), "api_rank": int(analysis.ranks(dim)[i]),
                 "local_score": float(local_scores[i]), "local_rank": int(mine.ranks(dim)[i]),
                 "max_vector_difference": doc_differences[i]} for i in range(len(doc_differences))]}
