"""Request limits of the app, read from the environment, with clear messages.

=============================  ==========  ============================================
variable                       default     what it bounds
=============================  ==========  ============================================
``COLBERT_VIZ_MAX_DOCS``       64          documents per request
``COLBERT_VIZ_MAX_CHARS``      100000      characters per document (and in the query)
``COLBERT_VIZ_MAX_TOKENS``     32768       document tokens per request, all documents
                                           together, counted before encoding (sized
                                           for a CPU Space; raise it on a GPU)
``COLBERT_VIZ_MAX_DOC_TOKENS`` 8192        the "document max tokens" a user may pick
=============================  ==========  ============================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ENV = {
    "max_docs": "COLBERT_VIZ_MAX_DOCS",
    "max_chars": "COLBERT_VIZ_MAX_CHARS",
    "max_tokens": "COLBERT_VIZ_MAX_TOKENS",
    "max_doc_tokens": "COLBERT_VIZ_MAX_DOC_TOKENS",
}
MIN_DOC_TOKENS = 8


class LimitError(ValueError):
    """A request over one of the app's limits; the message says which and by how much."""


@dataclass(frozen=True)
class Limits:
    """max_docs : documents per request; max_chars : characters per text;
    max_tokens : document tokens per request (all documents); max_doc_tokens :
    the largest per-document token limit a user may choose."""

    max_docs: int = 64
    max_chars: int = 100_000
    max_tokens: int = 32_768
    max_doc_tokens: int = 8192

    def __post_init__(self) -> None:
        for name in ENV:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.max_doc_tokens < MIN_DOC_TOKENS:
            raise ValueError(f"max_doc_tokens must be at least {MIN_DOC_TOKENS}, got {self.max_doc_tokens}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """Limits from ``COLBERT_VIZ_MAX_*`` variables (defaults where unset)."""
        environ = os.environ if environ is None else environ
        values = {}
        for name, variable in ENV.items():
            raw = environ.get(variable, "").strip()
            if not raw:
                continue
            try:
                values[name] = int(raw.replace("_", ""))
            except ValueError:
                raise ValueError(f"{variable} must be a positive integer, got {raw!r}") from None
        try:
            return cls(**values)
        except ValueError as err:
            raise ValueError(f"{err} (from the environment: {', '.join(ENV.values())})") from None

    def describe(self) -> str:
        """One line for the page."""
        return (f"Limits: {self.max_docs} documents, {self.max_chars:,} characters per document, "
                f"{self.max_tokens:,} document tokens per request, {self.max_doc_tokens:,} tokens per document.")


def check_query(query: str, limits: Limits) -> str:
    """The query, stripped; ``LimitError`` when empty or too long."""
    if not isinstance(query, str) or not query.strip():
        raise LimitError("Enter a query.")
    if len(query) > limits.max_chars:
        raise LimitError(f"The query has {len(query):,} characters; the limit is {limits.max_chars:,}.")
    return query.strip()


def check_documents(documents: Sequence[str], limits: Limits) -> list[str]:
    """The documents; ``LimitError`` when there are none, too many, or one is too long."""
    documents = list(documents)
    if not documents:
        raise LimitError("Add at least one document (one per line, or separated by blank lines), "
                         "or upload a file.")
    if len(documents) > limits.max_docs:
        raise LimitError(f"{len(documents)} documents; the limit is {limits.max_docs} per request.")
    for i, doc in enumerate(documents, start=1):
        if len(doc) > limits.max_chars:
            raise LimitError(f"Document {i} has {len(doc):,} characters; the limit is {limits.max_chars:,} "
                             "per document.")
    return documents


def check_doc_max_tokens(value: float | int | None, limits: Limits) -> int:
    """The per-document token limit as an int within ``[MIN_DOC_TOKENS, max_doc_tokens]``."""
    if value is None:
        return limits.max_doc_tokens
    if isinstance(value, bool) or not float(value).is_integer():
        raise LimitError(f"Document max tokens must be a whole number, got {value!r}.")
    value = int(value)
    if not MIN_DOC_TOKENS <= value <= limits.max_doc_tokens:
        raise LimitError(f"Document max tokens must be between {MIN_DOC_TOKENS} and {limits.max_doc_tokens:,}; "
                         f"got {value:,}.")
    return value


def check_top_n(value: float | int | None, n_documents: int) -> int | None:
    """``top_n`` as an int (``None`` or 0: all documents)."""
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not float(value).is_integer() or value < 0:
        raise LimitError(f"top_n must be a positive whole number, got {value!r}.")
    return min(int(value), n_documents)


def check_token_budget(counts: Sequence[int], limits: Limits) -> int:
    """The total of ``counts``; ``LimitError`` when it is over ``max_tokens``."""
    total = int(sum(counts))
    if total > limits.max_tokens:
        raise LimitError(f"These documents make {total:,} tokens; the limit is {limits.max_tokens:,} tokens per "
                         "request. Use fewer or shorter documents, or a lower document max tokens.")
    return total
