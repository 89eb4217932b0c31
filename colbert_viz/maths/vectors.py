"""Operations on token-vector arrays shared by the records and the scoring (numpy only)."""

from __future__ import annotations

import numpy as np


def truncate_dims(vectors: np.ndarray, dim: int) -> np.ndarray:
    """(n, D) → (n, dim) float32: the first ``dim`` components, re-normalised (Matryoshka).

    >>> v = np.array([[3.0, 4.0, 12.0]], dtype=np.float32) / 13
    >>> truncate_dims(v, 2).astype(float).round(3).tolist()
    [[0.6, 0.8]]
    """
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be 2-d (tokens, dim), got shape {vectors.shape}")
    if not 0 < dim <= vectors.shape[1]:
        raise ValueError(f"cannot cut {vectors.shape[1]}-d vectors to {dim} dimensions")
    head = np.asarray(vectors[:, :dim], dtype=np.float32)
    if dim == vectors.shape[1]:
        return head
    norms = np.linalg.norm(head, axis=1, keepdims=True)
    return head / np.maximum(norms, 1e-12)
