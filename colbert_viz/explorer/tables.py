"""pandas tables of a Run: the ranking (the CSV export), the query tokens whose
best match moves between dimensions and the storage decision table (numbers
from ``maths`` and ``storage``; rounding only for display), and the names the
tables give documents and tokens."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from colbert_viz.checks import positive_int
from colbert_viz.maths.analysis import Analysis
from colbert_viz.maths.compare import match_changes
from colbert_viz.maths.explain import Explanation
from colbert_viz.maths.scoring import check_dim
from colbert_viz.storage.analysis import StoredAnalysis, as_stored
from colbert_viz.storage.settings import EXACT


def fixed(x: float, places: int) -> float:
    """``x`` rounded to ``places`` decimals as the page shows it (JavaScript's ``toFixed``: an
    exact half goes away from zero), where Python's ``round`` sends it to the even digit.

    >>> fixed(22.125, 2), round(22.125, 2), fixed(-0.0625, 3)
    (22.13, 22.12, -0.063)
    """
    return float(Decimal(x).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def document_label(index: int) -> str:
    """How the page names the document at input position ``index`` (0-based)."""
    return f"Doc {index + 1}"


def preview(text: str, chars: int = 100) -> str:
    """The start of ``text`` on one line, with ``…`` when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= chars else flat[: chars - 1].rstrip() + "…"


def tokens_label(doc) -> str:
    """The Tokens cell of a document (a ``TokenVectors``): its length, and the
    text tokens it was cut from when truncated."""
    return f"{len(doc)} (cut from {doc.n_text_tokens:,} text tokens)" if doc.truncated else str(len(doc))


def token_name(label: str, position: int) -> str:
    """How a table names the token at ``position`` of an axis.

    >>> token_name("▁Berlin", 4)
    '▁Berlin (#4)'
    """
    return f"{label} (#{position})"


def ranking_columns(dimensions, dim: int, stored: bool) -> list[dict]:
    """The columns of the ranking table at ``dim`` (the page's and the CSV's):
    ``{"key": …, "title": …}`` each, and ``"dim"`` for the rank at another
    dimension. ``stored``: under a storage method (Exact rank, Stored bytes)."""
    columns = [{"key": "rank", "title": "Rank"}, {"key": "doc", "title": "Doc"}, {"key": "score", "title": "Score"},
               {"key": "per_token", "title": "Per query token"}]
    columns += [{"key": "rank_at", "dim": int(d), "title": f"Rank @{d}"} for d in dimensions if d != dim]
    if stored:
        columns += [{"key": "exact_rank", "title": "Exact rank"}, {"key": "stored_bytes", "title": "Stored bytes"}]
    return columns + [{"key": "tokens", "title": "Tokens"}, {"key": "preview", "title": "Preview"}]


