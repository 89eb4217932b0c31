"""``Recipe``: how one late-interaction checkpoint turns text into scored vectors, read from its files.

Four formats, detected from the files (the rules Sentence Transformers 6.2's ``MultiVectorEncoder``
follows, which the tests check token id by token id):

- ``jina``: jina-colbert-v2's layout (``config.json`` with rotary positions, ``linear.weight``,
  ``artifact.metadata``); markers inserted as tokens, 32 query tokens expanded with ``<mask>``;
- ``stanford``: ``config.json`` with ``architectures: ["HF_ColBERT"]``, ``linear.weight`` inline and
  ``artifact.metadata`` (``query_token_id``, ``doc_token_id``, ``query_maxlen``, ``doc_maxlen``,
  ``attend_to_mask_tokens``, ``mask_punctuation``);
- ``pylate``: ``modules.json`` + ``config_sentence_transformers.json`` with ``model_type: "ColBERT"``
  (``query_prefix``, ``document_prefix``, ``query_length``, ``document_length``, ``do_query_expansion``,
  ``attend_to_expansion_tokens``, ``skiplist_words``) and ``1_Dense``, ``2_Dense`` … projections;
- ``sentence-transformers``: a ``MultiVectorEncoder`` save (``modules.json``: Transformer, Dense …,
  MultiVectorMask, Normalize; ``sentence_bert_config.json`` with ``query_expansion``, lengths; prompts).

Every default the files left out is named in ``Recipe.notes``; a part the code does not apply (an
unknown module, an activation, a recipe without normalisation) raises ``RecipeError`` naming it.
"""

from __future__ import annotations

import itertools
import json
import string
from dataclasses import asdict, dataclass, field
from pathlib import Path

from colbert_viz.engine.checkpoint import ModelLoadError

FORMATS = ("jina", "stanford", "pylate", "sentence-transformers", "offline")
EXPANSIONS = ("fixed", "min", "none")
PREFIX_KINDS = {"text": "prepended as text", "token": "one special token", "inserted": "token inserted"}
# Activation classes a Dense may name (Sentence Transformers and PyLate save the class path).
ACTIVATIONS = {
    "torch.nn.modules.linear.Identity": "identity",
    "torch.nn.modules.activation.Tanh": "tanh",
    "torch.nn.modules.activation.ReLU": "relu",
    "torch.nn.modules.activation.GELU": "gelu",
    "torch.nn.modules.activation.Sigmoid": "sigmoid",
}
PYLATE_KEYS = ("query_length", "document_length", "query_expansion", "do_query_expansion", "attend_to_expansion_tokens",
               "attend_to_mask_tokens", "query_prefix", "document_prefix", "skiplist_words")
TRANSFORMER_TYPES = ("Transformer",)
DENSE_TYPES = ("Dense",)
MASK_TYPES = ("MultiVectorMask",)
NORMALIZE_TYPES = ("Normalize",)


class RecipeError(ModelLoadError):
    """A checkpoint whose recipe has a part colbert-viz does not apply; the message names it."""


@dataclass(frozen=True)
class DenseLayer:
    """One projection after the backbone: ``activation(x @ W.T + b)`` (+ ``x`` or ``x @ R.T`` with
    ``residual``); ``folder`` holds its weights (``""``: ``linear.weight`` inside the backbone's file)."""

    in_features: int
    out_features: int
    bias: bool
    activation: str = "identity"
    residual: bool = False
    folder: str = ""


