"""Two encoders side by side on hand-made records: two tokenizers that split the query
differently, a disagreement built on purpose, exact one-hot similarities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from colbert_viz.maths.analysis import Analysis
from colbert_viz.maths.encoders import compare_encoders, explain_pair, query_units, recipe_differences
from colbert_viz.records import TokenVectors

R = 1 / math.sqrt(2)


def record(text: str, kind: str, entries: list[tuple], dim: int) -> TokenVectors:
    """entries: (token, span, kind, vector) with kind text/special/marker/expansion; vectors normalised."""
    n = len(entries)
    kinds = [e[2] for e in entries]
    vectors = np.array([e[3] for e in entries], dtype=np.float32)
    return TokenVectors(
        text=text, kind=kind, ids=np.arange(n), tokens=[e[0] for e in entries], spans=[e[1] for e in entries],
        special=np.array([k in ("special", "marker") for k in kinds]), marker=np.array([k == "marker" for k in kinds]),
        expansion=np.array([k == "expansion" for k in kinds]), skipped=np.zeros(n, bool), n_text_tokens=n,
        truncated=False, vectors=vectors / np.linalg.norm(vectors, axis=1, keepdims=True))


def e(k: int, dim: int, plus: int | None = None) -> list[float]:
    v = [0.0] * dim
    v[k] = 1.0
    if plus is not None:
        v[plus] = 1.0
    return v


QUERY = "New York population"
DOCS = ["York is big", "population grows"]


def side_a() -> Analysis:
    """A WordPiece-like encoder, 6-d: the query's three words are three tokens."""
    d = 6
    q = record(QUERY, "query", [("[CLS]", (0, 0), "special", e(0, d)), ("new", (0, 3), "text", e(1, d, plus=2)),
                                ("york", (4, 8), "text", e(2, d)), ("population", (9, 19), "text", e(3, d)),
                                ("[SEP]", (0, 0), "special", e(0, d))], d)
    d0 = record(DOCS[0], "document", [("[CLS]", (0, 0), "special", e(0, d)), ("york", (0, 4), "text", e(2, d)),
                                      ("is", (5, 7), "text", e(4, d)), ("big", (8, 11), "text", e(5, d)),
                                      ("[SEP]", (0, 0), "special", e(5, d))], d)
    d1 = record(DOCS[1], "document", [("[CLS]", (0, 0), "special", e(0, d)),
                                      ("population", (0, 10), "text", e(3, d)),
                                      ("grows", (11, 16), "text", e(4, d)), ("[SEP]", (0, 0), "special", e(5, d))], d)
    return Analysis(query=q, documents=[d0, d1], dimensions=(6,))


def side_b() -> Analysis:
    """A sentencepiece-like encoder, 5-d, with markers and expansion: "New York" is one
    token, "population" two; its "New York" matches "is" in document 0 (on purpose)."""
    d = 5
    q = record(QUERY, "query", [("<s>", (0, 0), "special", e(0, d)), ("[QueryMarker]", (0, 0), "marker", e(1, d)),
                                ("▁New York", (0, 8), "text", e(2, d)), ("▁popul", (9, 14), "text", e(3, d)),
                                ("ation", (14, 19), "text", e(3, d)), ("</s>", (0, 0), "special", e(0, d)),
                                ("<mask>", (0, 0), "expansion", e(4, d)), ("<mask>", (0, 0), "expansion", e(4, d))], d)
    d0 = record(DOCS[0], "document", [("<s>", (0, 0), "special", e(0, d)), ("[DocumentMarker]", (0, 0), "marker", e(1, d)),
                                      ("▁York", (0, 4), "text", e(4, d)), ("▁is", (5, 7), "text", e(2, d)),
                                      ("▁big", (8, 11), "text", e(4, d)), ("</s>", (0, 0), "special", e(0, d))], d)
    d1 = record(DOCS[1], "document", [("<s>", (0, 0), "special", e(0, d)), ("[DocumentMarker]", (0, 0), "marker", e(1, d)),
                                      ("▁popul", (0, 5), "text", e(3, d)), ("ation", (5, 10), "text", e(3, d)),
                                      ("▁grows", (11, 16), "text", e(4, d)), ("</s>", (0, 0), "special", e(0, d))], d)
    return Analysis(query=q, documents=[d0, d1], dimensions=(5,))


