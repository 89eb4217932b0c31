"""``ColbertModel``: texts in, normalised token vectors out (plus the helpers users want).

Encoding sorts texts by length, groups them into batches under a token budget,
runs the network without gradients, normalises each vector in float32 and
checks that every value is finite. Documents are cached (see ``VectorCache``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from colbert_viz.engine import zerogpu
from colbert_viz.engine.cache import VectorCache
from colbert_viz.engine.networks import forward
from colbert_viz.engine.recipe import Recipe
from colbert_viz.engine.tokenization import ColbertTokenizer
from colbert_viz.maths.scoring import RerankResult, check_dim
from colbert_viz.records import Tokenized, TokenVectors

if TYPE_CHECKING:  # the later stages are imported where they are used: data flows one way
    from colbert_viz.maths.analysis import Analysis
    from colbert_viz.maths.explain import Explanation

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ModelInfo:
    """What was loaded, in words and numbers.

    ``name`` is what the user asked for; ``display_name`` is what the UI shows
    (the offline fallback says it is not jina-colbert-v2); ``dimensions`` are the
    output sizes the model can be cut to, largest (native) first. ``dtype`` is
    ``float32``, ``bfloat16`` or ``int8``; ``dtype_reason`` says why it was chosen.
    """

    name: str
    path: str
    family: str
    display_name: str
    dim: int
    dimensions: tuple[int, ...]
    dtype: str
    device: str
    is_fallback: bool = False
    note: str = ""
    dtype_reason: str = ""
    recipe: Recipe | None = None  # how texts become vectors (colbert_viz.engine.recipe); None: an API encoder


class NonFiniteOutputError(RuntimeError):
    """The model produced NaN or infinite values: no ranking can be trusted."""


class ColbertModel:
    """A loaded late-interaction model. Build it with ``colbert_viz.load``."""

    def __init__(self, info: ModelInfo, tokenizer: ColbertTokenizer, network,
                 device: torch.device, dtype: torch.dtype, cache: VectorCache | None = None,
                 batch_tokens: int = 8192) -> None:
        self.info = info
        self.tokenizer = tokenizer
        self.network = network
        self.device = device
        self.dtype = dtype
        self.cache = cache if cache is not None else VectorCache()
        self.batch_tokens = batch_tokens
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        i = self.info
        return f"ColbertModel({i.display_name!r}, dim={i.dim}, dtype={i.dtype}, device={i.device})"

    @property
    def dimensions(self) -> tuple[int, ...]:
        return self.info.dimensions

    # ---- encoding -----------------------------------------------------------------

    def encode_queries(self, texts: Sequence[str], progress: Progress | None = None) -> list[TokenVectors]:
        """One ``TokenVectors`` per query (32 tokens for jina-colbert-v2)."""
        return self._encode(self.tokenizer.tokenize_queries(texts), progress)

    def encode_documents(self, texts: Sequence[str], doc_maxlen: int | None = None,
                         progress: Progress | None = None) -> list[TokenVectors]:
        """One ``TokenVectors`` per document, truncated at ``doc_maxlen`` tokens
        (default: the model's, 8192 for jina-colbert-v2); see ``truncated``."""
        return self._encode(self.tokenizer.tokenize_documents(texts, doc_maxlen), progress)

    def _encode(self, items: list[Tokenized], progress: Progress | None) -> list[TokenVectors]:
        keys = [self._cache_key(item) for item in items]
        results: list[TokenVectors | None] = [self.cache.get(k) for k in keys]
        todo = [i for i, r in enumerate(results) if r is None]
        done = 0
        for batch in self._batches([items[i] for i in todo]):
            vectors = self._run([items[todo[j]] for j in batch])
            for j, vecs in zip(batch, vectors):
                i = todo[j]
                record = self._record(items[i], vecs)
                self.cache.put(keys[i], record)
                results[i] = record
            done += len(batch)
            if progress is not None:
                progress(done, len(todo))
        return results  # type: ignore[return-value]

    def _record(self, item: Tokenized, vectors: np.ndarray) -> TokenVectors:
        """The record of ``item`` with its (n, dim) vectors (an API encoder checks the count here)."""
        return TokenVectors(**vars(item), vectors=vectors)

    def _cache_key(self, item: Tokenized) -> tuple:
        return (self.info.path, self.info.name, self.info.dtype, self.tokenizer.settings, item.kind, len(item),
                item.text)

    def _batches(self, items: list[Tokenized]) -> list[list[int]]:
        """Indices grouped by length (longest first), each group under the token budget:
        the sum of lengths for a packing network, rows × longest for a padding one."""
        order = sorted(range(len(items)), key=lambda i: -len(items[i]))
        packed = getattr(self.network, "packed", False)
        batches, current, longest, total = [], [], 0, 0
        for i in order:
            n = len(items[i])
            cost = total + n if packed else max(longest, n) * (len(current) + 1)
            if current and cost > self.batch_tokens:
                batches.append(current)
                current, longest, total = [], 0, 0
            current.append(i)
            longest = max(longest, n)
            total += n
        if current:
            batches.append(current)
        return batches

    def _run(self, items: list[Tokenized]) -> list[np.ndarray]:
        """(L_i, dim) float32 unit vectors: on a ZeroGPU Space inside ``spaces.GPU``
        (``zerogpu.run``; not the int8 engine, which runs on the CPU only), else here."""
        attend_masks = not self.tokenizer.settings.attend_to_mask_tokens
        ids = [item.ids for item in items]
        key_masks = [~item.expansion if attend_masks and item.expansion.any() else None for item in items]
        with self._lock:
            vectors = None if self.info.dtype == "int8" else zerogpu.run(self.network, ids, key_masks)
            if vectors is None:
                vectors = forward(self.network, ids, key_masks, self.device)
        for item, out in zip(items, vectors):
            if not np.isfinite(out).all():
                raise NonFiniteOutputError(
                    f"the model returned non-finite vectors for a {item.kind} "
                    f"({item.text[:40]!r}…); check the checkpoint and the dtype"
                )
        return vectors

    # ---- scoring and explaining ---------------------------------------------------

    def analyze(self, query: str, documents: Sequence[str], doc_maxlen: int | None = None,
                progress: Progress | None = None) -> Analysis:
        """Encode once; rank, explain and compare at any dimension from the result."""
        if isinstance(documents, str) or len(documents) == 0:
            raise ValueError("documents must be a non-empty list of strings")
        return self.analyze_tokenized(self.tokenizer.tokenize_queries([query])[0],
                                      self.tokenizer.tokenize_documents(documents, doc_maxlen), progress)

    def analyze_tokenized(self, query: Tokenized, documents: Sequence[Tokenized],
                          progress: Progress | None = None) -> Analysis:
        """``analyze`` from records the caller tokenized already (to check a token
        budget first, say), so nothing is tokenized twice."""
        from colbert_viz.maths.analysis import Analysis

        if len(documents) == 0:
            raise ValueError("documents must be a non-empty list")
        q = self._encode([query], None)[0]
        docs = self._encode(list(documents), progress)
        return Analysis(query=q, documents=docs, dimensions=self.dimensions)

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None,
               dimensions: int | None = None, doc_maxlen: int | None = None) -> list[RerankResult]:
        """Records shaped like the hosted rerank API, best first:
        ``{"index", "relevance_score", "document": {"text"}}``."""
        dim = check_dim(self.info.dim if dimensions is None else dimensions, self.dimensions)
        return self.analyze(query, documents, doc_maxlen).rerank(dim, top_n)

    def explain(self, query: str, document: str, dimensions: int | None = None,
                merge_words: bool = False, doc_maxlen: int | None = None) -> Explanation:
        """Token-by-token MaxSim explanation of one query-document pair."""
        from colbert_viz.maths.explain import explain

        dim = check_dim(self.info.dim if dimensions is None else dimensions, self.dimensions)
        q = self.encode_queries([query])[0]
        d = self.encode_documents([document], doc_maxlen)[0]
        return explain(q, d, dim, merge_words=merge_words)

    def with_settings(self, **changes) -> ColbertModel:
        """The same weights with other tokenizer settings (e.g. ``skiplist="stanford"``)."""
        asked = sorted(changes)
        if "skiplist" in changes and "skip_words" not in changes:
            changes = {**changes, "skip_words": None}  # a convention replaces the recipe's own words
        settings = replace(self.tokenizer.settings, **changes)
        tokenizer = ColbertTokenizer(self.tokenizer.tokenizer, settings)
        info = self.info
        if info.recipe is not None:
            info = replace(info, recipe=recipe_with(info.recipe, tokenizer, asked))
        return ColbertModel(info, tokenizer, self.network, self.device, self.dtype,
                            self.cache, self.batch_tokens)


