"""The two ways a checkpoint runs: the native jina backbone, or a transformers model.

Both take a list of token-id sequences and return, per sequence, its output
vectors before normalisation: (L_i, dim) tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from colbert_viz.backbone import JinaColbert


class NativeNetwork:
    """jina-colbert-v2: packed sequences through ``RotaryXLMRoberta`` then ``linear``."""

    packed = True

    def __init__(self, module: JinaColbert) -> None:
        self.module = module.eval()

    @property
    def param(self) -> torch.Tensor:
        return self.module.linear.weight

    def __call__(self, sequences: Sequence[torch.Tensor],
                 key_masks: Sequence[torch.Tensor | None]) -> list[torch.Tensor]:
        lengths = [len(s) for s in sequences]
        hidden = self.module.roberta(torch.cat(list(sequences)), lengths, key_masks)
        out = self.module.linear(hidden)
        return list(out.split(lengths))


class TransformersNetwork:
    """A transformers ``AutoModel`` (BERT family) plus an optional bias-free head.

    Sequences are right-padded into one batch; callers pass sequences of similar
    length together so padding stays small.
    """

    packed = False

    def __init__(self, model: nn.Module, head: nn.Linear | None, pad_id: int) -> None:
        self.model = model.eval()
        self.head = head.eval() if head is not None else None
        self.pad_id = pad_id

    @property
    def param(self) -> torch.Tensor:
        return next(self.model.parameters())

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
