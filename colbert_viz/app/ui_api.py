"""The app's API: stateless endpoints that encode (the model caches documents)
and answer JSON, for ``gradio_client`` and, served with ``mcp_server=True``, as
MCP tools (name, description and parameters from each function's name, type
hints and docstring).

``rerank``, ``explain``, ``compare``, ``compare_encoders``, ``compress`` and ``search``; the page's own
events are ``api_visibility="private"``: neither on the API page nor tools.
``documents`` is text-box text: one per line, or blank-line separated.

Errors reach ``gradio_client`` and MCP clients as plain text (``user_message``:
no server paths), not HTML-escaped: these endpoints are never drawn on the page.
(Gradio 6.31 renders a ``gr.Error`` message on the page as HTML through its
sanitizer, so page handlers escape theirs with ``html.escape``.)
"""

from __future__ import annotations

import json

import gradio as gr

from colbert_viz.app.background import EncodeSlots
from colbert_viz.app.collection_shelf import CollectionShelf, CollectionUnavailable
from colbert_viz.app.limits import LimitError, Limits, check_query, check_token_budget
from colbert_viz.app.registry import ModelRegistry
from colbert_viz.app.service import (
    Run,
    analyze_request,
    compare_payload,
    compress_payload,
    explain_payload,
    gather_documents,
    rerank_payload,
    user_errors,
    user_message,
)
from colbert_viz.app.ui_jina import with_key

MAX_TOP_MATCHES = 64


def mcp_json_text() -> None:
    """Make Gradio's MCP server send a tool's dict or list as JSON text (it writes
    ``str(value)``, a Python repr, otherwise). Applied once; files are left alone."""
    from gradio.mcp import GradioMCPServer
    from gradio_client.utils import is_file_obj_with_meta

    original = GradioMCPServer.postprocess_output_data
    if getattr(original, "json_text", False):
        return

    def postprocess(self, data, root_url):
        data = [json.dumps(x, ensure_ascii=False) if isinstance(x, dict | list) and not is_file_obj_with_meta(x)
                else x for x in data]
        return original(self, data, root_url)

    postprocess.json_text = True
    GradioMCPServer.postprocess_output_data = postprocess


