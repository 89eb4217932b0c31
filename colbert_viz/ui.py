"""The Gradio page: ``build_app`` lays out the components and wires the events.

Handlers only call package functions (``service``, ``views``, ``exports``) and
hand the results to components; every number on the page comes from the
package. The encoded request lives in ``gr.State`` as a ``service.Run``, so the
dimension, document and display controls redraw without encoding again.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from pathlib import Path

import gradio as gr

from colbert_viz import page_text
from colbert_viz.checkpoint import OFFLINE
from colbert_viz.examples import ExampleSet, load_examples
from colbert_viz.exports import export_files
from colbert_viz.inputs import FORMATS
from colbert_viz.limits import MIN_DOC_TOKENS, Limits
from colbert_viz.registry import ModelRegistry
from colbert_viz.service import Run, analyze_request, gather_documents, user_errors
from colbert_viz.ui_api import add_api_endpoints
from colbert_viz.views import (
    MAX_COLUMNS,
    ViewOptions,
    difference_views,
    dimension_views,
    document_choices,
    document_views,
    ranking_view,
    top_documents,
)

STYLE = Path(__file__).resolve().parents[1] / "assets" / "style.css"
DEFAULT_DIMENSIONS = (128, 96, 64)
DEFAULT_TOP_N = 10
STATE_TTL_S = 3600  # an idle session's encoded request is dropped after an hour: press Run again


MAX_UPLOAD = "25mb"  # per file: more than 64 documents of 100,000 characters can need


def launch_options() -> dict:
    """Keyword arguments for ``Blocks.launch``: the page's CSS, theme and upload bound."""
    return {"css_paths": [STYLE], "theme": gr.themes.Soft(primary_hue="blue", neutral_hue="slate"),
            "max_file_size": MAX_UPLOAD}


def concurrency_from_env() -> int:
    raw = os.environ.get("COLBERT_VIZ_CONCURRENCY", "1").strip() or "1"
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"COLBERT_VIZ_CONCURRENCY must be a positive integer, got {raw!r}")
    return int(raw)


def banner_markdown(registry: ModelRegistry, name: str | None) -> str:
    """The banner's text for model ``name``: empty unless it is the offline model
    or the default could not be loaded."""
    parts = []
    if registry.startup_note:
        parts.append(html.escape(registry.startup_note))
    if name == OFFLINE:
        parts.append(page_text.OFFLINE_BANNER)
    return "\n\n".join(parts)


def _banner(registry: ModelRegistry, name: str | None):
    text = banner_markdown(registry, name)
    return gr.Markdown(value=text, visible=bool(text))


def _status(message: str, error: bool = False) -> str:
    text = html.escape(message)
    return f'<span class="cv-error">⚠ {text}</span>' if error else text


def _ranking(table) -> gr.DataFrame:
    """The ranking table with narrow number columns and the rest for the preview."""
    widths = {"Rank": 52, "Doc": 48, "Score": 64, "Per query token": 76, "Tokens": 76}
    # Fixed decimals on the page (28.10, 0.880); the data stay numbers.
    styled = table.style.format({"Score": "{:.2f}", "Per query token": "{:.3f}"})
    return gr.DataFrame(value=styled, column_widths=[widths.get(c, 64 if c.startswith("Rank @") else 270)
                                                    for c in table.columns])


def _no_exports() -> gr.File:
    """Downloads belong to the view they were made from: hide them when it changes."""
    return gr.File(value=None, visible=False)


def _dimensions(registry: ModelRegistry) -> tuple[int, ...]:
    model = registry.models.get(registry.default)
    return tuple(model.dimensions) if model is not None else DEFAULT_DIMENSIONS


