"""MaxSim scoring against brute-force Python loops on random normalised vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from colbert_viz.maths.scoring import (
    best_matches,
    check_dim,
    maxsim,
    maxsim_scores,
    ranking,
    ranks,
    rerank_results,
    score_of,
    similarity_matrix,
    truncate_dims,
)
from colbert_viz.records import TokenVectors


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def record(vectors: np.ndarray, kind: str = "document", skipped=None) -> TokenVectors:
    n = vectors.shape[0]
    skipped = np.zeros(n, bool) if skipped is None else np.asarray(skipped, bool)
    return TokenVectors(
        text="x", kind=kind, ids=np.arange(n, dtype=np.int64), tokens=[f"t{i}" for i in range(n)],
        spans=[(0, 0)] * n, special=np.zeros(n, bool), marker=np.zeros(n, bool),
        expansion=np.zeros(n, bool), skipped=skipped, n_text_tokens=n, truncated=False,
        vectors=vectors,
    )


def brute_dot(a, b) -> float:
    return math.fsum(float(x) * float(y) for x, y in zip(a, b))


def brute_maxsim(q: np.ndarray, d: np.ndarray, scored) -> float:
    total = 0.0
    for qi in q:
        total += max(brute_dot(qi, dj) for dj, ok in zip(d, scored) if ok)
    return total


def brute_truncate(v: np.ndarray, dim: int) -> np.ndarray:
    out = np.empty((v.shape[0], dim), np.float64)
    for i, row in enumerate(v):
        head = [float(x) for x in row[:dim]]
        norm = math.sqrt(sum(x * x for x in head))
        out[i] = [x / norm for x in head]
    return out


SHAPES = [(1, 1, 4), (32, 5, 128), (32, 1, 128), (7, 40, 96), (32, 300, 64), (3, 2, 2)]


@pytest.mark.parametrize(("n_q", "n_d", "dim"), SHAPES)
def test_similarity_matrix_matches_loops(n_q, n_d, dim):
    rng = np.random.default_rng(n_q * 1000 + n_d + dim)
    q, d = unit_rows(rng, n_q, dim), unit_rows(rng, n_d, dim)
    sim = similarity_matrix(q, d)
    assert sim.shape == (n_q, n_d)
    for i in range(n_q):
        for j in range(n_d):
            assert sim[i, j] == pytest.approx(brute_dot(q[i], d[j]), abs=1e-5)
    assert np.all(np.abs(sim) <= 1 + 1e-5)


@pytest.mark.parametrize(("n_q", "n_d", "dim"), SHAPES)
@pytest.mark.parametrize("skip_fraction", [0.0, 0.5])
def test_maxsim_matches_brute_force(n_q, n_d, dim, skip_fraction):
    rng = np.random.default_rng(7 * n_q + 3 * n_d + dim)
    q, d = unit_rows(rng, n_q, dim), unit_rows(rng, n_d, dim)
    skipped = rng.random(n_d) < skip_fraction
    skipped[rng.integers(n_d)] = False  # at least one scored token
    score = maxsim(record(q, "query"), record(d, skipped=skipped))
    assert isinstance(score, float)
    assert score == pytest.approx(brute_maxsim(q, d, ~skipped), abs=1e-4)
    assert -n_q - 1e-4 <= score <= n_q + 1e-4


def test_skipped_tokens_cannot_be_matched():
    rng = np.random.default_rng(1)
    q = unit_rows(rng, 4, 16)
    # document token 0 is a copy of every query token's direction: it would win everything
    d = np.vstack([q[0], unit_rows(rng, 3, 16)])
    d = np.vstack([d, q[1:]])  # tokens 4..6 equal query tokens 1..3
    skipped = np.zeros(len(d), bool)
    skipped[[0, 4]] = True
    sim = similarity_matrix(q, d)
    idx, best = best_matches(sim, ~skipped)
    assert not set(idx.tolist()) & {0, 4}
    assert idx[2] == 5 and idx[3] == 6
    assert best[2] == pytest.approx(1.0, abs=1e-6)
    unskipped = maxsim(record(q, "query"), record(d))
    skipped_score = maxsim(record(q, "query"), record(d, skipped=skipped))
    assert skipped_score < unskipped
    assert skipped_score == pytest.approx(brute_maxsim(q, d, ~skipped), abs=1e-5)


def test_best_matches_against_loops():
    rng = np.random.default_rng(3)
    sim = rng.uniform(-1, 1, (32, 50)).astype(np.float32)
    scored = rng.random(50) < 0.6
    idx, best = best_matches(sim, scored)
    assert idx.shape == best.shape == (32,)
    for i in range(32):
        candidates = [j for j in range(50) if scored[j]]
        j_best = max(candidates, key=lambda j: (sim[i, j], -j))  # first maximum wins
        assert idx[i] == j_best
        assert best[i] == sim[i, j_best]
    assert score_of(best) == pytest.approx(math.fsum(float(x) for x in best), abs=1e-9)


def test_best_matches_ties_pick_first_scored():
    sim = np.array([[0.5, 0.5, 0.5]], np.float32)
    idx, _ = best_matches(sim, np.array([False, True, True]))
    assert idx.tolist() == [1]


def test_best_matches_errors():
    sim = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="similarity has 3 document tokens, scored mask has 2"):
        best_matches(sim, np.ones(2, bool))
    with pytest.raises(ValueError, match="no scored token"):
        best_matches(sim, np.zeros(3, bool))


def test_score_of_accumulates_in_float64():
    values = np.full(32, 0.1, np.float32)
    assert score_of(values) == float(np.sum(values.astype(np.float64)))
    assert isinstance(score_of(values), float)


@pytest.mark.parametrize("dim", [1, 2, 64, 96])
def test_truncate_dims_renormalises(dim):
    rng = np.random.default_rng(dim)
    v = unit_rows(rng, 10, 128)
    cut = truncate_dims(v, dim)
    assert cut.shape == (10, dim) and cut.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(cut, brute_truncate(v, dim), atol=1e-6)
    assert v.shape == (10, 128)  # input untouched


def test_truncate_dims_native_is_identity():
    v = unit_rows(np.random.default_rng(0), 5, 128)
    np.testing.assert_array_equal(truncate_dims(v, 128), v)


def test_truncate_dims_zero_prefix_does_not_divide_by_zero():
    v = np.array([[0.0, 0.0, 1.0]], np.float32)
    cut = truncate_dims(v, 2)
    assert np.isfinite(cut).all() and cut.tolist() == [[0.0, 0.0]]


@pytest.mark.parametrize("dim", [0, -1, 129])
def test_truncate_dims_bad_dim(dim):
    v = unit_rows(np.random.default_rng(0), 2, 128)
    with pytest.raises(ValueError, match=f"cannot cut 128-d vectors to {dim} dimensions"):
        truncate_dims(v, dim)


def test_truncate_dims_needs_2d():
    with pytest.raises(ValueError, match=r"2-d.*\(128,\)"):
        truncate_dims(np.ones(128, np.float32), 64)


def test_similarity_dimension_mismatch_names_sizes():
    with pytest.raises(ValueError, match="query vectors have 128 dimensions, document vectors have 64"):
        similarity_matrix(np.ones((2, 128), np.float32), np.ones((3, 64), np.float32))


def test_maxsim_dimension_mismatch_between_records():
    rng = np.random.default_rng(0)
    q, d = record(unit_rows(rng, 3, 128), "query"), record(unit_rows(rng, 3, 64))
    with pytest.raises(ValueError, match="cannot cut 64-d vectors to 128 dimensions"):
        maxsim(q, d)
    # both cut to a common prefix works
    assert maxsim(q, d, 64) == pytest.approx(
        brute_maxsim(brute_truncate(q.vectors, 64), brute_truncate(d.vectors, 64), [True] * 3), abs=1e-5)


def test_records_at_dim():
    rng = np.random.default_rng(5)
    v = unit_rows(rng, 6, 128)
    r = record(v)
    assert r.dim == 128
    np.testing.assert_array_equal(r.at_dim(128), v)
    for dim in (96, 64):
        cut = r.at_dim(dim)
        assert cut.shape == (6, dim)
        np.testing.assert_allclose(cut, brute_truncate(v, dim), atol=1e-6)
    np.testing.assert_array_equal(r.vectors, v)  # no re-encoding, no mutation


def test_maxsim_at_dim_uses_truncated_vectors():
    rng = np.random.default_rng(11)
    q, d = unit_rows(rng, 32, 128), unit_rows(rng, 20, 128)
    for dim in (128, 96, 64):
        expected = brute_maxsim(brute_truncate(q, dim), brute_truncate(d, dim), [True] * 20)
        assert maxsim(record(q, "query"), record(d), dim) == pytest.approx(expected, abs=1e-4)


def test_maxsim_zero_dim_is_an_error_not_native():
    rng = np.random.default_rng(8)
    q, d = record(unit_rows(rng, 3, 128), "query"), record(unit_rows(rng, 4, 128))
    assert maxsim(q, d) == maxsim(q, d, None) == maxsim(q, d, 128)
    with pytest.raises(ValueError, match="cannot cut 128-d vectors to 0 dimensions"):
        maxsim(q, d, 0)


def test_maxsim_scores_matches_maxsim():
    rng = np.random.default_rng(2)
    q = record(unit_rows(rng, 32, 128), "query")
    docs = [record(unit_rows(rng, n, 128), skipped=rng.random(n) < 0.3 * (n > 1)) for n in (1, 5, 17, 60)]
    for dim in (128, 96, 64):
        scores = maxsim_scores(q, docs, dim)
        assert scores.dtype == np.float64 and scores.shape == (4,)
        assert scores.tolist() == [maxsim(q, d, dim) for d in docs]


@pytest.mark.parametrize(("dim", "allowed"), [(128, (128, 96, 64)), (64, (128, 96, 64)), (np.int64(96), (128, 96, 64))])
def test_check_dim_accepts(dim, allowed):
    assert check_dim(dim, allowed) == int(dim)
    assert type(check_dim(dim, allowed)) is int


@pytest.mark.parametrize("dim", [100, 0, -64, True, 64.0, "64", None])
def test_check_dim_refuses(dim):
    with pytest.raises(ValueError, match=r"dimensions must be one of 128, 96, 64; got"):
        check_dim(dim, (128, 96, 64))


def test_ranking_is_stable_on_ties():
    scores = np.array([1.0, 3.0, 2.0, 3.0, 1.0, 3.0])
    assert ranking(scores).tolist() == [1, 3, 5, 2, 0, 4]
    assert ranks(scores).tolist() == [5, 1, 4, 2, 6, 3]


def test_ranks_against_brute_force():
    rng = np.random.default_rng(4)
    scores = rng.integers(0, 5, 30).astype(np.float64)  # plenty of ties
    r = ranks(scores)
    assert sorted(r.tolist()) == list(range(1, 31))
    for i in range(30):
        better = sum(1 for j in range(30) if scores[j] > scores[i] or (scores[j] == scores[i] and j < i))
        assert r[i] == better + 1


def test_rerank_results_shape():
    scores = np.array([0.5, 2.5, 1.5])
    texts = ["a", "b", "c"]
    results = rerank_results(scores, texts)
    assert results == [
        {"index": 1, "relevance_score": 2.5, "document": {"text": "b"}},
        {"index": 2, "relevance_score": 1.5, "document": {"text": "c"}},
        {"index": 0, "relevance_score": 0.5, "document": {"text": "a"}},
    ]
    for r in results:
        assert set(r) == {"index", "relevance_score", "document"}
        assert set(r["document"]) == {"text"}
        assert type(r["index"]) is int and type(r["relevance_score"]) is float


@pytest.mark.parametrize(("top_n", "expected"), [(None, [1, 2, 0]), (1, [1]), (2, [1, 2]), (3, [1, 2, 0]),
                                                  (10, [1, 2, 0]), (np.int64(2), [1, 2]), (0, [1, 2, 0]),
                                                  (np.int64(0), [1, 2, 0])])
def test_rerank_results_top_n(top_n, expected):
    results = rerank_results(np.array([0.5, 2.5, 1.5]), ["a", "b", "c"], top_n)
    assert [r["index"] for r in results] == expected


@pytest.mark.parametrize("top_n", [-1, True, False, 1.5, "2", "0"])
def test_rerank_results_bad_top_n(top_n):
    with pytest.raises(ValueError, match="top_n must be a positive integer"):
        rerank_results(np.array([0.5, 2.5]), ["a", "b"], top_n)


def test_rerank_results_ties_keep_input_order():
    results = rerank_results(np.array([1.0, 2.0, 1.0, 2.0]), list("abcd"))
    assert [r["index"] for r in results] == [1, 3, 0, 2]
