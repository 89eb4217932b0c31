"""Every view of a Run as plain JSON-ready data, for the explorer (numpy only).

The explorer (``colbert_viz/explorer/static/explorer.js``) draws the ranking, the
heatmap, the contributions, the highlight, the dimension comparison and "why A
above B" in the browser. This module computes every number those views show,
once per Run, for every offered dimension and both document axes ("tokens" and
"words", i.e. sub-words merged), so that switching any control is a selection
in the browser, never a server call:

- ``run_payload(run, …)``: the rankings, Kendall tau, colour ranges,
  model facts and, when the Run is small enough (``eager_bytes``), the views
  of every document; else only the first-ranked one, and the page fetches the
  others with ``document_payload`` (from the stored vectors, no encoding).
- ``document_payload(analysis, index)``: one document's views.

Matrices travel as base64 float32 (little-endian), exactly the values the
package computed; the heatmap of a document with more than ``MAX_COLUMNS``
shown columns also comes folded (``layout.collapse``) for each combination of
the two hide toggles, and the highlight of one with more than
``MAX_HIGHLIGHT_TOKENS`` items keeps windows around the matches.

Every field of the payload is named, typed and explained in one place:
``colbert_viz.explorer.schema`` (checked by the Python and the JavaScript tests
against ``tests/fixtures/payload.json``).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from itertools import product

import numpy as np

from colbert_viz.explorer.highlight import kept_positions, text_pieces, untokenized_tail
from colbert_viz.explorer.layout import best_query_per_document_item, collapse, segment_values, shown_positions
from colbert_viz.explorer.page_text import dimension_note
from colbert_viz.explorer.tables import (
    document_label,
    match_changes_table,
    preview,
    ranking_columns,
    token_name,
    tokens_label,
)
from colbert_viz.maths.analysis import Analysis
from colbert_viz.maths.explain import Axis, Explanation, merge, token_axis, token_kinds
from colbert_viz.maths.scoring import ranking
from colbert_viz.records import Tokenized
from colbert_viz.storage.analysis import StoredAnalysis, as_stored
from colbert_viz.storage.settings import EXACT, METHODS, all_settings, merges_words

MAX_COLUMNS = 256
MAX_HIGHLIGHT_TOKENS = 2048
EAGER_BYTES = 6 * 2**20  # a Run whose views fit in this is sent whole
VARIANTS = {"tokens": False, "words": True}
SCHEMA = 2  # 2: readable keys (payload_schema), ranking columns and texts from Python


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


def _query_axis(axis: Axis) -> dict:
    """A query axis, with each token's name in the tables (``tables.token_name``)."""
    return {**_axis(axis), "names": [token_name(label, k) for k, label in enumerate(axis.labels)]}


def model_facts(model) -> dict:
    """What the page says about a loaded model (a ``ColbertModel``), read off its
    configuration and tokenizer (``ColbertTokenizer.facts``), never off one Run's
    tokens: the query length, expansion, marker and special token names, the
    sub-word convention, the dimensions offered and whether the smaller ones
    were trained (Matryoshka: the jina-colbert-v2 family) or are plain cuts."""
    info, facts = model.info, model.tokenizer.facts()
    settings = model.tokenizer.settings
    recipe = getattr(info, "recipe", None)
    return {**facts, "display_name": info.display_name, "is_fallback": bool(info.is_fallback), "dtype": info.dtype,
            "family": info.family, "native_dim": int(info.dim), "dimensions": [int(d) for d in info.dimensions],
            "matryoshka": info.family == "jina" and len(info.dimensions) > 1, "score_max": facts["query_tokens"],
            "markers": [m for m in (facts["query_marker"], facts["doc_marker"]) if m],
            "attend_expansion": bool(settings.attend_to_mask_tokens) if settings.query_expansion else None,
            "expansion_floor": settings.expansion_length if settings.query_expansion and
            settings.expansion_strategy == "min" else None,
            "recipe": [list(row) for row in recipe.rows()] if recipe is not None else []}


