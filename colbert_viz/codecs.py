"""The vector codecs behind ``colbert_viz.storage``, one small function each (numpy + scipy).

float16; Qdrant's scalar int8 and binary quantization; the residual codec of
Stanford ColBERT / PLAID (centroid + 1, 2 or 4 bits per dimension); PyLate's
hierarchical token pooling. Each maps (n, dim) float32 vectors to what the
system stores, decoded back to float32 so it can be scored.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.cluster import hierarchy
from scipy.cluster.vq import kmeans2

QUANTILE = 0.99       # Qdrant's documented example value; unset, Qdrant uses the whole range (1.0)
INT8_LEVELS = 127     # Qdrant: alpha = (max - min) / 127, codes 0..127 in one byte
SEED = 0


def to_float16(vectors: np.ndarray) -> np.ndarray:
    """(n, dim) float32 → (n, dim) float32 after a float16 round trip (2 bytes per dimension)."""
    return vectors.astype(np.float16).astype(np.float32)


def int8_range(values: np.ndarray, quantile: float = QUANTILE) -> tuple[float, float]:
    """(lo, hi): the central ``quantile`` of every component value, as Qdrant's scalar
    quantization bounds its range (``quantile`` 0.99 drops the 0.5% lowest and highest).

    One range for the whole collection. Qdrant computes it on a sample of up to
    100k vectors and uses the plain min/max below 127 vectors; here: all values.

    >>> [round(v, 6) for v in int8_range(np.arange(101, dtype=np.float32), quantile=0.9)]
    [5.0, 95.0]
    """
    if not 0.5 <= quantile <= 1.0:
        raise ValueError(f"quantile must be in [0.5, 1.0], got {quantile}")
    tail = (1.0 - quantile) / 2
    lo, hi = np.quantile(np.asarray(values, np.float64), [tail, 1.0 - tail])
    return float(lo), float(hi)


def quantize_int8(vectors: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(n, dim) → (n, dim) uint8 codes in 0..127, Qdrant's ``encoded_vectors_u8``:
    ``alpha = (hi - lo) / 127``, ``code = round(clip((x - lo) / alpha, 0, 127))``.

    >>> quantize_int8(np.array([[-1.0, 0.0, 0.5, 2.0]]), -1.0, 1.0).tolist()
    [[0, 64, 95, 127]]
    """
    alpha = (hi - lo) / INT8_LEVELS
    return np.round(np.clip((vectors - lo) / alpha, 0, INT8_LEVELS)).astype(np.uint8)


