"""Plotly figures of an explanation (drawing only: every number comes from
``colbert_viz.explain`` / ``colbert_viz.compare``; ``colbert_viz.layout`` picks
what is shown).

Token strings are HTML-escaped before they reach plotly, whose labels accept a
little HTML: a token ``<b>`` shows as ``<b>``.
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from colbert_viz.compare import DocumentComparison
from colbert_viz.explain import Axis, Explanation
from colbert_viz.layout import Segment, collapse, raw_window, segment_values, shown_positions

COLORSCALE = "Viridis"
SKIPPED_COLORSCALE = [[0.0, "#f1f1f1"], [1.0, "#8c8c8c"]]
KIND_COLORS = {"text": "#2f6db5", "typed": "#c2185b", "special": "#8e5bb5", "marker": "#8e5bb5",
               "expansion": "#9aa4b1", "skipped": "#bdbdbd"}
A_COLOR, B_COLOR = "#1b9e77", "#d95f02"
ROW_PX, COLUMN_PX, WIDE_FROM = 18, 12, 80
FONT = {"family": "Inter, system-ui, sans-serif", "size": 12}


def display_label(label: str, kind: str, max_chars: int = 18) -> str:
    """A token label as plotly text: cut to ``max_chars``, escaped, non-text
    kinds in grey italics, special tokens typed in the text in their own colour.

    >>> display_label("<s>", "typed")
    "<span style='color:#c2185b'>&lt;s&gt;</span>"
    """
    if len(label) > max_chars:
        label = label[: max_chars - 1] + "…"
    text = html.escape(label)
    if kind in ("special", "marker", "expansion", "skipped"):
        return f"<span style='color:#8a8a8a'><i>{text}</i></span>"
    if kind == "typed":
        return f"<span style='color:{KIND_COLORS['typed']}'>{text}</span>"
    return text


def _key(position: int, label: str) -> str:
    """A unique category for one item (plotly merges equal category names)."""
    return f"#{position} {html.escape(label)}"


def _gap_label(segment: Segment) -> str:
    return f"… {len(segment.positions)} tokens"


def _subtitle(expl: Explanation, label: str, with_score: bool = True) -> str:
    parts = [html.escape(label)] if label else []
    parts.append(f"{expl.dim} dimensions")
    if with_score:
        parts.append(f"score {expl.score:.2f}")
    return " · ".join(parts)


def _layout(fig: go.Figure, title: str, subtitle: str, height: int, meta: dict) -> None:
    fig.update_layout(
        title={"text": title, "subtitle": {"text": subtitle}, "x": 0.005, "xanchor": "left"},
        font=FONT, height=height, margin={"l": 10, "r": 10, "t": 72, "b": 10}, plot_bgcolor="white",
        showlegend=False, meta=meta, modebar={"remove": ["lasso2d", "select2d", "autoScale2d"]},
    )


def heatmap_columns(expl: Explanation, rows: np.ndarray, hide_special: bool, window_start: int | None,
                    max_columns: int) -> tuple[list[Segment], int | None]:
    """The document columns the heatmap draws, and the raw window's start (if any)."""
    positions = shown_positions(expl.document, hide_special=hide_special)
    if window_start is not None:
        return raw_window(positions, window_start, max_columns)
    return collapse(positions, expl.best_index[rows], max_columns), None


def heatmap_figure(expl: Explanation, zrange: tuple[float, float], hide_expansion: bool = False,
                   hide_special: bool = False, window_start: int | None = None, max_columns: int = 256,
                   label: str = "") -> go.Figure:
    """Query items × document items, coloured by similarity on the shared scale
    ``zrange``, each query item's best match outlined.

    Skipped (punctuation) items are drawn in grey; long documents collapse to
    windows around the best matches (or show the raw window at ``window_start``).
    """
    rows = shown_positions(expl.query, hide_expansion=hide_expansion, hide_special=hide_special)
    segments, used_start = heatmap_columns(expl, rows, hide_special, window_start, max_columns)
    q_axis, d_axis = expl.query, expl.document
    y_keys = [_key(i, q_axis.labels[i]) for i in rows]
    x_keys = [f"{len(s.positions)} tokens #{s.start}–#{s.end}" if s.gap else _key(s.start, d_axis.labels[s.start])
              for s in segments]
    z = segment_values(expl.similarity, rows, segments, d_axis.scored)
    zmin, zmax = zrange
    groups = {
        "scored": [c for c, s in enumerate(segments) if not s.gap and d_axis.kinds[s.start] != "skipped"],
        "skipped": [c for c, s in enumerate(segments) if not s.gap and d_axis.kinds[s.start] == "skipped"],
        "gap": [c for c, s in enumerate(segments) if s.gap],
    }
    hover = {
        "scored": "query %{y}<br>document %{x}<br>similarity %{z:.3f}<extra></extra>",
        "skipped": "query %{y}<br>document %{x}<br>similarity %{z:.3f}<br>"
                   "<i>skipped: punctuation is not scored</i><extra></extra>",
        "gap": "query %{y}<br>%{x} collapsed<br>highest similarity in the run %{z:.3f}<extra></extra>",
    }
    fig = go.Figure()
    for name, cols in groups.items():
        if not cols:
            continue
        fig.add_trace(go.Heatmap(
            x=[x_keys[c] for c in cols], y=y_keys, z=np.round(z[:, cols], 4),
            zmin=zmin, zmax=zmax, name=name, hovertemplate=hover[name], xgap=1 if name == "gap" else 0,
            colorscale=SKIPPED_COLORSCALE if name == "skipped" else COLORSCALE,
            showscale=name == "scored", colorbar={"title": {"text": "cosine"}, "thickness": 12},
        ))
    column_of = {s.start: c for c, s in enumerate(segments) if not s.gap}
    best = [(r, column_of[int(expl.best_index[q])]) for r, q in enumerate(rows)
            if int(expl.best_index[q]) in column_of]
    if best:
        fig.add_trace(go.Scatter(
            x=[x_keys[c] for _, c in best], y=[y_keys[r] for r, _ in best], mode="markers", name="best match",
            marker={"symbol": "square-open", "size": 11, "color": "#e8112d", "line": {"width": 2}},
            customdata=[float(expl.best_similarity[rows[r]]) for r, _ in best],
            hovertemplate="query %{y}<br>best match %{x}<br>similarity %{customdata:.3f}<extra></extra>",
        ))
    n_doc = len(d_axis)
    if used_start is not None:
        what = f"Similarity: raw window from token {used_start} ({len(segments)} of {n_doc} tokens)"
    elif any(s.gap for s in segments):
        what = f"Similarity: windows around the best matches ({n_doc} tokens, runs collapsed)"
    else:
        what = "Similarity of every query token to every document token"
    _layout(fig, what, _subtitle(expl, label), 200 + ROW_PX * len(rows),
            {"dimension": expl.dim, "document": label, "kind": "heatmap"})
    if len(segments) > WIDE_FROM:
        fig.update_layout(width=220 + COLUMN_PX * len(segments), autosize=False)
    gap_text = [f"<i>{_gap_label(s)}</i>" for s in segments]
    fig.update_xaxes(
        type="category", categoryorder="array", categoryarray=x_keys, tickvals=x_keys,
        ticktext=[gap_text[c] if s.gap else display_label(d_axis.labels[s.start], d_axis.kinds[s.start])
                  for c, s in enumerate(segments)],
        tickangle=-60, tickfont={"size": 10}, showgrid=False,
    )
    fig.update_yaxes(
        type="category", categoryorder="array", categoryarray=y_keys, tickvals=y_keys, autorange="reversed",
        ticktext=[display_label(q_axis.labels[i], q_axis.kinds[i]) for i in rows], showgrid=False,
    )
    return fig


