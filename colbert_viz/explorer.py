"""Every view of a Run as plain JSON-ready data, for the explorer (numpy only).

The explorer (``colbert_viz/static/explorer.js``) draws the ranking, the
heatmap, the contributions, the highlight, the dimension comparison and "why A
above B" in the browser. This module computes every number those views show,
once per Run, for every offered dimension and both document axes ("tokens" and
"words", i.e. sub-words merged), so that switching any control is a selection
in the browser, never a server call:

- ``run_payload(analysis, …)``: the rankings, Kendall tau, colour ranges,
  model facts and, when the Run is small enough (``eager_bytes``), the views
  of every document; else only the first-ranked one, and the page fetches the
  others with ``document_payload`` (from the stored vectors, no encoding).
- ``document_payload(analysis, index)``: one document's views.

Matrices travel as base64 float32 (little-endian), exactly the values the
package computed; the heatmap of a document with more than ``MAX_COLUMNS``
shown columns also comes folded (``layout.collapse``) for each combination of
the two hide toggles, and the highlight of one with more than
``MAX_HIGHLIGHT_TOKENS`` items keeps windows around the matches.
"""

from __future__ import annotations

import base64
import math
from itertools import product

import numpy as np

from colbert_viz.analysis import Analysis, KeptAnalysis
from colbert_viz.explain import Axis, Explanation, merge, token_axis, token_kinds
from colbert_viz.highlight import kept_positions, text_pieces, untokenized_tail
from colbert_viz.layout import best_query_per_document_item, collapse, segment_values, shown_positions
from colbert_viz.records import Tokenized
from colbert_viz.scoring import ranking
from colbert_viz.tables import document_label, match_changes_table, preview

MAX_COLUMNS = 256
MAX_HIGHLIGHT_TOKENS = 2048
EAGER_BYTES = 6 * 2**20  # a Run whose views fit in this is sent whole
VARIANTS = {"tokens": False, "words": True}
SCHEMA = 1


def f32(values: np.ndarray) -> str:
    """Base64 of ``values`` as little-endian float32 (row-major).

    >>> f32(np.array([1.0, -0.5]))
    'AACAPwAAAL8='
    """
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f4").tobytes()).decode("ascii")


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _axis(axis: Axis) -> dict:
    return {"labels": axis.labels, "kinds": axis.kinds, "groups": axis.groups}


def model_facts(query: Tokenized, dimensions: tuple[int, ...], display_name: str = "",
                is_fallback: bool = False) -> dict:
    """What the page says about the model, read off an encoded or tokenized
    query: its length (so the score range), marker, special and expansion token
    names, the sub-word convention, and the dimensions offered."""
    kinds = token_kinds(query)
    names = {k: sorted({t for t, kind in zip(query.tokens, kinds) if kind == k}) for k in
             ("special", "marker", "expansion")}
    bracketed = any(t.startswith("[") for t in names["special"])  # [CLS] [SEP]: a BERT vocabulary
    subword = "wordpiece" if bracketed or any(t.startswith("##") for t in query.tokens) else "sentencepiece"
    return {
        "display_name": display_name, "is_fallback": is_fallback,
        "native_dim": int(dimensions[0]), "dimensions": [int(d) for d in dimensions],
        "query_tokens": len(query), "score_max": len(query),
        "specials": names["special"], "markers": names["marker"], "expansion": names["expansion"],
        "subword": subword,
    }


def _heat_fold(expl: Explanation, hide_expansion: bool, hide_special: bool) -> dict | None:
    """The folded heatmap for one combination of the hide toggles, or ``None``
    when the shown columns fit (the browser then draws them all)."""
    positions = shown_positions(expl.document, hide_special=hide_special)
    if len(positions) <= MAX_COLUMNS:
        return None
    rows = shown_positions(expl.query, hide_expansion=hide_expansion, hide_special=hide_special)
    segments = collapse(positions, expl.best_index[rows], MAX_COLUMNS)
    z = segment_values(expl.similarity, rows, segments, expl.document.scored)
    return {"rows": rows.tolist(),
            "columns": [[s.start, s.end, len(s.positions), int(s.gap)] for s in segments],
            "z": f32(z)}



