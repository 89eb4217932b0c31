"""Downloads of the current view: the ranking as CSV, the explanation as JSON,
and the whole interactive Run as one standalone HTML page (the explorer with
every document, dimension and toggle; plotly.js inlined, works offline).

Each export gets its own folder under the system temp dir; folders older than
an hour are removed when the next export is written.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from colbert_viz.explorer_html import ExplorerView
from colbert_viz.service import Run, explain_payload
from colbert_viz.tables import ranking_table

EXPORT_ROOT = Path(tempfile.gettempdir()) / "colbert-viz-exports"
MAX_AGE_S = 3600


def _prune(root: Path, max_age_s: float) -> None:
    cutoff = time.time() - max_age_s
    for folder in root.glob("*"):
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def export_files(run: Run, dim: int, document: int, merge_words: bool = False,
                 root: Path = EXPORT_ROOT, max_age_s: float = MAX_AGE_S) -> list[Path]:
    """Write ``ranking-<dim>d.csv``, ``explanation-doc<N>-<dim>d.json`` and
    ``colbert-viz-run.html`` to a new folder; return their paths."""
    root.mkdir(parents=True, exist_ok=True)
    _prune(root, max_age_s)
    folder = root / uuid.uuid4().hex
    folder.mkdir()
    ranking = folder / f"ranking-{dim}d.csv"
    ranking_table(run.analysis, dim, None, rounded=False, preview_chars=None).to_csv(ranking, index=False)
    explanation = folder / f"explanation-doc{document + 1}-{dim}d.json"
    explanation.write_text(json.dumps(explain_payload(run, document, dim, merge_words), ensure_ascii=False),
                           encoding="utf-8")
    page = ExplorerView.of(run.analysis, f"colbert-viz · {run.display_name}", top_n=run.top_n, summary=run.summary(),
                           display_name=run.display_name, is_fallback=run.is_fallback).save(folder / "colbert-viz-run.html")
    return [ranking, explanation, page]
