"""What both tabs of the page (``ui``: Rerank a list, ``ui_search``: Search a collection)
share: the caller's session, the status line, the banner and header, and the reply that
puts a new Run on the page. It imports neither tab, so the tabs import it and never
each other's handlers.
"""

from __future__ import annotations

import html
import json

import gradio as gr

from colbert_viz.app.registry import ModelRegistry
from colbert_viz.app.service import user_message
from colbert_viz.engine.checkpoint import OFFLINE
from colbert_viz.explorer import page_text
from colbert_viz.explorer.payload import storage_summary

LOADING = 2  # Run or API events that may be loading a model besides those encoding
STORAGE = ("storage",)  # the RunStore key of a Run's storage settings


def session_of(request) -> str | None:
    """The Gradio session of a call: ``gr.Request.session_hash`` for events; for a
    server function (``/component_server``, which hands over the raw request)
    the ``session_hash`` of the JSON body Gradio has already read."""
    session = getattr(request, "session_hash", None) if isinstance(request, gr.Request) else None
    if session is None:
        body = getattr(request, "_json", None)
        session = body.get("session_hash") if isinstance(body, dict) else None
    return session if isinstance(session, str) and session else None


def status_html(message: str, error: bool = False) -> str:
    """A status line: ``message`` escaped, marked ⚠ when it is an error."""
    text = html.escape(message)
    return f'<span class="cv-error">⚠ {text}</span>' if error else text


def banner_markdown(registry: ModelRegistry, name: str | None) -> str:
    """The banner's text for model ``name`` (a menu value): empty unless it is the
    offline model or the default could not be loaded."""
    parts = []
    if registry.startup_note:
        parts.append(html.escape(user_message(registry.startup_note)))
    if name is not None and registry.resolve(name) == OFFLINE:
        parts.append(page_text.OFFLINE_BANNER)
    return "\n\n".join(parts)


def header_html(facts: dict) -> str:
    return (f'<div class="cv-header"><h1>{html.escape(page_text.TITLE)}</h1>'
            f'<p>{html.escape(page_text.intro(facts))}</p></div>')


def payload_text(payload: dict) -> str:
    """The explorer's value: the payload as compact JSON text. The page parses it
    once; as an object, Gradio would clone it and the page wrap every part of it
    in a reactive proxy (hundreds of ms for a Berlin Run in the browser)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def payload_reply(ctx, key: str, payload: dict, facts: dict, model_name: str) -> dict:
    """What a new Run (a pasted list or a search) changes on the page besides its status line."""
    p = ctx.page
    text = banner_markdown(ctx.registry, model_name)
    return {p.run_key: key, p.explorer: gr.HTML(value=payload_text(payload), elem_classes=[]),
            p.banner: gr.Markdown(value=text, visible=bool(text)), p.exports: gr.File(value=None, visible=False),
            p.how_to_read: page_text.how_to_read(facts), p.header: header_html(facts),
            p.storage_help: page_text.storage_help(facts), p.stale: gr.Markdown(visible=False)}


def failed_reply(ctx, status, message: str, run_key: str | None) -> dict:
    """A Run or search refused with ``message``: a toast, one line in ``status``; the
    last Run stays, marked as the previous one."""
    p = ctx.page
    gr.Warning(html.escape(message))
    return {status: status_html(message, error=True), p.stale: gr.Markdown(visible=run_key is not None),
            p.explorer: gr.HTML(elem_classes=["cv-stale"] if run_key is not None else [])}


def _storage(run) -> dict:
    return storage_summary(run.stored)


def on_run_shown(ctx, run_key: str | None, request: gr.Request) -> None:
    """Once the Run's payload is on the page: start its storage settings (seconds of
    k-means and clustering) on the executor, so the storage control answers at once."""
    session = session_of(request)
    ctx.slots.release(session)
    if run_key is not None:
        ctx.store.start(run_key, session, STORAGE, _storage)
