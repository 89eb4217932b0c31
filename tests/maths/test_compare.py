"""Kendall tau, comparisons across dimensions and between documents."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from factories import brute_tau_b

from colbert_viz.maths.compare import compare_documents, kendall_tau, match_changes


@pytest.mark.parametrize("seed", range(8))
def test_kendall_tau_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    levels = int(rng.integers(2, 6)) if seed % 2 else 1000  # odd seeds: many ties
    a = rng.integers(0, levels, n).astype(np.float64)
    b = (a + rng.integers(0, levels, n)) if seed % 3 else rng.integers(0, levels, n).astype(np.float64)
    tau = kendall_tau(a, b)
    expected = brute_tau_b(a.tolist(), b.tolist())
    if math.isnan(expected):
        assert math.isnan(tau)
    else:
        assert tau == pytest.approx(expected, abs=1e-12)
        assert -1 <= tau <= 1


@pytest.mark.parametrize("seed", range(6))
def test_kendall_tau_matches_scipy(seed):
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(100 + seed)
    n = 25
    a = np.round(rng.normal(size=n), 1 if seed % 2 else 6)
    b = np.round(a + rng.normal(scale=0.5, size=n), 1 if seed % 2 else 6)
    assert kendall_tau(a, b) == pytest.approx(stats.kendalltau(a, b).statistic, abs=1e-12)


def test_kendall_tau_special_cases():
    a = np.array([3.0, 1.0, 2.0, 5.0])
    assert kendall_tau(a, a) == 1.0
    assert type(kendall_tau(a, a[::-1])) is float  # a Python float, not np.float64
    assert kendall_tau(a, -a) == -1.0
    assert kendall_tau(a, a * 10 + 7) == 1.0  # only the order counts
    assert math.isnan(kendall_tau(np.ones(4), a))  # one side all tied
    assert math.isnan(kendall_tau(np.array([1.0]), np.array([2.0])))  # no pair
    # one swapped pair of four: (5 - 1) / 6
    assert kendall_tau(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 4.0, 3.0])) == pytest.approx(4 / 6)


def test_kendall_tau_shape_mismatch():
    with pytest.raises(ValueError, match="cannot compare 3 scores with 2"):
        kendall_tau(np.zeros(3), np.zeros(2))


# ---- on the tiny model ------------------------------------------------------------------


@pytest.fixture(scope="module")
def analysis(tiny_model, berlin):
    return tiny_model.analyze(berlin["query"], berlin["documents"])


def test_compare_dimensions(analysis, berlin):
    n = len(berlin["documents"])
    comparison = analysis.compare_dimensions()
    assert comparison.dimensions == (128, 96, 64)
    assert set(comparison.scores) == set(comparison.ranks) == {128, 96, 64}
    for dim in comparison.dimensions:
        scores = comparison.scores[dim]
        assert scores.shape == (n,)
        np.testing.assert_array_equal(scores, analysis.scores(dim))
        ranks = comparison.ranks[dim]
        assert sorted(ranks.tolist()) == list(range(1, n + 1))
        np.testing.assert_array_equal(ranks, analysis.ranks(dim))
        # rank 1 is the best score; the rerank order lists documents by rank
        order = [r["index"] for r in analysis.rerank(dim)]
        assert [int(ranks[i]) for i in order] == list(range(1, n + 1))
        assert scores[order[0]] == scores.max()
        assert kendall_tau(scores, scores) == 1.0
    assert set(comparison.tau) == set(combinations((128, 96, 64), 2))
    for (a, b), tau in comparison.tau.items():
        assert type(tau) is float
        assert tau == pytest.approx(brute_tau_b(comparison.scores[a].tolist(), comparison.scores[b].tolist()))


def test_match_changes_lists_exactly_the_moved_tokens(analysis):
    total = 0
    for i in range(len(analysis.documents)):
        ref = analysis.explain(i, 128)
        assert analysis.match_changes(i, 128) == []
        for dim in (96, 64):
            other = analysis.explain(i, dim)
            changes = analysis.match_changes(i, dim)
            moved = [q for q in range(32) if ref.best_index[q] != other.best_index[q]]
            assert [c.query_position for c in changes] == moved
            for c in changes:
                q = c.query_position
                assert c.query_token == analysis.query.tokens[q]
                assert c.reference_position == ref.best_index[q]
                assert c.other_position == other.best_index[q]
                assert c.reference_match == analysis.documents[i].tokens[c.reference_position]
                assert c.other_match == analysis.documents[i].tokens[c.other_position]
            total += len(changes)
            # other reference dimension
            swapped = analysis.match_changes(i, 128, reference=dim)
            assert [c.query_position for c in swapped] == moved
    assert total > 0, "cutting random 128-d vectors to 64 moves some best matches"


def test_match_changes_needs_the_same_pair(analysis):
    with pytest.raises(ValueError, match="same query-document pair"):
        match_changes(analysis.explain(0, 128), analysis.explain(1, 128))


@pytest.mark.parametrize("merge_words", [False, True])
def test_compare_documents(analysis, merge_words):
    n = len(analysis.documents)
    for dim in (128, 64):
        for a, b in [(0, 1), (1, 0), (2, 5), (3, 3), (n - 1, 0)]:
            ea = analysis.explain(a, dim, merge_words)
            eb = analysis.explain(b, dim, merge_words)
            cmp = analysis.compare_documents(a, b, dim, merge_words)
            assert cmp.score_a == ea.score == analysis.scores(dim)[a]
            assert cmp.score_b == eb.score == analysis.scores(dim)[b]
            assert cmp.total == cmp.score_a - cmp.score_b
            assert math.fsum(d.difference for d in cmp.differences) == pytest.approx(cmp.total, abs=1e-9)
            assert [d.query_position for d in cmp.differences] == list(range(len(ea.query)))
            for d in cmp.differences:
                i = d.query_position
                assert d.query_token == ea.query.labels[i]
                assert d.contribution_a == ea.contributions[i] and d.contribution_b == eb.contributions[i]
                assert d.difference == d.contribution_a - d.contribution_b
                assert d.match_a == ea.document.labels[ea.best_index[i]]
                assert d.match_b == eb.document.labels[eb.best_index[i]]
            if a == b:
                assert cmp.total == 0 and all(d.difference == 0 for d in cmp.differences)


def test_compare_documents_refuses_mismatched_explanations(analysis, tiny_model, berlin):
    with pytest.raises(ValueError, match="same query at the same dimension"):
        compare_documents(analysis.explain(0, 128), analysis.explain(1, 64))
    other_query = tiny_model.explain("Who wrote the Great American Songbook?", berlin["documents"][1], 128)
    with pytest.raises(ValueError, match="same query"):
        compare_documents(analysis.explain(0, 128), other_query)


def test_analysis_index_and_dimension_errors(analysis):
    with pytest.raises(IndexError, match=r"document index 8 is out of range \(0..7\)"):
        analysis.explain(8, 128)
    with pytest.raises(IndexError):
        analysis.explain(-1, 128)
    with pytest.raises(ValueError, match="dimensions must be one of 128, 96, 64; got 100"):
        analysis.scores(100)


def test_an_analysis_is_a_value(analysis):
    """Built once, scored at every dimension then; nothing is written into it afterwards."""
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        analysis.documents = []
    scores = analysis.scores(64)
    with pytest.raises(ValueError, match="read-only"):
        scores[0] = 99.0
    assert analysis.scores(64) is scores  # computed when built, not on demand
    before = dict(vars(analysis))
    analysis.compare_dimensions(), analysis.similarity_range(96), analysis.explain(0, 96)
    assert vars(analysis) == before


def test_agreement_against_brute_force():
    from colbert_viz.maths.compare import agreement

    rng = np.random.default_rng(3)
    reference, other = rng.normal(size=9), rng.normal(size=9)
    pairs = [(i, j) for i in range(9) for j in range(i + 1, 9)]
    sign = lambda x: int(x > 0) - int(x < 0)  # noqa: E731
    tau = sum(sign(reference[i] - reference[j]) * sign(other[i] - other[j]) for i, j in pairs) / len(pairs)
    rank = lambda s: [1 + sum(x > s[k] for x in s) for k in range(len(s))]  # noqa: E731
    result = agreement(reference, other)
    assert result["kendall_tau"] == pytest.approx(tau)
    assert result["largest_rank_change"] == max(abs(a - b) for a, b in zip(rank(reference), rank(other)))
    assert result["largest_score_change"] == pytest.approx(max(abs(reference - other)))
    # a system whose order is not its score order (rescoring): its ranks decide
    reordered = agreement(reference, other, other_ranks=np.array(rank(reference)))
    assert reordered["kendall_tau"] == pytest.approx(1.0) and reordered["largest_rank_change"] == 0
