"""What storing document vectors compactly does to a ranking (numpy + scipy, no re-encoding).

Each transform follows a system people deploy late interaction with, and computes
what that system computes (``tests/storage/test_storage_systems.py`` runs each system's own
code on the same vectors): float16; Qdrant v1.19's scalar int8 and one-bit binary
quantization, with and without rescoring (the engine of ``qdrant-edge-py`` 0.9.0);
Stanford ColBERT / PLAID's residual codec, centroid + 1, 2 or 4 bits per dimension
(``colbert-ai`` 0.2.22); and PyLate 1.6.0's hierarchical token pooling. The codecs
themselves are in ``colbert_viz.storage.codecs``. All apply after the Matryoshka cut
(``truncate_dims``) to the vectors a Run already holds.

Not modelled: Qdrant's 1.5- and 2-bit binary encodings and its asymmetric query
encodings (``query_encoding`` scalar 4 or 8 bits against binary documents), product
and TurboQuant quantization; int8 scores at a dimension that is not a multiple of
16, where Qdrant's zero padding adds the same constant to every document's score.

Stored tokens are the scored ones: Stanford ColBERT and PyLate drop skiplist
(punctuation) tokens before they store or pool, so they cost no bytes here
either. They stay on an explanation's document axis (flagged ``"skipped"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from colbert_viz.maths.compare import agreement
from colbert_viz.maths.explain import Axis, Explanation, token_axis, token_kinds
from colbert_viz.maths.scoring import best_matches, ranking, score_of, truncate_dims
from colbert_viz.records import TokenVectors
from colbert_viz.storage.codecs import (
    SEED,
    binarize,
    binary_bytes,
    dequantize_int8,
    int8_bytes,
    int8_range,
    pool_tokens,
    quantize_int8,
    to_float16,
    train_residual_codec,
)

METHODS = ("float32", "float16", "int8", "binary", "binary+rescore",
           "residual-1bit", "residual-2bit", "residual-4bit", "pool-2", "pool-3")
RESCORE_LIMIT = 3     # k: how many results the binary+rescore search returns
OVERSAMPLING = 2.0    # Qdrant's ``oversampling``: floor(oversampling * k) candidates are rescored
QUANTIZED_QUERY = ("int8", "binary", "binary+rescore")  # Qdrant encodes the query with the same codec
MAX_RESIDUAL_TOKENS = 8192  # k-means over all stored tokens: ~6 s at 8192 (1024 centroids, 2 cores)
MAX_POOL_TOKENS = 1024      # Ward clustering of one document is O(n³): ~0.6 s at 1024, ~4 s at 2048
EXACT = METHODS[0]          # the vectors as encoded


class StorageLimitError(ValueError):
    """A Run over a storage setting's documented limit (``MAX_RESIDUAL_TOKENS``, ``MAX_POOL_TOKENS``)."""


def merges_words(method: str) -> bool:
    """Whether sub-words merge into words under storage method ``method``: not
    for pooled items (``pool-*``), which already stand for several tokens.

    >>> merges_words("int8"), merges_words("pool-2")
    (True, False)
    """
    return not method.startswith("pool-")


@dataclass(frozen=True)
class StorageSetting:
    """One way to store document vectors: ``name`` (one of ``METHODS``) at ``dim`` dimensions."""

    name: str
    dim: int

    def __post_init__(self):
        if self.name not in METHODS:
            raise ValueError(f"storage setting must be one of {', '.join(METHODS)}; got {self.name!r}")
        if isinstance(self.dim, bool) or not isinstance(self.dim, (int, np.integer)) or self.dim < 1:
            raise ValueError(f"storage dimensions must be a positive integer, got {self.dim!r}")

    @property
    def id(self) -> str:
        """Stable string id, e.g. ``"64/int8"``."""
        return f"{self.dim}/{self.name}"

    @classmethod
    def parse(cls, text: str) -> StorageSetting:
        """``"64/int8"`` → ``StorageSetting("int8", 64)``."""
        dim, sep, name = str(text).partition("/")
        if not sep or not dim.isdigit():
            raise ValueError(f"storage setting id must look like '128/int8', got {text!r}")
        return cls(name, int(dim))


def all_settings(dimensions: tuple[int, ...] = (128, 96, 64)) -> list[StorageSetting]:
    """Every method at every dimension, dimension-major."""
    return [StorageSetting(name, d) for d in dimensions for name in METHODS]


