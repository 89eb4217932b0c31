"""Two encoders on one query and its documents (``colbert_viz.compare_encoders``).

An encoder is a loaded model, or the same model under other tokenizer settings
(``ColbertModel.with_settings``: ``settings_changes`` reads them from ``key=value``
text). Each side tokenizes with its own tokenizer; the comparison itself is
``colbert_viz.maths.encoders``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from colbert_viz.engine.tokenization import SKIPLISTS
from colbert_viz.maths.encoders import EncoderComparison
from colbert_viz.maths.encoders import compare_encoders as compare_analyses
from colbert_viz.maths.scoring import check_dim

BOOLEANS = {"true": True, "on": True, "yes": True, "1": True, "false": False, "off": False, "no": False, "0": False}
SETTINGS = ("query_expansion", "attend_to_mask_tokens", "skiplist", "query_maxlen", "doc_maxlen",
            "query_marker", "doc_marker")


def _setting(key: str, value: str):
    """One ``key=value`` setting as the value ``TokenizerSettings`` holds; ``ValueError`` naming it."""
    if key in ("query_expansion", "attend_to_mask_tokens"):
        if value.lower() not in BOOLEANS:
            raise ValueError(f"{key} must be true or false, got {value!r}")
        return BOOLEANS[value.lower()]
    if key == "skiplist":
        if value not in SKIPLISTS:
            raise ValueError(f"skiplist must be one of {', '.join(SKIPLISTS)}, got {value!r}")
        return value
    if key in ("query_maxlen", "doc_maxlen"):
        if not value.isdigit() or int(value) < 4:
            raise ValueError(f"{key} must be a whole number of at least 4, got {value!r}")
        return int(value)
    return None if value.lower() == "none" else value  # a marker token, or none


def settings_changes(pairs: Sequence[str]) -> dict:
    """``["query_expansion=false", "query_maxlen=16"]`` → the changes for ``with_settings``.

    >>> settings_changes(["query_expansion=off", "doc_marker=none", "query_maxlen=16"])
    {'query_expansion': False, 'doc_marker': None, 'query_maxlen': 16}
    """
    changes = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"expected key=value, got {pair!r}")
        if key not in SETTINGS:
            raise ValueError(f"unknown setting {key!r}; choose from {', '.join(SETTINGS)}")
        changes[key] = _setting(key, value.strip())
    return changes


def with_changes(model, changes: dict):
    """``model`` under ``changes`` (``settings_changes``); ``ValueError`` in one sentence when
    the model cannot take them (an API model, a marker its tokenizer lacks, a length over its limit)."""
    if not changes:
        return model
    if getattr(model, "network", None) is None or model.info.dtype == "api":
        raise ValueError(f"{model.info.display_name} takes no other settings here")
    limit = model.tokenizer.settings.doc_limit
    for key in ("query_maxlen", "doc_maxlen"):
        if changes.get(key, 0) > limit:
            raise ValueError(f"{key} {changes[key]} is over {model.info.display_name}'s limit of {limit} tokens")
    try:
        return model.with_settings(**changes)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{model.info.display_name} cannot take {', '.join(changes)}: {err}") from None


def recipe_of(model) -> dict:
    """The model's recipe as flat JSON-ready values (``info.recipe``, which ``with_settings``
    keeps in step), its sub-word convention and output size; for a model without a recipe
    (Jina's API), the tokenizer settings it runs with."""
    recipe = getattr(model.info, "recipe", None)
    facts = model.tokenizer.facts()
    if recipe is None:  # Jina's API: the tokenizer settings it is labelled with
        return {**asdict(model.tokenizer.settings), "subword": facts["subword"], "dim": int(model.info.dim),
                "expansion_token": facts["expansion"][0] if facts["expansion"] else None}
    flat = {k: (list(v) if isinstance(v, tuple) else v) for k, v in recipe.to_dict().items() if k != "notes"}
    return {**flat, "subword": facts["subword"], "dim": int(model.info.dim)}


def compare_encoders(model_a, model_b, query: str, documents: Sequence[str], dim_a: int | None = None,
                     dim_b: int | None = None, doc_maxlen: int | None = None,
                     pair: tuple[int, int] | None = None) -> EncoderComparison:
    """``query`` and ``documents`` under ``model_a`` and ``model_b`` (each with its own
    tokenizer, at ``dim_a`` / ``dim_b``, default native; ``doc_maxlen`` for both, default
    each model's own). ``pair``: two document indices (input order) to explain."""
    dims = []
    for side, model, dim in (("A", model_a, dim_a), ("B", model_b, dim_b)):
        try:
            dims.append(check_dim(model.info.dim if dim is None else dim, model.dimensions))
        except ValueError as err:
            raise ValueError(f"{side}: {err}") from None
    dim_a, dim_b = dims
    a = model_a.analyze(query, documents, doc_maxlen)
    b = model_b.analyze(query, documents, doc_maxlen)
    return analyses_side_by_side(a, b, model_a, model_b, dim_a, dim_b, pair)


def analyses_side_by_side(a, b, model_a, model_b, dim_a: int, dim_b: int,
                          pair: tuple[int, int] | None = None) -> EncoderComparison:
    """``maths.encoders.compare_encoders`` of two encoded Analyses, with each model's name and recipe."""
    if pair is not None:
        pair = tuple(a.check_index(int(i)) for i in pair)
    return compare_analyses(a, b, dim_a, dim_b, recipes=(recipe_of(model_a), recipe_of(model_b)), pair=pair,
                            models=(model_a.info.display_name, model_b.info.display_name))