def query_facts(query: Tokenized, dimensions: tuple[int, ...], display_name: str = "",
                is_fallback: bool = False, dtype: str = "") -> dict:
    """``model_facts`` guessed from an encoded query, for a Run whose model is
    not at hand (an ``Analysis`` built by hand): token names as they occur in
    it; whether the smaller dimensions were trained is unknown (``None``)."""
    kinds = token_kinds(query)
    names = {k: sorted({t for t, kind in zip(query.tokens, kinds) if kind == k}) for k in
             ("special", "marker", "expansion")}
    bracketed = any(t.startswith("[") for t in names["special"])  # [CLS] [SEP]: a BERT vocabulary
    subword = "wordpiece" if bracketed or any(t.startswith("##") for t in query.tokens) else "sentencepiece"
    return {
        "display_name": display_name, "is_fallback": is_fallback, "dtype": dtype, "family": None,
        "native_dim": int(dimensions[0]), "dimensions": [int(d) for d in dimensions],
        "query_tokens": len(query), "score_max": len(query),
        "specials": names["special"], "markers": names["marker"], "expansion": names["expansion"],
        "query_marker": names["marker"][0] if names["marker"] else None, "doc_marker": None,
        "subword": subword, "matryoshka": None, "attend_expansion": None, "expansion_floor": None, "recipe": [],
    }


def scored_query(query: Tokenized, facts: dict) -> dict:
    """How the Run's query was scored: its length, the text tokens kept and
    dropped (a query longer than the model reads is cut), the expansion tokens
    it got, and one line saying so (``note``)."""
    kept = int(query.in_text.sum())
    dropped = int(query.n_text_tokens - kept) if query.truncated else 0
    expansion = int(query.expansion.sum())
    parts = [f"{len(query)} tokens scored"]
    if dropped:
        parts.append(f"the query was cut to {len(query)} tokens ({dropped} dropped: this model reads at most "
                     f"{facts['query_tokens']})")
    if expansion:
        parts.append(f"{expansion} expansion token{'s' if expansion > 1 else ''} "
                     f"({', '.join(facts['expansion']) or 'mask'}) pad it to {len(query)}")
    elif facts["expansion"]:
        parts.append("no room left for expansion tokens")
    else:
        parts.append("no expansion tokens: this model does not pad queries")
    return {"tokens": len(query), "text_tokens": int(query.n_text_tokens), "kept": kept, "dropped": dropped,
            "truncated": bool(dropped), "expansion": expansion, "note": "; ".join(parts) + "."}


def _heat_fold(expl: Explanation, hide_expansion: bool, hide_special: bool) -> dict | None:
    """The folded heatmap for one combination of the hide toggles, or ``None``
    when the shown columns fit (the browser then draws them all)."""
    positions = shown_positions(expl.document, hide_special=hide_special)
    if len(positions) <= MAX_COLUMNS:
        return None
    rows = shown_positions(expl.query, hide_expansion=hide_expansion, hide_special=hide_special)
    segments = collapse(positions, expl.best_index[rows], MAX_COLUMNS)
    z = segment_values(expl.similarity, rows, segments, expl.document.scored)
    return {"hide_expansion": hide_expansion, "hide_special": hide_special, "rows": rows.tolist(),
            "columns": [{"start": s.start, "end": s.end, "count": len(s.positions), "gap": bool(s.gap)}
                        for s in segments],
            "similarity": f32(z)}


def _ranking(scores: np.ndarray, ranks: np.ndarray, order, n_query: int, columns: list[dict]) -> dict:
    """One ranking as the explorer reads it: scores, per query token, 1-based
    ranks (input order), the order, best first, and its table's columns."""
    return {"scores": scores.tolist(), "per_token": (scores / n_query).tolist(), "ranks": ranks.tolist(),
            "order": [int(i) for i in order], "columns": columns}


