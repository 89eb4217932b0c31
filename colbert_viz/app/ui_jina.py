"""The page's Jina API parts: the key box, the model menu that offers the API once a key
is typed, and the panel that puts the API beside the open weights (``compare_api``).

The key lives in the browser's password box: it comes with each event that needs it
(Run, the comparison), goes into that request's ``ApiEncoder`` and its HTTP client,
which is closed afterwards. It is never kept in a Run, the store, a file, an export,
a log record or a message.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from colbert_viz.app.limits import LimitError
from colbert_viz.app.service import user_errors, user_message
from colbert_viz.app.ui_shared import session_of, status_html

KEY_HELP = ("Your key for jina-api:jina-colbert-v2 (keys start jina_): sent to Jina's API with each Run from this "
            "page, kept in this browser tab only, never stored or logged.")


@dataclass
class JinaPanel:
    key: gr.Textbox
    button: gr.Button
    result: gr.Markdown
    table: gr.DataFrame


def key_box() -> gr.Textbox:
    return gr.Textbox(label="Jina API key", type="password", elem_id="jina-key", info=KEY_HELP,
                      placeholder="jina_…", max_lines=1)


def jina_panel(key: gr.Textbox) -> JinaPanel:
    """The accordion with the comparison (laid out where it is called)."""
    with gr.Accordion("Jina's API beside the open weights", open=False, elem_id="jina-api"):
        gr.Markdown("With a key: Jina's /v1/rerank scores beside the MaxSim over the API's token vectors, the "
                    "API's 96 and 64 dimensions beside the cut of its 128, and the API's vectors beside the "
                    "local model's (when a local jina-colbert-v2 checkpoint is loaded).", elem_classes="cv-small")
        button = gr.Button("Compare with Jina's API", elem_id="jina-compare", size="sm")
        result = gr.Markdown("", elem_id="jina-result")
        table = gr.DataFrame(visible=False, elem_id="jina-table", interactive=False)
    return JinaPanel(key=key, button=button, result=result, table=table)


def with_key(model, key: str | None):
    """``model`` ready to encode: an API template gets ``key`` (``JinaApiError`` without one)."""
    return model.with_key(key) if hasattr(model, "with_key") else model


def on_key(registry, key: str | None, model_label: str | None) -> gr.Dropdown:
    """The model menu: the API models once a key is typed; without one, back to the default
    if an API model was chosen."""
    has_key = bool((key or "").strip())
    value = model_label
    if not has_key and registry.resolve(model_label or "") in registry.api_models:
        value = registry.labels()[registry.default]
    return gr.Dropdown(choices=registry.menu(api=has_key), value=value)


def local_model(registry):
    """The loaded local jina-colbert-v2 checkpoint to compare with (the default), or ``None``."""
    model = registry.models.get(registry.default)
    info = getattr(model, "info", None)
    return model if info is not None and info.family == "jina" and info.dtype != "api" else None


def comparison_summary(result: dict) -> str:
    """One paragraph on a ``compare_api`` result."""
    def tau(x):
        return "–" if x is None else f"{x:.3f}"

    r = result["rerank"]
    parts = [f"/v1/rerank beside the MaxSim over the API's {result['dimensions']}-d vectors: Kendall tau "
             f"{tau(r['kendall_tau'])}, largest rank change {r['largest_rank_change']}."]
    for d in result["dimensions_compared"]:
        parts.append(f"The API's {d['dimensions']} beside the cut of its {result['dimensions']}: Kendall tau "
                     f"{tau(d['kendall_tau'])}, largest rank change {d['largest_rank_change']}.")
    local = result.get("local")
    if local:
        diff = "–" if local["max_vector_difference"] is None else f"{local['max_vector_difference']:.2g}"
        parts.append(f"{local['model']} beside the API: largest vector difference {diff}, Kendall tau "
                     f"{tau(local['kendall_tau'])}, largest rank change {local['largest_rank_change']}.")
    else:
        parts.append("No local jina-colbert-v2 checkpoint is loaded: the vectors are not compared.")
    parts.append(result["note"])
    return html.escape(" ".join(parts))


def comparison_table(result: dict) -> pd.DataFrame:
    rows = []
    dims = {d["dimensions"]: d["documents"] for d in result["dimensions_compared"]}
    local = result.get("local")
    for i, r in enumerate(result["rerank"]["documents"]):
        row = {"Doc": i + 1, "Rerank score": round(r["rerank_score"], 4), "Rerank rank": r["rerank_rank"],
               "MaxSim (API)": round(r["maxsim"], 3), "MaxSim rank": r["maxsim_rank"]}
        for d, docs in dims.items():
            row[f"Rank {d} (API / cut)"] = f"{docs[i]['api_rank']} / {docs[i]['cut_rank']}"
        if local:
            doc = local["documents"][i]
            row["Local rank"] = doc["local_rank"]
            row["Max |Δ| vector"] = "–" if doc["max_vector_difference"] is None else \
                float(f"{doc['max_vector_difference']:.2g}")
        rows.append(row)
    return pd.DataFrame(rows)


def on_compare(ctx, run_key: str | None, key: str | None, request: gr.Request) -> dict:
    """The kept Run's query and documents through the API (``compare_api``), in an encode slot."""
    from colbert_viz.engine.api_compare import compare_api
    from colbert_viz.engine.api_encoder import API_MODEL

    panel = ctx.page.jina
    api = None
    try:
        if run_key is None:
            raise LimitError("Run a query first: there is nothing to compare yet.")
        run = ctx.store.get(run_key, session_of(request))
        api = with_key(ctx.registry.get(API_MODEL), key)
        local = local_model(ctx.registry)
        with ctx.slots.encoding():
            result = compare_api(api, run.analysis.query.text, run.analysis.texts, local, run.doc_max_tokens)
    except user_errors() as err:
        message = user_message(err)
        gr.Warning(html.escape(message))
        return {panel.result: status_html(message, error=True), panel.table: gr.DataFrame(visible=False)}
    finally:
        if api is not None:
            api.close()
    return {panel.result: comparison_summary(result),
            panel.table: gr.DataFrame(value=comparison_table(result), visible=True)}


def wire_jina(ctx) -> None:
    p = ctx.page

    def jina_key_typed(key: str | None, model_label: str | None) -> gr.Dropdown:
        return on_key(ctx.registry, key, model_label)

    def jina_compare(run_key: str | None, key: str | None, request: gr.Request) -> dict:
        return on_compare(ctx, run_key, key, request)

    p.jina.key.change(jina_key_typed, [p.jina.key, p.model], p.model, api_visibility="private", queue=False)
    p.jina.button.click(jina_compare, [p.run_key, p.jina.key], [p.jina.result, p.jina.table], api_visibility="private",
                        concurrency_limit=2, concurrency_id="derived", show_progress_on=p.jina.result)
