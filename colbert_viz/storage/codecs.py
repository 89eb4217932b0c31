"""The vector codecs behind ``colbert_viz.storage.settings``, one small function each (numpy + scipy).

Each follows one system's own code, named with its version in the docstring and
tested against that code on the same vectors (``tests/storage/test_storage_systems.py``):

- float16;
- Qdrant v1.19 (the engine of ``qdrant-edge-py`` 0.9.0): scalar int8 quantization
  (``lib/quantization/src/quantile.rs``, ``encoded_vectors_u8.rs``) and one-bit
  binary quantization (``encoded_vectors_binary.rs``);
- Stanford ColBERT / PLAID (``colbert-ai`` 0.2.22): the residual codec
  (``colbert/indexing/codecs/residual.py``, cutoffs from ``collection_indexer.py``);
- PyLate 1.6.0: hierarchical token pooling (``ColBERT.pool_embeddings_hierarchical``).

Each maps (n, dim) float32 vectors to what the system stores, decoded back to
float32 so it can be scored.
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
INT8_MIN_VECTORS = 127      # Qdrant: below this many vectors, the plain min and max
INT8_SAMPLE = 5_000         # Qdrant: the range comes from a random sample of at most this many vectors
INT8_ALIGNMENT = 16         # Qdrant pads int8 codes to a multiple of 16 bytes
HELDOUT_FRACTION = 0.05     # Stanford ColBERT: cutoffs and weights from a 5 % sample kept out of k-means
HELDOUT_MAX = 50_000
SEED = 0


def to_float16(vectors: np.ndarray) -> np.ndarray:
    """(n, dim) float32 → (n, dim) float32 after a float16 round trip (2 bytes per dimension)."""
    return vectors.astype(np.float16).astype(np.float32)


# --- Qdrant scalar int8 -----------------------------------------------------------------


def int8_range(vectors: np.ndarray, quantile: float = QUANTILE, seed: int = SEED) -> tuple[float, float]:
    """(lo, hi): the range Qdrant v1.19's scalar quantization gives the (n, dim) ``vectors``
    (``find_quantile_interval`` in ``lib/quantization/src/quantile.rs``).

    Fewer than 127 vectors, or ``quantile`` 1: the plain min and max. Otherwise the
    values of at most 5,000 vectors are sorted and ``cut = max(1, floor(n_vectors ·
    (1 − quantile) / 2))`` is computed in float32 from the number of *vectors* (not
    values); Qdrant's two ``select_nth`` calls then drop ``cut + 1`` values from the
    bottom and ``cut`` from the top. Above 5,000 vectors Qdrant draws its sample with
    an unseeded generator, so its range varies from one optimisation to the next;
    here the sample is drawn with ``seed``.

    >>> v = np.arange(200 * 4, dtype=np.float32).reshape(200, 4)  # cut = max(1, floor(200·0.01/2)) = 1
    >>> int8_range(v, 0.99), int8_range(v[:100], 0.99)
    ((2.0, 798.0), (0.0, 399.0))
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.size == 0:
        raise ValueError(f"int8_range needs (n, dim) vectors with n, dim >= 1, got shape {vectors.shape}")
    if not 0.5 <= quantile <= 1.0:
        raise ValueError(f"quantile must be in [0.5, 1.0], got {quantile}")
    plain = float(vectors.min()), float(vectors.max())
    n = len(vectors)
    if n < INT8_MIN_VECTORS or quantile >= 1.0:
        return plain
    if n > INT8_SAMPLE:
        vectors = vectors[np.sort(np.random.default_rng(seed).choice(n, INT8_SAMPLE, replace=False))]
    values = np.sort(vectors.ravel())
    cut = int(np.float32(len(vectors)) * (np.float32(1.0) - np.float32(quantile)) / np.float32(2.0))
    cut = max(min((values.size - 1) // 2, cut), 1)
    kept = values[cut + 1:values.size - cut]
    if kept.size < 2:
        return plain
    return float(kept[0]), float(kept[-1])


def _int8_alpha(lo: float, hi: float) -> np.float32:
    return np.float32((np.float32(hi) - np.float32(lo)) / np.float32(INT8_LEVELS))


def quantize_int8(vectors: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(n, dim) → (n, dim) uint8 codes in 0..127, Qdrant v1.19's ``encode_value``
    (``encoded_vectors_u8.rs``): ``alpha = (hi - lo) / 127`` and
    ``code = round(clamp((x - lo) / alpha, 0, 127))`` in float32, halves rounded away
    from zero as Rust's ``f32::round`` does (numpy's ``round`` would round them to even).

    >>> quantize_int8(np.array([[-1.0, 0.0, 0.5, 2.0]]), -1.0, 1.0).tolist()
    [[0, 64, 95, 127]]
    """
    ratio = (np.asarray(vectors, dtype=np.float32) - np.float32(lo)) / _int8_alpha(lo, hi)
    return np.floor(np.clip(ratio, 0, INT8_LEVELS).astype(np.float64) + 0.5).astype(np.uint8)


def dequantize_int8(codes: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(n, dim) uint8 → (n, dim) float32: ``lo + alpha * code``.

    The dot product of two decoded vectors is Qdrant's int8 score, ``alpha² Σ c_q c_x +
    alpha·lo·Σ c_q + alpha·lo·Σ c_x + dim·lo²``: the integer dot product plus the
    query's and the vector's stored correction terms (``encoded_vectors_u8.rs``).
    """
    return (np.float64(lo) + codes.astype(np.float64) * np.float64(_int8_alpha(lo, hi))).astype(np.float32)


def int8_bytes(dim: int) -> int:
    """Bytes Qdrant v1.19 stores per int8 vector: the codes padded to a multiple of 16,
    plus one float32 correction term (``get_quantized_vector_size``).

    >>> int8_bytes(128), int8_bytes(96), int8_bytes(100)
    (132, 100, 116)
    """
    return -(-dim // INT8_ALIGNMENT) * INT8_ALIGNMENT + 4


# --- Qdrant binary ----------------------------------------------------------------------


def binarize(vectors: np.ndarray) -> np.ndarray:
    """(n, dim) → (n, dim) float32 signs ±1/sqrt(dim): bit 1 where a component is > 0,
    Qdrant v1.19's one-bit binary quantization (``encode_one_bit_vector``), the query
    encoded the same way (its default ``query_encoding``).

    Scaled so that ``a @ b.T == (dim - 2 * hamming(a, b)) / dim``: Qdrant's binary
    dot score (``dim - 2 * xor_popcount``) divided by ``dim``, on the scale of a cosine.

    >>> a, b = binarize(np.array([[0.3, -0.1, 0.2, 0.4]])), binarize(np.array([[0.1, 0.2, -0.3, 0.4]]))
    >>> float((a @ b.T)[0, 0])   # 2 of 4 bits differ: (4 - 2*2) / 4
    0.0
    """
    return np.where(vectors > 0, 1.0, -1.0).astype(np.float32) / np.float32(math.sqrt(vectors.shape[1]))


def binary_bytes(dim: int) -> int:
    """Bytes Qdrant v1.19 stores per one-bit vector: bits in u8 words, padded to whole
    chunks of 1 byte (up to 32 bits), 4 (up to 64), 8 (up to 128) or 16 (above)
    (``BitsStoreType for u8``, ``get_storage_size``).

    >>> [binary_bytes(d) for d in (32, 64, 96, 128, 384)]
    [4, 8, 16, 16, 48]
    """
    chunk = 16 if dim > 128 else 8 if dim > 64 else 4 if dim > 32 else 1
    return -(-dim // (8 * chunk)) * chunk


# --- Stanford ColBERT residual codec -------------------------------------------------------


def n_centroids(n_tokens: int) -> int:
    """Stanford ColBERT's number of centroids, ``2 ** floor(log2(16 * sqrt(n_tokens)))``, at most ``n_tokens``.

    >>> n_centroids(250), n_centroids(10), n_centroids(10_000_000)
    (128, 10, 32768)
    """
    return max(1, min(2 ** math.floor(math.log2(16 * math.sqrt(max(n_tokens, 1)))), n_tokens))


def residual_buckets(residuals: np.ndarray, nbits: int) -> tuple[np.ndarray, np.ndarray]:
    """(cutoffs, weights) from residual values, as colbert-ai 0.2.22's
    ``CollectionIndexer._compute_avg_residual``: all values pooled over dimensions;
    cutoffs at quantiles ``i / 2**nbits`` (i = 1..2**nbits-1), weights at the
    mid-quantiles ``(i + 0.5) / 2**nbits`` (linear interpolation, ``torch.quantile``).

    >>> [c.tolist() for c in residual_buckets(np.arange(9.0), 1)]
    [[4.0], [2.0, 6.0]]
    """
    if nbits not in (1, 2, 4):
        raise ValueError(f"residual bits must be 1, 2 or 4, got {nbits!r}")
    values = np.asarray(residuals, dtype=np.float32).ravel().astype(np.float64)
    levels = 2 ** nbits
    cutoffs = np.quantile(values, np.arange(1, levels) / levels)
    weights = np.quantile(values, (np.arange(levels) + 0.5) / levels)
    return cutoffs.astype(np.float32), weights.astype(np.float32)


@dataclass(frozen=True)
class ResidualCodec:
    """Stanford ColBERT's ``ResidualCodec`` (colbert-ai 0.2.22, ``colbert/indexing/codecs/residual.py``).

    centroids: (k, dim) unit rows with float16 values (the index saves ``centroids.pt``
    as float16 and compresses and decompresses with what it loads back); cutoffs:
    (2**nbits - 1,) bucket edges; weights: (2**nbits,) the value each bucket decodes to.
    An index stores per token a 4-byte (int32) centroid id and ``nbits · dim / 8``
    bytes of packed buckets.
    """

    nbits: int
    centroids: np.ndarray
    cutoffs: np.ndarray
    weights: np.ndarray

    def compress(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, dim) → codes (n,) nearest centroid by dot product, buckets (n, dim) uint8 in
        0..2**nbits-1: ``torch.bucketize(residual, cutoffs)`` (``right=False``), so a residual
        equal to a cutoff goes to the lower bucket."""
        vectors = np.asarray(vectors, dtype=np.float32)
        codes = np.argmax(vectors @ self.centroids.T, axis=1)
        buckets = np.searchsorted(self.cutoffs, vectors - self.centroids[codes], side="left")
        return codes, buckets.astype(np.uint8)

    def decompress(self, codes: np.ndarray, buckets: np.ndarray) -> np.ndarray:
        """codes (n,), buckets (n, dim) → (n, dim) float32: centroid + bucket weights, re-normalised."""
        v = self.centroids[codes] + self.weights[buckets]
        return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def train_residual_codec(vectors: np.ndarray, nbits: int, k: int | None = None, seed: int = SEED) -> ResidualCodec:
    """Fit a ``ResidualCodec`` on (n, dim) unit vectors, as colbert-ai 0.2.22's
    ``CollectionIndexer.train`` does.

    The vectors are rounded to float16 (the index's sample is float16), shuffled
    (seeded) and split: 5 % (at most 50,000) held out, the rest for k-means. Centroids:
    ``k`` by ``n_centroids`` of all tokens, at most the training tokens (faiss refuses
    more); k-means by ``scipy.cluster.vq.kmeans2`` (seeded) where Stanford uses faiss,
    so the centroids themselves differ; normalised and rounded to float16. Buckets:
    ``residual_buckets`` of the held-out tokens' residuals. With fewer than 20 tokens
    the held-out sample would be empty (Stanford's indexer stops with an error there);
    here the buckets then come from all tokens. A real index trains on a sample of its
    whole corpus; on a handful of documents each centroid holds a few tokens.
    """
    if nbits not in (1, 2, 4):
        raise ValueError(f"residual bits must be 1, 2 or 4, got {nbits!r}")
    x = to_float16(np.asarray(vectors, dtype=np.float32))
    order = np.random.default_rng(seed).permutation(len(x))
    n_heldout = int(min(HELDOUT_FRACTION * len(x), HELDOUT_MAX))
    train, heldout = x[order[:len(x) - n_heldout]], x[order[len(x) - n_heldout:]]
    if n_heldout == 0:
        heldout = x
    k = min(n_centroids(len(x)) if k is None else k, len(train))
    train = np.ascontiguousarray(train)
    centroids = _kmeans(train.tobytes(), train.shape, k, seed)
    codes = np.argmax(heldout @ centroids.T, axis=1)
    cutoffs, weights = residual_buckets(heldout - centroids[codes], nbits)
    return ResidualCodec(nbits, centroids, cutoffs, weights)


@lru_cache(maxsize=8)
def _kmeans(data: bytes, shape: tuple[int, int], k: int, seed: int) -> np.ndarray:
    """(k, dim) unit centroids with float16 values of the (n, dim) float32 ``data``; cached,
    so the 1-, 2- and 4-bit settings of one Run share one k-means (random initial points,
    20 rounds)."""
    vectors = np.frombuffer(data, dtype=np.float32).reshape(shape).astype(np.float64)
    with warnings.catch_warnings():  # few tokens per centroid: an empty cluster is expected, not an error
        warnings.simplefilter("ignore")
        centroids, _ = kmeans2(vectors, k, iter=20, minit="points", seed=seed)
    centroids = to_float16(centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12))
    centroids.flags.writeable = False
    return centroids


# --- PyLate token pooling ---------------------------------------------------------------


def pool_tokens(vectors: np.ndarray, pool_factor: int, protected: int = 1) -> tuple[np.ndarray, list[list[int]]]:
    """PyLate 1.6.0's ``ColBERT.pool_embeddings_hierarchical``: (n, dim) → (n', dim) and the row groups.

    The first ``protected`` rows (``<s>``) stay alone; the other ``m`` rows are
    clustered by Ward linkage (``scipy.cluster.hierarchy``) on the condensed matrix
    of cosine distances ``1 - x·y`` (float32, as PyLate computes it; clamped at 0,
    where PyLate is not: two equal or nearly equal vectors can give ``x·y`` just
    above 1, and PyLate 1.6.0 then stops with scipy's "Linkage 'Z' contains negative
    distances"; elsewhere the clamp changes nothing), cut into
    ``max(m // pool_factor, 1)`` clusters, and each cluster is replaced by the mean
    of its vectors (not re-normalised). Nothing is pooled when that would not reduce
    the count (``pool_factor`` 1, or ``m`` < 2). ``groups[k]`` lists the input rows
    pooled into output row k: protected rows first, then clusters by their first row
    (PyLate orders clusters by label: MaxSim does not depend on the order).
    PyLate up to 1.4 passed the square distance matrix, whose rows scipy treats as
    observations; that pools most documents differently.

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
    n_clusters = max(len(rest) // pool_factor, 1)
    if n_clusters >= len(rest):
        return vectors.copy(), head + [[int(i)] for i in rest]
    x = np.asarray(vectors[rest], dtype=np.float32)
    distances = np.maximum(np.float32(1.0) - x @ x.T, 0)[np.triu_indices(len(rest), k=1)]
    labels = hierarchy.fcluster(hierarchy.linkage(distances, method="ward"), t=n_clusters, criterion="maxclust")
    clusters = sorted((rest[labels == c].tolist() for c in np.unique(labels)), key=lambda g: g[0])
    groups = head + clusters
    return np.stack([vectors[g].mean(axis=0) for g in groups]).astype(np.float32), groups
