"""The Gradio page: a thin shell around the explorer.

The page has the inputs (examples, query, documents, uploads, model, limits),
Run, a status line, the explorer, the exports and the engine comparison (the
Run encoded again in exact float32 or with the int8 engine). Run is the only
step that encodes: it loads the model if needed (outside the encode slots,
``background.EncodeSlots``), encodes in a slot, keeps the ``service.Run`` in a
``RunStore`` for the session and sends the explorer one payload
(``explorer.payload.run_payload``); from then on the dimension, document, A/B
and display controls act in the browser (``explorer/static/explorer.js``). For
a Run too large to send whole, the explorer asks ``document_views`` (a server
function) for one document at a time. Everything derived from a kept Run
(those views, the storage settings, exports, the engine comparisons) goes
through the store (``RunStore.derive``): computed once, charged to its memory
budget, on one bounded executor below the encodes; the storage settings start
once the Run's payload has reached the page.

Components are declared in ``_layout`` and named in ``Page``; handlers are
module-level functions of named values; events are wired in ``_wire``. What this
tab and the search tab (``ui_search``) share lives in ``ui_shared``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import gradio as gr

from colbert_viz.app.background import Busy, EncodeSlots, Executor
from colbert_viz.app.collection_shelf import CollectionShelf, demo_folder
from colbert_viz.app.examples import ExampleSet, load_examples
from colbert_viz.app.export_shelf import ExportShelf
from colbert_viz.app.exports import export_files
from colbert_viz.app.limits import LimitError, Limits
from colbert_viz.app.registry import ModelRegistry
from colbert_viz.app.run_store import RunStore
from colbert_viz.app.service import (
    ENGINES,
    analyze_request,
    compare_with_engine,
    gather_documents,
    same_engine_note,
    user_errors,
    user_message,
)
from colbert_viz.app.ui_api import add_api_endpoints
from colbert_viz.app.ui_compare import ComparePanel, compare_panel, wire_compare
from colbert_viz.app.ui_jina import JinaPanel, jina_panel, key_box, wire_jina, with_key
from colbert_viz.app.ui_search import SearchPage, search_layout, wire_search
from colbert_viz.app.ui_shared import (
    LOADING,
    STORAGE,
    _storage,
    banner_markdown,
    failed_reply,
    header_html,
    on_run_shown,
    payload_reply,
    session_of,
    status_html,
)
from colbert_viz.checks import positive_int_env
from colbert_viz.explorer import page_text
from colbert_viz.explorer.html import asset, plotly_js_path
from colbert_viz.explorer.payload import (
    document_payload,
    model_facts,
    run_payload,
    stored_document_payload,
)
from colbert_viz.explorer.tables import engine_table
from colbert_viz.explorer.view_state import ViewState
from colbert_viz.inputs import FORMATS, splits_at_blank_lines
from colbert_viz.storage.settings import METHODS

STYLE = Path(__file__).resolve().parent / "assets" / "style.css"
DEFAULT_TOP_N = 10
CACHE_CLEANUP = (3600, 3600)  # Gradio's upload cache: every hour, files older than an hour
ENGINE_BUTTONS = {"float32": "Compare with exact float32", "int8": "Compare with the int8 engine"}


def launch_options(limits: Limits | None = None) -> dict:
    """Keyword arguments for ``Blocks.launch``: the page's CSS, theme and the
    per-file upload bound (``Limits.max_file_mb``; Gradio's MB is 2^20 bytes too)."""
    limits = limits or Limits.from_env()
    return {"css_paths": [STYLE], "theme": gr.themes.Soft(primary_hue="blue", neutral_hue="slate"),
            "max_file_size": f"{limits.max_file_mb}mb"}


def concurrency_from_env() -> int:
    return positive_int_env("COLBERT_VIZ_CONCURRENCY", 1)


def doc_max_tokens(limits: Limits, model) -> int:
    """What "Document max tokens" shows for a loaded ``model``: the operator's limit,
    lowered to what the model reads (``tokenizer.settings.doc_limit``)."""
    return min(limits.max_doc_tokens, model.tokenizer.settings.doc_limit)


def run_status(run, payload: dict, documents_text: str | None) -> str:
    """The status line after a Run: its summary, the query's cut when it was
    cut, and how the text box was split when blank lines split it."""
    parts = [run.summary(), *([run.note] if run.note and not run.is_fallback else [])]
    scored = payload["query"]["scored"]
    if scored["truncated"]:
        parts.append(f"The query was cut to {scored['tokens']} tokens ({scored['dropped']} dropped).")
    blocks = splits_at_blank_lines(documents_text or "")
    if blocks:
        parts.append(f"The text box held {blocks} document{'s' if blocks > 1 else ''}, split at blank lines.")
    return " ".join(parts)


# ---- the explorer component -------------------------------------------------------

PLACEHOLDERS = {"rerank": "Press Run: the ranking and its explanation appear here.",
                "search": "Press Search: the hits and their explanation appear here."}
EXPLORER_JS = """
const PLACEHOLDERS = """ + json.dumps(PLACEHOLDERS) + """;
const mount = () => {
  const root = element.querySelector('.cv-mount');
  // The payload arrives as JSON text: parsed once into a plain object, never a deep reactive proxy.
  const payload = typeof props.value === 'string' && props.value ? JSON.parse(props.value) : props.value;
  if (!payload || !payload.schema) {
    root.replaceChildren();
    const p = document.createElement('p');
    p.className = 'cv-small cv-placeholder';  // what to do on the tab on screen (tab_js keeps it so)
    p.textContent = PLACEHOLDERS[document.getElementById('explorer')?.dataset.mode] ?? PLACEHOLDERS.rerank;
    root.appendChild(p);
    return;
  }
  window.ColbertViz.mount(root, payload, {
    ids: true,
    initial: payload.opens_on,
    fetchDocument: (i, method) => server.document_views(payload.run_key, i, method),
    fetchStorage: () => server.storage_summary(payload.run_key),
    onExport: state => trigger('export', state),
  });
};
mount();
watch('value', mount);
"""


def tab_js(mode: str) -> str:
    """What selecting tab ``mode`` does in the browser: the empty explorer says what to do there."""
    return (f"() => {{ const e = document.getElementById('explorer'); if (!e) return; e.dataset.mode = "
            f"{json.dumps(mode)}; const p = e.querySelector('.cv-placeholder'); "
            f"if (p) p.textContent = {json.dumps(PLACEHOLDERS[mode])}; }}")


def explorer_head() -> str:
    """The renderer for the page: plotly.js from the installed package (served
    once, cached by the browser), the explorer's script and CSS inline."""
    return (f'<script src="gradio_api/file={plotly_js_path().as_posix()}"></script>'
            f"<script>{asset('explorer.js')}</script><style>{asset('explorer.css')}</style>")


# ---- the page's components, by name -------------------------------------------------

@dataclass
class Page:
    run_key: gr.State
    header: gr.HTML
    banner: gr.Markdown
    stale: gr.Markdown
    storage_help: gr.Markdown
    examples: list[tuple[ExampleSet, gr.Button]]
    query: gr.Textbox
    documents: gr.Textbox
    files: gr.File
    model: gr.Dropdown
    doc_max: gr.Number
    top_n: gr.Number
    run: gr.Button
    status: gr.Markdown
    explorer: gr.HTML
    exports: gr.File
    how_to_read: gr.Markdown
    engine_buttons: dict[str, gr.Button]  # by engine: "float32", "int8"
    engine_result: gr.Markdown
    engine_table: gr.DataFrame
    jina: JinaPanel | None = None  # the API key box and the API comparison (ui_jina)
    search: SearchPage | None = None  # the search mode's components (ui_search)
    compare: ComparePanel | None = None  # two encoders side by side (ui_compare)


def _layout(registry: ModelRegistry, limits: Limits, facts: dict, server_functions: list,
            shelf: CollectionShelf | None = None) -> Page:
    run_key = gr.State(None)
    header = gr.HTML(header_html(facts), js_on_load=None, elem_id="header")
    banner_text = banner_markdown(registry, registry.default)
    banner = gr.Markdown(banner_text, visible=bool(banner_text), elem_id="banner", elem_classes="cv-banner")
    search = None
    with gr.Tabs(elem_id="mode"):
        with gr.Tab("Rerank a list", id="rerank", elem_id="rerank-tab") as rerank_tab, \
                gr.Row(equal_height=False, elem_classes="cv-inputs"):
            with gr.Column(scale=5, min_width=280, elem_classes="cv-panel"):
                gr.Markdown("**Examples**: one click loads a set, then press Run.", elem_classes="cv-small")
                with gr.Row(elem_classes="cv-examples"):
                    examples = [(ex, gr.Button(ex.button_label, size="sm", elem_id=ex.elem_id, elem_classes="cv-example",
                                               min_width=60)) for ex in load_examples()]
                query = gr.Textbox(label="Query", elem_id="query", lines=1, max_lines=3,
                                   placeholder="What is the population of Berlin?")
                documents = gr.Textbox(label="Documents", elem_id="documents", lines=8, max_lines=18,
                                       info=page_text.DOCUMENTS_HELP, placeholder="One document per line")
                run = gr.Button("Run", variant="primary", elem_id="run")
                status = gr.Markdown("", elem_id="status", elem_classes="cv-status")
            with gr.Column(scale=3, min_width=280, elem_classes="cv-panel"):
                files = gr.File(label="Upload documents", file_count="multiple", file_types=list(FORMATS),
                                type="filepath", elem_id="upload", height=120)
                gr.Markdown(page_text.UPLOAD_HELP, elem_classes="cv-small")
                # the values are labels too (registry.menu), so no server path reaches /config
                model = gr.Dropdown(registry.menu(), value=registry.labels()[registry.default],
                                    label="Model", elem_id="model",
                                    interactive=len(registry.choices) > 1 or bool(registry.api_models))
                jina_key = key_box()
                with gr.Row():
                    # no minimum/maximum: Gradio would refuse out-of-range values with its red "Error" badge;
                    # on_run checks them (limits.check_*) and says why in the status line
                    doc_max = gr.Number(doc_max_tokens(limits, registry.get(registry.default)),
                                        label="Document max tokens", precision=0,
                                        elem_id="doc-max-tokens", min_width=120)
                    top_n = gr.Number(DEFAULT_TOP_N, label="Top n (0: all)", precision=0, elem_id="top-n", min_width=120)
                gr.Markdown(limits.describe(), elem_classes="cv-small")
        if shelf is not None:
            with gr.Tab("Search a collection", id="search", elem_id="search-tab") as search_tab:
                search = search_layout(shelf, limits, list(facts["dimensions"]))
            search_tab.select(None, js=tab_js("search"))
            rerank_tab.select(None, js=tab_js("rerank"))
    stale = gr.Markdown(page_text.STALE_NOTE, visible=False, elem_id="stale", elem_classes="cv-stale-note")
    explorer = gr.HTML(None, html_template='<div class="cv-mount"></div>', js_on_load=EXPLORER_JS,
                       head=explorer_head(), elem_id="explorer", server_functions=server_functions)
    exports = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="exports", visible=False)
    gr.Markdown(page_text.EXPORT_HELP, elem_classes="cv-small")
    with gr.Accordion("Compare engines: the same Run encoded again in exact float32 or with int8 layers",
                      open=False, elem_id="engines"):
        gr.Markdown(f"{page_text.FLOAT32_HELP}\n\n{page_text.INT8_HELP}", elem_classes="cv-small")
        with gr.Row():
            engine_buttons = {engine: gr.Button(ENGINE_BUTTONS[engine], elem_id=f"{engine}-compare", size="sm")
                              for engine in ENGINES}
        engine_result = gr.Markdown("", elem_id="engine-result")
        engine_table = gr.DataFrame(visible=False, elem_id="engine-table", interactive=False)
    jina = jina_panel(jina_key)
    compare = compare_panel(registry)
    with gr.Accordion("How to read this", open=False, elem_id="how-to-read"):
        how_to_read = gr.Markdown(page_text.how_to_read(facts))
    with gr.Accordion("Storage and compression: what the settings do", open=False, elem_id="storage-help"):
        storage_help = gr.Markdown(page_text.storage_help(facts))
    return Page(run_key=run_key, header=header, banner=banner, stale=stale, storage_help=storage_help, examples=examples, query=query, documents=documents, files=files,
                model=model, doc_max=doc_max, top_n=top_n, run=run, status=status, explorer=explorer,
                exports=exports, how_to_read=how_to_read, engine_buttons=engine_buttons, engine_result=engine_result,
                engine_table=engine_table, jina=jina, search=search, compare=compare)


