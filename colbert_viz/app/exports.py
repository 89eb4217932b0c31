"""Downloads of the current view: the ranking as CSV, the explanation as JSON,
and the whole interactive Run as one standalone HTML page (the explorer with
every document, dimension and toggle; plotly.js inlined, works offline). Every
file is the view on screen (``view_state.ViewState``): its dimension and
storage setting, its document and toggles, and the query, model and dtype.

Exports go into one private folder per process (``tempfile.mkdtemp``, mode
0700, made on first use and removed at exit), one sub-folder per export. No
shared folder is pruned by age, so no other user's files (or symlinks) are
ever touched.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

import pandas as pd

from colbert_viz.app.service import Run, compare_payload, explanation_payload
from colbert_viz.explorer.html import ExplorerView
from colbert_viz.explorer.layout import shown_positions
from colbert_viz.explorer.tables import ranking_table
from colbert_viz.explorer.view_state import ViewState

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_root: Path | None = None
_root_lock = threading.Lock()


def export_root() -> Path:
    """This process's private export folder, made on first use and removed at exit."""
    global _root
    with _root_lock:
        if _root is None:
            _root = Path(tempfile.mkdtemp(prefix="colbert-viz-"))
            atexit.register(shutil.rmtree, _root, ignore_errors=True)
        return _root


def neutralise_cell(value: object) -> object:
    """A CSV cell that a spreadsheet will not run as a formula: a string starting
    with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'``
    (OWASP CSV injection); numbers and other values are unchanged.

    >>> neutralise_cell("=HYPERLINK(\\"http://x\\")")
    '\\'=HYPERLINK("http://x")'
    >>> neutralise_cell("-1 is a string here"), neutralise_cell(-1.5), neutralise_cell("Berlin")
    ("'-1 is a string here", -1.5, 'Berlin')
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_csv_table(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every string cell (and column name) passed through ``neutralise_cell``."""
    safe = table.map(neutralise_cell)
    safe.columns = [neutralise_cell(c) for c in table.columns]
    return safe


def export_files(run: Run, view: ViewState, root: Path | None = None) -> list[Path]:
    """Write the view on screen, ``view``, as three files in a new sub-folder of
    ``root`` (default: ``export_root()``); return their paths. Each file names
    the query, the model and its dtype, and applies the view's dimension and
    storage setting:

    - ``ranking-<dim>d-<storage>.csv``: the ranking the page shows (every
      document, full precision, whole texts; ``tables.ranking_table``), the
      selected document marked;
    - ``explanation-doc<N>-<dim>d-<storage>.json``: the selected document's
      explanation as the page draws it (``service.explain_payload``), its rank,
      the rows and columns the hide toggles leave (``shown``), "why A above B"
      and the view itself;
    - ``colbert-viz-run.html``: the whole interactive Run, opening on the view.
    """
    folder = (root or export_root()) / uuid.uuid4().hex
    folder.mkdir(parents=True)
    names = {"Query": run.analysis.query.text, "Model": run.display_name, "Dtype": run.dtype,
             "Dimensions": view.dim, "Storage": view.storage}
    ranking = folder / f"ranking-{view.dim}d-{view.storage}.csv"
    table = ranking_table(run.stored, view.dim, None, rounded=False, preview_chars=None, storage=view.storage)
    table["Selected"] = table["Doc"] == view.document + 1
    safe_csv_table(table.assign(**names)).to_csv(ranking, index=False)
    explanation = folder / f"explanation-doc{view.document + 1}-{view.dim}d-{view.storage}.json"
    expl = run.stored.explain(view.document, view.dim, view.words, view.storage)
    data = {**explanation_payload(run, view.document, expl, view.storage),
            "model_name": run.model_name, "dtype": run.dtype, "view": view.to_dict(),
            "rank": int(table.loc[table["Selected"], "Rank"].item()),
            "shown": {"query_positions": shown_positions(expl.query, view.hide_expansion, view.hide_special).tolist(),
                      "document_positions": shown_positions(expl.document, hide_special=view.hide_special).tolist()},
            "why_a_above_b": compare_payload(run, view.a, view.b, view.dim, view.words, view.storage)}
    explanation.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    page = ExplorerView.of(run.stored, f"colbert-viz · {run.display_name}", view=view, top_n=run.top_n,
                           summary=run.summary(), display_name=run.display_name, is_fallback=run.is_fallback,
                           dtype=run.dtype).save(folder / "colbert-viz-run.html")
    return [ranking, explanation, page]
