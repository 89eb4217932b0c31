"""The Gradio page: a thin shell around the explorer.

The page has the inputs (examples, query, documents, uploads, model, limits),
Run, a status line, the explorer, the exports and the engine comparison (the
Run encoded again in exact float32 or with the int8 engine). Run is the only
step that encodes: it stores the ``service.Run`` in a ``RunStore`` and sends the
explorer one payload (``explorer.run_payload``); from then on the dimension,
document, A/B and display controls act in the browser
(``static/explorer.js``). For a Run too large to send whole, the explorer asks
``document_views`` (a server function) for one document at a time.

Components are declared in ``_layout`` and named in ``Page``; handlers are
module-level functions of named values; events are wired in ``_wire``.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import gradio as gr

from colbert_viz.app.examples import ExampleSet, load_examples
from colbert_viz.app.exports import export_files
from colbert_viz.app.limits import LimitError, Limits
from colbert_viz.app.registry import ModelRegistry
from colbert_viz.app.run_store import RunExpired, RunStore
from colbert_viz.app.service import (
    ENGINES,
    analyze_request,
    compare_with_engine,
    gather_documents,
    user_errors,
    user_message,
)
from colbert_viz.app.ui_api import add_api_endpoints
from colbert_viz.checks import positive_int_env
from colbert_viz.engine.checkpoint import OFFLINE
from colbert_viz.explorer import page_text
from colbert_viz.explorer.html import asset, plotly_js_path
from colbert_viz.explorer.payload import (
    document_payload,
    model_facts,
    run_payload,
    storage_summary,
    stored_document_payload,
)
from colbert_viz.explorer.view_state import ViewState
from colbert_viz.inputs import FORMATS, splits_at_blank_lines
from colbert_viz.maths.tables import engine_table
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


def banner_markdown(registry: ModelRegistry, name: str | None) -> str:
    """The banner's text for model ``name``: empty unless it is the offline model
    or the default could not be loaded."""
    parts = []
    if registry.startup_note:
        parts.append(html.escape(registry.startup_note))
    if name == OFFLINE:
        parts.append(page_text.OFFLINE_BANNER)
    return "\n\n".join(parts)


def status_html(message: str, error: bool = False) -> str:
    text = html.escape(message)
    return f'<span class="cv-error">⚠ {text}</span>' if error else text


def model_label(name: str) -> str:
    """The model menu's text for ``name`` (the menu's value stays ``name``): a
    local folder by its last component, never the server's path.

    >>> model_label("/srv/models/tiny-jina/")
    'tiny-jina (local checkpoint)'
    >>> model_label("jinaai/jina-colbert-v2")
    'jinaai/jina-colbert-v2'
    """
    if name.startswith(("/", "~", ".")) or "\\" in name or Path(name).expanduser().is_dir():
        return f"{Path(name.rstrip('/')).name or name} (local checkpoint)"
    return name


def header_html(facts: dict) -> str:
    return (f'<div class="cv-header"><h1>{html.escape(page_text.TITLE)}</h1>'
            f'<p>{html.escape(page_text.intro(facts))}</p></div>')


def run_status(run, payload: dict, documents_text: str | None) -> str:
    """The status line after a Run: its summary, the query's cut when it was
    cut, and how the text box was split when blank lines split it."""
    parts = [run.summary()]
    scored = payload["query"]["scored"]
    if scored["truncated"]:
        parts.append(f"The query was cut to {scored['tokens']} tokens ({scored['dropped']} dropped).")
    blocks = splits_at_blank_lines(documents_text or "")
    if blocks:
        parts.append(f"The text box held {blocks} document{'s' if blocks > 1 else ''}, split at blank lines.")
    return " ".join(parts)


# ---- the explorer component -------------------------------------------------------

EXPLORER_JS = """
const mount = () => {
  const root = element.querySelector('.cv-mount');
  const payload = props.value;
  if (!payload || !payload.schema) {
    root.replaceChildren();
    const p = document.createElement('p');
    p.className = 'cv-small cv-placeholder';
    p.textContent = 'Press Run: the ranking and its explanation appear here.';
    root.appendChild(p);
    return;
  }
  window.ColbertViz.mount(root, payload, {
    ids: true,
    fetchDocument: (i, method) => server.document_views(payload.run_key, i, method),
    fetchStorage: () => server.storage_summary(payload.run_key),
    onExport: state => trigger('export', state),
  });
};
mount();
watch('value', mount);
"""


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


def _layout(registry: ModelRegistry, limits: Limits, facts: dict, server_functions: list) -> Page:
    run_key = gr.State(None)
    header = gr.HTML(header_html(facts), js_on_load=None, elem_id="header")
    banner_text = banner_markdown(registry, registry.default)
    banner = gr.Markdown(banner_text, visible=bool(banner_text), elem_id="banner", elem_classes="cv-banner")
    with gr.Row(equal_height=False, elem_classes="cv-inputs"):
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
            model = gr.Dropdown([(model_label(c), c) for c in registry.choices], value=registry.default,
                                label="Model", elem_id="model",
                                interactive=len(registry.choices) > 1)
            with gr.Row():
                # no minimum/maximum: Gradio would refuse out-of-range values with its red "Error" badge;
                # on_run checks them (limits.check_*) and says why in the status line
                doc_max = gr.Number(limits.max_doc_tokens, label="Document max tokens", precision=0,
                                    elem_id="doc-max-tokens", min_width=120)
                top_n = gr.Number(DEFAULT_TOP_N, label="Top n (0: all)", precision=0, elem_id="top-n", min_width=120)
            gr.Markdown(limits.describe(), elem_classes="cv-small")
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
    with gr.Accordion("How to read this", open=False, elem_id="how-to-read"):
        how_to_read = gr.Markdown(page_text.how_to_read(facts))
    with gr.Accordion("Storage and compression: what the settings do", open=False, elem_id="storage-help"):
        storage_help = gr.Markdown(page_text.storage_help(facts))
    return Page(run_key=run_key, header=header, banner=banner, stale=stale, storage_help=storage_help, examples=examples, query=query, documents=documents, files=files,
                model=model, doc_max=doc_max, top_n=top_n, run=run, status=status, explorer=explorer,
                exports=exports, how_to_read=how_to_read, engine_buttons=engine_buttons, engine_result=engine_result,
                engine_table=engine_table)


# ---- handlers (module level; context first, then named values) ----------------------

@dataclass
class Context:
    registry: ModelRegistry
    limits: Limits
    store: RunStore
    page: Page


def on_example(ctx: Context, example: ExampleSet) -> dict:
    p = ctx.page
    return {p.query: example.query, p.documents: example.documents_text, p.top_n: example.top_n, p.files: None,
            p.status: status_html(f"Loaded “{example.title}”: press Run.")}


def on_model(ctx: Context, name: str) -> dict:
    text = banner_markdown(ctx.registry, name)
    return {ctx.page.banner: gr.Markdown(value=text, visible=bool(text))}


def on_run(ctx: Context, query: str, documents: str, files: list[str] | None, model_name: str,
           doc_max: float | None, top_n: float | None, run_key: str | None = None,
           progress=gr.Progress()) -> dict:  # noqa: B008 (Gradio idiom)
    """Encode once, keep the Run, send the explorer its payload. Bad input: a
    message in the status line and a toast; the inputs and the last Run stay,
    the Run marked as the previous one."""
    p = ctx.page
    try:
        docs = gather_documents(documents, files, ctx.limits)
        progress(0, desc="Loading the model")
        model = ctx.registry.get(model_name)
        progress(0, desc="Encoding")
        run = analyze_request(model, query, docs, doc_max, top_n, ctx.limits, model_name=model_name,
                              progress=lambda done, total: progress((done, total), desc="Encoding documents",
                                                                    unit="batches"))
    except user_errors() as err:
        message = user_message(err)
        gr.Warning(html.escape(message))
        return {p.status: status_html(message, error=True),
                p.stale: gr.Markdown(visible=run_key is not None),
                p.explorer: gr.HTML(elem_classes=["cv-stale"] if run_key is not None else [])}
    key = ctx.store.put(run)
    # The storage settings take a second or more (k-means, clustering): start them now, one Run at a
    # time, so the storage control answers at once when it is first used.
    threading.Thread(target=_precompute_storage, args=(run.analysis,), daemon=True).start()
    facts = model_facts(model)
    payload = run_payload(run.analysis, top_n=run.top_n, summary=run.summary(), display_name=run.display_name,
                          is_fallback=run.is_fallback, run_key=key, model=facts)
    text = banner_markdown(ctx.registry, model_name)
    return {p.run_key: key, p.status: status_html(run_status(run, payload, documents)),
            p.explorer: gr.HTML(value=payload, elem_classes=[]),
            p.banner: gr.Markdown(value=text, visible=bool(text)), p.exports: gr.File(value=None, visible=False),
            p.how_to_read: page_text.how_to_read(facts), p.header: header_html(facts),
            p.storage_help: page_text.storage_help(facts), p.stale: gr.Markdown(visible=False)}


_BACKGROUND = threading.Lock()


def _precompute_storage(analysis) -> None:
    with _BACKGROUND:
        storage_summary(analysis)


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


def on_engine(ctx: Context, engine: str, run_key: str | None) -> dict:
    """Encode the kept Run again with ``engine`` (the model loaded once per
    engine) and compare its ranking with the Run's."""
    p = ctx.page
    try:
        if run_key is None:
            raise LimitError("Run a query first: there is nothing to compare yet.")
        result = compare_with_engine(ctx.store.get(run_key), ctx.registry, engine)
    except user_errors() as err:
        message = user_message(err)
        gr.Warning(html.escape(message))
        return {p.engine_result: status_html(message, error=True), p.engine_table: gr.DataFrame(visible=False)}
    if result["note"]:  # nothing was encoded: no table
        return {p.engine_result: engine_summary(result), p.engine_table: gr.DataFrame(visible=False)}
    return {p.engine_result: engine_summary(result),
            p.engine_table: gr.DataFrame(value=engine_table(result), visible=True)}


