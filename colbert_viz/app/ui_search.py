"""The page's search mode: pick a collection by name, type a query, get the top k,
explore them.

A search encodes the query once (in an encode slot, ``ctx.slots``), Qdrant returns
the top k, and the hits' stored vectors (fetched, not encoded again) become a
``service.Run`` kept in the ``RunStore`` for the session, shown by the same explorer
as a pasted list, with every view, dimension and storage setting. The hits table
puts Qdrant's rank and score beside the exact MaxSim of the stored vectors.
The explorer opens at the dimension searched, on the first hit; a click on a row of
the hits table (or Enter on it) shows that document in the explorer, at the dimension
on screen. A visitor can index uploaded documents into a collection of their own session
(``collection_shelf.CollectionShelf``), removed when the session ends; the collection menu
is read again from the shelf at each search and when it is opened.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from colbert_viz.app.collection_shelf import PRIVATE, CollectionShelf
from colbert_viz.app.limits import LimitError, Limits, check_documents, check_query, check_token_budget
from colbert_viz.app.service import Run, gather_documents, user_errors, user_message
from colbert_viz.app.ui_shared import (
    LOADING,
    failed_reply,
    on_run_shown,
    payload_reply,
    session_of,
    status_html,
)
from colbert_viz.checks import positive_int
from colbert_viz.collections.first_stage import MAX_CANDIDATES
from colbert_viz.collections.misses import MAX_EXACT_POINTS, RANK_LIMIT
from colbert_viz.collections.searching import DEFAULT_CANDIDATES
from colbert_viz.explorer.payload import model_facts, run_payload
from colbert_viz.explorer.tables import document_label
from colbert_viz.inputs import FORMATS

DEFAULT_TOP_K = 10
HITS_COLUMNS = ["Qdrant rank", "Document", "Qdrant score", "Exact MaxSim", "Difference", "Layout", "Text"]
SEARCH_HELP = ("Search a Qdrant collection: Qdrant returns the top k for the query, and the explorer below shows "
               "them from the vectors Qdrant stored (nothing is encoded again but the query). The hits table puts "
               "Qdrant's score beside the exact MaxSim of those vectors: equal for a collection without "
               "quantization.")
HITS_JS = """
const show = row => {
  const explorer = document.querySelector('#explorer .cv-mount')?.__colbertViz;
  if (!row || !explorer || !explorer.live()) return;
  explorer.set({doc: Number(row.dataset.document)});
  element.querySelectorAll('tr[aria-current]').forEach(r => r.removeAttribute('aria-current'));
  row.setAttribute('aria-current', 'true');
  document.getElementById('explorer')?.scrollIntoView({block: 'start'});
};
element.addEventListener('click', e => show(e.target.closest('tr[data-document]')));
element.addEventListener('keydown', e => {
  if (e.key !== 'Enter' && e.key !== ' ') return;
  const row = e.target.closest('tr[data-document]');
  if (row) { e.preventDefault(); show(row); }
});
"""
FIRST_STAGE_CHOICES = [("none: exact MaxSim over every point", "none"), ("pooled mean (HNSW)", "pooled"),
                       ("MUVERA (HNSW)", "muvera")]
MISSES_HELP = ("A two-stage search never sees a document its first stage did not fetch. This compares the two-stage "
               f"top k with the exact MaxSim over every point (at most {MAX_EXACT_POINTS:,} points; ranks looked up "
               f"within the top {RANK_LIMIT:,}): the documents it missed, with both scores and ranks, and recall@k.")
PRIVATE_HELP = ("**Your own collection**: upload documents (the same formats and limits as a Run) to index them "
                "into a collection of this page only; it is removed when you close the page.")


@dataclass
class SearchPage:
    collection: gr.Dropdown
    query: gr.Textbox
    top_k: gr.Number
    dimensions: gr.Dropdown
    rescore: gr.Checkbox
    search: gr.Button
    status: gr.Markdown
    hits: gr.HTML
    upload: gr.File
    index: gr.Button
    index_status: gr.Markdown
    first_stage: gr.Dropdown
    candidates: gr.Number
    document: gr.Textbox
    explain_misses: gr.Button
    misses: gr.HTML


def search_layout(shelf: CollectionShelf, limits: Limits, dimensions: list[int]) -> SearchPage:
    """The search tab's components (inside a ``gr.Tab``)."""
    names = shelf.names()
    with gr.Row(equal_height=False, elem_classes="cv-inputs"):
        with gr.Column(scale=5, min_width=280, elem_classes="cv-panel"):
            gr.Markdown(SEARCH_HELP, elem_classes="cv-small")
            # a session's own collection joins its menu only: Gradio checks a value against the choices
            # every session started with, so the menu takes any value and the shelf refuses unknown names
            collection = gr.Dropdown(names, value=names[0] if names else None, label="Collection",
                                     elem_id="collection", interactive=True, allow_custom_value=True)
            query = gr.Textbox(label="Query", elem_id="search-query", lines=1, max_lines=3,
                               placeholder="What is the population of Berlin?")
            with gr.Row():
                top_k = gr.Number(DEFAULT_TOP_K, label=f"Top k (at most {limits.max_docs})", precision=0,
                                  elem_id="top-k", min_width=120)
                dims = gr.Dropdown([str(d) for d in dimensions], value=str(dimensions[0]) if dimensions else None,
                                   label="Search at dimensions", elem_id="search-dimensions", min_width=120)
                rescore = gr.Checkbox(True, label="Rescore (quantized collection)", elem_id="rescore",
                                      visible=False, min_width=120)
            with gr.Row():
                first_stage = gr.Dropdown(FIRST_STAGE_CHOICES, value=FIRST_STAGE_CHOICES[0][1], label="First stage",
                                          elem_id="first-stage", min_width=120)
                candidates = gr.Number(DEFAULT_CANDIDATES, label=f"Candidates (top k to {MAX_CANDIDATES:,})",
                                       precision=0, elem_id="candidates", min_width=120)
            search = gr.Button("Search", variant="primary", elem_id="search")
            status = gr.Markdown("", elem_id="search-status", elem_classes="cv-status")
        with gr.Column(scale=3, min_width=280, elem_classes="cv-panel"):
            gr.Markdown(PRIVATE_HELP, elem_classes="cv-small")
            upload = gr.File(label="Documents to index", file_count="multiple", file_types=list(FORMATS),
                             type="filepath", elem_id="collection-upload", height=120)
            index = gr.Button("Index into my collection", elem_id="index", size="sm")
            index_status = gr.Markdown("", elem_id="index-status", elem_classes="cv-status")
    hits = gr.HTML("", elem_id="hits", visible=False, js_on_load=HITS_JS)
    with gr.Accordion("What the first stage missed", open=False, elem_id="misses-panel"):
        gr.Markdown(MISSES_HELP, elem_classes="cv-small")
        with gr.Row():
            document = gr.Textbox(label="Why not this document? (its id or text, optional)", elem_id="why-document",
                                  lines=1, max_lines=3, scale=4)
            explain = gr.Button("Explain the misses", elem_id="explain-misses", size="sm", scale=1)
        misses = gr.HTML("", elem_id="misses")
    return SearchPage(collection, query, top_k, dims, rescore, search, status, hits, upload, index, index_status,
                      first_stage, candidates, document, explain, misses)


