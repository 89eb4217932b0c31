"""Plotly figures: they draw exactly what the explanation holds, bounded in size."""

from __future__ import annotations

import numpy as np
import pytest
from factories import make_analysis, make_explanation

from colbert_viz.figures import contributions_figure, difference_figure, heatmap_figure
from colbert_viz.layout import collapse, raw_window, segment_values, shown_positions

ZRANGE = (-0.3, 0.9)


def traces(fig, name):
    return [t for t in fig.data if t.name == name]


def drawn_columns(fig) -> list[str]:
    return list(fig.layout.xaxis.categoryarray)


def test_short_document_is_drawn_whole_on_the_shared_scale():
    expl = make_explanation(12)
    fig = heatmap_figure(expl, ZRANGE, label="Doc 3")
    assert len(drawn_columns(fig)) == len(expl.document)
    assert list(fig.layout.yaxis.categoryarray) == [f"#{i} {label}".replace("<", "&lt;").replace(">", "&gt;")
                                                     for i, label in enumerate(expl.query.labels)]
    for trace in fig.data:
        if trace.type == "heatmap":
            assert (trace.zmin, trace.zmax) == ZRANGE
    scored = traces(fig, "scored")[0]
    cols = [int(x.split()[0][1:]) for x in scored.x]
    np.testing.assert_allclose(np.array(scored.z), expl.similarity[:, cols], atol=1e-4)
    assert all(expl.document.kinds[c] != "skipped" for c in cols)


def test_skipped_punctuation_is_grey_and_says_so():
    expl = make_explanation(12)
    skipped = traces(heatmap_figure(expl, ZRANGE), "skipped")[0]
    positions = [int(x.split()[0][1:]) for x in skipped.x]
    assert positions == [i for i, k in enumerate(expl.document.kinds) if k == "skipped"]
    assert "not scored" in skipped.hovertemplate
    assert skipped.showscale is False


def test_every_best_match_is_marked():
    expl = make_explanation(12)
    marks = traces(heatmap_figure(expl, ZRANGE), "best match")[0]
    assert len(marks.x) == len(expl.query)
    for row, (x, y) in enumerate(zip(marks.x, marks.y)):
        assert x.startswith(f"#{expl.best_index[row]} ")
        assert y.startswith(f"#{row} ")
    np.testing.assert_allclose(marks.customdata, expl.best_similarity, atol=1e-6)


def test_title_names_document_dimension_and_score():
    expl = make_explanation(12, dim=64)
    fig = heatmap_figure(expl, ZRANGE, label="Doc 2")
    assert "Doc 2" in fig.layout.title.subtitle.text and "64 dimensions" in fig.layout.title.subtitle.text
    assert f"{expl.score:.2f}" in fig.layout.title.subtitle.text
    assert fig.layout.meta["dimension"] == 64 and fig.layout.meta["document"] == "Doc 2"


@pytest.mark.parametrize("hide_expansion, hide_special", [(True, False), (False, True), (True, True)])
def test_hiding_rows_and_columns(hide_expansion, hide_special):
    expl = make_explanation(12)
    fig = heatmap_figure(expl, ZRANGE, hide_expansion=hide_expansion, hide_special=hide_special)
    rows = [int(y.split()[0][1:]) for y in fig.layout.yaxis.categoryarray]
    hidden = ({"expansion"} if hide_expansion else set()) | ({"special", "marker"} if hide_special else set())
    assert rows == [i for i, k in enumerate(expl.query.kinds) if k not in hidden]
    columns = [int(x.split()[0][1:]) for x in drawn_columns(fig)]
    if hide_special:
        assert all(expl.document.kinds[c] not in ("special", "marker") for c in columns)
    else:
        assert len(columns) == len(expl.document)


def test_long_document_collapses_around_the_best_matches():
    expl = make_explanation(1000)
    fig = heatmap_figure(expl, ZRANGE, max_columns=256)
    columns = drawn_columns(fig)
    assert len(columns) <= 256
    gap = traces(fig, "gap")[0]
    assert len(gap.x) >= 1
    shown = [int(x.split()[0][1:]) for x in columns if x.startswith("#")]
    collapsed = sum(int(x.split()[0]) for x in gap.x)
    assert len(shown) + collapsed == len(expl.document)
    for j in expl.best_index:  # each best match is drawn, with 3 neighbours either side
        for k in range(max(0, j - 3), min(len(expl.document), j + 4)):
            assert k in shown
    ticks = list(fig.layout.xaxis.ticktext)
    assert any("… " in t and " tokens" in t for t in ticks)
    assert "collapsed" in fig.layout.title.text


