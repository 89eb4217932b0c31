"""Recipe files of published late-interaction checkpoints, quoted verbatim as Python values.

Each entry: ``(repo, path, revision, content)``; ``revision`` is the commit (or branch) of the page the file
was read from on huggingface.co, as the page gave it. Only files whose whole text could be read are here,
except where ``PARTIAL`` says otherwise. Not found (no stored copy of the file could be read), so not quoted:
lightonai/GTE-ModernColBERT-v1 (config_sentence_transformers.json, modules.json, 1_Dense/config.json,
sentence_bert_config.json), mixedbread-ai/mxbai-edge-colbert-v0-17m (all), colbert-ir/colbertv2.0
(artifact.metadata, config.json), jinaai/jina-colbert-v2 (all), LiquidAI/LFM2-ColBERT-350M
(config_sentence_transformers.json, modules.json, Dense configs), answerdotai/answerai-colbert-small-v1
(config_sentence_transformers.json, modules.json), lightonai/LateOn (all; two LateOn-Code siblings are quoted).
"""

from __future__ import annotations

from typing import Any

# Verbatim: the skiplist these files spell out one character per entry (equal to list(string.punctuation)).
_PUNCTUATION_AS_PUBLISHED = [
    "!", "\"", "#", "$", "%", "&", "'", "(", ")", "*", "+", ",", "-", ".", "/", ":", ";", "<", "=", ">", "?",
    "@", "[", "\\", "]", "^", "_", "`", "{", "|", "}", "~",
]

PUBLISHED: list[tuple[str, str, str, Any]] = [
    # https://huggingface.co/LiquidAI/LFM2-ColBERT-350M/blob/main/sentence_bert_config.json (commit 797e7d4)
    ("LiquidAI/LFM2-ColBERT-350M", "sentence_bert_config.json", "797e7d4",
     {"max_seq_length": 511, "do_lower_case": False}),
    # https://huggingface.co/answerdotai/answerai-colbert-small-v1/blob/refs%2Fpr%2F10/1_Dense/config.json
    # (commit 0aa70ad, "Add sentence transformers packages for pylate support"): no use_residual key.
    ("answerdotai/answerai-colbert-small-v1", "1_Dense/config.json", "0aa70ad",
     {"in_features": 384, "out_features": 96, "bias": False,
      "activation_function": "torch.nn.modules.linear.Identity"}),
    # https://huggingface.co/answerdotai/answerai-colbert-small-v1/commit/fa8c5fd2803c29ca52a1f7a637040a3a4efb2af5
    # ("Upload config.json", the file as first added; later commits changed it, 624/702 bytes, not read).
    ("answerdotai/answerai-colbert-small-v1", "config.json", "fa8c5fd2803c29ca52a1f7a637040a3a4efb2af5",
     {"_name_or_path": "bclavie/mini-base", "architectures": ["HF_ColBERT"], "attention_probs_dropout_prob": 0.1,
      "classifier_dropout": None, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 384,
      "id2label": {"0": "LABEL_0"}, "initializer_range": 0.02, "intermediate_size": 1536,
      "label2id": {"LABEL_0": 0}, "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
      "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 0, "position_embedding_type": "absolute",
      "torch_dtype": "float32", "transformers_version": "4.42.4", "type_vocab_size": 2, "use_cache": True,
      "vocab_size": 30522}),
    # https://huggingface.co/lightonai/LateOn-Code/blob/main/config_sentence_transformers.json
    ("lightonai/LateOn-Code", "config_sentence_transformers.json", "main",
     {"model_type": "ColBERT",
      "__version__": {"sentence_transformers": "5.1.1", "transformers": "4.57.3", "pytorch": "2.9.0+cu128"},
      "prompts": {"query": "", "document": ""}, "default_prompt_name": None, "similarity_fn_name": "MaxSim",
      "query_prefix": "[Q] ", "document_prefix": "[D] ", "query_length": 256, "document_length": 2048,
      "attend_to_expansion_tokens": False, "skiplist_words": _PUNCTUATION_AS_PUBLISHED,
      "do_query_expansion": False}),
    # https://huggingface.co/lightonai/LateOn-Code-edge/blob/main/config_sentence_transformers.json
    ("lightonai/LateOn-Code-edge", "config_sentence_transformers.json", "main",
     {"model_type": "ColBERT",
      "__version__": {"sentence_transformers": "5.1.1", "transformers": "4.57.3", "pytorch": "2.9.0+cu128"},
      "prompts": {"query": "", "document": ""}, "default_prompt_name": None, "similarity_fn_name": "MaxSim",
      "query_prefix": "[Q] ", "document_prefix": "[D] ", "query_length": 256, "document_length": 2048,
      "attend_to_expansion_tokens": False, "skiplist_words": _PUNCTUATION_AS_PUBLISHED,
      "do_query_expansion": False}),
    # https://huggingface.co/lightonai/LateOn-Code-edge/blob/main/modules.json (commit a178850)
    ("lightonai/LateOn-Code-edge", "modules.json", "a178850",
     [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
      {"idx": 1, "name": "1", "path": "1_Dense", "type": "pylate.models.Dense.Dense"},
      {"idx": 2, "name": "2", "path": "2_Dense", "type": "pylate.models.Dense.Dense"}]),
    # https://huggingface.co/lightonai/LateOn-Code-edge/blob/main/2_Dense/config.json (1_Dense not found)
    ("lightonai/LateOn-Code-edge", "2_Dense/config.json", "main",
     {"in_features": 512, "out_features": 48, "bias": False,
      "activation_function": "torch.nn.modules.linear.Identity", "use_residual": False}),
]

# Files of which only the beginning could be read: the keys quoted are verbatim, the rest of the file is missing
# (for answerai-colbert-small-v1's artifact.metadata that includes query_maxlen, doc_maxlen, dim, ...).
PARTIAL: list[tuple[str, str, str, dict[str, Any]]] = [
    # https://huggingface.co/answerdotai/answerai-colbert-small-v1/commit/6868316f297f101bd2b8cee6ee458eb12661315f
    ("answerdotai/answerai-colbert-small-v1", "artifact.metadata", "6868316f297f101bd2b8cee6ee458eb12661315f",
     {"query_token_id": "[unused0]", "doc_token_id": "[unused1]", "query_token": "[Q]", "doc_token": "[D]",
      "similarity": "cosine", "model_name": "answerdotai/AnswerAI-ColBERTv2.5-small"}),
]


def published(repo: str, path: str) -> Any:
    """The quoted content of ``path`` in ``repo`` (complete files only)."""
    for r, p, _revision, content in PUBLISHED:
        if (r, p) == (repo, path):
            return content
    raise KeyError(f"{repo}/{path} is not quoted")
