"""The explorer as HTML: a standalone file and a notebook view (no gradio here).

``show(analysis, …)`` (``colbert_viz.show``) is the notebook's entry point: an
``ExplorerView`` that a notebook draws and ``.save(path)`` writes to a file.

Both embed the same renderer (``static/explorer.js`` and ``static/explorer.css``)
and the payload of ``colbert_viz.explorer.payload.run_payload``. plotly.js comes from
the installed ``plotly`` package: inlined once into a standalone file (which
then works with the network off), and sent once per notebook kernel session
(later views in the same notebook page reuse it).
"""

from __future__ import annotations

import html
import json
import uuid
from functools import cache
from pathlib import Path

from colbert_viz.explorer.payload import estimated_bytes, run_payload
from colbert_viz.explorer.view_state import ViewState
from colbert_viz.maths.analysis import Analysis
from colbert_viz.storage.analysis import StoredAnalysis, as_stored
from colbert_viz.storage.settings import EXACT, METHODS

STATIC = Path(__file__).resolve().parent / "static"
STORAGE_EMBED_BYTES = 16 * 2**20  # a Run whose storage views fit in this carries them in files and notebooks


@cache
def asset(name: str) -> str:
    """The text of ``static/<name>`` (``explorer.js``, ``explorer.css``)."""
    return (STATIC / name).read_text(encoding="utf-8")


def plotly_js_path() -> Path:
    """plotly.min.js as the installed ``plotly`` package ships it."""
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


@cache
def plotly_js() -> str:
    return plotly_js_path().read_text(encoding="utf-8")