def _dimension_view(expl: Explanation, pieces: bool = True) -> dict:
    closest, closest_sim = best_query_per_document_item(expl)
    view = {
        "score": expl.score,
        "best_index": expl.best_index.tolist(),
        "best_similarity": f32(expl.best_similarity),
        "contributions": expl.contributions.tolist(),
        "closest_query": closest.tolist(),
        "closest_similarity": f32(closest_sim),
        "similarity": f32(expl.similarity),
    }
    folds = [f for e, s in product((False, True), repeat=2) if (f := _heat_fold(expl, e, s))]
    if folds:
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
    return {
        "index": index,
        "variants": variants,
        "untokenized_tail": untokenized_tail(tokens[analysis.dimensions[0]]),
        "match_changes": _table(match_changes_table(analysis, index, tokens)),
    }


def _table(frame) -> dict:
    return {"columns": list(frame.columns), "rows": frame.values.tolist()}


def _taus(comparison) -> list[dict]:
    """Kendall tau between every two dimensions' rankings (``None`` when undefined)."""
    return [{"a": a, "b": b, "tau": _finite(t)} for (a, b), t in comparison.tau.items()]


def storage_summary(run: Analysis | StoredAnalysis) -> dict:
    """The storage control's data (``colbert_viz.storage.settings``): for every method
    at every dimension the ranking as that system scores it and the bytes it
    stores, for every method Kendall tau between its dimensions' rankings, and
    the decision table (``StoredAnalysis.compression_table``); a method this Run
    cannot be stored under is left out of them and named in ``unavailable`` with
    why. A ``StoredAnalysis`` keeps what is computed for the next call; an
    ``Analysis`` gets one for this call."""
    stored = as_stored(run)
    analysis = stored.analysis
    unavailable = stored.unavailable()
    table = stored.compression_table()
    n_query = len(analysis.query)
    rankings = {}
    for setting in all_settings(analysis.dimensions):
        if setting.name in unavailable:
            continue
        run = stored.stored(setting)
        columns = ranking_columns(analysis.dimensions, setting.dim, stored=True)
        rankings[setting.id] = {
            **_ranking(run.scores, run.ranks, run.order, n_query, columns), "rescored": list(run.candidates),
            "bytes_per_token": int(run.bytes_per_token),
            "bytes_per_document": [int(d.n_bytes) for d in run.documents],
            "stored_vectors": [len(d.groups) for d in run.documents],
        }
    taus = {m: _taus(stored.compare_dimensions(m)) for m in METHODS if m != EXACT and m not in unavailable}
    return {"methods": list(METHODS), "unavailable": unavailable, "table": table, "rankings": rankings, "tau": taus,
            "exact": f"{analysis.dimensions[0]}/float32", "exact_bytes_per_token": 4 * analysis.dimensions[0]}


def stored_document_payload(run: Analysis | StoredAnalysis, index: int, method: str) -> dict:
    """Document ``index``'s views as storage ``method`` scores it, at every
    dimension: its stored items on the document axis (a pooled item is labelled
    with the tokens it merged; each dimension has its own ``axis``), and words
    where they mean something (not for pooled vectors). The highlight keeps the
    exact document's text pieces and maps each token to its item. The query
    tokens whose stored match is not the same at every dimension come too."""
    stored = as_stored(run)
    analysis = stored.analysis
    explanations = {d: stored.explain(index, d, storage=method) for d in analysis.dimensions}
    tokens, words = {}, {}
    for d, expl in explanations.items():
        tokens[str(d)] = {**_dimension_view(expl, pieces=False), "axis": _axis(expl.document)}
        if merges_words(method):
            merged = merge(expl)
            words[str(d)] = {**_dimension_view(merged, pieces=False), "axis": _axis(merged.document)}
    variants = {"tokens": {"dims": tokens}}
    if words:
        variants["words"] = {"dims": words}
    return {"index": index, "method": method, "variants": variants,
            "match_changes": _table(match_changes_table(analysis, index, explanations))}