# ---- handlers (module level; context first, then named values) ----------------------

@dataclass
class Context:
    registry: ModelRegistry
    limits: Limits
    store: RunStore
    page: Page
    slots: EncodeSlots
    shelf: ExportShelf


def on_example(ctx: Context, example: ExampleSet) -> dict:
    p = ctx.page
    return {p.query: example.query, p.documents: example.documents_text, p.top_n: example.top_n, p.files: None,
            p.status: status_html(f"Loaded “{example.title}”: press Run.")}


def on_model(ctx: Context, name: str) -> dict:
    """The banner of model ``name``; "Document max tokens" at its limit once it is loaded
    (a model not loaded yet: Run lowers the value to its limit and says so)."""
    text = banner_markdown(ctx.registry, name)
    model = ctx.registry.models.get(ctx.registry.resolve(name))
    doc_max = gr.Number(value=doc_max_tokens(ctx.limits, model)) if model is not None else gr.Number()
    return {ctx.page.banner: gr.Markdown(value=text, visible=bool(text)), ctx.page.doc_max: doc_max}


def on_run(ctx: Context, query: str, documents: str, files: list[str] | None, model_name: str,
           doc_max: float | None, top_n: float | None, run_key: str | None, request: gr.Request,
           progress=gr.Progress(), api_key: str | None = None) -> dict:  # noqa: B008 (Gradio idiom)
    """Load the model (no encode slot held), encode once in a slot, keep the Run
    for this session, send the explorer its payload. Bad input: a message in the
    status line and a toast; the inputs and the last Run stay, the Run marked
    as the previous one. ``api_key``: the key box, for Jina's API (``ui_jina``)."""
    p = ctx.page
    session = session_of(request)
    ctx.slots.hold(session)  # background work waits until this Run's payload is on the page
    model = None
    try:
        docs = gather_documents(documents, files, ctx.limits)
        progress(0, desc="Loading the model")
        model = with_key(ctx.registry.get(model_name), api_key)
        progress(0, desc="Waiting for an encode slot")
        with ctx.slots.encoding():
            progress(0, desc="Encoding")
            run = analyze_request(model, query, docs, doc_max, top_n, ctx.limits, model_name=model_name,
                                  progress=lambda done, total: progress((done, total), desc="Encoding documents",
                                                                        unit="batches"))
        if hasattr(model, "tokens_used"):  # Jina's API: the tokens it counted, and any note on its vectors
            run.note = model.note()
    except user_errors() as err:
        ctx.slots.release(session)
        return failed_reply(ctx, p.status, user_message(err), run_key)
    finally:
        if hasattr(model, "close"):
            model.close()
    key = ctx.store.put(run, session)
    facts = model_facts(model)
    payload = run_payload(run.analysis, top_n=run.top_n, summary=run.summary(), display_name=run.display_name,
                          is_fallback=run.is_fallback, run_key=key, model=facts)
    return {**payload_reply(ctx, key, payload, facts, model_name),
            p.status: status_html(run_status(run, payload, documents)),
            p.doc_max: gr.Number(value=run.doc_max_tokens) if run.model_doc_limit else gr.Number()}


