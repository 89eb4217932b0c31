"""The app's API for ``gradio_client``: stateless endpoints that encode (the
model caches documents) and answer JSON.

``/rerank``: the ranking, shaped like the hosted rerank API plus per-token
scores and the ranks at every dimension; ``/explain``: ``Explanation.to_dict``
of one document; ``/compare``: why document ``a`` scores above or below ``b``.
``documents`` is text-box text: one per line, or blank-line separated.

Errors reach ``gradio_client`` as plain text (``user_message``: no server
paths), not HTML-escaped: these endpoints are never drawn on the page. (Gradio
6.31 renders a ``gr.Error`` message on the page as HTML through its sanitizer,
so page handlers escape theirs with ``html.escape``.)
"""

from __future__ import annotations

import gradio as gr

from colbert_viz.app.background import EncodeSlots
from colbert_viz.app.limits import Limits
from colbert_viz.app.registry import ModelRegistry
from colbert_viz.app.service import (
    Run,
    analyze_request,
    compare_payload,
    explain_payload,
    gather_documents,
    rerank_payload,
    user_errors,
    user_message,
)


def add_api_endpoints(registry: ModelRegistry, limits: Limits, slots: EncodeSlots, concurrency: int) -> None:
    """Add ``/rerank``, ``/explain`` and ``/compare`` to the Blocks being built.
    They share the encode slots (``slots``) and Gradio's ``concurrency`` limit
    with the page's Run button; a model loads before a slot is taken."""
    errors = user_errors()

    def guarded(fn):
        try:
            return fn()
        except errors as err:
            raise gr.Error(user_message(err), print_exception=False) from None

    def encoded(query: str, documents: str, doc_max_tokens: int, model: str, top_n: int = 0) -> Run:
        def encode() -> Run:
            docs = gather_documents(documents, limits=limits)
            loaded = registry.get(model or None)
            with slots.encoding():
                return analyze_request(loaded, query, docs, doc_max_tokens or None, top_n, limits, model_name=model)

        return guarded(encode)

    def rerank(query: str, documents: str, top_n: int = 0, dimensions: int = 0, doc_max_tokens: int = 0,
               model: str = "") -> dict:
        """Rank the documents (text-box format: one per line, or blank-line separated) for the query."""
        run = encoded(query, documents, doc_max_tokens, model, top_n)
        return guarded(lambda: rerank_payload(run, run.dim_or_native(dimensions)))

    def explain(query: str, documents: str, index: int = 0, dimensions: int = 0, merge_words: bool = False,
                doc_max_tokens: int = 0, model: str = "") -> dict:
        """Token-level explanation of document ``index`` (0-based, input order)."""
        run = encoded(query, documents, doc_max_tokens, model)
        return guarded(lambda: explain_payload(run, run.check_index(index), run.dim_or_native(dimensions),
                                               merge_words))

    def compare(query: str, documents: str, a: int = 0, b: int = 1, dimensions: int = 0,
                merge_words: bool = False, doc_max_tokens: int = 0, model: str = "") -> dict:
        """Why document ``a`` scores above or below document ``b`` (0-based), per query token."""
        run = encoded(query, documents, doc_max_tokens, model)
        return guarded(lambda: compare_payload(run, run.check_index(a), run.check_index(b),
                                               run.dim_or_native(dimensions), merge_words))

    for fn in (rerank, explain, compare):
        gr.api(fn, api_name=fn.__name__, concurrency_limit=concurrency, concurrency_id="encode")