def test_gap_columns_hold_the_row_maximum_of_their_run():
    expl = make_explanation(1000)
    rows = shown_positions(expl.query)
    segments = collapse(shown_positions(expl.document), expl.best_index, 256)
    values = segment_values(expl.similarity, rows, segments, expl.document.scored)
    for c, seg in enumerate(segments):
        if seg.gap:
            cols = [p for p in seg.positions if expl.document.scored[p]]
            np.testing.assert_allclose(values[:, c], expl.similarity[:, cols].max(axis=1))
            assert (values[:, c] <= expl.best_similarity + 1e-6).all()


def test_collapse_shrinks_the_windows_until_they_fit():
    positions = np.arange(5000)
    anchors = np.arange(0, 5000, 150)  # 34 anchors: ±3 would not fit 128 columns
    segments = collapse(positions, anchors, max_columns=128)
    assert len(segments) <= 128
    kept = {s.start for s in segments if not s.gap}
    assert set(anchors.tolist()) <= kept


def test_raw_window_shows_consecutive_tokens_from_any_start():
    expl = make_explanation(1000)
    fig = heatmap_figure(expl, ZRANGE, window_start=300, max_columns=256)
    columns = [int(x.split()[0][1:]) for x in drawn_columns(fig)]
    assert columns == list(range(300, 556))
    assert "raw window from token 300" in fig.layout.title.text
    end = heatmap_figure(expl, ZRANGE, window_start=10_000, max_columns=256)
    assert [int(x.split()[0][1:]) for x in drawn_columns(end)][-1] == len(expl.document) - 1
    segments, used = raw_window(np.arange(10), 0, 256)
    assert len(segments) == 10 and used == 0


def test_payload_is_bounded_for_any_length():
    for n in (50, 300, 3000):
        fig = heatmap_figure(make_explanation(n), ZRANGE)
        cells = sum(np.asarray(t.z).size for t in fig.data if t.type == "heatmap")
        assert cells <= len(make_explanation(1).query) * 256


def test_token_text_is_escaped_for_plotly():
    expl = make_explanation(4, query_words=("<b>bold</b>", "x"))
    fig = heatmap_figure(expl, ZRANGE)
    assert all("<b>" not in t for t in fig.layout.yaxis.ticktext)
    assert any("&lt;b&gt;" in t for t in fig.layout.yaxis.ticktext)


def test_contribution_bars_add_up_to_the_score_in_the_title():
    expl = make_explanation(30, dim=96)
    fig = contributions_figure(expl, label="Doc 1")
    bars = fig.data[0]
    assert len(bars.x) == len(expl.query)
    assert sum(bars.x) == pytest.approx(expl.score, abs=1e-9)
    assert f"total {expl.score:.2f}" in fig.layout.title.text
    assert "96 dimensions" in fig.layout.title.subtitle.text and "Doc 1" in fig.layout.title.subtitle.text
    assert fig.layout.meta["total"] == expl.score


def test_merged_explanation_draws_words():
    expl = make_explanation(30, merge_words=True)
    fig = heatmap_figure(expl, ZRANGE)
    assert len(drawn_columns(fig)) == len(expl.document)
    assert sum(contributions_figure(expl).data[0].x) == pytest.approx(expl.score)


def test_difference_bars_diverge_and_add_up_to_the_gap():
    analysis = make_analysis(3)
    comparison = analysis.compare_documents(0, 2, 64)
    fig = difference_figure(comparison, "Doc 1", "Doc 3", 64)
    bars = fig.data[0]
    assert sum(bars.x) == pytest.approx(comparison.total, abs=1e-9)
    colours = set(bars.marker.color)
    assert colours <= {"#1b9e77", "#d95f02"}
    for value, colour in zip(bars.x, bars.marker.color):
        assert (colour == "#1b9e77") == (value >= 0)
    assert f"{comparison.total:+.2f}" in fig.layout.title.text
    assert "Doc 1" in fig.layout.title.text and "64 dimensions" in fig.layout.title.subtitle.text