def estimated_bytes(analysis: Analysis) -> int:
    """About how large the views of every document are as JSON (the similarity
    matrices dominate: float32, base64, each dimension, both axes)."""
    cells = len(analysis.query) * sum(len(d) for d in analysis.documents)
    return int(cells * 4 * 4 / 3 * len(analysis.dimensions) * 2 * 1.3)


def run_payload(run: Analysis | StoredAnalysis, *, top_n: int | None = None, summary: str = "", display_name: str = "",
                is_fallback: bool = False, dtype: str = "", run_key: str | None = None,
                eager_bytes: int = EAGER_BYTES, storage: bool | Sequence[str] = False, model: dict | None = None) -> dict:
    """Everything the explorer draws for one Run (see the module docstring).

    ``model`` is ``model_facts`` of the model that encoded the Run (default:
    ``query_facts``, guessed from its query); ``top_n`` bounds the ranking
    table (``None`` or 0: every document);
    ``run_key`` lets the page fetch the views left out when the Run is larger
    than ``eager_bytes``; ``storage`` adds the storage settings' views
    (``storage_summary``, ``stored_document_payload``), which the page
    otherwise fetches when the storage control is first used: every method's
    (``True``), or only those named (the storage control then offers those);
    a ``StoredAnalysis`` keeps the stored runs they come from.
    """
    stored = as_stored(run)
    analysis = stored.analysis
    dims = analysis.dimensions
    comparison = analysis.compare_dimensions()
    n_query = len(analysis.query)
    rankings = {str(d): _ranking(comparison.scores[d], comparison.ranks[d], ranking(comparison.scores[d]), n_query,
                                 ranking_columns(dims, d, stored=False)) for d in dims}
    first = rankings[str(dims[0])]["order"][0]
    eager = estimated_bytes(analysis) <= eager_bytes
    wanted = range(len(analysis.documents)) if eager else [first]
    query_words = merge(analysis.explain(first, dims[0])).query
    methods = list(METHODS) if isinstance(storage, bool) else [EXACT, *(m for m in storage if m != EXACT)]
    facts = model or query_facts(analysis.query, dims, display_name, is_fallback, dtype)
    if list(facts["dimensions"]) != [int(d) for d in dims]:  # a Run with fewer sizes than its model (a search's hits)
        facts = {**facts, "dimensions": [int(d) for d in dims]}
    return {
        "schema": SCHEMA,
        "model": facts,
        "texts": {"dimension_note": dimension_note(facts)},
        "summary": summary,
        "top_n": top_n,
        "query": {"text": analysis.query.text, "scored": scored_query(analysis.query, facts),
                  "axes": {"tokens": _query_axis(token_axis(analysis.query)), "words": _query_axis(query_words)}},
        "documents": [{"label": document_label(i), "preview": preview(d.text, 100),
                       "menu": preview(d.text, 60), "tokens": tokens_label(d), "truncated": bool(d.truncated)}
                      for i, d in enumerate(analysis.documents)],
        "rankings": rankings,
        "tau": _taus(comparison),
        "similarity_range": {str(d): list(analysis.similarity_range(d)) for d in dims},
        "limits": {"columns": MAX_COLUMNS, "highlight": MAX_HIGHLIGHT_TOKENS},
        "views": {str(i): document_payload(analysis, i) for i in wanted},
        "complete": eager,
        "run_key": run_key,
        "storage_methods": methods,
        **(_storage_payload(stored, wanted, methods[1:]) if storage else {}),
    }


def _storage_payload(stored: StoredAnalysis, documents, methods: Sequence[str]) -> dict:
    summary = storage_summary(stored)
    return {"storage": summary, "stored_views": {m: {str(i): stored_document_payload(stored, i, m) for i in documents}
                                                 for m in methods if m not in summary["unavailable"]}}