def test_rankings_rank_moves_tau_and_scores_per_query_token():
    c = compare_encoders(side_a(), side_b())
    # A: 1 + (√½ + 1) + 0 + 1 against 1 + 0 + 0 + 1 + 1; B: 6 (five 1s ... ) against 7
    assert c.a.scores == pytest.approx([3 + R, 3]) and c.b.scores == pytest.approx([6, 7])
    assert c.a.ranks.tolist() == [1, 2] and c.b.ranks.tolist() == [2, 1]
    assert c.rank_moves.tolist() == [-1, 1] and c.kendall_tau == pytest.approx(-1.0)
    assert c.a.per_token == pytest.approx([(3 + R) / 5, 3 / 5]) and c.b.per_token == pytest.approx([6 / 8, 7 / 8])
    assert (c.a.dim, c.b.dim, c.a.query_tokens, c.b.query_tokens) == (6, 5, 5, 8)
    assert (c.b.text_tokens, c.b.expansion_tokens, c.b.other_tokens) == (3, 2, 3)
    note = c.scale_note
    assert "5 query-token maxima (3 from the text, 0 expansion, 2 special or marker)" in note
    assert "8 query-token maxima (3 from the text, 2 expansion, 3 special or marker)" in note
    assert "unit length" in note and "6-d" in note and "5-d" in note


def test_words_line_up_across_tokenizers_and_the_planted_disagreement_shows():
    c = compare_encoders(side_a(), side_b())
    doc0, doc1 = c.matches
    assert [w.word for w in doc0.words] == ["New York", "population"]  # B's one token joins A's two words
    ny = doc0.words[0]
    assert ny.a.tokens == ["new", "york"] and ny.b.tokens == ["▁New York"]
    assert ny.a.match == "york" and ny.a.match_text == "York"
    assert ny.b.match == "▁is" and ny.b.match_text == "is" and (ny.a.match_start, ny.b.match_start) == (0, 5)
    assert not ny.agree and doc0.disagreements == [ny]
    pop = doc1.words[1]
    assert pop.b.tokens == ["▁popul", "ation"] and pop.a.match == "population" and pop.b.match == "▁popul"
    assert pop.agree  # different document tokens, the same document word
    assert pop.b.contribution == pytest.approx(2.0) and pop.a.contribution == pytest.approx(1.0)
    assert [(x.token, x.kind) for x in doc0.extra_b] == [("<s>", "special"), ("[QueryMarker]", "marker"),
                                                         ("</s>", "special"), ("<mask>", "expansion"),
                                                         ("<mask>", "expansion")]
    assert [x.token for x in doc0.extra_a] == ["[CLS]", "[SEP]"]
    assert doc0.to_dict()["disagreements"] == 1


def test_pair_rows_sum_to_each_sides_score_gap():
    a, b = side_a(), side_b()
    pair = explain_pair(a, b, 0, 1)
    assert pair.gap_a == pytest.approx(R) and pair.gap_b == pytest.approx(-1.0)
    rows = {r.label: r for r in pair.rows}
    assert rows["New York"].gap_a == pytest.approx(1 + R) and rows["New York"].gap_b == pytest.approx(1.0)
    assert rows["population"].gap_a == pytest.approx(-1.0) and rows["population"].gap_b == pytest.approx(-2.0)
    assert rows["expansion tokens (A: 0, B: 2)"].gap_a is None
    assert sum(r.gap_a or 0 for r in pair.rows) == pytest.approx(pair.gap_a)
    assert sum(r.gap_b or 0 for r in pair.rows) == pytest.approx(pair.gap_b)
    assert "A puts document 1 above 2" in pair.sentence and "B puts document 2 above 1" in pair.sentence
    assert compare_encoders(a, b, pair=(0, 1)).to_dict()["pair"]["gap_b"] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="two different documents"):
        explain_pair(a, b, 1, 1)


def test_recipe_rows_only_where_they_differ_and_the_input_must_match():
    c = compare_encoders(side_a(), side_b(), recipes=({"expansion": False, "dim": 6, "lowercase": True},
                                                      {"expansion": True, "dim": 5, "lowercase": True}))
    assert c.recipe == [("expansion", False, True), ("dim", 6, 5)]
    assert recipe_differences({"a": 1}, {"a": 1}) == []
    other = side_b()
    moved = Analysis(query=other.query, documents=list(reversed(other.documents)), dimensions=(5,))
    with pytest.raises(ValueError, match="same documents"):
        compare_encoders(side_a(), moved)


def test_a_token_over_two_words_joins_them_whichever_side_has_it():
    assert query_units("ab cd ef", [(0, 2), (3, 5), (6, 8)], [(0, 2), (3, 8)]) == [(0, 2), (3, 8)]
    assert query_units("ab cd ef", [(0, 5), (6, 8)], [(0, 2), (3, 5), (6, 8)]) == [(0, 5), (6, 8)]
    assert query_units("ab cd", [], []) == [(0, 2), (3, 5)]