def document_views(store: RunStore, run_key: str, index: int, method: str = "float32") -> dict:
    """One document's views for the explorer, exact or under a storage method
    (a large Run, or a storage setting, sends them on demand)."""
    try:
        run = store.get(str(run_key))
        index = run.check_index(index)
        if method == "float32":
            return document_payload(run.analysis, index)
        if method not in METHODS:
            raise LimitError(f"Unknown storage method {method!r}.")
        return stored_document_payload(run.analysis, index, method)
    except (LimitError, ValueError) as err:  # RunExpired is a LimitError
        return {"error": user_message(err)}


def storage_views(store: RunStore, run_key: str) -> dict:
    """Every storage setting's ranking and the decision table of a kept Run."""
    try:
        return storage_summary(store.get(str(run_key)).analysis)
    except RunExpired as err:
        return {"error": user_message(err)}


def on_export(ctx: Context, run_key: str | None, evt: gr.EventData) -> dict:
    """The explorer's "Export current view": files of the view it sends (dimension, storage, document, toggles)."""
    state = evt._data or {}
    try:
        if run_key is None:
            raise LimitError("Run a query first: there is nothing to export yet.")
        run = ctx.store.get(run_key)
        paths = export_files(run, ViewState.from_page(run.analysis, state))
    except (LimitError, ValueError) as err:  # RunExpired is a LimitError; a state the Run cannot show, a ValueError
        gr.Warning(html.escape(user_message(err)))
        return {ctx.page.exports: gr.File(value=None, visible=False)}
    return {ctx.page.exports: gr.File(value=[str(x) for x in paths], visible=True)}