def rescore_order(quantized: np.ndarray, exact: np.ndarray, limit: int = RESCORE_LIMIT,
                  oversampling: float = OVERSAMPLING) -> tuple[np.ndarray, np.ndarray]:
    """Qdrant v1.19's rescoring: the ``floor(oversampling * limit)`` best documents by
    the quantized scores (the whole part, as Qdrant casts to an integer) are rescored
    with the original vectors and sorted by that; the others follow in quantized order
    (Qdrant would not return them at all). Equal scores go by document index.

    Returns ``(order, candidates)``: document indices best first, and the rescored ones.

    >>> order, cand = rescore_order(np.array([3.0, 2.0, 1.0, 0.0]), np.array([0.0, 5.0, 9.0, 1.0]), 1, 2.0)
    >>> order.tolist(), cand.tolist()
    ([1, 0, 2, 3], [0, 1])
    """
    if limit < 1 or oversampling < 1:
        raise ValueError(f"rescoring needs limit >= 1 and oversampling >= 1, got {limit}, {oversampling}")
    first = ranking(quantized)
    n = min(len(first), math.floor(oversampling * limit))
    candidates = first[:n]
    rescored = candidates[np.lexsort((candidates, -exact[candidates]))]  # ties by document index
    return np.concatenate([rescored, first[n:]]), np.sort(candidates)


# --- bytes --------------------------------------------------------------------------


def bytes_per_token(name: str, dim: int) -> int:
    """Bytes one stored document vector takes, as each system stores it.

    float32 4·dim; float16 2·dim; int8: Qdrant's codes padded to a multiple of 16
    bytes + one float32 correction term (``codecs.int8_bytes``); binary: Qdrant's bits
    in u8 words padded to 1-, 4-, 8- or 16-byte chunks (``codecs.binary_bytes``: 16 at
    96 dimensions, not 12; binary+rescore also keeps the float32 originals, see
    ``keeps_originals``); residual-b: Stanford ColBERT's int32 centroid id (4 bytes)
    + b·dim/8 bytes of packed buckets (whole bytes); pool-f: float32 per pooled vector (there are
    fewer of them).

    >>> [bytes_per_token(m, 96) for m in ("float32", "int8", "binary", "residual-2bit")]
    [384, 100, 16, 28]
    """
    if name in ("float32", "pool-2", "pool-3"):
        return 4 * dim
    if name == "float16":
        return 2 * dim
    if name == "int8":
        return int8_bytes(dim)
    if name in ("binary", "binary+rescore"):
        return binary_bytes(dim)
    if name.startswith("residual-"):
        return 4 + math.ceil(int(name[len("residual-")]) * dim / 8)
    raise ValueError(f"unknown storage method {name!r}")


# --- a Run under one setting --------------------------------------------------------


@dataclass(frozen=True)
class StoredDocument:
    """One document as stored. vectors: (n_stored, dim) float32, what the system
    scores (decoded); groups[k]: original token positions behind row k; n_bytes: what it takes."""

    vectors: np.ndarray
    groups: list[list[int]]
    n_bytes: int


@dataclass(frozen=True)
class StoredRun:
    """A query and its documents under one ``StorageSetting``.

    query : (n_query, dim) float32 as scored (exact; encoded for int8 and binary).
    scores : (n_documents,) float64 as that system computes them, input order.
    order : document indices best first (for binary+rescore: rescored candidates, then the rest).
    candidates : documents rescored with the originals (binary+rescore only).
    shared_bytes : stored once per collection (int8 range, residual codebook).
    """

    setting: StorageSetting
    query: np.ndarray
    documents: list[StoredDocument]
    scores: np.ndarray
    order: np.ndarray
    bytes_per_token: int
    shared_bytes: int
    keeps_originals: bool
    candidates: list[int] = field(default_factory=list)
    codec: object = field(default=None, repr=False)

    @property
    def ranks(self) -> np.ndarray:
        """(n_documents,) 1-based rank of each document (input order)."""
        out = np.empty(len(self.order), dtype=np.int64)
        out[self.order] = np.arange(1, len(self.order) + 1)
        return out


