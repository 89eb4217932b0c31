"""The explorer's payload, field by field: the one place that names, types and
explains what ``colbert_viz.explorer.payload.run_payload`` sends (and
``document_payload`` / ``storage_summary`` / ``stored_document_payload``, the
parts a page fetches later) and ``static/explorer.js`` reads.

    python -m colbert_viz.explorer.schema     # every field as a table

Types: ``int``, ``float``, ``str``, ``bool``, ``list[T]``, ``T|null``;
``b64f32`` is a base64 string of little-endian float32 values (row-major);
``<dim>``, ``<index>``, ``<method>``, ``<setting>`` stand for keys that vary
(a dimension such as ``"128"``, a 0-based document index such as ``"0"``, a
storage method such as ``"int8"``, a setting such as ``"64/int8"``).
``check(payload)`` lists where a payload departs from this (an undocumented
key, a missing one, a wrong type); the tests run it on
``tests/fixtures/payload.json`` and on fresh payloads, and the JavaScript
tests feed the same file to the renderer.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Leaf:
    type: str
    meaning: str
    optional: bool = False


@dataclass(frozen=True)
class Obj:
    meaning: str
    fields: dict = field(default_factory=dict)
    optional: bool = False


@dataclass(frozen=True)
class Each:
    """An object whose keys vary (``key`` names them), every value alike."""
    key: str
    meaning: str
    value: object
    optional: bool = False


@dataclass(frozen=True)
class Items:
    """A list whose items are objects alike."""
    meaning: str
    item: Obj
    optional: bool = False


def _axis(what: str, names: bool = False) -> Obj:
    fields = {
        "labels": Leaf("list[str]", f"each {what}'s label as the tokenizer writes it (▁ marks a word start)"),
        "kinds": Leaf("list[str]", "text, special, marker, expansion, skipped (punctuation, not scored) or typed "
                                   "(a special token's name typed in the text)"),
        "groups": Leaf("list[list[int]]", "the token positions each item stands for (one each, or a word's "
                                          "sub-words, or the tokens a pooled vector merged)"),
    }
    if names:
        fields["names"] = Leaf("list[str]", "each item's name in the tables: `label (#position)` "
                                            "(tables.token_name)")
    return Obj(f"the {what} axis", fields)


COLUMNS = Items("the ranking table's columns, in order (tables.ranking_columns: the page's and the CSV's)", Obj(
    "one column", {"key": Leaf("str", "what the cells hold: rank, doc, score, per_token, rank_at, exact_rank, "
                                      "stored_bytes, tokens or preview"),
                   "title": Leaf("str", "the column's header"),
                   "dim": Leaf("int", "rank_at only: the dimension whose rank it shows", optional=True)}))


def _ranking(extra: dict | None = None) -> Obj:
    return Obj("one ranking", {
        "scores": Leaf("list[float]", "MaxSim score of each document (input order)"),
        "per_token": Leaf("list[float]", "score / number of query tokens"),
        "ranks": Leaf("list[int]", "1-based rank of each document (input order)"),
        "order": Leaf("list[int]", "document indices, best first"),
        "columns": COLUMNS,
        **(extra or {})})


def _dimension_view(stored: bool) -> Obj:
    fields = {
        "score": Leaf("float", "the document's score (sum of contributions)"),
        "best_index": Leaf("list[int]", "per query token: the document item of its MaxSim match"),
        "best_similarity": Leaf("b64f32", "per query token: that match's similarity"),
        "contributions": Leaf("list[float]", "per query token: what it adds to the score"),
        "closest_query": Leaf("list[int]", "per document item: the query token most similar to it"),
        "closest_similarity": Leaf("b64f32", "per document item: that similarity (the highlight's shade)"),
        "similarity": Leaf("b64f32", "(query items × document items) cosine similarities, row-major"),
        "folds": Items("the heatmap folded to `limits.columns` columns around the matches, one per combination "
                       "of the hide toggles; only when the shown columns do not fit", Obj("one fold", {
                           "hide_expansion": Leaf("bool", "with expansion tokens hidden"),
                           "hide_special": Leaf("bool", "with special tokens and markers hidden"),
                           "rows": Leaf("list[int]", "the query items shown, in order"),
                           "columns": Items("the columns", Obj("one column", {
                               "start": Leaf("int", "first document item"), "end": Leaf("int", "last one"),
                               "count": Leaf("int", "shown items it covers"),
                               "gap": Leaf("bool", "a collapsed run (its value: the run's highest scored "
                                                   "similarity)")})),
                           "similarity": Leaf("b64f32", "(rows × columns), NaN where a run has no scored item")}),
                       optional=True),
    }
    if stored:
        fields["axis"] = _axis("stored document items'")
    else:
        fields["pieces"] = Leaf("list", "a long document's highlight pieces at this dimension (as `pieces`)",
                                optional=True)
        fields["shown"] = Leaf("int", "how many items those pieces show", optional=True)
    return Obj("the views of one document at one dimension", fields)


PIECES = Items("the document text cut into pieces (colbert_viz.explorer.highlight), null when it is long (then each "
               "dimension has its own)", Obj("one piece", {
                   "text": Leaf("str", "the characters (\"\" for a special token: drawn as a chip)", optional=True),
                   "position": Leaf("int", "the item it is (absent: text between items)", optional=True),
                   "elided": Leaf("int", "a run of this many items left out of a long document", optional=True)}))

MATCH_CHANGES = Obj("query tokens whose best match is not the same at every dimension "
                    "(tables.match_changes_table)", {"columns": Leaf("list[str]", "headers"),
                                                      "rows": Leaf("list[list[str]]", "cells")})

DOCUMENT_VIEWS = Obj("one document's views, exact vectors (explorer.document_payload)", {
    "index": Leaf("int", "the document's index"),
    "variants": Each("<variant>", "tokens, or words (sub-words merged)", Obj("one document axis", {
        "axis": _axis("document"),
        "pieces": PIECES,
        "dims": Each("<dim>", "every dimension", _dimension_view(stored=False))})),
    "untokenized_tail": Leaf("int", "characters at the end of a truncated document that were not encoded"),
    "match_changes": MATCH_CHANGES,
})

STORED_VIEWS = Obj("one document's views under a storage method (explorer.stored_document_payload)", {
    "index": Leaf("int", "the document's index"),
    "method": Leaf("str", "the storage method"),
    "variants": Each("<variant>", "tokens, and words where merging means something (not for pooled vectors)",
                     Obj("one document axis", {"dims": Each("<dim>", "every dimension", _dimension_view(True))})),
    "match_changes": MATCH_CHANGES,
})

TAU = Items("Kendall tau between every two dimensions' rankings", Obj("one pair", {
    "a": Leaf("int", "a dimension"), "b": Leaf("int", "another"), "tau": Leaf("float|null", "null when undefined")}))

STORAGE = Obj("the storage settings (explorer.storage_summary): here when embedded, else fetched", {
    "methods": Leaf("list[str]", "every storage method"),
    "unavailable": Each("<method>", "the methods this Run cannot be stored under (left out of the rest)",
                        Leaf("str", "why, one sentence naming the method")),
    "table": Items("the decision table (StoredAnalysis.compression_table)", Obj("one setting", {
        "setting": Leaf("str", "dimension/method"), "method": Leaf("str", "the method"),
        "dimensions": Leaf("int", "the dimension"), "bytes_per_token": Leaf("int", "bytes stored per token"),
        "bytes_per_document": Leaf("float", "mean bytes per document"),
        "stored_vectors_per_document": Leaf("float", "mean vectors stored per document"),
        "shared_bytes": Leaf("int", "bytes shared by every document (codebooks)"),
        "keeps_originals": Leaf("bool", "rescoring keeps the exact vectors too"),
        "kendall_tau": Leaf("float|null", "against exact float32 at the native size"),
        "largest_rank_change": Leaf("int", "the same"), "largest_score_change": Leaf("float", "the same")})),
    "rankings": Each("<setting>", "the ranking as each available setting scores it", _ranking({
        "rescored": Leaf("list[int]", "documents rescored with the exact vectors (binary+rescore)"),
        "bytes_per_token": Leaf("int", "bytes stored per token"),
        "bytes_per_document": Leaf("list[int]", "bytes stored for each document"),
        "stored_vectors": Leaf("list[int]", "vectors stored for each document")})),
    "tau": Each("<method>", "Kendall tau between the dimensions under each available method", TAU),
    "exact": Leaf("str", "the exact setting's id (native/float32)"),
    "exact_bytes_per_token": Leaf("int", "its bytes per token"),
})

PAYLOAD = Obj("everything the explorer draws for one Run (explorer.run_payload)", {
    "schema": Leaf("int", "this layout's version"),
    "model": Obj("the model's facts (explorer.model_facts or query_facts)", {
        "display_name": Leaf("str", "the model's name"), "is_fallback": Leaf("bool", "the offline stand-in"),
        "dtype": Leaf("str", "the dtype it runs in"), "family": Leaf("str|null", "jina, … (null: unknown)"),
        "native_dim": Leaf("int", "its vectors' size"), "dimensions": Leaf("list[int]", "offered, native first"),
        "query_tokens": Leaf("int", "a query's length"), "score_max": Leaf("int", "the highest score"),
        "specials": Leaf("list[str]", "special tokens"), "markers": Leaf("list[str]", "marker tokens"),
        "expansion": Leaf("list[str]", "query expansion tokens"),
        "query_marker": Leaf("str|null", "the query marker"), "doc_marker": Leaf("str|null", "the document marker"),
        "subword": Leaf("str", "wordpiece or sentencepiece"),
        "matryoshka": Leaf("bool|null", "the smaller dimensions were trained (null: unknown)"),
        "attend_expansion": Leaf("bool|null", "the other tokens attend to the expansion tokens (null: none or unknown)"),
        "expansion_floor": Leaf("int|null", "queries are padded to at least this many tokens, longer ones kept (null: "
                                            "padded and cut to query_tokens, or no expansion)"),
        "recipe": Leaf("list[list[str]]", "the model's recipe as (setting, value) rows (empty: unknown)")}),
    "texts": Obj("texts the page shows, written in Python (page_text)", {
        "dimension_note": Leaf("str", "the line under the dimension control (page_text.dimension_note)")}),
    "summary": Leaf("str", "one line about the Run"),
    "top_n": Leaf("int|null", "rows of the ranking table (null or 0: every document)"),
    "query": Obj("the query", {
        "text": Leaf("str", "as typed"),
        "scored": Obj("how it was scored (explorer.scored_query)", {
            "tokens": Leaf("int", "tokens scored"), "text_tokens": Leaf("int", "text tokens before any cut"),
            "kept": Leaf("int", "text tokens kept"), "dropped": Leaf("int", "text tokens cut off"),
            "truncated": Leaf("bool", "whether any were"), "expansion": Leaf("int", "expansion tokens added"),
            "note": Leaf("str", "one line saying so")}),
        "axes": Obj("the query axis, of tokens and of words", {"tokens": _axis("query token", names=True),
                                                               "words": _axis("query word", names=True)})}),
    "documents": Items("the documents, input order", Obj("one document", {
        "label": Leaf("str", "Doc n (tables.document_label)"), "preview": Leaf("str", "its first 100 characters"),
        "menu": Leaf("str", "its first 60 characters"), "tokens": Leaf("str", "the Tokens cell (tables.tokens_label)"),
        "truncated": Leaf("bool", "cut to the document length")})),
    "rankings": Each("<dim>", "the exact ranking at each dimension", _ranking()),
    "tau": TAU,
    "similarity_range": Each("<dim>", "the colour scale's range at each dimension", Leaf("list[float]", "[low, high]")),
    "limits": Obj("the view bounds", {"columns": Leaf("int", "heatmap columns before folding"),
                                      "highlight": Leaf("int", "highlight items before windows")}),
    "views": Each("<index>", "each document's views sent now (every one, or the first-ranked of a large Run)",
                  DOCUMENT_VIEWS),
    "complete": Leaf("bool", "every document's views are in `views`"),
    "run_key": Leaf("str|null", "the Run's key, to fetch what was left out"),
    "storage_methods": Leaf("list[str]", "the storage control's choices (float32 first)"),
    "storage": replace(STORAGE, optional=True),
    "stored_views": Each("<method>", "embedded storage views: per method, per document index",
                         Each("<index>", "each document", STORED_VIEWS), optional=True),
    "opens_on": Obj("the view the page opens on (a search: the dimension searched, the hits' first two)", {
        "dim": Leaf("int", "the dimension"), "doc": Leaf("int", "the document shown"),
        "a": Leaf("int", "document A"), "b": Leaf("int", "document B")}, optional=True),
})


def _b64f32(value: object) -> bool:
    try:
        return isinstance(value, str) and len(base64.b64decode(value, validate=True)) % 4 == 0
    except ValueError:
        return False


_SCALARS = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "b64f32": _b64f32,
    "null": lambda v: v is None,
}


def _type_ok(value: object, kind: str) -> bool:
    for option in kind.split("|"):
        if option.startswith("list"):
            inner = option[5:-1] if option != "list" else None
            if isinstance(value, list) and (inner is None or all(_type_ok(v, inner) for v in value)):
                return True
        elif _SCALARS[option](value):
            return True
    return False


def _check(value: object, spec, path: str, errors: list[str]) -> None:
    if isinstance(spec, Leaf):
        if not _type_ok(value, spec.type):
            errors.append(f"{path}: not {spec.type}")
    elif isinstance(spec, Items):
        if value is None and "null" in spec.meaning:
            return
        if not isinstance(value, list):
            errors.append(f"{path}: not a list")
            return
        for k, item in enumerate(value):
            _check(item, spec.item, f"{path}[{k}]", errors)
    elif isinstance(spec, Each):
        if not isinstance(value, dict):
            errors.append(f"{path}: not an object")
            return
        for key, item in value.items():
            _check(item, spec.value, f"{path}.{key}", errors)
    else:
        if not isinstance(value, dict):
            errors.append(f"{path}: not an object")
            return
        for key in value.keys() - spec.fields.keys():
            errors.append(f"{path}.{key}: not in the schema")
        for key, child in spec.fields.items():
            if key in value:
                _check(value[key], child, f"{path}.{key}", errors)
            elif not child.optional:
                errors.append(f"{path}.{key}: missing")


def check(payload: dict, spec: Obj = PAYLOAD) -> list[str]:
    """Where ``payload`` departs from ``spec`` (default: the whole payload); [] when it follows it."""
    errors: list[str] = []
    _check(payload, spec, "payload", errors)
    return errors


def rows(spec=PAYLOAD, path: str = "") -> list[tuple[str, str, str]]:
    """Every field as (path, type, meaning), depth first."""
    out = []
    if isinstance(spec, Leaf):
        return [(path, spec.type + (" (optional)" if spec.optional else ""), spec.meaning)]
    optional = " (optional)" if spec.optional else ""
    if isinstance(spec, Items):
        out.append((path, "list" + optional, spec.meaning))
        return out + rows(spec.item, path + "[]")
    if isinstance(spec, Each):
        out.append((path, "object" + optional, spec.meaning))
        return out + rows(spec.value, f"{path}.{spec.key}")
    if path:
        out.append((path, "object" + optional, spec.meaning))
    for key, child in spec.fields.items():
        out += rows(child, f"{path}.{key}" if path else key)
    return out


if __name__ == "__main__":
    print("| field | type | meaning |\n|---|---|---|")
    for p, t, m in rows():
        print(f"| `{p}` | {t} | {m} |")