def check_top_matches(value, n_query_tokens: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value \
            or not 1 <= value <= MAX_TOP_MATCHES:
        raise LimitError(f"top_matches must be a whole number from 1 to {MAX_TOP_MATCHES}; got {value!r}.")
    return min(int(value), n_query_tokens)


def add_api_endpoints(registry: ModelRegistry, limits: Limits, slots: EncodeSlots, concurrency: int,
                      shelf: CollectionShelf | None = None) -> None:
    """Add the endpoints to the Blocks being built. Those that encode share the
    encode slots (``slots``) and Gradio's ``concurrency`` limit with the page's
    Run button; a model loads before a slot is taken. ``shelf``: the collections
    ``search`` offers (the operator's and the demo, never a session's own)."""
    errors = (*user_errors(), CollectionUnavailable)
    mcp_json_text()

    def guarded(fn):
        try:
            return fn()
        except errors as err:
            raise gr.Error(user_message(err), print_exception=False) from None

    def encoded(query: str, documents: str, doc_max_tokens: int, model: str, top_n: int = 0,
                jina_api_key: str = "") -> Run:
        def encode() -> Run:
            docs = gather_documents(documents, limits=limits)
            loaded = with_key(registry.get(model or None), jina_api_key or None)
            with slots.encoding():
                return analyze_request(loaded, query, docs, doc_max_tokens or None, top_n, limits, model_name=model)

        return guarded(encode)

    def rerank(query: str, documents: str, top_n: int = 0, dimensions: int = 0, doc_max_tokens: int = 0,
               model: str = "", jina_api_key: str = "") -> dict:
        """Rank documents for a query by late-interaction MaxSim (jina-colbert-v2), shaped like Jina's
        /v1/rerank answer: results best first, each with index (0-based, input order), relevance_score
        (the MaxSim: the sum over query tokens of the best similarity), the document's text, and its rank at
        every dimension the model offers; usage.total_tokens counts the query and document tokens encoded.

        Args:
            query: The search query (at most the page's character limit).
            documents: The documents as one text: one per line, or blocks separated by blank lines.
            top_n: How many results to return, best first; 0 returns every document.
            dimensions: Vector size to score at (128, 96 or 64 for jina-colbert-v2); 0 means the largest.
            doc_max_tokens: Tokens read per document, markers included (0: the page's default).
            model: A model offered by this server (see the page's model menu); empty means the default.
            jina_api_key: Your Jina API key, for model jina-api:jina-colbert-v2 only; used for this call, never kept.
        """
        run = encoded(query, documents, doc_max_tokens, model, top_n, jina_api_key)
        return guarded(lambda: rerank_payload(run, run.dim_or_native(dimensions)))

    def explain(query: str, documents: str, index: int = 0, dimensions: int = 0, merge_words: bool = False,
                top_matches: int = 5, include_similarity: bool = False, doc_max_tokens: int = 0,
                model: str = "", jina_api_key: str = "") -> dict:
        """Explain why one document got its MaxSim score, token by token: for every query token, the
        document token it matched best (document_position, 0-based), their cosine similarity and the
        token's contribution to the score (the contributions add up to score). top_matches lists the query
        tokens that contributed most, largest first.

        Args:
            query: The search query.
            documents: The documents as one text: one per line, or blank-line separated blocks.
            index: Which document to explain: its 0-based position in documents.
            dimensions: Vector size to score at (128, 96 or 64 for jina-colbert-v2); 0 means the largest.
            merge_words: Merge sub-word tokens into whole words (each word keeps its best match).
            top_matches: How many of the strongest query-token matches to list in top_matches (1 to 64).
            include_similarity: Also return the full query-token by document-token similarity matrix.
            doc_max_tokens: Tokens read per document, markers included (0: the page's default).
            model: A model offered by this server; empty means the default.
            jina_api_key: Your Jina API key, for model jina-api:jina-colbert-v2 only; used for this call, never kept.
        """
        run = encoded(query, documents, doc_max_tokens, model, jina_api_key=jina_api_key)

        def payload() -> dict:
            out = explain_payload(run, run.check_index(index), run.dim_or_native(dimensions), merge_words)
            n = check_top_matches(top_matches, len(out["matches"]))
            out["top_matches"] = sorted(out["matches"], key=lambda m: -m["contribution"])[:n]
            if not include_similarity:
                del out["similarity"]
            return out

        return guarded(payload)

    def compare(query: str, documents: str, a: int = 0, b: int = 1, dimensions: int = 0,
                merge_words: bool = False, doc_max_tokens: int = 0, model: str = "",
                jina_api_key: str = "") -> dict:
        """Why document a scores above or below document b, per query token: each query token's
        contribution to a and to b and their difference (the differences add up to score_a - score_b).

        Args:
            query: The search query.
            documents: The documents as one text: one per line, or blank-line separated blocks.
            a: The first document's 0-based position in documents.
            b: The second document's 0-based position in documents.
            dimensions: Vector size to score at (128, 96 or 64 for jina-colbert-v2); 0 means the largest.
            merge_words: Merge sub-word tokens into whole words.
            doc_max_tokens: Tokens read per document, markers included (0: the page's default).
            model: A model offered by this server; empty means the default.
            jina_api_key: Your Jina API key, for model jina-api:jina-colbert-v2 only; used for this call, never kept.
        """
        run = encoded(query, documents, doc_max_tokens, model, jina_api_key=jina_api_key)
        return guarded(lambda: compare_payload(run, run.check_index(a), run.check_index(b),
                                               run.dim_or_native(dimensions), merge_words))

    def compare_encoders(query: str, documents: str, model_a: str = "", model_b: str = "", dimensions_a: int = 0,
                         dimensions_b: int = 0, b_settings: str = "", first: int = 0, second: int = 1,
                         doc_max_tokens: int = 0) -> dict:
        """The same query and documents under two encoders, side by side: two models this server offers, or
        one model and B under other settings (query expansion off, another skiplist, ...). Returns both
        rankings (ranks, raw MaxSim scores and scores per query token, the scale on which two models compare),
        each document's rank move (rank under A minus rank under B), Kendall tau, why the raw scores differ,
        the recipe settings that differ, per document and query word which document word each side matched
        and whether they agree, and for documents first and second each side's contribution gaps.

        Args:
            query: The search query.
            documents: The documents as one text: one per line, or blank-line separated blocks.
            model_a: Encoder A: a model offered by this server; empty means the default.
            model_b: Encoder B: a model offered by this server; empty means the same model as A.
            dimensions_a: Vector size A is compared at; 0 means its largest.
            dimensions_b: Vector size B is compared at; 0 means its largest.
            b_settings: Settings for B as key=value pairs separated by commas, e.g. "query_expansion=false,
                skiplist=none" (keys: query_expansion, attend_to_mask_tokens, skiplist, query_maxlen, doc_maxlen,
                query_marker, doc_marker).
            first: The pair to explain: the first document's 0-based position in documents.
            second: The pair to explain: the second document's 0-based position (unused with one document).
            doc_max_tokens: Tokens read per document, markers included (0: the page's default).
        """
        from colbert_viz.app.ui_compare import dimension
        from colbert_viz.engine.encoder_compare import analyses_side_by_side, settings_changes, with_changes

        def compared() -> dict:
            docs = gather_documents(documents, limits=limits)
            try:
                changes = settings_changes([p for p in b_settings.split(",") if p.strip()])
            except ValueError as err:
                raise LimitError(f"b_settings: {err}.") from None
            a = registry.get(model_a or None)
            b = registry.get(model_b or model_a or None)
            for side, loaded in (("A", a), ("B", b)):
                if getattr(loaded, "network", None) is None or loaded.info.dtype == "api":
                    raise LimitError(f"Encoder {side}: Jina's API is compared by compare-api; choose a local model.")
            try:
                b = with_changes(b, changes)
            except ValueError as err:
                raise LimitError(f"Encoder B: {err}.") from None
            sizes = [dimension(a, dimensions_a or None, "A"), dimension(b, dimensions_b or None, "B")]
            with slots.encoding():
                runs = [analyze_request(m, query, docs, doc_max_tokens or None, 0, limits, model_name=name)
                        for m, name in ((a, model_a), (b, model_b or model_a))]
            pair = None
            if len(docs) > 1:
                pair = (runs[0].check_index(first), runs[0].check_index(second))
                if pair[0] == pair[1]:
                    raise LimitError("Choose two different documents for first and second.")
            return analyses_side_by_side(runs[0].analysis, runs[1].analysis, a, b, *sizes, pair=pair).to_dict()

        return guarded(compared)

    def compress(query: str, documents: str, storage: str = "", doc_max_tokens: int = 0, model: str = "",
                 jina_api_key: str = "") -> dict:
        """What storing the document vectors compressed does to the ranking. For each storage setting
        (method x dimensions): bytes per token, Kendall tau and the largest rank and score change against
        exact float32 at the largest size, and the ranking that setting gives (each document's rank and
        score beside its exact ones). Settings this request cannot use are listed in unavailable with why.
        The methods: float32, float16, int8, binary, binary+rescore, residual-1bit, residual-2bit,
        residual-4bit (Stanford ColBERT's codec), pool-2, pool-3 (PyLate's token pooling).

        Args:
            query: The search query.
            documents: The documents as one text: one per line, or blank-line separated blocks.
            storage: One storage method (names as in unavailable and settings[].method); empty means all ten.
            doc_max_tokens: Tokens read per document, markers included (0: the page's default).
            model: A model offered by this server; empty means the default.
            jina_api_key: Your Jina API key, for model jina-api:jina-colbert-v2 only; used for this call, never kept.
        """
        run = encoded(query, documents, doc_max_tokens, model, jina_api_key=jina_api_key)
        return guarded(lambda: compress_payload(run, storage))

    def search(collection: str, query: str, top_k: int = 10, dimensions: int = 0, rescore: bool = True,
               model: str = "") -> dict:
        """Search a Qdrant collection this server offers and explain the hits from their stored vectors:
        results in Qdrant's order, each with Qdrant's rank and score, the exact MaxSim of the stored
        vectors (equal to the score without quantization), the document text and the point id.

        Args:
            collection: The collection's name, as the page's Search menu lists it.
            query: The search query.
            top_k: How many hits to return (1 to the page's document limit).
            dimensions: Vector size to search at; 0 means the largest the collection holds.
            rescore: For a quantized collection, rescore the candidates with the original vectors.
            model: The model for the query when the collection names none; empty means the default.
        """
        from colbert_viz.app.ui_search import check_top_k

        def found() -> dict:
            names = shelf.names() if shelf is not None else []
            if collection not in names:
                offered = f"choose one of: {', '.join(names)}" if names else "this server offers none"
                raise CollectionUnavailable(f"No collection named “{collection}”: {offered}.")
            entry = shelf.entry(collection, None)
            text, top = check_query(query, limits), check_top_k(top_k, limits)
            used = entry.model_name or model
            loaded = registry.get(used or None)
            result = shelf.search(collection, None, loaded, text, top, dimensions or None, bool(rescore),
                                  encoding=slots.encoding, max_tokens=limits.max_tokens)
            check_token_budget([len(d) for d in result.analysis.documents], limits, advice="Lower top_k.")
            return {"collection": collection, "model": loaded.info.display_name, **result.to_dict()}

        return guarded(found)

    for fn in (rerank, explain, compare, compare_encoders, search):
        gr.api(fn, api_name=fn.__name__, concurrency_limit=concurrency, concurrency_id="encode")
    # k-means and clustering take seconds: one at a time, beside the encodes (which still take an encode slot)
    gr.api(compress, api_name="compress", concurrency_limit=1, concurrency_id="compress")