def _ranking(scores: np.ndarray, ranks: np.ndarray, order, n_query: int) -> dict:
    """One ranking as the explorer reads it: scores, per query token, 1-based
    ranks (input order) and the order, best first."""
    return {"scores": scores.tolist(), "per_token": (scores / n_query).tolist(), "ranks": ranks.tolist(),
            "order": [int(i) for i in order]}


def _dimension_view(expl: Explanation, pieces: bool = True) -> dict:
    closest, closest_sim = best_query_per_document_item(expl)
    view = {
        "score": expl.score,
        "best": expl.best_index.tolist(),
        "best_sim": f32(expl.best_similarity),
        "contributions": expl.contributions.tolist(),
        "closest": closest.tolist(),
        "closest_sim": f32(closest_sim),
        "sim": f32(expl.similarity),
    }
    folds = {f"{int(e)}{int(s)}": _heat_fold(expl, e, s) for e, s in product((False, True), repeat=2)}
    if any(folds.values()):
        view["folds"] = folds
    keep = kept_positions(expl, MAX_HIGHLIGHT_TOKENS)
    if pieces and not keep.all():
        view["pieces"] = text_pieces(expl, keep)
        view["shown"] = int(keep.sum())
    return view


def document_payload(analysis: Analysis, index: int) -> dict:
    """The views of document ``index`` at every dimension, on both axes."""
    tokens = {d: analysis.explain(index, d) for d in analysis.dimensions}
    variants = {}
    for name, merged in VARIANTS.items():
        explanations = {d: merge(e) if merged else e for d, e in tokens.items()}
        dims = {str(d): _dimension_view(e) for d, e in explanations.items()}
        expl = explanations[analysis.dimensions[0]]
        short = len(expl.document) <= MAX_HIGHLIGHT_TOKENS
        variants[name] = {
            "axis": _axis(expl.document),
            "pieces": text_pieces(expl, np.ones(len(expl.document), bool)) if short else None,
            "dims": dims,
        }
    changes = match_changes_table(analysis, index, tokens)
    return {
        "index": index,
        "variants": variants,
        "untokenized_tail": untokenized_tail(tokens[analysis.dimensions[0]]),
        "match_changes": {"columns": list(changes.columns), "rows": changes.values.tolist()},
    }


def storage_summary(analysis: Analysis) -> dict:
    """The storage control's data (``colbert_viz.storage``): for every method
    at every dimension the ranking as that system scores it and the bytes it
    stores, and the decision table (``Analysis.compression_table``). A Run over
    the storage limits gets ``{"error": message}`` instead."""
    from colbert_viz.storage import METHODS, all_settings

    analysis = _kept(analysis)
    try:
        table = analysis.compression_table()
    except ValueError as err:
        return {"methods": list(METHODS), "error": str(err)}
    n_query = len(analysis.query)
    rankings = {}
    for setting in all_settings(analysis.dimensions):
        run = analysis.stored(setting)
        rankings[setting.id] = {
            **_ranking(run.scores, run.ranks, run.order, n_query), "rescored": list(run.candidates),
            "bytes_per_token": float(run.bytes_per_token),
            "bytes_per_document": [float(d.n_bytes) for d in run.documents],
            "stored_vectors": [len(d.groups) for d in run.documents],
        }
    return {"methods": list(METHODS), "table": table, "rankings": rankings,
            "exact": f"{analysis.dimensions[0]}/float32", "exact_bytes_per_token": 4 * analysis.dimensions[0]}


def _kept(analysis: Analysis) -> KeptAnalysis:
    """``analysis`` keeping its storage settings (as it is when the app's store keeps it)."""
    return analysis if isinstance(analysis, KeptAnalysis) else analysis.kept()


