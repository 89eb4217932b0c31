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
``COLBERT_VIZ_MAX_FILES``      8           uploaded files per request
``COLBERT_VIZ_MAX_UPLOAD_MB``  32          MB (2**20 bytes) of uploaded files per request,
                                           all files together, checked from their sizes
                                           before any is read
``COLBERT_VIZ_MAX_FILE_MB``    25          MB per uploaded file (also Gradio's upload cap)
=============================  ==========  ============================================

Parsing stops at the first document over ``COLBERT_VIZ_MAX_DOCS``, so an upload
of millions of short lines costs at most one file's bytes, never millions of strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from colbert_viz.checks import positive_int, positive_int_env

ENV = {
    "max_docs": "COLBERT_VIZ_MAX_DOCS",
    "max_chars": "COLBERT_VIZ_MAX_CHARS",
    "max_tokens": "COLBERT_VIZ_MAX_TOKENS",
    "max_doc_tokens": "COLBERT_VIZ_MAX_DOC_TOKENS",
    "max_files": "COLBERT_VIZ_MAX_FILES",
    "max_upload_mb": "COLBERT_VIZ_MAX_UPLOAD_MB",
    "max_file_mb": "COLBERT_VIZ_MAX_FILE_MB",
}
MB = 2**20
MIN_DOC_TOKENS = 8


class LimitError(ValueError):
    """A request over one of the app's limits; the message says which and by how much."""


@dataclass(frozen=True)
class Limits:
    """max_docs : documents per request; max_chars : characters per text;
    max_tokens : document tokens per request (all documents); max_doc_tokens :
    the largest per-document token limit a user may choose; max_files : uploaded
    files per request; max_upload_mb : MB of uploads per request, all files
    together; max_file_mb : MB per uploaded file."""

    max_docs: int = 64
    max_chars: int = 100_000
    max_tokens: int = 32_768
    max_doc_tokens: int = 8192
    max_files: int = 8
    max_upload_mb: int = 32
    max_file_mb: int = 25

    def __post_init__(self) -> None:
        for name in ENV:
            positive_int(getattr(self, name), name)
        if self.max_doc_tokens < MIN_DOC_TOKENS:
            raise ValueError(f"max_doc_tokens must be at least {MIN_DOC_TOKENS}, got {self.max_doc_tokens}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """Limits from ``COLBERT_VIZ_MAX_*`` variables (defaults where unset)."""
        defaults = cls()
        values = {name: positive_int_env(variable, getattr(defaults, name), environ) for name, variable in ENV.items()}
        try:
            return cls(**values)
        except ValueError as err:
            raise ValueError(f"{err} (from the environment: {', '.join(ENV.values())})") from None

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * MB

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * MB

    def describe(self) -> str:
        """One line for the page."""
        return (f"Limits: {self.max_docs} documents, {self.max_chars:,} characters per document, "
                f"{self.max_tokens:,} document tokens per request, {self.max_doc_tokens:,} tokens per document, "
                f"{self.max_files} files of at most {self.max_file_mb} MB ({self.max_upload_mb} MB in all).")


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
    try:
        return min(positive_int(value, "top_n"), n_documents)
    except ValueError:
        raise LimitError(f"top_n must be a positive whole number (or 0 for all), got {value!r}.") from None


def check_token_budget(counts: Sequence[int], limits: Limits,
                       advice: str = "Use fewer or shorter documents, or a lower document max tokens.") -> int:
    """The total of ``counts``; ``LimitError`` (ending with ``advice``) when it is over ``max_tokens``."""
    total = int(sum(counts))
    if total > limits.max_tokens:
        raise LimitError(f"These documents make {total:,} tokens; the limit is {limits.max_tokens:,} tokens per "
                         f"request. {advice}")
    return total