def engine_summary(result: dict) -> str:
    """One line on a ``service.compare_with_engine`` result (its note, when there was nothing to compare)."""
    if result["note"]:
        return html.escape(result["note"])
    name = ("exact float32" if result["engine"] == "float32"
            else f"{result['engine']} engine ({html.escape(result['reason'])})")
    tau = "–" if result["kendall_tau"] is None else f"{result['kendall_tau']:.3f}"
    return (f"The Run encoded again in {name} at {result['dimensions']} dimensions: encoded in "
            f"{result['seconds']:.2f} s (the Run: {result['reference_seconds']:.2f} s, "
            f"{html.escape(result['reference_engine'])}). Kendall tau {tau}, largest rank change "
            f"{result['largest_rank_change']}, largest score change {result['largest_score_change']:.3f}.")


def on_engine(ctx: Context, engine: str, run_key: str | None, request: gr.Request) -> dict:
    """Encode the kept Run again with ``engine`` (the model loaded once per
    engine, counted in the variant budget, outside the encode slots and the
    executor) and compare its ranking with the Run's, on the executor; once per Run."""
    p = ctx.page
    session = session_of(request)
    try:
        if run_key is None:
            raise LimitError("Run a query first: there is nothing to compare yet.")
        run = ctx.store.get(run_key, session)
        if engine in ENGINES and not same_engine_note(run, engine):
            ctx.registry.variant(run.model_name, engine)  # loaded here, not on the executor
        result = ctx.store.derive(run_key, session, ("engine", engine),
                                  lambda r: compare_with_engine(r, ctx.registry, engine))
    except user_errors() as err:
        message = user_message(err)
        gr.Warning(html.escape(message))
        return {p.engine_result: status_html(message, error=True), p.engine_table: gr.DataFrame(visible=False)}
    if result["note"]:  # nothing was encoded: no table
        return {p.engine_result: engine_summary(result), p.engine_table: gr.DataFrame(visible=False)}
    return {p.engine_result: engine_summary(result),
            p.engine_table: gr.DataFrame(value=engine_table(result), visible=True)}


