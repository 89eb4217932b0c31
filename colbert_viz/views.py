"""Everything the page shows, drawn from a ``Run`` and the view options
(no gradio here, no encoding: switching dimension or document only redraws)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from colbert_viz.figures import contributions_figure, difference_figure, heatmap_figure
from colbert_viz.highlight import highlight_html
from colbert_viz.layout import shown_positions
from colbert_viz.scoring import ranking
from colbert_viz.service import Run
from colbert_viz.tables import (
    difference_table,
    dimension_table,
    document_label,
    match_changes_table,
    preview,
    ranking_table,
    tau_table,
)

MAX_COLUMNS = 256
MAX_HIGHLIGHT_TOKENS = 2048


@dataclass(frozen=True)
class ViewOptions:
    """What the user chose: dimension, document (0-based), display toggles, and
    the raw heatmap window (``None``: the full or collapsed view)."""

    dim: int
    document: int
    hide_expansion: bool = False
    hide_special: bool = False
    merge_words: bool = False
    window_start: int | None = None


@dataclass(frozen=True)
class DocumentViews:
    """The explanation of one document: heatmap, contributions, highlight, match
    changes; ``items`` document items (tokens, or words when merged) and whether
    the heatmap had to collapse (``long``: the raw-window controls apply)."""

    heatmap: go.Figure
    contributions: go.Figure
    highlight: str
    match_changes: pd.DataFrame
    items: int
    long: bool


def document_choices(run: Run, dim: int) -> list[tuple[str, int]]:
    """Dropdown entries, best first: ("Doc 4 · #1 · Berlin is the…", 3)."""
    ranks = run.analysis.ranks(dim)
    order = ranking(run.analysis.scores(dim))
    return [(f"{document_label(i)} · #{ranks[i]} · {preview(run.analysis.texts[i], 60)}", i) for i in order]


def top_documents(run: Run, dim: int) -> tuple[int, int]:
    """The documents ranked first and second (the same one when there is only one)."""
    order = [r["index"] for r in run.analysis.rerank(dim, 2)]
    return order[0], order[-1]


def ranking_view(run: Run, dim: int) -> pd.DataFrame:
    return ranking_table(run.analysis, dim, run.top_n)


def document_views(run: Run, options: ViewOptions) -> DocumentViews:
    analysis = run.analysis
    expl = analysis.explain(options.document, options.dim, options.merge_words)
    zrange = analysis.similarity_range(options.dim)
    label = document_label(options.document)
    columns = len(shown_positions(expl.document, hide_special=options.hide_special))
    return DocumentViews(
        heatmap=heatmap_figure(expl, zrange, options.hide_expansion, options.hide_special,
                               options.window_start, MAX_COLUMNS, label=label),
        contributions=contributions_figure(expl, label=label),
        highlight=highlight_html(expl, zrange, MAX_HIGHLIGHT_TOKENS, label=label),
        match_changes=match_changes_table(analysis, options.document),
        items=len(expl.document),
        long=columns > MAX_COLUMNS,
    )


def dimension_views(run: Run) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rankings at each dimension side by side, and Kendall tau per pair."""
    return dimension_table(run.analysis), tau_table(run.analysis)


def difference_views(run: Run, a: int, b: int, dim: int, merge_words: bool = False
                     ) -> tuple[go.Figure, pd.DataFrame]:
    """Why document ``a`` scores above or below ``b`` at ``dim``: chart and table."""
    result = run.analysis.compare_documents(a, b, dim, merge_words)
    label_a, label_b = document_label(a), document_label(b)
    return difference_figure(result, label_a, label_b, dim), difference_table(result, label_a, label_b)
