"""Plain records that flow between the stages: tokenized text and token vectors.

These hold numpy arrays only, so the scoring and explaining stages can use them
without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from colbert_viz.maths.vectors import truncate_dims

Kind = Literal["query", "document"]


@dataclass(frozen=True)
class Tokenized:
    """One text as the model sees it.

    Every array has one entry per model input position, ``n`` in all.

    Attributes
    ----------
    text : the text after cleaning (same length as the input; see ``clean_text``).
    kind : ``"query"`` or ``"document"``.
    ids : (n,) int64 token ids, markers and padding included.
    tokens : n token strings.
    spans : n ``(start, end)`` character offsets into ``text``; ``(0, 0)`` for
        tokens that are not in the text (specials, markers, expansion tokens).
    special : (n,) bool, ``<s>``/``</s>`` (or ``[CLS]``/``[SEP]``) and markers.
    marker : (n,) bool, the query or document marker.
    expansion : (n,) bool, the ``<mask>`` tokens that pad a query (query augmentation).
    skipped : (n,) bool, punctuation tokens on the skiplist: kept for display, not scored.
    n_text_tokens : how many tokens the whole text has, before truncation.
    truncated : whether text tokens were cut to fit the maximum length.
    typed_special : (n,) bool, special tokens typed in the text (``<s>``, ``<mask>``,
        ``[QueryMarker]`` …) that the tokenizer parsed as those tokens, as the model's
        own tokenizer does. They are text tokens (``special``, ``marker`` and
        ``expansion`` stay false), scored like text; their spans cover what was typed.
        Omitted: all false.
    """

    text: str
    kind: Kind
    ids: np.ndarray
    tokens: list[str]
    spans: list[tuple[int, int]]
    special: np.ndarray
    marker: np.ndarray
    expansion: np.ndarray
    skipped: np.ndarray
    n_text_tokens: int
    truncated: bool
    typed_special: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.typed_special is None:
            object.__setattr__(self, "typed_special", np.zeros(len(self.tokens), bool))

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def scored(self) -> np.ndarray:
        """(n,) bool: the positions MaxSim scores (everything but the skiplist)."""
        return ~self.skipped

    @property
    def in_text(self) -> np.ndarray:
        """(n,) bool: tokens that come from the text (not specials or expansion)."""
        return ~(self.special | self.expansion)


@dataclass(frozen=True)
class TokenVectors(Tokenized):
    """A tokenized text with its output vectors.

    ``vectors`` is (n, dim) float32, each row L2-normalised, at the model's native
    output size. Use ``at_dim(k)`` for a Matryoshka prefix: no re-encoding.
    """

    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def at_dim(self, dim: int) -> np.ndarray:
        """(n, dim) float32: the first ``dim`` components, re-normalised."""
        return truncate_dims(self.vectors, dim)


def record_bytes(record: TokenVectors) -> int:
    """Approximate memory of one record: its arrays, its strings (2 bytes a character)
    and 64 bytes a token for the Python objects around them. The one estimate the
    vector cache and the app's store of Runs both charge."""
    arrays = (record.vectors, record.ids, record.special, record.marker, record.expansion, record.skipped)
    strings = len(record.text) + sum(len(t) for t in record.tokens)
    return sum(a.nbytes for a in arrays) + 2 * strings + 64 * len(record.tokens)