def check_candidates(value, top_k: int) -> int:
    try:
        count = positive_int(value, "candidates")
    except (ValueError, TypeError):
        count = None
    if count is None:
        raise LimitError(f"Candidates must be a whole number from top k ({top_k}) to {MAX_CANDIDATES:,}; got {value!r}.")
    return count


def misses_html(report, why=None) -> str:
    """The misses view: recall@k, the stage that ran, each missed document (exact rank and MaxSim,
    first-stage rank and score); then the named document's ranks and token matches. Text escaped."""
    stage = report.first_stage
    head = (f"<p><b>recall@{report.top_k} = {report.recall:.2f}</b>: the two-stage top {report.top_k} "
            f"({html.escape(stage['kind'])}, {stage['candidates']} candidates) against the exact MaxSim over every "
            f"point; computed in {report.seconds:.2f} s.</p>")
    if report.missed:
        rows = "".join(
            f"<tr><td>{m.exact_rank}</td><td>{m.exact_score:.4f}</td>"
            f"<td>{m.first_rank if m.first_rank is not None else f'beyond {RANK_LIMIT:,}'}</td>"
            f"<td>{m.first_score:.4f}</td><td>{html.escape(_preview(m.text))}</td></tr>" for m in report.missed)
        body = ("<table><thead><tr><th>Exact rank</th><th>Exact MaxSim</th><th>First-stage rank</th>"
                f"<th>First-stage score</th><th>Text</th></tr></thead><tbody>{rows}</tbody></table>")
    else:
        body = "<p>The first stage fetched every document of the exact top k.</p>"
    return f'<div class="cv-hits" id="misses-view">{head}{body}{_why_html(why) if why else ""}</div>'