def _matched(expl: Explanation) -> list[str]:
    return [expl.document.labels[j] for j in expl.best_index]


def contributions_figure(expl: Explanation, label: str = "") -> go.Figure:
    """One bar per query item: what it adds to the score (its best similarity).
    Every query item is drawn, so the bars add up to the total in the title."""
    q: Axis = expl.query
    keys = [_key(i, q.labels[i]) for i in range(len(q))]
    matched = [html.escape(m) for m in _matched(expl)]
    fig = go.Figure(go.Bar(
        x=expl.contributions, y=keys, orientation="h",
        marker={"color": [KIND_COLORS[k] for k in q.kinds]},
        text=[f"→ {m}" for m in matched], textposition="auto", insidetextanchor="end",
        customdata=matched,
        hovertemplate="query %{y}<br>best match %{customdata}<br>adds %{x:.3f}<extra></extra>",
    ))
    what = f"Contributions: total {expl.score:.2f} = the score"
    _layout(fig, what, _subtitle(expl, label, with_score=False), 150 + ROW_PX * len(q),
            {"dimension": expl.dim, "document": label, "kind": "contributions", "total": expl.score})
    fig.update_layout(bargap=0.25)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=keys, tickvals=keys,
                     ticktext=[display_label(q.labels[i], q.kinds[i]) for i in range(len(q))],
                     autorange="reversed")
    fig.update_xaxes(title={"text": "similarity of the best match (cosine)"}, zeroline=True,
                     gridcolor="#eeeeee")
    return fig


def difference_figure(comparison: DocumentComparison, label_a: str = "A", label_b: str = "B",
                      dim: int | None = None) -> go.Figure:
    """Diverging bars: per query item, contribution to A minus contribution to B
    (right: favours A, left: favours B); the title gives the total gap."""
    diffs = comparison.differences
    keys = [_key(d.query_position, d.query_token) for d in diffs]
    values = np.array([d.difference for d in diffs], dtype=np.float64)
    a, b = html.escape(label_a), html.escape(label_b)
    fig = go.Figure(go.Bar(
        x=values, y=keys, orientation="h",
        marker={"color": [A_COLOR if v >= 0 else B_COLOR for v in values]},
        customdata=[[d.contribution_a, d.contribution_b, html.escape(d.match_a), html.escape(d.match_b)]
                    for d in diffs],
        hovertemplate=(f"query %{{y}}<br>{a}: %{{customdata[0]:.3f}} (→ %{{customdata[2]}})"
                       f"<br>{b}: %{{customdata[1]:.3f}} (→ %{{customdata[3]}})"
                       "<br>difference %{x:+.3f}<extra></extra>"),
    ))
    at = f" · {dim} dimensions" if dim else ""
    title = (f"Why {a} {'above' if comparison.total >= 0 else 'below'} {b}: "
             f"{comparison.score_a:.2f} − {comparison.score_b:.2f} = {comparison.total:+.2f}")
    subtitle = f"right: the query token adds more to {a}; left: more to {b}{at}"
    _layout(fig, title, subtitle, 150 + ROW_PX * len(diffs),
            {"dimension": dim, "kind": "difference", "total": comparison.total})
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=keys, tickvals=keys,
                     ticktext=[display_label(d.query_token, "text") for d in diffs], autorange="reversed")
    fig.update_xaxes(title={"text": f"contribution to {a} − contribution to {b}"}, zeroline=True,
                     zerolinecolor="#444", gridcolor="#eeeeee")
    return fig
