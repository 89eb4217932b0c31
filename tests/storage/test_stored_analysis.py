"""``StoredAnalysis``: an Analysis under the storage settings, comparisons and
explanations as each system scores them, kept by its owner."""

from __future__ import annotations

import numpy as np
import pytest
from factories import brute_tau_b, make_analysis

from colbert_viz.maths.compare import match_changes
from colbert_viz.storage.analysis import StoredAnalysis, as_stored


@pytest.fixture(scope="module")
def stored(tiny_model, berlin):
    return StoredAnalysis(tiny_model.analyze(berlin["query"], berlin["documents"]))


def test_exact_is_the_analysis_itself(stored):
    analysis = stored.analysis
    assert as_stored(stored) is stored and as_stored(analysis).analysis is analysis
    for dim in analysis.dimensions:
        assert stored.explain(2, dim, True).to_dict() == analysis.explain(2, dim, True).to_dict()
    assert stored.compare_dimensions().tau == analysis.compare_dimensions().tau
    assert stored.compare_documents(0, 1, 64) == analysis.compare_documents(0, 1, 64)


def test_stored_explanations_check_the_document_and_the_words(stored):
    with pytest.raises(IndexError, match="out of range"):
        stored.explain(8, 64, storage="int8")
    with pytest.raises(ValueError, match="pool-2 stores pooled items"):
        stored.explain(0, 64, merge_words=True, storage="pool-2")
    with pytest.raises(ValueError, match="dimensions must be one of 128, 96, 64; got 32"):
        stored.stored("32/int8")


@pytest.mark.parametrize("method", ["int8", "binary", "binary+rescore", "pool-2"])
def test_compare_dimensions_under_a_storage_method(stored, method):
    """Each dimension's ranking as the storage method orders it, and tau between those
    (between the ranks under binary+rescore, whose order is not its score order)."""
    comparison = stored.compare_dimensions(method)
    for dim in comparison.dimensions:
        run = stored.stored(f"{dim}/{method}")
        np.testing.assert_array_equal(comparison.scores[dim], run.scores)
        np.testing.assert_array_equal(comparison.ranks[dim], run.ranks)
    for (a, b), tau in comparison.tau.items():
        keys = {d: (-comparison.ranks[d] if method == "binary+rescore" else comparison.scores[d]).tolist()
                for d in (a, b)}
        assert tau == pytest.approx(brute_tau_b(keys[a], keys[b]), nan_ok=True)


def test_tau_under_rescoring_follows_the_order_not_the_scores():
    """binary+rescore returns the rescored candidates first, whatever the bits say of the others."""
    analysis = make_analysis(10, n_words=12)
    comparison = StoredAnalysis(analysis).compare_dimensions("binary+rescore")
    for dim in analysis.dimensions:
        assert (np.argsort(comparison.ranks[dim]) != np.argsort(-comparison.scores[dim], kind="stable")).any()
    for (a, b), tau in comparison.tau.items():
        assert tau == pytest.approx(brute_tau_b((-comparison.ranks[a]).tolist(), (-comparison.ranks[b]).tolist()))


def test_match_changes_compare_pooled_items_by_their_tokens(stored):
    """Pooled items are clustered anew at each dimension: a match moved when its tokens differ."""
    lengths_differ = False
    for i in range(len(stored.analysis.documents)):
        ref, other = stored.explain(i, 128, storage="pool-2"), stored.explain(i, 64, storage="pool-2")
        lengths_differ |= len(ref.document) != len(other.document) or ref.document.groups != other.document.groups
        tokens = lambda e, q: e.document.groups[e.best_index[q]]  # noqa: E731
        changes = match_changes(ref, other)
        assert [c.query_position for c in changes] == [q for q in range(len(ref.query))
                                                       if tokens(ref, q) != tokens(other, q)]
        assert all(c.reference_match == ref.document.labels[c.reference_position] and
                   c.other_match == other.document.labels[c.other_position] for c in changes)
    assert lengths_differ, "pooling at 64 dimensions groups some tokens differently"