def _why_html(why) -> str:
    def rank(value):
        return str(value) if value is not None else f"beyond {RANK_LIMIT:,}"

    rows = "".join(f"<tr><td>{html.escape(m['query_token'])}</td><td>{html.escape(m['document_token'])}</td>"
                   f"<td>{m['similarity']:.3f}</td></tr>" for m in why.matches)
    fetched = "fetched by the first stage" if why.fetched else "not fetched by the first stage"
    return (f"<p><b>{html.escape(_preview(why.text))}</b>: exact rank {rank(why.exact_rank)} (MaxSim "
            f"{why.exact_score:.4f}); first-stage rank {rank(why.first_rank)} (score {why.first_score:.4f}), "
            f"{fetched}. Its token matches (each query token's best document token, summed: the MaxSim):</p>"
            f"<table><thead><tr><th>Query token</th><th>Best document token</th><th>Similarity</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _preview(text: str) -> str:
    return text if len(text) <= 120 else text[:119] + "…"


def check_top_k(value, limits: Limits) -> int:
    try:
        top_k = positive_int(value, "top k")
    except (ValueError, TypeError):
        top_k = None
    if top_k is None or top_k > limits.max_docs:
        raise LimitError(f"Top k must be a whole number from 1 to {limits.max_docs}; got {value!r}.")
    return top_k


def hits_table(result) -> pd.DataFrame:
    """Qdrant's ranking: rank, the explorer's document label, Qdrant's score, the exact
    MaxSim of the stored vectors (6 decimals), their difference, the layout and a preview."""
    rows = []
    for hit in result.hits:
        text = result.analysis.documents[hit.index].text
        rows.append([hit.rank, document_label(hit.index), f"{hit.score:.6f}", f"{hit.exact:.6f}",
                     f"{hit.score - hit.exact:+.1e}", hit.layout or "positional",
                     text if len(text) <= 120 else text[:119] + "…"])
    return pd.DataFrame(rows, columns=HITS_COLUMNS)


def hits_html(result) -> str:
    """``hits_table`` as an HTML table (every text escaped) in a box that scrolls sideways on a
    narrow screen; each row carries ``data-rank``, ``data-document`` (0-based, the explorer's),
    ``data-score`` (Qdrant's) and ``data-exact`` at full precision, and the layout's note as its
    cell's title; a row is focusable, and a click or Enter shows its document (``HITS_JS``)."""
    table = hits_table(result)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = []
    for hit, row in zip(result.hits, table.itertuples(index=False)):
        cells = [html.escape(str(v)) for v in row]
        cells[5] = f'<span title="{html.escape(hit.note)}">{cells[5]}</span>'
        body.append(f'<tr data-rank="{hit.rank}" data-document="{hit.index}" data-score="{hit.score!r}" '
                    f'data-exact="{hit.exact!r}" tabindex="0">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (f'<div class="cv-hits"><p class="cv-small"><b>Hits: Qdrant\'s ranking</b> (Document: the explorer\'s '
            f'label; click a row to show it in the explorer)</p><div class="cv-hits-scroll"><table><thead><tr>{head}'
            f'</tr></thead><tbody>{"".join(body)}</tbody></table></div></div>')


def search_status(result, name: str, model_name: str, seconds: float) -> str:
    quant = f", {result.quantization} quantization, rescore {'on' if result.rescore else 'off'}" \
        if result.quantization else ""
    if result.datatype != "float32" or result.on_disk:
        quant += f", stored as {result.datatype}{' on disk' if result.on_disk else ''}"
    stage = result.first_stage
    quant += (f"; two stages: {stage['kind']} first stage ({stage['vector']}), {stage['candidates']} candidates, "
              "then MaxSim" if stage else "; exact MaxSim over every point")
    gap = max(abs(h.score - h.exact) for h in result.hits)
    return (f"Found {len(result.hits)} in “{name}” at {result.dim} dimensions ({result.vector}{quant}) with "
            f"{model_name} in {seconds:.2f} s; the largest gap between Qdrant's score and the exact MaxSim is "
            f"{gap:.1e}.")


def search_run(result, model, model_name: str, seconds: float, limits: Limits) -> Run:
    """The hits as a Run, like a pasted list's (within the token limit of a request)."""
    analysis = result.analysis
    total = check_token_budget([len(d) for d in analysis.documents], limits, advice="Lower top k.")
    info = model.info
    return Run(analysis=analysis, model_name=model_name, display_name=info.display_name,
               is_fallback=info.is_fallback, note=info.note, top_n=None,
               doc_max_tokens=model.tokenizer.settings.doc_maxlen, total_tokens=total, seconds=seconds,
               dtype=info.dtype, dtype_reason=getattr(info, "dtype_reason", ""))


def collection_menu(shelf: CollectionShelf, session: str | None, name: str | None) -> gr.Dropdown:
    """The collection menu as ``session`` may use it now (its own collection gone once removed),
    ``name`` kept where it is still on offer."""
    names = shelf.names(session)
    return gr.Dropdown(choices=names, value=name if name in names else (names[0] if names else None))


def on_collection(ctx, shelf: CollectionShelf, name: str | None, model_name: str, request: gr.Request) -> dict:
    """The dimensions the chosen collection offers; the rescore switch where it is quantized."""
    s = ctx.page.search
    try:
        entry = shelf.entry(name, session_of(request))
        model = ctx.registry.get(entry.model_name or model_name)
        sizes, quantized = shelf.dimensions(name, session_of(request), model.dimensions)
    except user_errors():
        return {s.dimensions: gr.Dropdown(), s.rescore: gr.Checkbox()}
    if not sizes:  # not readable now (being built, unreachable): the model's, and the search says why
        sizes = list(model.dimensions)
    return {s.dimensions: gr.Dropdown(choices=[str(d) for d in sizes], value=str(sizes[0])),
            s.rescore: gr.Checkbox(visible=quantized)}


def on_misses(ctx, shelf: CollectionShelf, name: str | None, query: str, top_k, dims, first_stage: str,
              candidates, document: str, model_name: str, request: gr.Request) -> str:
    """The misses view of the search as set on the page (and why of the named document)."""
    session = session_of(request)
    try:
        entry = shelf.entry(name, session)
        query = check_query(query, ctx.limits)
        top_k = check_top_k(top_k, ctx.limits)
        if first_stage in (None, "", "none"):
            raise LimitError("Choose a first stage (pooled or MUVERA): the misses view compares it with the exact "
                             "search.")
        model = ctx.registry.get(entry.model_name or model_name)
        dim = int(dims) if dims not in (None, "") else None
        report, why = shelf.misses(name, session, model, query, top_k, dim, first_stage,
                                   check_candidates(candidates, top_k), (document or "")[:2000],
                                   encoding=ctx.slots.encoding)
    except (*user_errors(), ValueError) as err:
        return status_html(user_message(err), error=True)
    return misses_html(report, why)


def on_search(ctx, shelf: CollectionShelf, name: str | None, query: str, top_k, dims, rescore: bool,
              model_name: str, run_key: str | None, request: gr.Request, first_stage: str = "none",
              candidates=DEFAULT_CANDIDATES) -> dict:
    """Search, keep the hits as the session's Run, send the explorer its payload (opening at the
    dimension searched, on the first hit) and the hits table; the collection menu read again.
    Bad input: one line in the search status; the last Run stays, marked as the previous one."""
    s = ctx.page.search
    session = session_of(request)
    ctx.slots.hold(session)
    try:
        entry = shelf.entry(name, session)
        query = check_query(query, ctx.limits)
        top_k = check_top_k(top_k, ctx.limits)
        used = entry.model_name or model_name
        model = ctx.registry.get(used)
        dim = int(dims) if dims not in (None, "") else None
        started = time.perf_counter()
        staged = first_stage not in (None, "", "none")
        result = shelf.search(name, session, model, query, top_k, dim, bool(rescore),
                              encoding=ctx.slots.encoding, max_tokens=ctx.limits.max_tokens,
                              first_stage=first_stage if staged else None,
                              candidates=check_candidates(candidates, top_k) if staged else None)
        seconds = time.perf_counter() - started
        run = search_run(result, model, used, seconds, ctx.limits)
    except (*user_errors(), ValueError) as err:
        ctx.slots.release(session)
        return {**failed_reply(ctx, s.status, user_message(err), run_key),
                s.collection: collection_menu(shelf, session, name)}
    key = ctx.store.put(run, session)
    facts = model_facts(model)
    summary = search_status(result, name, run.display_name, seconds) + (f" Warning: {entry.warning}."
                                                                         if entry.warning else "")
    payload = run_payload(run.analysis, top_n=None, summary=summary, display_name=run.display_name,
                          is_fallback=run.is_fallback, run_key=key, model=facts)
    order = [hit.index for hit in result.hits]
    payload["opens_on"] = {"dim": result.dim, "doc": order[0], "a": order[0], "b": order[min(1, len(order) - 1)]}
    return {**payload_reply(ctx, key, payload, facts, used), s.status: status_html(summary),
            s.collection: collection_menu(shelf, session, name), s.hits: gr.HTML(value=hits_html(result), visible=True)}


def on_index(ctx, shelf: CollectionShelf, files: list[str] | None, model_name: str, request: gr.Request) -> dict:
    """Index the uploaded documents into the session's collection (the upload limits of a Run)."""
    s = ctx.page.search
    session = session_of(request)
    try:
        if not files:
            raise LimitError("Upload documents first (.txt, .json, .jsonl or .csv).")
        texts = gather_documents(None, files, ctx.limits)
        if not texts:
            raise LimitError("The files hold no document.")
        check_documents(texts, ctx.limits)
        model = ctx.registry.get(model_name)
        counts = [len(t) for t in model.tokenizer.tokenize_documents(texts, model.tokenizer.settings.doc_maxlen)]
        check_token_budget(counts, ctx.limits, advice="Upload fewer or shorter documents.")
        report = shelf.add_private(session, model_name, model, texts, encoding=ctx.slots.encoding)
    except (*user_errors(), ValueError) as err:
        message = user_message(err)
        gr.Warning(html.escape(message))
        return {s.index_status: status_html(message, error=True)}
    names = shelf.names(session)
    dims = [str(d) for d in model.dimensions]
    return {s.index_status: status_html(f"Indexed {report.written} documents ({report.skipped} stored already) in "
                                        f"{report.seconds:.2f} s; your collection holds {report.points}."),
            s.collection: gr.Dropdown(choices=names, value=PRIVATE),
            s.dimensions: gr.Dropdown(choices=dims, value=dims[0]), s.upload: None}


def on_unload(shelf: CollectionShelf, request: gr.Request) -> None:
    """The session ended (the page was closed): remove its collection."""
    shelf.remove_session(session_of(request))


def wire_search(ctx, shelf: CollectionShelf, concurrency: int, demo: gr.Blocks) -> None:
    """The search tab's events; Search shares the encode slots (and their queue) with Run."""
    p, s = ctx.page, ctx.page.search

    def collection_changed(name, model_name, request: gr.Request) -> dict:
        return on_collection(ctx, shelf, name, model_name, request)

    def searched(name, query, top_k, dims, rescore, model_name, run_key, first_stage, candidates,
                 request: gr.Request) -> dict:
        return on_search(ctx, shelf, name, query, top_k, dims, rescore, model_name, run_key, request, first_stage,
                         candidates)

    def explained(name, query, top_k, dims, first_stage, candidates, document, model_name,
                  request: gr.Request) -> str:
        return on_misses(ctx, shelf, name, query, top_k, dims, first_stage, candidates, document, model_name,
                         request)

    def indexed(files, model_name, request: gr.Request) -> dict:
        return on_index(ctx, shelf, files, model_name, request)

    def unloaded(request: gr.Request) -> None:
        on_unload(shelf, request)

    def menu(name, request: gr.Request) -> gr.Dropdown:
        return collection_menu(shelf, session_of(request), name)

    s.collection.input(collection_changed, [s.collection, p.model], [s.dimensions, s.rescore],
                       api_visibility="private", concurrency_limit=2, concurrency_id="collections")
    s.collection.focus(menu, s.collection, s.collection, api_visibility="private", concurrency_limit=None)
    outputs = [p.run_key, s.status, p.explorer, p.banner, p.exports, p.how_to_read, p.header, p.storage_help,
               p.stale, s.collection, s.hits]

    def shown(run_key: str | None, request: gr.Request) -> None:
        on_run_shown(ctx, run_key, request)

    s.explain_misses.click(explained, [s.collection, s.query, s.top_k, s.dimensions, s.first_stage, s.candidates,
                                       s.document, p.model], s.misses, api_visibility="private",
                           concurrency_limit=concurrency + LOADING, concurrency_id="encode", show_progress_on=s.misses)
    s.search.click(searched, [s.collection, s.query, s.top_k, s.dimensions, s.rescore, p.model, p.run_key,
                              s.first_stage, s.candidates], outputs,
                   api_visibility="private", concurrency_limit=concurrency + LOADING, concurrency_id="encode",
                   show_progress_on=s.status).success(shown, p.run_key, None, api_visibility="private", queue=False)
    s.index.click(indexed, [s.upload, p.model], [s.index_status, s.collection, s.dimensions, s.upload],
                  api_visibility="private", concurrency_limit=concurrency + LOADING, concurrency_id="encode",
                  show_progress_on=s.index_status)
    demo.unload(unloaded)