@dataclass(frozen=True)
class Recipe:
    """What a checkpoint does to a text before MaxSim, as one value.

    ``query_prefix`` / ``document_prefix``: what goes before the text (``""``: nothing); ``prefix_kind``
    says how: ``text`` (prepended and tokenized with the text: a Sentence Transformers prompt),
    ``token`` (prepended, and a prefix the vocabulary holds, ``[unused0]`` or ``"[Q] "``, made one
    special token first: PyLate and Stanford markers) or ``inserted`` (jina: token names inserted after
    the first token).
    ``query_length`` / ``document_length``: the most tokens kept, specials and prefix included
    (``None``: the model's limit). ``expansion``: ``fixed`` (queries padded and cut to
    ``expansion_length``), ``min`` (padded to it, longer ones kept) or ``none``; ``expansion_token``
    pads; ``attend_expansion``: whether the other tokens attend to the padding (it is scored either way).
    ``skiplist_words``: tokens left out of MaxSim for the tasks in ``skiplist_tasks``.
    ``dense``: the projections, in order; ``dim``: the output size. Vectors are L2-normalised.
    """

    format: str
    backbone: str
    dim: int
    query_prefix: str = ""
    document_prefix: str = ""
    prefix_kind: str = "text"
    query_length: int | None = None
    document_length: int | None = None
    expansion: str = "fixed"
    expansion_length: int | None = 32
    expansion_token: str | None = None
    attend_expansion: bool = False
    skiplist_words: tuple[str, ...] = ()
    skiplist_tasks: tuple[str, ...] = ("document",)
    lowercase: bool = False
    dense: tuple[DenseLayer, ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict:
        """JSON-ready; the skiplist as a count and its first words, the projections as one line each."""
        out = asdict(self)
        words = list(self.skiplist_words)
        out["skiplist_words"] = words if len(words) <= 8 else words[:8] + [f"… {len(words)} in all"]
        out["dense"] = [describe_dense(d) for d in self.dense]
        out["notes"] = list(self.notes)
        return out

    def rows(self) -> list[tuple[str, str]]:
        """(setting, value) in words, for a table."""
        q = {"fixed": f"fixed: padded and cut to {self.expansion_length} with {self.expansion_token}",
             "min": f"min: padded to {self.expansion_length} with {self.expansion_token}, longer kept",
             "none": "none"}[self.expansion]
        attend = "attended" if self.attend_expansion else "not attended"
        return [
            ("format", self.format), ("backbone", self.backbone), ("output dimension", str(self.dim)),
            ("query prefix", f"{self.query_prefix!r} ({PREFIX_KINDS[self.prefix_kind]})"),
            ("document prefix", f"{self.document_prefix!r} ({PREFIX_KINDS[self.prefix_kind]})"),
            ("query length", f"{self.expansion_length} (the expansion's)" if self.expansion == "fixed" else
             "model limit" if self.query_length is None else str(self.query_length)),
            ("document length", "model limit" if self.document_length is None else str(self.document_length)),
            ("query expansion", q + ("" if self.expansion == "none" else f", {attend}")),
            ("skiplist", f"{len(self.skiplist_words)} words on {', '.join(self.skiplist_tasks) or 'nothing'}"),
            ("lower-cased", "yes" if self.lowercase else "no"),
            ("projection", " → ".join(describe_dense(d) for d in self.dense) or "none"),
            ("normalised", "yes (L2, per token)"),
        ]


def describe_dense(d: DenseLayer) -> str:
    """``1024→128, no bias`` and the rest in words."""
    parts = [f"{d.in_features}→{d.out_features}", "bias" if d.bias else "no bias"]
    if d.activation != "identity":
        parts.append(d.activation)
    if d.residual:
        parts.append("residual")
    return ", ".join(parts)


# ---- reading the files ------------------------------------------------------------------------------------


def _json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RecipeError(f"{path.name} is not valid JSON: {err}") from err
    if not isinstance(value, dict):
        raise RecipeError(f"{path.name} does not hold a JSON object")
    return value


def _int_or_none(value, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RecipeError(f"{name} must be a positive integer, got {value!r}")
    return value


def detect_format(folder: Path, config: dict) -> str:
    """``stanford``, ``pylate``, ``sentence-transformers`` or ``jina`` (rotary XLM-R without modules.json)."""
    st_config = _json(folder / "config_sentence_transformers.json")
    modules = (folder / "modules.json").is_file()
    if "HF_ColBERT" in (config.get("architectures") or []) and not modules:
        return "stanford"
    if st_config.get("model_type") == "ColBERT":
        return "pylate"
    if modules:
        model_type = st_config.get("model_type")
        if model_type in ("MultiVectorEncoder", None) and _module_kinds(folder):
            return "sentence-transformers"
        raise RecipeError(f"config_sentence_transformers.json says model_type {model_type!r}: a single-vector "
                          "model, not a late-interaction one (colbert-viz reads ColBERT and MultiVectorEncoder)")
    if config.get("position_embedding_type") == "rotary":
        return "jina"
    return "stanford"


def _module_kinds(folder: Path) -> list[tuple[str, str]]:
    """``modules.json`` as (kind, folder) pairs; a module colbert-viz does not apply raises ``RecipeError``."""
    try:
        entries = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
        raise RecipeError(f"modules.json cannot be read: {err}") from err
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise RecipeError("modules.json is not a list of modules")
    kinds = []
    for entry in sorted(entries, key=lambda e: e.get("idx", 0) if isinstance(e.get("idx"), int) else 0):
        type_name = str(entry.get("type", ""))
        short = type_name.rsplit(".", 1)[-1]
        for kind, names in (("transformer", TRANSFORMER_TYPES), ("dense", DENSE_TYPES), ("mask", MASK_TYPES),
                            ("normalize", NORMALIZE_TYPES)):
            if short in names:
                kinds.append((kind, str(entry.get("path", ""))))
                break
        else:
            raise RecipeError(f"modules.json names a module colbert-viz does not apply: {type_name!r}")
    if not kinds or kinds[0][0] != "transformer":
        raise RecipeError("modules.json does not start with a Transformer module")
    return kinds


def read_dense(folder: Path, sub: str) -> DenseLayer:
    """A Dense module's ``config.json`` (PyLate's and Sentence Transformers' keys)."""
    cfg = _json(folder / sub / "config.json")
    if not cfg:
        raise RecipeError(f"{sub}/config.json is missing")
    activation_path = cfg.get("activation_function") or "torch.nn.modules.linear.Identity"
    if activation_path not in ACTIVATIONS:
        raise RecipeError(f"{sub} uses the activation {activation_path!r}, which colbert-viz does not apply "
                          f"(it applies {', '.join(ACTIVATIONS.values())})")
    try:
        return DenseLayer(in_features=int(cfg["in_features"]), out_features=int(cfg["out_features"]),
                          bias=bool(cfg.get("bias", True)), activation=ACTIVATIONS[activation_path],
                          residual=bool(cfg.get("use_residual", False)), folder=sub)
    except (KeyError, TypeError, ValueError) as err:
        raise RecipeError(f"{sub}/config.json has no valid in_features/out_features") from err


def read_recipe(folder: Path, config: dict, linear_shape: tuple[int, ...] | None = None,
                fmt: str | None = None) -> Recipe:
    """The recipe of the checkpoint in ``folder`` (``config``: its ``config.json``).

    ``linear_shape``: the shape of an inline ``linear.weight`` (Stanford, jina), which decides the size;
    ``fmt``: the format when the caller knows it (jina-colbert-v2's native backbone)."""
    fmt = fmt or detect_format(folder, config)
    backbone = str(config.get("model_type") or "unknown")
    if fmt in ("stanford", "jina"):
        return _inline_recipe(folder, fmt, backbone, linear_shape)
    return _modules_recipe(folder, fmt, backbone)


def _inline_recipe(folder: Path, fmt: str, backbone: str, linear_shape) -> Recipe:
    meta = _json(folder / "artifact.metadata")
    notes = []
    if linear_shape is None or len(linear_shape) != 2:
        raise RecipeError("checkpoint is missing key 'linear.weight' (the ColBERT projection)")
    dim, hidden = int(linear_shape[0]), int(linear_shape[1])
    jina = fmt == "jina"
    marker_q = meta.get("query_token_id") or ("[QueryMarker]" if jina else "[unused0]")
    marker_d = meta.get("doc_token_id") or ("[DocumentMarker]" if jina else "[unused1]")
    for key, value in (("query_token_id", marker_q), ("doc_token_id", marker_d)):
        if key not in meta:
            notes.append(f"artifact.metadata has no {key}: {value} is used")
    length = _int_or_none(meta.get("query_maxlen"), "query_maxlen") or 32
    if "query_maxlen" not in meta:
        notes.append("artifact.metadata has no query_maxlen: queries are expanded to 32 tokens")
    attend = bool(meta.get("attend_to_mask_tokens", jina))
    punct = bool(meta.get("mask_punctuation", True))
    return Recipe(
        format=fmt, backbone=backbone, dim=dim,
        query_prefix=marker_q if jina else marker_q + " ", document_prefix=marker_d if jina else marker_d + " ",
        prefix_kind="inserted" if jina else "token", query_length=None,
        document_length=None if jina else _int_or_none(meta.get("doc_maxlen"), "doc_maxlen"),
        expansion="fixed", expansion_length=length, attend_expansion=attend,
        skiplist_words=tuple(string.punctuation) if punct else (),
        dense=(DenseLayer(hidden, dim, bias=False),), notes=tuple(notes))


def _modules_recipe(folder: Path, fmt: str, backbone: str) -> Recipe:
    st = _json(folder / "config_sentence_transformers.json")
    kinds = _module_kinds(folder)
    transformer_dir = folder / kinds[0][1]
    bert_cfg = _json(transformer_dir / "sentence_bert_config.json")
    notes: list[str] = []
    dense = tuple(read_dense(folder, sub) for kind, sub in kinds if kind == "dense")
    if not dense:
        raise RecipeError("the checkpoint has no Dense projection: colbert-viz does not add a random one")
    for a, b in itertools.pairwise(dense):
        if a.out_features != b.in_features:
            raise RecipeError(f"{a.folder} gives {a.out_features} features but {b.folder} takes {b.in_features}")
    prompts = st.get("prompts") if isinstance(st.get("prompts"), dict) else {}
    prefixes = {}
    for key, task in (("query_prefix", "query"), ("document_prefix", "document")):
        prompt = prompts.get(task) or ""
        if key in st:
            prefix = st[key] or ""
            prompt = prefix + prompt.removeprefix(prefix)
        elif fmt == "pylate":
            notes.append(f"config_sentence_transformers.json has no {key}: no prefix (PyLate itself would "
                         f"use {'[Q] ' if task == 'query' else '[D] '!r}; Sentence Transformers adds none)")
        if not isinstance(prompt, str):
            raise RecipeError(f"the {task} prefix must be text, got {prompt!r}")
        prefixes[task] = prompt
    merged = {**bert_cfg, **{k: st[k] for k in ("query_length", "document_length", "query_expansion") if k in st}}
    query_length = _int_or_none(merged.get("query_length"), "query_length")
    document_length = _int_or_none(merged.get("document_length"), "document_length")
    if fmt == "pylate" and "query_expansion" not in merged:
        if not any(key in st for key in PYLATE_KEYS):
            expansion = None
            notes.append("config_sentence_transformers.json has none of PyLate's recipe keys: no query expansion "
                         "(Sentence Transformers' reading; PyLate itself would expand to 32)")
        elif st.get("do_query_expansion") is False:
            expansion = None
        else:
            if "do_query_expansion" not in st:
                notes.append("config_sentence_transformers.json has no do_query_expansion: queries are expanded "
                             "(PyLate's default; a model trained without expansion then scores untrained "
                             "mask vectors)")
            attend = st.get("attend_to_expansion_tokens", st.get("attend_to_mask_tokens"))
            expansion = {"strategy": "fixed", "attend": bool(attend), "length": query_length or 32}
            query_length = None
    else:
        expansion = merged.get("query_expansion")
    if expansion is not None and not isinstance(expansion, dict):
        raise RecipeError(f"query_expansion must be an object or null, got {expansion!r}")
    if expansion is not None:
        unknown = set(expansion) - {"strategy", "attend", "token", "length"}
        if unknown:
            raise RecipeError(f"query_expansion has keys colbert-viz does not apply: {sorted(unknown)}")
        strategy = expansion.get("strategy")
        if strategy not in ("fixed", "min"):
            raise RecipeError(f"query_expansion strategy must be fixed or min, got {strategy!r}")
        length = _int_or_none(expansion.get("length"), "query_expansion length")
        if length is None:
            raise RecipeError("query_expansion has no length")
        if strategy == "fixed":
            query_length = None  # a fixed expansion decides the query's width
    mask_cfg = next((_json(folder / sub / "config.json") for kind, sub in kinds if kind == "mask"), None)
    if fmt == "pylate":
        words = st.get("skiplist_words")
        if words is None:
            words = list(string.punctuation)
            notes.append("config_sentence_transformers.json has no skiplist_words: string.punctuation is skipped")
        tasks = ["document"]
    else:
        if mask_cfg is None:
            raise RecipeError("modules.json has no MultiVectorMask: which positions are scored is not defined")
        if "normalize" not in [k for k, _ in kinds]:
            raise RecipeError("modules.json has no Normalize: colbert-viz explains cosine MaxSim over L2-normalised "
                              "vectors only")
        words = mask_cfg.get("skiplist_words") or []
        tasks = mask_cfg.get("skiplist_tasks") or ["document"]
        if isinstance(tasks, str):
            tasks = [tasks]
        if mask_cfg.get("keep_only_token_ids"):
            raise RecipeError("MultiVectorMask keep_only_token_ids (an image-patch allowlist) is not applied")
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise RecipeError("skiplist_words must be a list of strings")
    bad_tasks = [t for t in tasks if t not in ("query", "document")]
    if bad_tasks:
        raise RecipeError(f"skiplist_tasks names {bad_tasks[0]!r}; colbert-viz knows query and document")
    if "query" in tasks and words:
        raise RecipeError("skiplist_tasks includes query: colbert-viz scores every query token it shows and does "
                          "not apply a skiplist to queries")
    return Recipe(
        format=fmt, backbone=backbone, dim=dense[-1].out_features,
        query_prefix=prefixes["query"], document_prefix=prefixes["document"],
        prefix_kind="token" if fmt == "pylate" else "text",
        query_length=query_length, document_length=document_length,
        expansion="none" if expansion is None else expansion["strategy"],
        expansion_length=None if expansion is None else expansion["length"],
        expansion_token=None if expansion is None else expansion.get("token"),
        attend_expansion=bool(expansion and expansion.get("attend", False)),
        skiplist_words=tuple(words), skiplist_tasks=tuple(tasks),
        lowercase=bool(bert_cfg.get("do_lower_case", False)), dense=dense, notes=tuple(notes))