def fetch_error(err: Exception) -> dict:
    """The explorer's answer to a fetch that failed: why, and ``retry`` where asking
    again later may work (``Busy``); the renderer keeps any other error."""
    return {"error": user_message(err), **({"retry": True} if isinstance(err, Busy) else {})}


def document_views(store: RunStore, run_key: str, index: int, method: str = "float32",
                   session: str | None = None) -> dict:
    """One document's views for the explorer, exact or under a storage method
    (a large Run, or a storage setting, sends them on demand), computed once per
    Run on the executor."""
    try:
        run = store.get(run_key, session)
        index = run.check_index(index)
        if method == "float32":
            return store.derive(run_key, session, ("views", index), lambda r: document_payload(r.analysis, index))
        if method not in METHODS:
            raise LimitError(f"Unknown storage method {method!r}.")
        return store.derive(run_key, session, ("views", index, method),
                            lambda r: stored_document_payload(r.stored, index, method))
    except (LimitError, ValueError) as err:  # RunExpired and Busy are LimitErrors
        return fetch_error(err)


def storage_views(store: RunStore, run_key: str, session: str | None = None) -> dict:
    """Every storage setting's ranking and the decision table of a kept Run."""
    try:
        return store.derive(run_key, session, STORAGE, _storage)
    except LimitError as err:  # RunExpired, Busy
        return fetch_error(err)