def ranking_table(run: Analysis | StoredAnalysis, dim: int, top_n: int | None = None, rounded: bool = True,
                  preview_chars: int | None = 100, storage: str = EXACT) -> pd.DataFrame:
    """The ranking at ``dim``, best first (``top_n`` rows, all when ``None``), with
    the exact vectors or as storage method ``storage`` scores and orders them.

    Columns (``ranking_columns``, as the page shows them): Rank, Doc (1-based
    input position), Score, Per query token (score / number of query tokens),
    the rank at each other dimension (same storage), under a storage method the
    Exact rank (exact vectors, native size) and the Stored bytes of the document
    (and Rescored, under binary+rescore: the page marks it in the Stored bytes
    cell), Tokens, and a Preview (or the whole Text when ``preview_chars`` is
    ``None``).
    ``rounded`` gives the score 2 decimals and the per-token score 3.
    """
    run = as_stored(run)
    analysis = run.analysis
    dim = check_dim(dim, analysis.dimensions)
    top_n = None if top_n is None else positive_int(top_n, "top_n")
    comparison = run.compare_dimensions(storage)
    scores, dim_ranks = comparison.scores[dim], comparison.ranks[dim]
    stored = run.stored(f"{dim}/{storage}") if storage != EXACT else None
    exact_ranks = analysis.ranks(analysis.dimensions[0])
    n_query = len(analysis.query)
    order = np.argsort(dim_ranks, kind="stable")
    columns = ranking_columns(analysis.dimensions, dim, stored is not None)
    rows = []
    for rank, i in enumerate(order[:top_n], start=1):
        score = float(scores[i])
        cells = {"rank": rank, "doc": int(i) + 1, "score": fixed(score, 2) if rounded else score,
                 "per_token": fixed(score / n_query, 3) if rounded else score / n_query,
                 "tokens": tokens_label(analysis.documents[i]),
                 "preview": analysis.texts[i] if preview_chars is None else preview(analysis.texts[i], preview_chars)}
        if stored is not None:
            cells.update(exact_rank=int(exact_ranks[i]), stored_bytes=int(stored.documents[i].n_bytes))
        row = {}
        for c in columns:
            if c["key"] == "preview" and preview_chars is None:
                row["Text"] = cells["preview"]
            else:
                row[c["title"]] = int(comparison.ranks[c["dim"]][i]) if c["key"] == "rank_at" else cells[c["key"]]
            if c["key"] == "stored_bytes" and stored.keeps_originals:
                row["Rescored"] = int(i) in stored.candidates
        rows.append(row)
    return pd.DataFrame(rows)


def match_changes_table(analysis: Analysis, index: int,
                        explanations: dict[int, Explanation] | None = None) -> pd.DataFrame:
    """Query tokens of document ``index`` whose best match is not the same at
    every dimension: one column per dimension with the matched token (and its
    position). ``explanations``: the token explanations by dimension, if the
    caller has them already."""
    native = analysis.dimensions[0]
    explanations = explanations or {d: analysis.explain(index, d) for d in analysis.dimensions}
    changed = sorted({c.query_position for d in analysis.dimensions[1:]
                      for c in match_changes(explanations[native], explanations[d])})
    columns = ["Query token", *[f"Match @{d}" for d in analysis.dimensions]]
    rows = []
    for q in changed:
        row = {"Query token": token_name(explanations[native].query.labels[q], q)}
        for d, expl in explanations.items():
            j = int(expl.best_index[q])
            row[f"Match @{d}"] = f"{expl.document.labels[j]} (#{j}, {expl.best_similarity[q]:.3f})"
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def compression_table(run: Analysis | StoredAnalysis, rounded: bool = True) -> pd.DataFrame:
    """``StoredAnalysis.compression_table()`` for display, one row per storage setting ×
    dimension (``rounded``: bytes to 1 decimal, tau and score change to 3)."""
    rows = as_stored(run).compression_table()
    frame = pd.DataFrame([{
        "Setting": r["setting"], "Bytes/token": r["bytes_per_token"], "Bytes/document": r["bytes_per_document"],
        "Vectors/document": r["stored_vectors_per_document"], "Shared bytes": r["shared_bytes"],
        "Keeps originals": r["keeps_originals"], "Kendall tau": r["kendall_tau"],
        "Largest rank change": r["largest_rank_change"], "Largest score change": r["largest_score_change"],
    } for r in rows])
    if rounded:
        frame = frame.round({"Bytes/token": 1, "Bytes/document": 1, "Vectors/document": 1,
                             "Kendall tau": 3, "Largest score change": 3})
    return frame


def engine_table(comparison: dict) -> pd.DataFrame:
    """``service.compare_engines`` as a table: per document (reference order),
    both ranks and scores and the change."""
    engine, reference = comparison["engine"], comparison["reference_engine"] or "reference"
    return pd.DataFrame([{
        "Doc": d["index"] + 1, f"Rank ({reference})": d["reference_rank"], f"Rank ({engine})": d["rank"],
        f"Score ({reference})": round(d["reference_score"], 3), f"Score ({engine})": round(d["score"], 3),
        "Score change": round(d["score"] - d["reference_score"], 3),
    } for d in comparison["documents"]])