def dequantize_int8(codes: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(n, dim) uint8 → (n, dim) float32: ``lo + alpha * code``."""
    return (lo + codes.astype(np.float64) * ((hi - lo) / INT8_LEVELS)).astype(np.float32)


def binarize(vectors: np.ndarray) -> np.ndarray:
    """(n, dim) → (n, dim) float32 signs ±1/sqrt(dim): bit 1 where a component is > 0,
    as Qdrant's binary quantization stores it (1 bit per dimension).

    Scaled so that ``a @ b.T == (dim - 2 * hamming(a, b)) / dim``: Qdrant's binary
    dot score (``dim - 2 * xor_popcount``) divided by ``dim``, on the scale of a cosine.

    >>> a, b = binarize(np.array([[0.3, -0.1, 0.2, 0.4]])), binarize(np.array([[0.1, 0.2, -0.3, 0.4]]))
    >>> float((a @ b.T)[0, 0])   # 2 of 4 bits differ: (4 - 2*2) / 4
    0.0
    """
    return np.where(vectors > 0, 1.0, -1.0).astype(np.float32) / np.float32(math.sqrt(vectors.shape[1]))


def n_centroids(n_tokens: int) -> int:
    """Stanford ColBERT's number of centroids, ``2 ** floor(log2(16 * sqrt(n_tokens)))``, at most ``n_tokens``.

    >>> n_centroids(250), n_centroids(10), n_centroids(10_000_000)
    (128, 10, 32768)
    """
    return max(1, min(2 ** math.floor(math.log2(16 * math.sqrt(max(n_tokens, 1)))), n_tokens))


@dataclass(frozen=True)
class ResidualCodec:
    """PLAID / ColBERTv2's residual codec. centroids: (k, dim) unit rows; cutoffs:
    (2**nbits - 1,) bucket edges; weights: (2**nbits,) the value each bucket decodes to."""

    nbits: int
    centroids: np.ndarray
    cutoffs: np.ndarray
    weights: np.ndarray

    def compress(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, dim) → codes (n,) nearest centroid by dot product, buckets (n, dim) uint8 in 0..2**nbits-1."""
        codes = np.argmax(vectors @ self.centroids.T, axis=1)
        buckets = np.searchsorted(self.cutoffs, vectors - self.centroids[codes], side="right")
        return codes, buckets.astype(np.uint8)

    def decompress(self, codes: np.ndarray, buckets: np.ndarray) -> np.ndarray:
        """codes (n,), buckets (n, dim) → (n, dim) float32: centroid + bucket weights, re-normalised."""
        v = self.centroids[codes] + self.weights[buckets]
        return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def train_residual_codec(vectors: np.ndarray, nbits: int, k: int | None = None, seed: int = SEED) -> ResidualCodec:
    """Fit a ``ResidualCodec`` on (n, dim) unit vectors, as ColBERTv2 indexing does.

    Centroids: k-means (``scipy.cluster.vq.kmeans2``, seeded), normalised, ``k``
    by ``n_centroids``. A real index trains them on a sample of its whole corpus
    (thousands of tokens per centroid); on a handful of documents each centroid
    holds a few tokens, so the residuals are smaller than in a real index.
    Buckets: residuals ``x - centroid`` of all tokens, pooled over dimensions;
    cutoffs at quantiles ``i / 2**nbits`` (i = 1..2**nbits-1), weights at the
    mid-quantiles ``(i + 0.5) / 2**nbits`` (ColBERT's ``ResidualCodec``).
    """
    if nbits not in (1, 2, 4):
        raise ValueError(f"residual bits must be 1, 2 or 4, got {nbits!r}")
    k = n_centroids(len(vectors)) if k is None else k
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    centroids = _kmeans(vectors.tobytes(), vectors.shape, k, seed)
    codes = np.argmax(vectors @ centroids.T, axis=1)
    residuals = (vectors - centroids[codes]).ravel().astype(np.float64)
    levels = 2 ** nbits
    cutoffs = np.quantile(residuals, np.arange(1, levels) / levels)
    weights = np.quantile(residuals, (np.arange(levels) + 0.5) / levels)
    return ResidualCodec(nbits, centroids, cutoffs.astype(np.float32), weights.astype(np.float32))


@lru_cache(maxsize=8)
def _kmeans(data: bytes, shape: tuple[int, int], k: int, seed: int) -> np.ndarray:
    """(k, dim) unit centroids of the (n, dim) float32 ``data``; cached, so the 1-, 2-
    and 4-bit settings of one Run share one k-means (random initial points, 20 rounds)."""
    vectors = np.frombuffer(data, dtype=np.float32).reshape(shape).astype(np.float64)
    with warnings.catch_warnings():  # few tokens per centroid: an empty cluster is expected, not an error
        warnings.simplefilter("ignore")
        centroids, _ = kmeans2(vectors, k, iter=20, minit="points", seed=seed)
    centroids = (centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    centroids.flags.writeable = False
    return centroids


def pool_tokens(vectors: np.ndarray, pool_factor: int, protected: int = 1) -> tuple[np.ndarray, list[list[int]]]:
    """PyLate's ``pool_embeddings_hierarchical``: (n, dim) → (n', dim) and the row groups.

    The first ``protected`` rows (``<s>``) stay alone; the rest are clustered by
    Ward linkage (``scipy.cluster.hierarchy``) on the rows of ``1 - cosine``,
    cut into ``max(n_rest // pool_factor, 1)`` clusters, and each cluster is
    replaced by the mean of its vectors (not re-normalised, as in PyLate).
    ``groups[k]`` lists the input rows pooled into output row k; protected rows
    first, then clusters by their first row (PyLate appends the protected rows
    last: MaxSim does not depend on the order). ``pool_factor`` 1 is the identity.

    >>> v = np.eye(5, dtype=np.float32)[[0, 1, 1, 2, 2]]
    >>> pooled, groups = pool_tokens(v, 2)
    >>> groups
    [[0], [1, 2], [3, 4]]
    """
    if isinstance(pool_factor, bool) or not isinstance(pool_factor, (int, np.integer)) or pool_factor < 1:
        raise ValueError(f"pool factor must be a positive integer, got {pool_factor!r}")
    n = len(vectors)
    head = [[i] for i in range(min(protected, n))]
    rest = np.arange(len(head), n)
    if pool_factor == 1 or len(rest) < 2:
        return vectors.copy(), head + [[int(i)] for i in rest]
    x = vectors[rest].astype(np.float64)
    with warnings.catch_warnings():  # PyLate's choice: each row of the distance matrix is an observation
        warnings.simplefilter("ignore", hierarchy.ClusterWarning)
        links = hierarchy.linkage(1.0 - x @ x.T, method="ward")
    labels = hierarchy.fcluster(links, t=max(len(rest) // pool_factor, 1), criterion="maxclust")
    clusters = sorted((rest[labels == c].tolist() for c in np.unique(labels)), key=lambda g: g[0])
    groups = head + clusters
    return np.stack([vectors[g].mean(axis=0) for g in groups]).astype(np.float32), groups
