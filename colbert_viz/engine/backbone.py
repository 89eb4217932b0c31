"""A native PyTorch implementation of jina-colbert-v2's backbone.

XLM-RoBERTa with rotary position embeddings (GPT-NeoX style, over the whole
head), post-norm layers, a fused ``Wqkv`` projection and no absolute position
embedding; attention through ``scaled_dot_product_attention``. The module
names reproduce the checkpoint's state-dict keys (``roberta.encoder.layers.0.
mixer.Wqkv.weight`` …), so ``load_state_dict`` reads ``model.safetensors`` as is.

Sequences are *packed*: the linear layers run over all tokens of a batch at
once, with no padding, and attention runs per sequence, so every sequence sees
positions ``0..L-1`` and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from colbert_viz.checks import positive_int

ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x),
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_fast": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
}


@dataclass(frozen=True)
class RotaryConfig:
    """The fields of ``config.json`` the backbone uses."""

    vocab_size: int
    hidden_size: int = 1024
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    intermediate_size: int = 4096
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-5
    type_vocab_size: int = 1
    rotary_emb_base: float = 10000.0

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, config: dict) -> RotaryConfig:
        """Validate ``config.json``; raise ``ValueError`` naming the field at fault."""
        if config.get("position_embedding_type", "rotary") != "rotary":
            raise ValueError(
                "config.json: position_embedding_type is "
                f"{config.get('position_embedding_type')!r}; the native backbone needs 'rotary'"
            )
        fields = {}
        for name in cls.__dataclass_fields__:
            if name in config and config[name] is not None:
                fields[name] = config[name]
        if "vocab_size" not in fields:
            raise ValueError("config.json: missing field 'vocab_size'")
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "type_vocab_size"):
            fields[name] = positive_int(fields.get(name, getattr(cls, name, 1)), f"config.json: field {name!r}")
        made = cls(**fields)
        if made.hidden_size % made.num_attention_heads:
            raise ValueError(
                f"config.json: hidden_size {made.hidden_size} is not divisible by "
                f"num_attention_heads {made.num_attention_heads}"
            )
        if made.head_dim % 2:
            raise ValueError(f"config.json: head size {made.head_dim} must be even for rotary positions")
        check_rotary_variant(config, made.head_dim)
        if made.hidden_act not in ACTIVATIONS:
            raise ValueError(
                f"config.json: hidden_act {made.hidden_act!r} is not supported "
                f"(supported: {', '.join(ACTIVATIONS)})"
            )
        return made


def check_rotary_variant(config: dict, head_dim: int) -> None:
    """Refuse rotary variants Jina's code implements and this backbone does not.

    Accepted: ``rotary_emb_interleaved`` false, ``rotary_emb_dim`` the head size,
    ``rotary_emb_scale_base`` null (absent or null counts as the default).

    >>> check_rotary_variant({"rotary_emb_dim": 64, "rotary_emb_interleaved": False}, 64)
    >>> check_rotary_variant({"rotary_emb_dim": 32}, 64)
    Traceback (most recent call last):
    ...
    ValueError: config.json: rotary_emb_dim 32 is not supported: the native backbone rotates the whole head (64)
    """
    interleaved = config.get("rotary_emb_interleaved")
    if interleaved not in (None, False):
        raise ValueError(
            f"config.json: rotary_emb_interleaved {interleaved!r} is not supported: "
            "the native backbone rotates halves (GPT-NeoX style), not interleaved pairs"
        )
    rotary_dim = config.get("rotary_emb_dim")
    if rotary_dim is not None and rotary_dim != head_dim:
        raise ValueError(
            f"config.json: rotary_emb_dim {rotary_dim!r} is not supported: "
            f"the native backbone rotates the whole head ({head_dim})"
        )
    scale_base = config.get("rotary_emb_scale_base")
    if scale_base is not None:
        raise ValueError(
            f"config.json: rotary_emb_scale_base {scale_base!r} is not supported: "
            "the native backbone has no XPos scaling (it must be null)"
        )


class Embeddings(nn.Module):
    def __init__(self, config: RotaryConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.word_embeddings(ids) + self.token_type_embeddings.weight[0]


class Mixer(nn.Module):
    """Self-attention with a fused q/k/v projection and rotary positions."""

    def __init__(self, config: RotaryConfig) -> None:
        super().__init__()
        self.heads = config.num_attention_heads
        self.head_dim = config.head_dim
        self.Wqkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out_proj = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x: torch.Tensor, lengths: Sequence[int], cos: torch.Tensor, sin: torch.Tensor,
                key_masks: Sequence[torch.Tensor | None]) -> torch.Tensor:
        """x: (T, hidden) packed tokens of sequences of ``lengths``; cos/sin: (T, 1, 1, head_dim // 2)
        for each token's position in its own sequence. Returns (T, hidden)."""
        qkv = self.Wqkv(x).view(x.shape[0], 3, self.heads, self.head_dim)
        qk = Rotary.apply(qkv[:, :2], cos, sin)  # (T, 2, heads, head_dim)
        v = qkv[:, 2]
        if len(set(lengths)) == 1 and all(m is None for m in key_masks):
            # Equal lengths (e.g. a batch of 32-token queries): one batched call.
            b, n = len(lengths), lengths[0]
            out = F.scaled_dot_product_attention(
                qk[:, 0].reshape(b, n, self.heads, -1).transpose(1, 2),
                qk[:, 1].reshape(b, n, self.heads, -1).transpose(1, 2),
                v.reshape(b, n, self.heads, -1).transpose(1, 2),
            )  # (b, heads, n, head_dim)
            return self.out_proj(out.transpose(1, 2).reshape(x.shape[0], -1))
        outs = []
        start = 0
        for length, key_mask in zip(lengths, key_masks):
            span = slice(start, start + length)
            start += length
            mask = None if key_mask is None else key_mask.view(1, 1, 1, length)
            out = F.scaled_dot_product_attention(
                qk[span, 0].transpose(0, 1)[None],  # (1, heads, L, head_dim)
                qk[span, 1].transpose(0, 1)[None],
                v[span].transpose(0, 1)[None],
                attn_mask=mask,
            )
            outs.append(out[0].transpose(0, 1).reshape(length, -1))
        return self.out_proj(torch.cat(outs) if len(outs) > 1 else outs[0])


class Mlp(nn.Module):
    def __init__(self, config: RotaryConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.act = ACTIVATIONS[config.hidden_act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Layer(nn.Module):
    """Post-norm block: ``x = norm1(x + attn(x)); x = norm2(x + mlp(x))``."""

    def __init__(self, config: RotaryConfig) -> None:
        super().__init__()
        self.mixer = Mixer(config)
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = Mlp(config)
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x, lengths, cos, sin, key_masks):
        x = self.norm1(x + self.mixer(x, lengths, cos, sin, key_masks))
        return self.norm2(x + self.mlp(x))


class Encoder(nn.Module):
    def __init__(self, config: RotaryConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(Layer(config) for _ in range(config.num_hidden_layers))


class Rotary:
    """GPT-NeoX rotary embedding: rotate halves; cos/sin computed in float32."""

    def __init__(self, head_dim: int, base: float) -> None:
        self.inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device="cpu") / head_dim)

    def cos_sin(self, lengths: Sequence[int], dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(T, 1, 1, head_dim // 2) cos and sin, positions restarting at 0 for each sequence."""
        device = self.inv_freq.device
        positions = torch.cat([torch.arange(n, dtype=torch.float32, device=device) for n in lengths])
        freqs = torch.outer(positions, self.inv_freq)[:, None, None, :]
        return freqs.cos().to(dtype), freqs.sin().to(dtype)

    @staticmethod
    def apply(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """x: (..., head_dim); cos/sin (..., head_dim // 2) broadcast against its halves.

        ``(x1, x2) → (x1 cos - x2 sin, x2 cos + x1 sin)``: rotate-halves, as GPT-NeoX.
        """
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
        out = torch.empty_like(x)
        torch.sub(x1 * cos, x2 * sin, out=out[..., :half])
        torch.add(x2 * cos, x1 * sin, out=out[..., half:])
        return out

    def to(self, device: torch.device) -> Rotary:
        self.inv_freq = self.inv_freq.to(device)
        return self


class RotaryXLMRoberta(nn.Module):
    """The backbone: ids of packed sequences → (T, hidden) last hidden states."""

    def __init__(self, config: RotaryConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.emb_ln = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.encoder = Encoder(config)
        self.rotary = Rotary(config.head_dim, config.rotary_emb_base)

    def _apply(self, fn, recurse=True):
        result = super()._apply(fn, recurse)
        self.rotary.to(self.emb_ln.weight.device)
        return result

    def forward(self, ids: torch.Tensor, lengths: Sequence[int],
                key_masks: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        """ids: (T,) packed token ids; lengths sum to T; key_masks: per sequence a (L,) bool
        of the keys it may attend to, or None for all. Returns (T, hidden)."""
        if sum(lengths) != ids.shape[0]:
            raise ValueError(f"lengths sum to {sum(lengths)} but there are {ids.shape[0]} ids")
        key_masks = key_masks or [None] * len(lengths)
        x = self.emb_ln(self.embeddings(ids))
        cos, sin = self.rotary.cos_sin(lengths, x.dtype)
        for layer in self.encoder.layers:
            x = layer(x, lengths, cos, sin, key_masks)
        return x


class JinaColbert(nn.Module):
    """Backbone plus the ColBERT projection, with the checkpoint's key names."""

    def __init__(self, config: RotaryConfig, dim: int) -> None:
        super().__init__()
        self.roberta = RotaryXLMRoberta(config)
        self.linear = nn.Linear(config.hidden_size, dim, bias=False)