def on_export(ctx: Context, run_key: str | None, evt: gr.EventData, request: gr.Request) -> dict:
    """The explorer's "Export current view": files of the view it sends (dimension,
    storage, document, toggles), written on the executor and kept on the
    session's shelf (``ExportShelf``)."""
    state = evt._data or {}
    session = session_of(request)
    try:
        if run_key is None:
            raise LimitError("Run a query first: there is nothing to export yet.")
        run = ctx.store.get(run_key, session)
        view = ViewState.from_page(run.analysis, state)
        paths = ctx.store.derive(run_key, session, None, lambda r: ctx.shelf.add(session, export_files(r, view)))
    except (LimitError, ValueError) as err:  # RunExpired and Busy are LimitErrors; a state the Run cannot show, a ValueError
        gr.Warning(html.escape(user_message(err)))
        return {ctx.page.exports: gr.File(value=None, visible=False)}
    return {ctx.page.exports: gr.File(value=[str(x) for x in paths], visible=True)}


# ---- events ---------------------------------------------------------------------------

def _wire(ctx: Context, concurrency: int, shelf: CollectionShelf | None = None, demo: gr.Blocks | None = None) -> None:
    """Run and the API share ``concurrency`` encode slots (``ctx.slots``); Gradio
    lets two more of their events start, so that a Run on a loaded model starts
    while another model loads."""
    p = ctx.page
    quick = {"api_visibility": "private", "queue": False}
    for example, button in p.examples:
        button.click(partial(on_example, ctx, example), None, [p.query, p.documents, p.top_n, p.files, p.status],
                     **quick)
    p.model.input(partial(on_model, ctx), p.model, [p.banner, p.doc_max], **quick)
    def run(query, documents, files, model_name, doc_max, top_n, run_key, api_key, request: gr.Request,
            progress=gr.Progress()) -> dict:  # noqa: B008 (Gradio reads the hints here)
        return on_run(ctx, query, documents, files, model_name, doc_max, top_n, run_key, request, progress, api_key)

    def shown(run_key: str | None, request: gr.Request) -> None:
        on_run_shown(ctx, run_key, request)

    def export(run_key: str | None, evt: gr.EventData, request: gr.Request) -> dict:
        return on_export(ctx, run_key, evt, request)

    p.run.click(run, [p.query, p.documents, p.files, p.model, p.doc_max, p.top_n, p.run_key, p.jina.key],
                [p.run_key, p.status, p.explorer, p.banner, p.exports, p.how_to_read, p.header, p.storage_help,
                 p.stale, p.doc_max],
                api_visibility="private", concurrency_limit=concurrency + LOADING, concurrency_id="encode",
                show_progress_on=p.status).success(shown, p.run_key, None, api_visibility="private", queue=False)
    p.explorer.export(export, p.run_key, p.exports, api_visibility="private", concurrency_limit=2,
                      concurrency_id="derived")
    def compare_with(engine: str):
        def engine_comparison(run_key: str | None, request: gr.Request) -> dict:
            return on_engine(ctx, engine, run_key, request)
        return engine_comparison

    for engine, button in p.engine_buttons.items():
        button.click(compare_with(engine), p.run_key, [p.engine_result, p.engine_table], api_visibility="private",
                     concurrency_limit=2, concurrency_id="derived", show_progress_on=p.engine_result)
    wire_jina(ctx)
    wire_compare(ctx, concurrency + LOADING, shown)
    if shelf is not None and p.search is not None:
        wire_search(ctx, shelf, concurrency, demo)