def build_app(models: ModelRegistry | Mapping[str, object], default_name: str | None = None,
              limits: Limits | None = None, concurrency: int | None = None) -> gr.Blocks:
    """The page. ``models``: a ``ModelRegistry``, or a dict of loaded models by
    name (the dropdown offers exactly those). ``concurrency``: encodes at once
    (default ``COLBERT_VIZ_CONCURRENCY``, 1)."""
    registry = models if isinstance(models, ModelRegistry) else ModelRegistry(models, default=default_name)
    limits = limits or Limits.from_env()
    concurrency = concurrency or concurrency_from_env()
    examples = load_examples()
    dims = _dimensions(registry)
    errors = user_errors()

    with gr.Blocks(title="colbert-viz · jina-colbert-v2 explained", analytics_enabled=False) as demo:
        run_state = gr.State(None, time_to_live=STATE_TTL_S)
        gr.HTML(f'<div class="cv-header"><h1>{html.escape(page_text.TITLE)}</h1>'
                f'<p>{html.escape(page_text.INTRO)}</p></div>', js_on_load=None)
        banner_text = banner_markdown(registry, registry.default)
        banner = gr.Markdown(banner_text, visible=bool(banner_text), elem_id="banner", elem_classes="cv-banner")
        # One dimension control for every view; it stays in sight while the page scrolls (style.css).
        dimension = gr.Radio(list(dims), value=dims[0], label="Dimensions", elem_id="dimension",
                             info="128 is native; 96 and 64 keep the first dimensions, re-normalised "
                                  "(Matryoshka). Every view follows, without encoding again.")

        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=340, elem_classes="cv-panel"):
                gr.Markdown("**Examples**: one click loads a set, then press Run.", elem_classes="cv-small")
                with gr.Row(elem_classes="cv-examples"):
                    example_buttons = [(ex, gr.Button(ex.button_label, size="sm", elem_id=ex.elem_id,
                                                      elem_classes="cv-example", min_width=60))
                                       for ex in examples]
                query = gr.Textbox(label="Query", elem_id="query", lines=1, max_lines=3,
                                   placeholder="What is the population of Berlin?")
                documents = gr.Textbox(label="Documents", elem_id="documents", lines=9, max_lines=18,
                                       info=page_text.DOCUMENTS_HELP, placeholder="One document per line")
                run_button = gr.Button("Run", variant="primary", elem_id="run")
                status = gr.Markdown("", elem_id="status", elem_classes="cv-status")
                files = gr.File(label="Upload documents", file_count="multiple", file_types=list(FORMATS),
                                type="filepath", elem_id="upload", height=140)
                gr.Markdown(page_text.UPLOAD_HELP, elem_classes="cv-small")
                model_choice = gr.Dropdown(registry.choices, value=registry.default, label="Model",
                                           elem_id="model", interactive=len(registry.choices) > 1)
                with gr.Row():
                    doc_max = gr.Number(limits.max_doc_tokens, label="Document max tokens", precision=0,
                                        minimum=MIN_DOC_TOKENS, maximum=limits.max_doc_tokens,
                                        elem_id="doc-max-tokens", min_width=120)
                    top_n = gr.Number(DEFAULT_TOP_N, label="Top n (0: all)", precision=0, minimum=0,
                                      maximum=limits.max_docs, elem_id="top-n", min_width=120)
                gr.Markdown(limits.describe(), elem_classes="cv-small")

            with gr.Column(scale=6, min_width=480, elem_classes="cv-panel"):
                ranking = gr.DataFrame(label="Ranking: click a row to explain that document", elem_id="ranking",
                                       interactive=False, wrap=True, max_height=420)
                with gr.Row(equal_height=False):
                    export_button = gr.Button("Export current view", size="sm", elem_id="export", scale=1,
                                              min_width=160)
                    exports = gr.File(label="Downloads", file_count="multiple", interactive=False,
                                      elem_id="exports", scale=3, visible=False)
                gr.Markdown(page_text.EXPORT_HELP, elem_classes="cv-small")

        with gr.Column(elem_id="explanation", elem_classes="cv-panel"):
            gr.Markdown("## Explanation")
            with gr.Row(equal_height=True):
                selected = gr.Dropdown([], label="Document", elem_id="selected-document", scale=3)
                hide_expansion = gr.Checkbox(label="Hide <mask> expansion tokens", elem_id="hide-expansion")
                hide_special = gr.Checkbox(label="Hide special tokens and markers", elem_id="hide-special")
                merge_words = gr.Checkbox(label="Merge sub-words into words", elem_id="merge-words")
            heatmap = gr.Plot(elem_id="heatmap", show_label=False, elem_classes="cv-wide")
            with gr.Row(visible=False, elem_id="window-controls") as window_row:
                raw_window = gr.Checkbox(label="Raw window instead of the match view", elem_id="raw-window")
                window_start = gr.Slider(0, 1, value=0, step=1, label="Window start (token position)",
                                         elem_id="window-start", scale=3)
            with gr.Row(equal_height=False):
                with gr.Column(scale=2, min_width=320):
                    contributions = gr.Plot(elem_id="contributions", show_label=False)
                with gr.Column(scale=3, min_width=360):
                    highlight = gr.HTML("", elem_id="highlight", js_on_load=None, elem_classes="cv-highlight-box")

        with gr.Accordion("Compare dimensions", open=True, elem_id="compare"):
            with gr.Row(equal_height=False):
                dimension_table = gr.DataFrame(label="Ranking at each dimension", elem_id="dimension-table",
                                               interactive=False, scale=3)
                tau_table = gr.DataFrame(label="Kendall tau", elem_id="kendall-tau", interactive=False, scale=1,
                                         min_width=220)
            changes_table = gr.DataFrame(label="Query tokens whose best match is not the same at every dimension "
                                               "(selected document)", elem_id="match-changes",
                                         interactive=False, wrap=True, max_height=360)

        with gr.Accordion("Why A above B", open=True, elem_id="why"):
            with gr.Row():
                doc_a = gr.Dropdown([], label="Document A", elem_id="doc-a")
                doc_b = gr.Dropdown([], label="Document B", elem_id="doc-b")
            difference = gr.Plot(elem_id="difference", show_label=False)
            difference_table = gr.DataFrame(label="Per query token, largest gaps first", elem_id="difference-table",
                                            interactive=False, wrap=True)

        with gr.Accordion("How to read this", open=False, elem_id="how-to-read"):
            gr.Markdown(page_text.HOW_TO_READ)

        # ---- rendering: Run + options → component values -------------------------------

        def options(dim, document, hide_exp, hide_sp, merge, raw, start) -> ViewOptions:
            return ViewOptions(dim=int(dim), document=int(document), hide_expansion=bool(hide_exp),
                               hide_special=bool(hide_sp), merge_words=bool(merge),
                               window_start=int(start or 0) if raw else None)

        def render_document(run: Run, opts: ViewOptions) -> dict:
            views = document_views(run, opts)
            return {heatmap: views.heatmap, contributions: views.contributions, highlight: views.highlight,
                    changes_table: views.match_changes, window_row: gr.Row(visible=views.long),
                    window_start: gr.Slider(maximum=max(1, views.items - MAX_COLUMNS))}

        def render_difference(run: Run, a, b, dim, merge) -> dict:
            figure, table = difference_views(run, int(a), int(b), int(dim), bool(merge))
            return {difference: figure, difference_table: table}

        def render_all(run: Run, opts: ViewOptions, a: int, b: int) -> dict:
            choices = document_choices(run, opts.dim)
            dim_view, tau_view = dimension_views(run)
            return {
                ranking: _ranking(ranking_view(run, opts.dim)), dimension_table: dim_view, tau_table: tau_view,
                selected: gr.Dropdown(choices=choices, value=opts.document),
                doc_a: gr.Dropdown(choices=choices, value=a), doc_b: gr.Dropdown(choices=choices, value=b),
                **render_document(run, opts), **render_difference(run, a, b, opts.dim, opts.merge_words),
            }

        # ---- events ------------------------------------------------------------------

        def load_example(example: ExampleSet):
            def fill():
                return (example.query, example.documents_text, example.top_n, None,
                        _status(f"Loaded “{example.title}”: press Run."))
            return fill

        for example, button in example_buttons:
            button.click(load_example(example), None, [query, documents, top_n, files, status],
                         api_visibility="private", queue=False)

        def on_model(name):
            return _banner(registry, name)

        model_choice.input(on_model, model_choice, banner, api_visibility="private", queue=False)

        def on_run(query_text, docs_text, file_paths, model_name, max_tokens, n, dim, hide_exp, hide_sp, merge,
                   progress=gr.Progress()):  # noqa: B008 (the Gradio idiom)
            try:
                docs = gather_documents(docs_text, file_paths)
                progress(0, desc="Loading the model")
                model = registry.get(model_name)
                progress(0, desc="Encoding")
                run = analyze_request(
                    model, query_text, docs, max_tokens, n, limits, model_name=model_name,
                    progress=lambda done, total: progress((done, total), desc="Encoding documents",
                                                          unit="batches"))
            except errors as err:
                # Show the message in the status area, then raise it as a toast; the inputs stay as typed.
                yield {status: _status(str(err), error=True)}
                raise gr.Error(html.escape(str(err)), print_exception=False) from None
            dim = int(dim) if dim in run.analysis.dimensions else run.native_dim
            a, b = top_documents(run, dim)
            opts = options(dim, a, hide_exp, hide_sp, merge, False, 0)
            yield {
                run_state: run, status: _status(run.summary()),
                banner: _banner(registry, model_name),
                dimension: gr.Radio(choices=list(run.analysis.dimensions), value=dim),
                raw_window: False, window_start: 0, exports: _no_exports(),
                **render_all(run, opts, a, b),
            }

        display = [hide_expansion, hide_special, merge_words, raw_window, window_start]
        run_outputs = [run_state, status, banner, dimension, raw_window, exports, ranking,
                       dimension_table, tau_table, selected, doc_a, doc_b, heatmap, contributions, highlight,
                       changes_table, window_row, window_start, difference, difference_table]
        run_button.click(
            on_run, [query, documents, files, model_choice, doc_max, top_n, dimension, *display[:3]], run_outputs,
            api_visibility="private", concurrency_limit=concurrency, concurrency_id="encode",
            show_progress_on=status,
        )

        def on_pair(run, dim, a, b, merge):
            if run is None or a is None or b is None:
                return {}
            return render_difference(run, a, b, dim, merge)

        def on_dimension(run, dim, document, a, b, hide_exp, hide_sp, merge, raw, start):
            if run is None:
                return {}
            opts = options(run.dim_or_native(dim), document, hide_exp, hide_sp, merge, raw, start)
            views = render_all(run, opts, int(a), int(b))
            return {exports: _no_exports(), **{k: v for k, v in views.items() if k in view_outputs}}

        # The side-by-side rankings and Kendall tau cover every dimension: they stay as they are.
        # "Why A above B" follows in a second step, so the main views are drawn first.
        view_outputs = [exports, ranking, selected, doc_a, doc_b, heatmap, contributions, highlight,
                        changes_table, window_row, window_start]
        # Redraws are numpy over the stored vectors: no queue, no progress overlay, so the
        # round trip is as short as the browser allows.
        redraw = {"api_visibility": "private", "queue": False, "show_progress": "hidden"}
        dimension.input(on_dimension, [run_state, dimension, selected, doc_a, doc_b, *display], view_outputs,
                        **redraw).then(on_pair, [run_state, dimension, doc_a, doc_b, merge_words],
                                       [difference, difference_table], **redraw)

        document_outputs = [heatmap, contributions, highlight, changes_table, window_row, window_start, exports]

        def on_document(run, dim, document, hide_exp, hide_sp, merge, raw, start):
            if run is None or document is None:
                return {}
            return {exports: _no_exports(),
                    **render_document(run, options(dim, document, hide_exp, hide_sp, merge, raw, start))}

        def on_pick(run, dim, document, hide_exp, hide_sp, merge):
            """Another document: its views, from the start of the match view."""
            if run is None or document is None:
                return {}
            opts = options(dim, document, hide_exp, hide_sp, merge, False, 0)
            return {selected: gr.Dropdown(value=int(document)), raw_window: False, window_start: 0,
                    exports: _no_exports(), **render_document(run, opts)}

        def on_row(run, dim, hide_exp, hide_sp, merge, evt: gr.SelectData):
            if not evt.row_value:
                return {}
            return on_pick(run, dim, int(evt.row_value[1]) - 1, hide_exp, hide_sp, merge)

        pick_outputs = [selected, raw_window, *document_outputs]
        ranking.select(on_row, [run_state, dimension, *display[:3]], pick_outputs, **redraw)
        selected.input(on_pick, [run_state, dimension, selected, *display[:3]], pick_outputs, **redraw)
        for control in (hide_expansion, hide_special, raw_window, window_start):
            control.input(on_document, [run_state, dimension, selected, *display], document_outputs,
                          trigger_mode="always_last", **redraw)

        def on_merge(run, dim, document, a, b, hide_exp, hide_sp, merge, raw, start):
            if run is None or document is None:
                return {}
            return {**on_document(run, dim, document, hide_exp, hide_sp, merge, raw, start),
                    **render_difference(run, a, b, dim, merge)}

        merge_words.input(on_merge, [run_state, dimension, selected, doc_a, doc_b, *display],
                          [*document_outputs, difference, difference_table], **redraw)

        for control in (doc_a, doc_b):
            control.input(on_pair, [run_state, dimension, doc_a, doc_b, merge_words],
                          [difference, difference_table], **redraw)

        def on_export(run, dim, document, hide_exp, hide_sp, merge, raw, start):
            if run is None or document is None:
                raise gr.Error("Run a query first: there is nothing to export yet.")
            opts = options(dim, document, hide_exp, hide_sp, merge, raw, start)
            figure = document_views(run, opts).heatmap
            paths = export_files(run, opts.dim, opts.document, figure, opts.merge_words)
            return gr.File(value=[str(p) for p in paths], visible=True)

        export_button.click(on_export, [run_state, dimension, selected, *display], exports,
                            api_visibility="private")

        add_api_endpoints(registry, limits, concurrency)
    demo.queue(default_concurrency_limit=4)
    return demo