def stored_document_payload(analysis: Analysis, index: int, method: str) -> dict:
    """Document ``index``'s views as storage ``method`` scores it, at every
    dimension: its stored items on the document axis (a pooled item is labelled
    with the tokens it merged; each dimension has its own ``axis``), and words
    where they mean something (not for pooled vectors). The highlight keeps the
    exact document's text pieces and maps each token to its item."""
    from colbert_viz.storage import explain_stored

    tokens, words = {}, {}
    for d in analysis.dimensions:
        expl = explain_stored(analysis.stored(f"{d}/{method}"), analysis.query, analysis.documents[index], index)
        tokens[str(d)] = {**_dimension_view(expl, pieces=False), "axis": _axis(expl.document)}
        if not method.startswith("pool-"):
            merged = merge(expl)
            words[str(d)] = {**_dimension_view(merged, pieces=False), "axis": _axis(merged.document)}
    variants = {"tokens": {"dims": tokens}}
    if words:
        variants["words"] = {"dims": words}
    return {"index": index, "method": method, "variants": variants}


def estimated_bytes(analysis: Analysis) -> int:
    """About how large the views of every document are as JSON (the similarity
    matrices dominate: float32, base64, each dimension, both axes)."""
    cells = len(analysis.query) * sum(len(d) for d in analysis.documents)
    return int(cells * 4 * 4 / 3 * len(analysis.dimensions) * 2 * 1.3)


def _tokens_label(doc) -> str:
    return f"{len(doc)} (cut from {doc.n_text_tokens:,} text tokens)" if doc.truncated else str(len(doc))


def run_payload(analysis: Analysis, *, top_n: int | None = None, summary: str = "", display_name: str = "",
                is_fallback: bool = False, run_key: str | None = None, eager_bytes: int = EAGER_BYTES,
                storage: bool = False) -> dict:
    """Everything the explorer draws for one Run (see the module docstring).

    ``top_n`` bounds the ranking table (``None``: every document);
    ``run_key`` lets the page fetch the views left out when the Run is larger
    than ``eager_bytes``; ``storage`` adds every storage setting's views
    (``storage_summary``, ``stored_document_payload``), which the page
    otherwise fetches when the storage control is first used.
    """
    from colbert_viz.storage import METHODS

    dims = analysis.dimensions
    comparison = analysis.compare_dimensions()
    n_query = len(analysis.query)
    rankings = {str(d): _ranking(comparison.scores[d], comparison.ranks[d], ranking(comparison.scores[d]), n_query)
                for d in dims}
    first = rankings[str(dims[0])]["order"][0]
    eager = estimated_bytes(analysis) <= eager_bytes
    wanted = range(len(analysis.documents)) if eager else [first]
    query_words = merge(analysis.explain(first, dims[0])).query
    return {
        "schema": SCHEMA,
        "model": model_facts(analysis.query, dims, display_name, is_fallback),
        "summary": summary,
        "top_n": top_n,
        "query": {"text": analysis.query.text,
                  "axes": {"tokens": _axis(token_axis(analysis.query)), "words": _axis(query_words)}},
        "documents": [{"label": document_label(i), "preview": preview(d.text, 100),
                       "menu": preview(d.text, 60), "tokens": _tokens_label(d), "truncated": bool(d.truncated)}
                      for i, d in enumerate(analysis.documents)],
        "rankings": rankings,
        "tau": [{"a": a, "b": b, "tau": _finite(t)} for (a, b), t in comparison.tau.items()],
        "zrange": {str(d): list(analysis.similarity_range(d)) for d in dims},
        "limits": {"columns": MAX_COLUMNS, "highlight": MAX_HIGHLIGHT_TOKENS},
        "views": {str(i): document_payload(analysis, i) for i in wanted},
        "complete": eager,
        "run_key": run_key,
        "storage_methods": list(METHODS),
        **(_storage_payload(analysis, wanted) if storage else {}),
    }


def _storage_payload(analysis: Analysis, documents) -> dict:
    analysis = _kept(analysis)
    summary = storage_summary(analysis)
    if "error" in summary:
        return {"storage": summary}
    methods = [m for m in summary["methods"] if m != "float32"]
    return {"storage": summary,
            "stored": {m: {str(i): stored_document_payload(analysis, i, m) for i in documents} for m in methods}}