def build_app(models: ModelRegistry | Mapping[str, object], default_name: str | None = None,
              limits: Limits | None = None, concurrency: int | None = None,
              store: RunStore | None = None, collections: CollectionShelf | None = None,
              demo_collection: bool = False) -> gr.Blocks:
    """The page. ``models``: a ``ModelRegistry``, or a dict of loaded models by
    name (the menu offers exactly those). ``concurrency``: encodes at once
    (default ``COLBERT_VIZ_CONCURRENCY``, 1). ``collections``: what the search mode
    offers (default: ``CollectionShelf.from_env()``, the operator's collections);
    ``demo_collection``: offer the example sets as a collection too, indexed with the
    default model in the background (``collection_shelf.demo_folder``)."""
    registry = models if isinstance(models, ModelRegistry) else ModelRegistry(models, default=default_name)
    limits = limits or Limits.from_env()
    concurrency = concurrency or concurrency_from_env()
    slots = EncodeSlots(concurrency)
    store = store if store is not None else RunStore.from_env(executor=Executor.from_env(slots))
    if store.executor.slots is None:
        store.executor.slots = slots
    gr.set_static_paths([plotly_js_path()])
    default_model = registry.get(registry.default)
    facts = model_facts(default_model)
    shelf = collections if collections is not None else CollectionShelf.from_env()
    folder = demo_folder() if demo_collection else None
    if folder is not None:
        shelf.add_demo(folder, registry.default, default_model, [ex.documents for ex in load_examples()],
                       encoding=slots.encoding)
    with gr.Blocks(title="colbert-viz · jina-colbert-v2 explained", analytics_enabled=False,
                   delete_cache=CACHE_CLEANUP) as demo:
        page = _layout(registry, limits, facts, [_server_fn(partial(document_views, store), "document_views"),
                                                 _server_fn(partial(storage_views, store), "storage_summary")],
                       shelf)
        exports_shelf = ExportShelf.from_env(cache_copy=partial(_cache_copy, page.exports))
        _wire(Context(registry, limits, store, page, slots, exports_shelf), concurrency, shelf, demo)
        add_api_endpoints(registry, limits, slots, concurrency + LOADING, shelf)
    demo.queue(default_concurrency_limit=4)
    return demo


def _server_fn(fn, name: str):
    """``fn`` as a server function the explorer can call as ``server.<name>(…)``,
    with the caller's session as ``session``. Gradio hands the function the
    call's arguments as one list (one argument as itself)."""
    def call(args, request: gr.Request) -> dict:
        return fn(*(args if isinstance(args, list) else [args]), session=session_of(request))

    call.__name__ = name
    return call


def _cache_copy(component: gr.File, path: Path) -> Path:
    """Where Gradio will copy ``path`` when ``component`` serves it (its cache,
    one folder per content hash)."""
    from gradio.processing_utils import hash_file

    return Path(component.GRADIO_CACHE) / hash_file(path) / path.name
