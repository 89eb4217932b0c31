"""The two ways a checkpoint runs: the native jina backbone, or a transformers model.

Both take a list of token-id sequences and return, per sequence, its output
vectors before normalisation: (L_i, dim) tensors. ``forward`` runs either on
numpy arrays (what crosses to a ZeroGPU worker) and returns unit vectors.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from colbert_viz.engine.backbone import JinaColbert


def quantize_linears(module: nn.Module) -> nn.Module:
    """Swap every ``nn.Linear`` inside ``module`` (float32, CPU) for a dynamic int8 one, in place:
    int8 weights, activations quantized per call. ``torch.ao``'s deprecation notices are silenced."""
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor")
        return quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8, inplace=True)


def forward(network, ids: Sequence[np.ndarray], key_masks: Sequence[np.ndarray | None],
            device: torch.device) -> list[np.ndarray]:
    """``network`` on ``device``: per sequence (L_i,) int64 token ids and an optional (L_i,)
    bool key mask (False: not attended) in, (L_i, dim) float32 unit vectors out."""
    with torch.inference_mode():
        outputs = network([torch.from_numpy(i).to(device) for i in ids],
                          [None if m is None else torch.from_numpy(m).to(device) for m in key_masks])
        return [F.normalize(out.float(), dim=-1).cpu().numpy() for out in outputs]


class NativeNetwork:
    """jina-colbert-v2: packed sequences through ``RotaryXLMRoberta`` then ``linear``."""

    packed = True

    def __init__(self, module: JinaColbert) -> None:
        self.module = module.eval()

    def quantize_int8(self) -> None:
        """Dynamic int8 for the backbone's linear layers; the small ColBERT head stays float32."""
        quantize_linears(self.module.roberta)

    def to(self, device: torch.device) -> NativeNetwork:
        self.module.to(device)
        return self

    def __call__(self, sequences: Sequence[torch.Tensor],
                 key_masks: Sequence[torch.Tensor | None]) -> list[torch.Tensor]:
        lengths = [len(s) for s in sequences]
        hidden = self.module.roberta(torch.cat(list(sequences)), lengths, key_masks)
        out = self.module.linear(hidden)
        return list(out.split(lengths))


ACTIVATION_MODULES = {"identity": nn.Identity, "tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU,
                      "sigmoid": nn.Sigmoid}


class DenseLayer(nn.Module):
    """``activation(linear(x))``, plus ``x`` (or ``residual(x)`` when the sizes differ) with a residual:
    (..., in_features) → (..., out_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool, activation: str = "identity",
                 residual: bool = False) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        self.activation = ACTIVATION_MODULES[activation]()
        self.use_residual = residual
        self.residual = nn.Linear(in_features, out_features, bias=False) if residual and in_features != out_features \
            else None

    @property
    def out_features(self) -> int:
        return self.linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.activation(self.linear(x))
        if self.use_residual:
            out = out + (x if self.residual is None else self.residual(x))
        return out


class DenseChain(nn.Sequential):
    """The projections after the backbone, in order (a Stanford head is one bias-free layer)."""

    @property
    def out_features(self) -> int:
        return self[-1].out_features


class TransformersNetwork:
    """A transformers ``AutoModel`` (BERT, ModernBERT …) plus an optional ``DenseChain`` head.

    Sequences are right-padded into one batch; callers pass sequences of similar
    length together so padding stays small.
    """

    packed = False

    def __init__(self, model: nn.Module, head: nn.Module | None, pad_id: int) -> None:
        self.model = model.eval()
        self.head = head.eval() if head is not None else None
        self.pad_id = pad_id

    def quantize_int8(self) -> None:
        """Dynamic int8 for the transformer's linear layers; the head stays float32."""
        quantize_linears(self.model)

    def to(self, device: torch.device) -> TransformersNetwork:
        self.model.to(device)
        if self.head is not None:
            self.head.to(device)
        return self

    def __call__(self, sequences: Sequence[torch.Tensor],
                 key_masks: Sequence[torch.Tensor | None]) -> list[torch.Tensor]:
        lengths = [len(s) for s in sequences]
        width = max(lengths)
        device = sequences[0].device
        ids = torch.full((len(sequences), width), self.pad_id, dtype=torch.long, device=device)
        mask = torch.zeros((len(sequences), width), dtype=torch.long, device=device)
        for row, (seq, key_mask) in enumerate(zip(sequences, key_masks)):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1 if key_mask is None else key_mask.long()
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        if self.head is not None:
            hidden = self.head(hidden)
        return [hidden[row, :length] for row, length in enumerate(lengths)]