def _codec(name: str, tokens: np.ndarray, seed: int):
    """The per-vector transform of ``name`` fitted on the Run's stored tokens (n, dim):
    returns ``(encode, shared_bytes)`` where encode maps (m, dim) → (m, dim) decoded."""
    if name == "float16":
        return to_float16, 0
    if name == "int8":
        lo, hi = int8_range(tokens, seed=seed)
        return (lambda v: dequantize_int8(quantize_int8(v, lo, hi), lo, hi)), 8
    if name in ("binary", "binary+rescore"):
        return binarize, 0
    if name.startswith("residual-"):  # the index holds float16 embeddings and centroids
        codec = train_residual_codec(tokens, int(name[len("residual-")]), seed=seed)
        shared = 2 * codec.centroids.size + 4 * (codec.cutoffs.size + codec.weights.size)  # float16 centroids
        return (lambda v: codec.decompress(*codec.compress(to_float16(v)))), shared
    return (lambda v: v), 0


def check_limits(documents: list[TokenVectors], residual: bool = True, pooling: bool = True) -> None:
    """Refuse, before any work, a Run too large for the residual codec (all stored tokens
    together) or for pooling (one document's stored tokens): ``StorageLimitError`` naming
    the limit. Pooling is not applied to the documents that fit and skipped for the others:
    a ranking with some documents pooled and one not is not one PyLate would give."""
    if not documents:
        raise ValueError("storage needs at least one document")
    sizes = [int(np.count_nonzero(d.scored)) for d in documents]
    if residual and sum(sizes) > MAX_RESIDUAL_TOKENS:
        raise StorageLimitError(f"the residual codec handles at most {MAX_RESIDUAL_TOKENS:,} document tokens in all, "
                                f"and these documents have {sum(sizes):,}")
    largest = int(np.argmax(sizes))
    if pooling and sizes[largest] > MAX_POOL_TOKENS:
        raise StorageLimitError(f"token pooling handles at most {MAX_POOL_TOKENS:,} tokens per document, "
                                f"and document {largest + 1} has {sizes[largest]:,}")


def apply(setting: StorageSetting, query: TokenVectors, documents: list[TokenVectors], *,
          limit: int = RESCORE_LIMIT, oversampling: float = OVERSAMPLING, seed: int = SEED) -> StoredRun:
    """Store ``documents`` under ``setting`` and score ``query`` against them (MaxSim).

    The query stays exact float32 (PLAID, PyLate) except under Qdrant's int8 and
    binary, which encode the query with the collection's codec too (its default
    query encoding); rescoring uses the exact query. Every transform works on the
    vectors cut to ``setting.dim`` (Matryoshka), and only on scored tokens.

    int8 pair score: ``q̂ · x̂`` with ``v̂ = lo + alpha * code(v)`` for query and
    document alike, i.e. Qdrant's ``alpha² Σ c_q c_x + alpha lo (Σ c_q + Σ c_x) + dim lo²``,
    with the range ``codecs.int8_range`` gives all the stored tokens together (Qdrant
    quantizes a multivector collection's token vectors, not its documents).
    binary pair score: ``(dim - 2 * hamming(bits(q), bits(x))) / dim``, Qdrant's
    score divided by ``dim``; a document's score is an integer over ``dim``, computed
    exactly, so documents Qdrant ties tie here too (and go by document index).
    """
    if setting.dim > query.dim:
        raise ValueError(f"cannot store {query.dim}-d vectors at {setting.dim} dimensions")
    check_limits(documents, residual=setting.name.startswith("residual-"), pooling=setting.name.startswith("pool-"))
    dim, name = setting.dim, setting.name
    kept = [np.flatnonzero(d.scored) for d in documents]
    cut = [truncate_dims(d.vectors, dim)[k] for d, k in zip(documents, kept)]
    encode, shared = _codec(name, np.concatenate(cut), seed)
    q = encode(query.at_dim(dim)) if name in QUANTIZED_QUERY else query.at_dim(dim)
    pool_factor = int(name[len("pool-"):]) if name.startswith("pool-") else 1
    per_token = bytes_per_token(name, dim)
    stored = []
    for vectors, positions in zip(cut, kept):
        pooled, rows = pool_tokens(vectors, pool_factor)
        stored.append(StoredDocument(vectors=encode(pooled), groups=[positions[r].tolist() for r in rows],
                                     n_bytes=per_token * len(rows)))
    scores = np.array([score_of((q @ d.vectors.T).max(axis=1)) for d in stored], dtype=np.float64)
    if name in ("binary", "binary+rescore"):  # integers over dim: exact, so ties do not depend on float noise
        scores = np.rint(scores * dim) / dim
    order, candidates = ranking(scores), np.array([], dtype=np.int64)
    if name == "binary+rescore":
        exact = np.array([score_of((query.at_dim(dim) @ v.T).max(axis=1)) for v in cut], dtype=np.float64)
        order, candidates = rescore_order(scores, exact, limit, oversampling)
        scores = scores.copy()
        scores[candidates] = exact[candidates]
    return StoredRun(setting=setting, query=q, documents=stored, scores=scores, order=order,
                     bytes_per_token=per_token, shared_bytes=int(shared), keeps_originals=name == "binary+rescore",
                     candidates=candidates.tolist(), codec=encode)


