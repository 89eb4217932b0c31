"""Downloads of the current view: the ranking as CSV, the explanation as JSON,
and the whole interactive Run as one standalone HTML page (the explorer with
every document, dimension and toggle; plotly.js inlined, works offline).

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

from colbert_viz.explorer_html import ExplorerView
from colbert_viz.service import Run, explain_payload
from colbert_viz.tables import ranking_table

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


def export_files(run: Run, dim: int, document: int, merge_words: bool = False,
                 root: Path | None = None) -> list[Path]:
    """Write ``ranking-<dim>d.csv``, ``explanation-doc<N>-<dim>d.json`` and
    ``colbert-viz-run.html`` (the whole interactive Run) to a new sub-folder of
    ``root`` (default: ``export_root()``); return their paths."""
    folder = (root or export_root()) / uuid.uuid4().hex
    folder.mkdir(parents=True)
    ranking = folder / f"ranking-{dim}d.csv"
    table = ranking_table(run.analysis, dim, None, rounded=False, preview_chars=None)
    safe_csv_table(table).to_csv(ranking, index=False)
    explanation = folder / f"explanation-doc{document + 1}-{dim}d.json"
    explanation.write_text(json.dumps(explain_payload(run, document, dim, merge_words), ensure_ascii=False),
                           encoding="utf-8")
    page = ExplorerView.of(run.analysis, f"colbert-viz · {run.display_name}", top_n=run.top_n, summary=run.summary(),
                           display_name=run.display_name, is_fallback=run.is_fallback).save(folder / "colbert-viz-run.html")
    return [ranking, explanation, page]
