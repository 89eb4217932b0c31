"""pandas tables: the ranking and the match changes."""

from __future__ import annotations

import re

import pytest
from factories import make_analysis

from colbert_viz.explorer.tables import match_changes_table, preview, ranking_table


@pytest.fixture(scope="module")
def analysis():
    return make_analysis(6)


def test_ranking_follows_rerank_with_rounded_numbers(analysis):
    table = ranking_table(analysis, 128)
    assert list(table.columns) == ["Rank", "Doc", "Score", "Per query token", "Rank @96", "Rank @64", "Tokens",
                                   "Preview"]
    order = [r["index"] for r in analysis.rerank(128)]
    assert table["Doc"].tolist() == [i + 1 for i in order]
    assert table["Rank"].tolist() == list(range(1, 7))
    scores = analysis.scores(128)
    n_query = len(analysis.query)
    for row in table.itertuples(index=False):
        i = row.Doc - 1
        assert row.Score == round(scores[i], 2)
        assert row[3] == round(scores[i] / n_query, 3)
        assert row[4] == analysis.ranks(96)[i] and row[5] == analysis.ranks(64)[i]
        assert row.Tokens == str(len(analysis.documents[i]))


def test_top_n_and_other_dimension(analysis):
    table = ranking_table(analysis, 64, top_n=2)
    assert len(table) == 2
    assert "Rank @128" in table.columns and "Rank @64" not in table.columns
    assert table["Doc"].tolist() == [r["index"] + 1 for r in analysis.rerank(64, 2)]


def test_unrounded_table_keeps_full_precision_and_text(analysis):
    table = ranking_table(analysis, 96, rounded=False, preview_chars=None)
    i = int(table["Doc"].iloc[0]) - 1
    assert table["Score"].iloc[0] == analysis.scores(96)[i]
    assert table["Text"].iloc[0] == analysis.texts[i]
    assert "Preview" not in table.columns


def test_truncated_documents_say_so():
    from factories import document_record, query_record

    from colbert_viz.maths.analysis import Analysis

    docs = [document_record(["a", "b"]), document_record(["c", "d"], truncated_text=" more")]
    table = ranking_table(Analysis(query_record(["a"]), docs, (128, 96, 64)), 128)
    assert any("cut from" in t for t in table["Tokens"])


def test_preview_is_one_line_and_bounded():
    assert preview("a\n b\tc") == "a b c"
    cut = preview("word " * 100, 30)
    assert len(cut) == 30 and cut.endswith("…")




def test_match_changes_lists_tokens_whose_match_moves(analysis):
    for index in range(len(analysis.documents)):
        table = match_changes_table(analysis, index)
        assert list(table.columns) == ["Query token", "Match @128", "Match @96", "Match @64"]
        expected = sorted({c.query_position for d in (96, 64) for c in analysis.match_changes(index, d)})
        assert [int(q.rsplit("#", 1)[1].rstrip(")")) for q in table["Query token"]] == expected
        for row in table.itertuples(index=False):
            assert len({re.search(r"\(#(\d+),", cell).group(1) for cell in row[1:]}) > 1
    assert any(len(match_changes_table(analysis, i)) for i in range(len(analysis.documents)))