def explain_stored(run: StoredRun, query: TokenVectors, document: TokenVectors, index: int) -> Explanation:
    """Explanation of document ``index`` as ``run`` scores it.

    The document axis holds the stored vectors (a pooled one is labelled with its
    tokens joined by ``+``, e.g. ``Berlin+population``, and ``groups`` lists them)
    plus the skipped tokens, not stored, shown with their encoded vectors but
    never matched. Items run in text order of their first token. A rescored
    binary candidate is explained with the exact vectors, as it was scored. Its
    score is the run's (the contributions add up to it but for float noise), so a
    binary score on a half shows the same two decimals in every view.
    """
    stored = run.documents[index]
    dim = run.setting.dim
    cut = truncate_dims(document.vectors, dim)
    skipped = np.flatnonzero(document.skipped)
    q, vectors, extra = run.query, stored.vectors, run.codec(cut[skipped])
    if index in run.candidates:  # rescored: the exact query against the original vectors
        q, vectors, extra = query.at_dim(dim), cut[[g[0] for g in stored.groups]], cut[skipped]
    # the stored columns exactly as ``apply`` scored them, then the skipped ones, in text order
    sim = np.concatenate([q @ vectors.T, q @ extra.T], axis=1)
    groups = stored.groups + [[int(i)] for i in skipped]
    order = sorted(range(len(groups)), key=lambda k: groups[k][0])
    groups, sim = [groups[k] for k in order], sim[:, order]
    kinds = token_kinds(document)
    axis = Axis(labels=[_label(document, g) for g in groups],
                kinds=[next((kinds[i] for i in g if kinds[i] == "text"), kinds[g[0]]) for g in groups],
                spans=[document.spans[g[0]] for g in groups], groups=groups)
    idx, best = best_matches(sim, axis.scored)
    return Explanation(dim=dim, query_text=query.text, document_text=document.text, query=token_axis(query),
                       document=axis, similarity=sim, best_index=idx, best_similarity=best,
                       contributions=best.astype(np.float64), score=float(run.scores[index]),
                       n_query_tokens=len(query), truncated=document.truncated)


def _label(record: TokenVectors, group: list[int]) -> str:
    """A stored item's label: its token texts joined by ``+`` (the token string outside the text)."""
    parts = []
    for i in group:
        start, end = record.spans[i]
        parts.append(record.text[start:end].strip() if end > start else record.tokens[i])
    return "+".join(parts)


def compression_rows(query: TokenVectors, documents: list[TokenVectors], dimensions: tuple[int, ...],
                     stored=None, methods: tuple[str, ...] = METHODS) -> list[dict]:
    """One JSON-ready row per setting × dimension of ``methods``, compared with exact float32
    at ``dimensions[0]``.

    stored : ``setting -> StoredRun`` (default: ``apply`` each one), so a caller
        that keeps stored runs (``StoredAnalysis.stored``) computes each once.
    methods : the methods to store (``StoredAnalysis`` leaves out those it cannot).

    bytes_per_document : mean over documents of stored vectors × bytes per vector.
    kendall_tau : tau-b between the setting's ranking and the reference scores
        (scores, or for binary+rescore its final order); ``None`` if undefined.
    largest_rank_change / largest_score_change : max over documents of |change|.
    """
    stored = stored or (lambda setting: apply(setting, query, documents))
    reference = stored(StorageSetting("float32", dimensions[0]))
    rows = []
    for setting in all_settings(dimensions):
        if setting.name not in methods:
            continue
        run = stored(setting)
        per_doc = [d.n_bytes for d in run.documents]
        rows.append({
            "setting": setting.id, "method": setting.name, "dimensions": setting.dim,
            "bytes_per_token": int(run.bytes_per_token),
            "bytes_per_document": float(np.mean(per_doc)),
            "stored_vectors_per_document": float(np.mean([len(d.groups) for d in run.documents])),
            "shared_bytes": run.shared_bytes, "keeps_originals": run.keeps_originals,
            **agreement(reference.scores, run.scores, run.ranks if run.keeps_originals else None),
        })
    return rows