def script_json(payload: dict) -> str:
    """``payload`` as JSON that cannot end the ``<script>`` element holding it.

    >>> script_json({"text": "</script><b>"})
    '{"text": "\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e"}'
    """
    text = json.dumps(payload, ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _mount(root_id: str, data_id: str, ids: bool, initial: dict | None) -> str:
    options = {"ids": ids, **({"initial": initial} if initial else {})}
    return (f"ColbertViz.mount(document.getElementById({json.dumps(root_id)}), "
            f"JSON.parse(document.getElementById({json.dumps(data_id)}).textContent), {script_json(options)});")


def _facts(payload: dict) -> str:
    """The query and the model (and its dtype) of a standalone page, as HTML."""
    model = payload["model"]
    name = " · ".join(x for x in (model.get("display_name"), model.get("dtype") and f"dtype {model['dtype']}") if x)
    style = "font-family:system-ui,sans-serif;margin:0 0 0.3rem"
    query = (f"<p id=\"file-query\" style=\"{style}\"><b>Query</b> "
             f"<bdi dir=\"auto\">{html.escape(payload['query']['text'])}</bdi></p>")
    return query + (f"<p id=\"file-model\" style=\"{style}\"><b>Model</b> {html.escape(name)}</p>" if name else "")


def standalone_html(payload: dict, title: str = "colbert-viz", initial: dict | None = None) -> str:
    """A whole page: the interactive Run with every document, dimension and
    toggle, plotly.js inlined once, no network needed; it names the query and
    the model, and opens on ``initial`` (the renderer's state, e.g.
    ``ViewState.renderer_state()``; default: the best document, native size)."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>body{{margin:0.8rem;}}\n{asset('explorer.css')}</style>"
        f"<script>{plotly_js()}</script><script>{asset('explorer.js')}</script></head><body>"
        f"<h2 style=\"font-family:system-ui,sans-serif;margin:0 0 0.3rem\">{html.escape(title)}</h2>{_facts(payload)}"
        f"<p style=\"font-family:system-ui,sans-serif;color:#475569;margin:0 0 0.5rem\">"
        f"{html.escape(payload.get('summary') or '')}</p>"
        "<div id=\"cv-root\"></div>"
        f"<script type=\"application/json\" id=\"cv-data\">{script_json(payload)}</script>"
        f"<script>{_mount('cv-root', 'cv-data', True, initial)}</script></body></html>\n"
    )


_sent_plotly = False


def notebook_html(payload: dict, include_plotlyjs: bool | None = None, initial: dict | None = None) -> str:
    """A notebook cell's HTML: a root element, the payload and the renderer,
    opening on ``initial`` (as in ``standalone_html``). plotly.js is included
    the first time in a kernel session (``None``), or as asked."""
    global _sent_plotly
    if include_plotlyjs is None:
        include_plotlyjs, _sent_plotly = not _sent_plotly, True
    key = uuid.uuid4().hex[:12]
    root, data = f"cv-root-{key}", f"cv-data-{key}"
    plotly = f"<script>{plotly_js()}</script>" if include_plotlyjs else ""
    missing = ("<p>plotly.js is not in this page: call colbert_viz.explorer.html.notebook_html(payload, "
               "include_plotlyjs=True) once.</p>")
    return (
        f"<style>{asset('explorer.css')}</style>{plotly}<script>{asset('explorer.js')}</script>"
        f"<div id=\"{root}\" class=\"cv-notebook\"></div>"
        f"<script type=\"application/json\" id=\"{data}\">{script_json(payload)}</script>"
        f"<script>if (window.Plotly) {{ {_mount(root, data, False, initial)} }} else "
        f"{{ document.getElementById({json.dumps(root)}).innerHTML = {json.dumps(missing)}; }}</script>"
    )


class ExplorerView:
    """What ``show()`` returns: the explorer of one Run, for a notebook
    (``_repr_html_``) or a file (``save``), opening on ``view`` (a
    ``view_state.ViewState``; default: the best document, native size)."""

    def __init__(self, payload: dict, title: str = "colbert-viz", view=None) -> None:
        self.payload = payload
        self.title = title
        self.view = view

    @classmethod
    def of(cls, run: Analysis | StoredAnalysis, title: str = "colbert-viz", embed_storage: bool | None = None,
           view: ViewState | None = None, **options) -> ExplorerView:
        """Every document's views (``run_payload`` with no size bound) and, when
        ``embed_storage`` (default: when they stay under ``STORAGE_EMBED_BYTES``),
        every storage setting's, since a file or a notebook cannot ask for them;
        the storage method ``view`` is on comes in any case."""
        stored = as_stored(run)
        if embed_storage is None:
            embed_storage = estimated_bytes(stored.analysis) * (len(METHODS) - 1) <= STORAGE_EMBED_BYTES
        if view is not None and view.storage != EXACT and embed_storage is not True:
            embed_storage = [*(embed_storage or []), view.storage]
        return cls(run_payload(stored, eager_bytes=2**62, storage=embed_storage, **options), title, view)

    @property
    def initial(self) -> dict | None:
        return self.view.renderer_state() if self.view else None

    def _repr_html_(self) -> str:
        return notebook_html(self.payload, initial=self.initial)

    def to_html(self) -> str:
        return standalone_html(self.payload, self.title, self.initial)

    def save(self, path: str | Path) -> Path:
        """Write the standalone page to ``path``."""
        path = Path(path)
        path.write_text(self.to_html(), encoding="utf-8")
        return path


def show(run: Analysis | StoredAnalysis, title: str = "colbert-viz", *, dimension: int | None = None,
         storage: str = EXACT, document: int | None = None, merge_words: bool = False, **options) -> ExplorerView:
    """The interactive explorer of every view of ``run`` (an ``Analysis``, or a
    ``StoredAnalysis`` whose kept storage settings it reuses): shown by a notebook
    (``_repr_html_``), or written to a file with ``.save(path)``. It opens at
    ``dimension`` (default: native), with the documents stored as ``storage`` (a
    ``colbert_viz.storage.settings`` method), on ``document`` (default: the best
    one), sub-words merged or not. ``options`` go to ``ExplorerView.of``
    (``embed_storage``) and ``payload.run_payload`` (``top_n``, ``display_name``, ``dtype``)."""
    stored = as_stored(run)
    view = ViewState.of(stored.analysis, dim=dimension, document=document, storage=storage, merge_words=merge_words)
    return ExplorerView.of(stored, title, view=view, **options)