def recipe_with(recipe: Recipe, tokenizer: ColbertTokenizer, changed: list[str]) -> Recipe:
    """``recipe`` with what ``with_settings`` changed (``changed``: the settings' names) as ``tokenizer``
    now lays texts out; the changed settings are named in the notes."""
    s, fields = tokenizer.settings, {}
    if {"query_expansion", "query_maxlen", "expansion_strategy", "expansion_length"} & set(changed):
        if not s.query_expansion:
            fields = {"expansion": "none", "expansion_length": None, "expansion_token": None,
                      "query_length": s.query_maxlen}
        elif s.expansion_strategy == "min":
            fields = {"expansion": "min", "expansion_length": s.expansion_length, "query_length": s.query_maxlen}
        else:
            fields = {"expansion": "fixed", "expansion_length": s.query_maxlen, "query_length": None}
        if s.query_expansion:
            fields["expansion_token"] = tokenizer.tokenizer.id_to_token(tokenizer.mask_id)
    if "attend_to_mask_tokens" in changed:
        fields["attend_expansion"] = s.attend_to_mask_tokens
    if "doc_maxlen" in changed:
        fields["document_length"] = s.doc_maxlen
    if {"skiplist", "skip_words"} & set(changed):
        fields["skiplist_words"] = tokenizer.skip_tokens(recipe.skiplist_words)
    if {"query_marker", "doc_marker"} & set(changed):
        fields.update(query_prefix=s.query_marker or "", document_prefix=s.doc_marker or "")
    if {"query_prefix", "doc_prefix"} & set(changed):
        fields.update(query_prefix=s.query_prefix, document_prefix=s.doc_prefix)
    return replace(recipe, **fields, notes=(*recipe.notes, f"changed here: {', '.join(changed)}"))