# ---- events ---------------------------------------------------------------------------

def _wire(ctx: Context, concurrency: int) -> None:
    p = ctx.page
    quick = {"api_visibility": "private", "queue": False}
    for example, button in p.examples:
        button.click(partial(on_example, ctx, example), None, [p.query, p.documents, p.top_n, p.files, p.status],
                     **quick)
    p.model.input(partial(on_model, ctx), p.model, p.banner, **quick)
    p.run.click(partial(on_run, ctx), [p.query, p.documents, p.files, p.model, p.doc_max, p.top_n, p.run_key],
                [p.run_key, p.status, p.explorer, p.banner, p.exports, p.how_to_read, p.header, p.storage_help,
                 p.stale],
                api_visibility="private", concurrency_limit=concurrency, concurrency_id="encode",
                show_progress_on=p.status)

    def export(run_key: str | None, evt: gr.EventData) -> dict:  # Gradio reads the EventData hint here
        return on_export(ctx, run_key, evt)

    p.explorer.export(export, p.run_key, p.exports, api_visibility="private")
    for engine, button in p.engine_buttons.items():
        button.click(partial(on_engine, ctx, engine), p.run_key, [p.engine_result, p.engine_table],
                     api_visibility="private", concurrency_limit=concurrency, concurrency_id="encode",
                     show_progress_on=p.engine_result)


def build_app(models: ModelRegistry | Mapping[str, object], default_name: str | None = None,
              limits: Limits | None = None, concurrency: int | None = None,
              store: RunStore | None = None) -> gr.Blocks:
    """The page. ``models``: a ``ModelRegistry``, or a dict of loaded models by
    name (the menu offers exactly those). ``concurrency``: encodes at once
    (default ``COLBERT_VIZ_CONCURRENCY``, 1)."""
    registry = models if isinstance(models, ModelRegistry) else ModelRegistry(models, default=default_name)
    limits = limits or Limits.from_env()
    concurrency = concurrency or concurrency_from_env()
    store = store or RunStore.from_env()
    gr.set_static_paths([plotly_js_path()])
    facts = model_facts(registry.get(registry.default))
    with gr.Blocks(title="colbert-viz · jina-colbert-v2 explained", analytics_enabled=False,
                   delete_cache=CACHE_CLEANUP) as demo:
        page = _layout(registry, limits, facts, [_server_fn(partial(document_views, store), "document_views"),
                                                 _server_fn(partial(storage_views, store), "storage_summary")])
        _wire(Context(registry, limits, store, page), concurrency)
        add_api_endpoints(registry, limits, concurrency)
    demo.queue(default_concurrency_limit=4)
    return demo


def _server_fn(fn, name: str):
    """``fn`` as a server function the explorer can call as ``server.<name>(…)``.
    Gradio hands the function the call's arguments as one list (one argument as itself)."""
    def call(args) -> dict:
        return fn(*(args if isinstance(args, list) else [args]))

    call.__name__ = name
    return call

