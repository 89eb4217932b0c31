"""One app request without the UI: gather and check the inputs, encode once,
and the JSON payloads of the app's API endpoints.

The app keeps a ``Run`` per browser session (in ``gr.State``); every view is
drawn again from it, at any dimension, without encoding anything.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from colbert_viz.app.limits import (
    MB,
    LimitError,
    Limits,
    check_doc_max_tokens,
    check_documents,
    check_query,
    check_token_budget,
    check_top_n,
)
from colbert_viz.checks import positive_int
from colbert_viz.engine.checkpoint import ModelLoadError
from colbert_viz.engine.tokenization import TextError
from colbert_viz.explorer.tables import document_label
from colbert_viz.inputs import InputError, TooManyDocuments, check_file_size, read_documents, split_documents
from colbert_viz.maths.analysis import Analysis
from colbert_viz.maths.compare import agreement
from colbert_viz.maths.explain import Explanation
from colbert_viz.storage import settings
from colbert_viz.storage.analysis import StorageUnavailable, StoredAnalysis
from colbert_viz.storage.settings import EXACT, METHODS, StorageSetting

Progress = Callable[[int, int], None]


def user_errors() -> tuple[type[Exception], ...]:
    """Exceptions whose message is meant for the user (no traceback on the page)."""
    from colbert_viz.engine.encoder import NonFiniteOutputError

    return (LimitError, InputError, TextError, ModelLoadError, NonFiniteOutputError)


@dataclass
class Run:
    """An encoded request: the analysis plus what the page says about it.

    ``stored`` is the analysis under the storage settings: by default kept by
    this Run for its holder; ``RunStore.derive`` hands ``compute`` the Run with
    one kept (and charged) by the store."""

    analysis: Analysis
    model_name: str
    display_name: str
    is_fallback: bool
    note: str
    top_n: int | None
    doc_max_tokens: int
    total_tokens: int
    seconds: float
    model_doc_limit: int | None = None
    dtype: str = ""
    dtype_reason: str = ""
    stored: StoredAnalysis | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.stored is None or self.stored.analysis is not self.analysis:
            self.stored = StoredAnalysis(self.analysis)

    @property
    def n_documents(self) -> int:
        return len(self.analysis.documents)

    @property
    def native_dim(self) -> int:
        return self.analysis.dimensions[0]

    def dim_or_native(self, dim: int | float | None) -> int:
        """``dim`` as an int the model offers; ``None`` or 0 → native. ``LimitError`` otherwise."""
        if not dim:
            return self.native_dim
        try:
            value = positive_int(dim, "dimensions")
        except ValueError:
            value = None
        if value not in self.analysis.dimensions:
            raise LimitError(f"Dimensions must be one of {', '.join(map(str, self.analysis.dimensions))}; "
                             f"got {dim!r}.")
        return value

    def check_index(self, index: int | float | None, what: str = "document") -> int:
        """A 0-based document index, ``LimitError`` when out of range."""
        if index is None or isinstance(index, bool) or int(index) != index \
                or not 0 <= int(index) < self.n_documents:
            raise LimitError(f"No {what} {index!r}: choose 0 to {self.n_documents - 1}.")
        return int(index)

    def summary(self) -> str:
        """One line for the status area."""
        shown = f"top {self.top_n} of {self.n_documents}" if self.top_n else f"all {self.n_documents}"
        cut = sum(d.truncated for d in self.analysis.documents)
        truncated = (f" {cut} document{'s were' if cut > 1 else ' was'} cut to {self.doc_max_tokens:,} tokens "
                     "(see the Tokens column).") if cut else ""
        capped = (f" This model reads at most {self.model_doc_limit:,} tokens per document."
                  if self.model_doc_limit else "")
        docs = f"{self.n_documents} document{'' if self.n_documents == 1 else 's'}"
        how = f" ({user_message(self.dtype_reason)})" if self.dtype_reason else ""  # no server paths
        return (f"Ranked {docs} ({self.total_tokens:,} tokens) with "
                f"{self.display_name} in {self.seconds:.2f} s{how}; showing {shown}.{truncated}{capped}")


def check_uploads(files: Sequence[str | Path], limits: Limits) -> list[Path]:
    """The uploaded files as paths, after checking their number and sizes from the
    file system (nothing is read): at most ``max_files``, each at most
    ``max_file_mb`` MB, ``max_upload_mb`` MB in all. ``LimitError`` otherwise."""
    paths = [Path(f) for f in files]
    if len(paths) > limits.max_files:
        raise LimitError(f"{len(paths)} files; the limit is {limits.max_files} files per request.")
    total = 0
    for path in paths:
        try:
            total += check_file_size(path, limits.max_file_bytes)
        except InputError as err:
            raise InputError(str(err).replace(str(path), path.name)) from None
    if total > limits.max_upload_bytes:
        raise LimitError(f"The files hold {total / MB:,.1f} MB; the limit is {limits.max_upload_mb} MB per "
                         "request, all files together.")
    return paths


def gather_documents(text: str | None, files: Sequence[str | Path] | None = None,
                     limits: Limits | None = None) -> list[str]:
    """Documents typed in the box (see ``inputs.split_documents``) followed by
    those of each uploaded file (``.txt``, ``.json``, ``.jsonl``, ``.csv``).

    ``limits`` (default: ``Limits.from_env()``) bounds the work before it is
    done: the files' number and sizes are checked before any is read, and
    parsing stops at the first document over ``max_docs`` (``LimitError``)."""
    limits = limits or Limits.from_env()
    paths = check_uploads(files or [], limits)
    too_many = LimitError(f"The text box and files hold more than {limits.max_docs} documents; the limit is "
                          f"{limits.max_docs} per request.")
    try:
        documents = split_documents(text or "", limits.max_docs)
        for path in paths:
            documents.extend(read_documents(path, limits.max_file_bytes, limits.max_docs - len(documents)))
    except TooManyDocuments:
        raise too_many from None
    except InputError as err:
        raise InputError(user_message(err)) from None
    return documents


_ABSOLUTE_PATH = re.compile(r"""(?<![\w.~:/])(?:/[^\s/'"`:,;()\[\]{}<>]+)+/?""")


def user_message(err: Exception | str) -> str:
    """The message of ``err`` for the page: every absolute path (a temporary upload,
    a checkpoint folder, site-packages) replaced by its last component.

    >>> user_message(ValueError("/tmp/gradio/ab12/docs.json: invalid JSON at line 1"))
    'docs.json: invalid JSON at line 1'
    >>> user_message("no config.json in '/srv/models/ckpt/' (see https://x.org/a/b)")
    "no config.json in 'ckpt' (see https://x.org/a/b)"
    """
    text = str(err)
    return _ABSOLUTE_PATH.sub(lambda m: m.group().rstrip("/").rsplit("/", 1)[-1] or "/", text)


def analyze_request(model, query: str, documents: Sequence[str], doc_max_tokens: int | float | None,
                    top_n: int | float | None, limits: Limits, progress: Progress | None = None,
                    model_name: str = "") -> Run:
    """Check every limit (tokens counted before encoding), then encode once.

    A document max tokens above what the model can read is lowered to the
    model's limit, and the summary says so."""
    query = check_query(query, limits)
    documents = check_documents(documents, limits)
    maxlen = check_doc_max_tokens(doc_max_tokens, limits)
    model_limit = model.tokenizer.settings.doc_limit
    capped = maxlen > model_limit
    maxlen = min(maxlen, model_limit)
    top = check_top_n(top_n, len(documents))
    query_tokens = model.tokenizer.tokenize_queries([query])[0]
    doc_tokens = model.tokenizer.tokenize_documents(documents, maxlen)  # counted before encoding, then encoded
    total = check_token_budget([len(t) for t in doc_tokens], limits)
    started = time.perf_counter()
    analysis = model.analyze_tokenized(query_tokens, doc_tokens, progress)
    info = model.info
    return Run(analysis=analysis, model_name=model_name or info.name, display_name=info.display_name,
               is_fallback=info.is_fallback, note=info.note, top_n=top, doc_max_tokens=maxlen,
               total_tokens=total, seconds=time.perf_counter() - started,
               model_doc_limit=model_limit if capped else None, dtype=info.dtype,
               dtype_reason=getattr(info, "dtype_reason", ""))


ENGINES = ("float32", "int8")  # what a Run can be encoded again with, to compare: exact, and the int8 engine


def compare_engines(run: Run, model, dim: int | None = None) -> dict:
    """Encode the Run's query and documents again with ``model`` (say the int8
    engine of the same checkpoint, ``load(path, dtype="int8")``, or its exact
    float32 one) and compare its ranking at ``dim`` (default: native) with
    the Run's: Kendall tau, the largest rank and score change, and each
    document's ranks and scores."""
    analysis = run.analysis
    dim = run.dim_or_native(dim)
    query = model.tokenizer.tokenize_queries([analysis.query.text])[0]
    documents = model.tokenizer.tokenize_documents(analysis.texts, run.doc_max_tokens)
    started = time.perf_counter()
    other = model.analyze_tokenized(query, documents)
    seconds = time.perf_counter() - started
    exact, scores = analysis.scores(dim), other.scores(dim)
    exact_ranks, ranks = analysis.ranks(dim), other.ranks(dim)
    return {
        "engine": model.info.dtype, "reason": getattr(model.info, "dtype_reason", ""), "dimensions": dim,
        "seconds": seconds, "reference_engine": run.dtype, "reference_seconds": run.seconds,
        **agreement(exact, scores),
        "documents": [{"index": i, "reference_rank": int(exact_ranks[i]), "rank": int(ranks[i]),
                       "reference_score": float(exact[i]), "score": float(scores[i])}
                      for i in sorted(range(len(exact)), key=lambda i: exact_ranks[i])],
    }


def same_engine_note(run: Run, engine: str) -> str:
    """Why encoding the Run again with ``engine`` would compare it with itself ('' when it would not),
    or why it cannot be (vectors from Jina's API: the API comparison is the one that applies)."""
    if run.dtype == "api":
        return ("This Run's vectors came from Jina's API, which has no engine to choose: use “Compare with "
                "Jina's API” to put them beside the open weights.")
    if engine != run.dtype:
        return ""
    why = f" ({user_message(run.dtype_reason)})" if run.dtype_reason else ""
    return (f"This Run's model already runs in {engine}{why}: encoding it again in {engine} gives the same "
            "numbers, so there is nothing to compare.")


def compare_with_engine(run: Run, registry, engine: str, dim: int | None = None) -> dict:
    """The Run encoded again with ``engine`` (``float32``: exact; ``int8``),
    the model loaded once next to the Run's (``ModelRegistry.variant``), and
    compared as ``compare_engines`` does, with ``note`` empty. When the Run's
    model already runs in ``engine``, nothing is encoded: ``note`` says why,
    and there are no ``documents``. ``LimitError`` for an engine not offered."""
    if engine not in ENGINES:
        raise LimitError(f"Unknown engine {engine!r}: choose {' or '.join(ENGINES)}.")
    note = same_engine_note(run, engine)
    if note:
        return {"engine": engine, "reference_engine": run.dtype, "dimensions": run.dim_or_native(dim),
                "note": note}
    return {**compare_engines(run, registry.variant(run.model_name, engine), dim), "note": ""}


def rerank_payload(run: Run, dim: int) -> dict:
    """The ranking as JSON, shaped like the hosted rerank API plus the
    per-token score and the ranks at the other dimensions."""
    analysis = run.analysis
    comparison = analysis.compare_dimensions()
    n_query = len(analysis.query)
    results = [{
        "index": r["index"], "rank": rank, "relevance_score": r["relevance_score"],
        "score_per_query_token": r["relevance_score"] / n_query,
        "ranks": {str(d): int(comparison.ranks[d][r["index"]]) for d in analysis.dimensions},
        "truncated": bool(analysis.documents[r["index"]].truncated),
        "document": {"text": r["document"]["text"]},
    } for rank, r in enumerate(analysis.rerank(dim, run.top_n), start=1)]
    return {
        "model": run.display_name, "dimensions": dim, "results": results,
        "kendall_tau": {f"{a}-{b}": tau for (a, b), tau in comparison.tau.items()},
        "usage": {"total_tokens": len(analysis.query) + run.total_tokens},
    }


def compress_payload(run: Run, method: str = "") -> dict:
    """What each storage setting of ``method`` (default: every method) does to the
    Run's ranking: ``settings.compression_rows`` (bytes, Kendall tau, largest rank and
    score change against exact float32 at the native size), each with ``ranking``
    (the setting's order, each document's rank and score beside the exact ones), and
    ``unavailable`` (``{method: why}``) for those the Run cannot be stored under."""
    if method and method not in METHODS:
        raise LimitError(f"Unknown storage method {method!r}: choose one of {', '.join(METHODS)}.")
    stored, dims = run.stored, run.analysis.dimensions
    unavailable = {}
    for name in (method,) if method else METHODS:
        try:
            for dim in dims:
                stored.stored(StorageSetting(name, dim))
        except StorageUnavailable as err:
            unavailable[name] = str(err)
    methods = tuple(m for m in ((method,) if method else METHODS) if m not in unavailable)
    exact = stored.stored(StorageSetting(EXACT, dims[0]))
    rows = settings.compression_rows(run.analysis.query, run.analysis.documents, dims, stored=stored.stored,
                                     methods=methods)
    for row in rows:
        result = stored.stored(row["setting"])
        row["ranking"] = [{"index": int(i), "rank": int(result.ranks[i]), "score": float(result.scores[i]),
                           "exact_rank": int(exact.ranks[i]), "exact_score": float(exact.scores[i])}
                          for i in result.order]
    return {"model": run.display_name, "reference": f"{dims[0]}/{EXACT}", "settings": rows,
            "unavailable": unavailable}


def explain_payload(run: Run, index: int, dim: int, merge_words: bool = False, storage: str = EXACT) -> dict:
    """``Explanation.to_dict`` of one document, with its index and label (exact,
    or as storage method ``storage`` scores it)."""
    return explanation_payload(run, index, run.stored.explain(index, dim, merge_words, storage), storage)


def explanation_payload(run: Run, index: int, expl: Explanation, storage: str = EXACT) -> dict:
    """``explain_payload`` of an explanation already made."""
    return {"index": index, "document_label": document_label(index), "model": run.display_name,
            "storage": storage, **expl.to_dict()}


def compare_payload(run: Run, a: int, b: int, dim: int, merge_words: bool = False, storage: str = EXACT) -> dict:
    """Why document ``a`` scores above or below ``b``, per query token."""
    result = run.stored.compare_documents(a, b, dim, merge_words, storage)
    return {
        "a": a, "b": b, "dimensions": dim, "storage": storage, "score_a": result.score_a, "score_b": result.score_b,
        "difference": result.total,
        "tokens": [vars(d) for d in result.differences],
    }
