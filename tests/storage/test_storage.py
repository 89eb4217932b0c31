"""Storage settings and their codecs against direct (loop) implementations of the formulas they follow.

The comparisons with each system's own code (Qdrant Edge, Stanford ColBERT, PyLate)
are in ``test_storage_systems.py``."""

from __future__ import annotations

import io
import json
import math
from contextlib import redirect_stdout

import numpy as np
import pytest
from factories import document_record, filler_words, make_analysis, query_record

from colbert_viz import cli
from colbert_viz.explorer.tables import compression_table
from colbert_viz.maths.scoring import maxsim_scores, ranks
from colbert_viz.storage import codecs
from colbert_viz.storage import settings as storage
from colbert_viz.storage.analysis import StoredAnalysis
from colbert_viz.storage.settings import StorageSetting, apply

DIM = 16


def small_run(n_documents: int = 4, dim: int = DIM):
    q = query_record(["population", "of", "Berlin"], n_expansion=2, dim=dim, seed=3)
    docs = [document_record(filler_words(8 + 3 * i), dim=dim, seed=20 + i) for i in range(n_documents)]
    return q, docs


def loop_maxsim(query: np.ndarray, doc: np.ndarray, pair) -> float:
    """Σ over query rows of the max over document rows of ``pair(q_i, d_j)``, by loops."""
    total = 0.0
    for qi in query:
        total += max(pair(qi, dj) for dj in doc)
    return total


# --- int8 (Qdrant scalar quantization) ------------------------------------------------


def test_int8_range_counts_vectors_and_cuts_values():
    vectors = np.random.default_rng(4).permutation(np.arange(1000 * 2, dtype=np.float32)).reshape(1000, 2)
    # 1000 vectors at 0.99: cut = floor(1000 · (1 - 0.99) / 2) = 4 values in float32, where 1 - 0.99 is
    # 0.0099999905 (not 0.5% of the 2000 values); Qdrant's select_nth calls drop 5 at the bottom, 4 at the top
    assert codecs.int8_range(vectors, 0.99) == (5.0, 1995.0)
    assert codecs.int8_range(vectors, 0.9) == (51.0, 1949.0)
    assert codecs.int8_range(vectors, 1.0) == (0.0, 1999.0)
    assert codecs.int8_range(vectors[:126], 0.5) == (vectors[:126].min(), vectors[:126].max())  # < 127 vectors
    with pytest.raises(ValueError, match="quantile"):
        codecs.int8_range(vectors, 0.3)
    with pytest.raises(ValueError, match=r"\(n, dim\)"):
        codecs.int8_range(vectors.ravel())


def test_int8_range_samples_at_most_5000_vectors():
    vectors = np.random.default_rng(5).standard_normal((6000, 4)).astype(np.float32)
    sample = vectors[np.sort(np.random.default_rng(7).choice(6000, 5000, replace=False))]
    values = np.sort(sample.ravel())  # cut = floor(5000 · (1 - 0.99) / 2) = 24 in float32
    assert codecs.int8_range(vectors, 0.99, seed=7) == (values[25], values[-25])


def test_int8_scores_equal_qdrants_integer_formula_by_loops():
    q, docs = small_run()
    run = apply(StorageSetting("int8", DIM), q, docs)
    stored = [d.vectors[d.scored] for d in docs]
    lo, hi = codecs.int8_range(np.concatenate(stored))
    alpha = (hi - lo) / 127

    def code(v: float) -> int:  # Rust's f32::round: halves away from zero
        return math.floor(min(max((v - lo) / alpha, 0.0), 127.0) + 0.5)

    def pair(a: np.ndarray, b: np.ndarray) -> float:  # Qdrant: multiplier·Σc_q c_x + offsets
        cq, cx = [code(v) for v in a], [code(v) for v in b]
        return (alpha * alpha * sum(x * y for x, y in zip(cq, cx)) + alpha * lo * (sum(cq) + sum(cx))
                + len(a) * lo * lo)

    expected = [loop_maxsim(q.vectors, d, pair) for d in stored]
    np.testing.assert_allclose(run.scores, expected, rtol=1e-5, atol=1e-5)
    assert run.shared_bytes == 8 and run.bytes_per_token == DIM + 4


def test_int8_codes_are_clipped_to_the_range_and_round_halves_up():
    codes = codecs.quantize_int8(np.array([[-5.0, 0.0, 5.0]]), -1.0, 1.0)
    assert codes.tolist() == [[0, 64, 127]]
    assert codecs.quantize_int8(np.array([[0.5, 1.5, 2.5]]), 0.0, 127.0).tolist() == [[1, 2, 3]]
    back = codecs.dequantize_int8(codes, -1.0, 1.0)
    np.testing.assert_allclose(back, [[-1.0, -1.0 + 64 * 2 / 127, 1.0]], rtol=1e-6)


# --- binary (Qdrant binary quantization) -----------------------------------------------


def test_binary_scores_equal_hamming_formula_by_loops():
    q, docs = small_run()
    run = apply(StorageSetting("binary", DIM), q, docs)

    def pair(a: np.ndarray, b: np.ndarray) -> float:
        hamming = sum(int(x > 0) != int(y > 0) for x, y in zip(a, b))
        return (len(a) - 2 * hamming) / len(a)

    expected = [loop_maxsim(q.vectors, d.vectors[d.scored], pair) for d in docs]
    np.testing.assert_allclose(run.scores, expected, rtol=1e-6)
    assert run.bytes_per_token == DIM / 8


def test_rescore_order_follows_qdrant_oversampling():
    quantized = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    exact = np.array([0.0, 1.0, 9.0, 8.0, 7.0])
    order, candidates = storage.rescore_order(quantized, exact, limit=1, oversampling=2.5)
    # floor(2.5 · 1) = 2 candidates (docs 0, 1) re-sorted by exact; docs 2, 3, 4 keep binary order
    assert candidates.tolist() == [0, 1]
    assert order.tolist() == [1, 0, 2, 3, 4]
    with pytest.raises(ValueError, match="oversampling"):
        storage.rescore_order(quantized, exact, limit=1, oversampling=0.5)


def test_equal_scores_go_by_document_index():
    assert ranks(np.array([1.0, 2.0, 1.0, 2.0])).tolist() == [3, 1, 4, 2]
    # candidates 1, 2, 0 in binary order; 0 and 1 tie on the exact score: 0 first
    order, candidates = storage.rescore_order(np.array([1.0, 3.0, 2.0, 0.0]), np.array([5.0, 5.0, 2.0, 9.0]),
                                              limit=1, oversampling=3.0)
    assert candidates.tolist() == [0, 1, 2] and order.tolist() == [0, 1, 2, 3]


def test_binary_rescore_gives_candidates_their_exact_scores():
    q, docs = small_run(n_documents=5)
    run = apply(StorageSetting("binary+rescore", DIM), q, docs, limit=1, oversampling=2.0)
    binary = apply(StorageSetting("binary", DIM), q, docs)
    exact = maxsim_scores(q, docs, DIM)
    assert run.candidates == sorted(np.argsort(-binary.scores, kind="stable")[:2].tolist())
    np.testing.assert_allclose(run.scores[run.candidates], exact[run.candidates])
    rest = [i for i in range(5) if i not in run.candidates]
    np.testing.assert_allclose(run.scores[rest], binary.scores[rest])
    assert sorted(run.order[:2].tolist(), key=lambda i: -exact[i]) == run.order[:2].tolist()
    assert run.keeps_originals


# --- residual (PLAID) ------------------------------------------------------------------


def _unit(n: int, dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_residual_error_shrinks_with_more_bits():
    x = _unit(400, 32, seed=5)
    errors = {}
    for bits in (1, 2, 4):
        codec = codecs.train_residual_codec(x, bits, k=16)
        back = codec.decompress(*codec.compress(x))
        np.testing.assert_allclose(np.linalg.norm(back, axis=1), 1.0, rtol=1e-5)
        assert len(codec.weights) == 2 ** bits and np.all(np.diff(codec.cutoffs) > 0)
        errors[bits] = float(np.mean(np.sum((back - x) ** 2, axis=1)))
    assert errors[1] > errors[2] > errors[4] > 0


def test_residual_buckets_are_residual_quantiles():
    residuals = np.random.default_rng(2).standard_normal(4000).astype(np.float32)
    cutoffs, weights = codecs.residual_buckets(residuals, 2)
    codec = codecs.ResidualCodec(2, np.zeros((1, 1), np.float32), cutoffs, weights)
    _, buckets = codec.compress(residuals[:, None])
    # a quarter of the residual values falls in each 2-bit bucket (ColBERT's quantile cutoffs)
    counts = np.bincount(buckets.ravel(), minlength=4) / residuals.size
    np.testing.assert_allclose(counts, 0.25, atol=0.01)
    # each bucket decodes to its mid-quantile: 1/8, 3/8, 5/8, 7/8 of the residuals lie below the weights
    below = [np.mean(residuals <= w) for w in weights]
    np.testing.assert_allclose(below, [0.125, 0.375, 0.625, 0.875], atol=0.01)
    with pytest.raises(ValueError, match="bits"):
        codecs.train_residual_codec(_unit(30, 8, seed=2), 3)


def test_residual_codec_holds_out_five_percent_for_the_buckets():
    x = _unit(400, 16, seed=3)
    codec = codecs.train_residual_codec(x, 2, seed=1)
    x16 = codecs.to_float16(x)
    heldout = x16[np.random.default_rng(1).permutation(400)[380:]]  # 5 % of 400, after the seeded shuffle
    codes = np.argmax(heldout @ codec.centroids.T, axis=1)
    expected = codecs.residual_buckets(heldout - codec.centroids[codes], 2)
    np.testing.assert_array_equal(codec.cutoffs, expected[0])
    np.testing.assert_array_equal(codec.weights, expected[1])
    np.testing.assert_array_equal(codec.centroids, codecs.to_float16(codec.centroids))  # float16, as the index
    assert len(codec.centroids) == codecs.n_centroids(400)


def test_centroid_rule():
    assert codecs.n_centroids(1) == 1
    assert codecs.n_centroids(250) == 2 ** math.floor(math.log2(16 * math.sqrt(250)))
    assert codecs.n_centroids(20) == 20  # capped by the number of tokens


# --- pooling (PyLate) ------------------------------------------------------------------


@pytest.mark.parametrize("pool_factor", [2, 3])
def test_pooling_counts_shapes_and_partition(pool_factor):
    x = _unit(23, DIM, seed=7)
    pooled, groups = codecs.pool_tokens(x, pool_factor)
    assert groups[0] == [0]  # <s> kept alone
    assert len(groups) == 1 + max(22 // pool_factor, 1)
    assert pooled.shape == (len(groups), DIM)
    assert sorted(i for g in groups for i in g) == list(range(23))
    for row, group in zip(pooled, groups):
        np.testing.assert_allclose(row, np.mean([x[i] for i in group], axis=0), rtol=1e-5, atol=1e-6)


def test_pooling_merges_the_nearest_tokens():
    base = _unit(4, DIM, seed=9)
    x = base[[0, 1, 2, 1, 3, 2, 3]]  # rows 1 and 3, 2 and 5, 4 and 6 are the same token
    pooled, groups = codecs.pool_tokens(x, 2)  # 6 // 2 = 3 clusters: exactly the pairs
    assert groups == [[0], [1, 3], [2, 5], [4, 6]]
    np.testing.assert_allclose(pooled, base[[0, 1, 2, 3]], rtol=1e-6)


def test_pool_factor_one_is_the_identity():
    x = _unit(9, DIM, seed=1)
    pooled, groups = codecs.pool_tokens(x, 1)
    np.testing.assert_array_equal(pooled, x)
    assert groups == [[i] for i in range(9)]
    with pytest.raises(ValueError, match="pool factor"):
        codecs.pool_tokens(x, 0)


def test_pooled_run_stores_only_scored_tokens_and_explains_them():
    q, docs = small_run()
    run = apply(StorageSetting("pool-2", DIM), q, docs)
    for doc, stored in zip(docs, run.documents):
        scored = np.flatnonzero(doc.scored).tolist()
        assert sorted(i for g in stored.groups for i in g) == scored
        assert stored.groups[0] == [0]
        assert len(stored.groups) == 1 + max((len(scored) - 1) // 2, 1)
        assert stored.n_bytes == 4 * DIM * len(stored.groups)
    expl = storage.explain_stored(run, q, docs[0], 0)
    assert expl.score == pytest.approx(run.scores[0])
    merged = [label for label, g in zip(expl.document.labels, expl.document.groups) if len(g) > 1]
    assert merged and all("+" in label for label in merged)
    skipped = [k for k, kind in enumerate(expl.document.kinds) if kind == "skipped"]
    assert skipped and not set(expl.best_index.tolist()) & set(skipped)


# --- float16, settings, bytes, the table -----------------------------------------------


def test_float16_is_close_to_exact():
    q, docs = small_run()
    run = apply(StorageSetting("float16", DIM), q, docs)
    exact = maxsim_scores(q, docs, DIM)
    assert not np.array_equal(run.scores, exact)
    np.testing.assert_allclose(run.scores, exact, atol=5e-3)
    assert run.bytes_per_token == 2 * DIM


def test_bytes_per_token_formulas():
    expected = {"float32": 512, "float16": 256, "int8": 132, "binary": 16, "binary+rescore": 16,
                "residual-1bit": 20, "residual-2bit": 36, "residual-4bit": 68, "pool-2": 512, "pool-3": 512}
    assert {m: storage.bytes_per_token(m, 128) for m in storage.METHODS} == expected
    assert storage.bytes_per_token("residual-2bit", 64) == 4 + 2 * 64 // 8
    # Qdrant pads: 96 bits in 8-byte chunks take 16 bytes; int8 codes to a multiple of 16
    assert [storage.bytes_per_token("binary", d) for d in (96, 64, 384)] == [16, 8, 48]
    assert [storage.bytes_per_token("int8", d) for d in (96, 64, 100)] == [100, 68, 116]


def test_setting_ids_and_bad_names():
    setting = StorageSetting("int8", 64)
    assert setting.id == "64/int8" and StorageSetting.parse("64/int8") == setting
    assert len(storage.all_settings((128, 96, 64))) == 3 * len(storage.METHODS)
    with pytest.raises(ValueError, match="'int4'"):
        StorageSetting("int4", 64)
    with pytest.raises(ValueError, match="128/int8"):
        StorageSetting.parse("int8")


@pytest.mark.parametrize("name", storage.METHODS)
def test_every_explanation_adds_up_to_the_setting_score(name):
    q, docs = small_run(dim=96)  # 1/sqrt(96): binary similarities with float noise
    run = apply(StorageSetting(name, 96), q, docs)
    for i, doc in enumerate(docs):
        expl = storage.explain_stored(run, q, doc, i)
        assert expl.score == run.scores[i]  # the same, so every view rounds it the same way
        assert expl.contributions.sum() == pytest.approx(expl.score)
        json.dumps(expl.to_dict(), allow_nan=False)


def test_limits_are_checked_before_the_work(monkeypatch):
    q, docs = small_run(n_documents=3)  # stored (scored) tokens: 10, 12, 15
    monkeypatch.setattr(storage, "MAX_POOL_TOKENS", 14)
    monkeypatch.setattr(storage, "MAX_RESIDUAL_TOKENS", 30)
    monkeypatch.setattr(storage, "pool_tokens", lambda *a: pytest.fail("worked before checking"))
    with pytest.raises(storage.StorageLimitError, match="at most 14 tokens per document, and document 3 has 15"):
        apply(StorageSetting("pool-2", DIM), q, docs)
    with pytest.raises(storage.StorageLimitError, match="at most 30 document tokens in all, and these documents have 37"):
        apply(StorageSetting("residual-1bit", DIM), q, docs)
    with pytest.raises(ValueError, match="at least one document"):
        apply(StorageSetting("int8", DIM), q, [])


def test_a_setting_over_its_limit_is_unavailable_and_the_others_work(monkeypatch):
    analysis = make_analysis(n_documents=3, n_words=8)  # stored tokens: 10, 12, 15
    monkeypatch.setattr(storage, "MAX_POOL_TOKENS", 14)
    stored = StoredAnalysis(analysis)
    why = "is unavailable for this Run: token pooling handles at most 14 tokens per document, and document 3 has 15"
    assert stored.unavailable() == {"pool-2": f"pool-2 {why}", "pool-3": f"pool-3 {why}"}
    with pytest.raises(ValueError, match=f"pool-2 {why}"):
        stored.stored("64/pool-2")
    available = [m for m in storage.METHODS if not m.startswith("pool-")]
    assert [r["setting"] for r in stored.compression_table()] == [s.id for s in storage.all_settings((128, 96, 64))
                                                                 if s.name in available]
    for method in available:
        assert stored.compare_dimensions(method).dimensions == (128, 96, 64)


def test_a_setting_that_fails_is_unavailable_in_one_sentence(monkeypatch):
    analysis = make_analysis(n_documents=3, n_words=8)
    monkeypatch.setattr(storage, "int8_range", lambda *a, **k: 1 / 0)
    stored = StoredAnalysis(analysis)
    assert stored.unavailable() == {"int8": "int8 is unavailable for this Run: it could not be computed"}
    assert stored.stored("128/binary").setting.id == "128/binary"


def test_table_reference_row_and_a_changed_ranking():
    analysis = make_analysis(n_documents=6, n_words=20)
    rows = {r["setting"]: r for r in StoredAnalysis(analysis).compression_table()}
    assert len(rows) == 3 * len(storage.METHODS)
    exact = rows["128/float32"]
    assert exact["kendall_tau"] == 1.0 and exact["largest_rank_change"] == 0 and exact["largest_score_change"] == 0
    assert exact["bytes_per_token"] == 512
    n_stored = np.mean([d.scored.sum() for d in analysis.documents])
    assert exact["bytes_per_document"] == pytest.approx(512 * n_stored)
    # binary at 128 reorders these documents: the row says by how much
    binary = apply(StorageSetting("binary", 128), analysis.query, analysis.documents)
    moved = int(np.max(np.abs(ranks(binary.scores) - analysis.ranks(128))))
    assert moved > 0 and rows["128/binary"]["largest_rank_change"] == moved
    assert rows["128/binary"]["kendall_tau"] < 1
    assert rows["128/binary"]["bytes_per_document"] == pytest.approx(16 * n_stored)
    json.dumps(list(rows.values()), allow_nan=False)
    frame = compression_table(analysis)
    assert list(frame["Setting"]) == list(rows)
    assert frame.loc[frame["Setting"] == "128/binary", "Largest rank change"].item() == moved


def test_a_stored_analysis_keeps_what_it_computed_the_analysis_nothing(monkeypatch):
    analysis = make_analysis(n_documents=3, n_words=8)
    kept = StoredAnalysis(analysis)
    first = kept.compression_table()
    assert first == StoredAnalysis(analysis).compression_table()
    calls = []
    monkeypatch.setattr(storage, "compression_rows", lambda *a, **k: calls.append("table") or [])
    monkeypatch.setattr(storage, "apply", lambda *a: calls.append("stored"))
    first[0]["kendall_tau"] = -5.0  # a caller's edit does not reach the kept table
    again = kept.compression_table()
    assert again[0]["kendall_tau"] == 1.0 and len(again) == len(first)
    assert kept.stored("64/int8").setting.id == "64/int8"  # kept while computing the table
    assert calls == []
    StoredAnalysis(analysis).compression_table()
    StoredAnalysis(analysis).stored("64/int8")
    # each StoredAnalysis keeps its own (every setting once, then the table); the Analysis keeps nothing
    assert calls == ["stored"] * len(storage.all_settings(analysis.dimensions)) + ["table", "stored"]
    kept_by_owner = {}
    owned = StoredAnalysis(analysis, keep=lambda name, compute: kept_by_owner.setdefault(name, compute()))
    monkeypatch.undo()
    owned.stored("64/int8")
    assert list(kept_by_owner) == [("stored", "64/int8")]  # the owner's keep holds it


def test_cli_compress_prints_the_table(tiny_checkpoint, tmp_path, monkeypatch):
    docs = tmp_path / "docs.json"
    docs.write_text(json.dumps(["Berlin has 3.9 million people.", "Mount Berlin is a volcano.", "Hello."]))

    def compress() -> dict:
        out = io.StringIO()
        with redirect_stdout(out):
            code = cli.main(["compress", "--model", str(tiny_checkpoint), "--dtype", "float32", "--device", "cpu",
                             "--query", "population of Berlin", "--documents", str(docs)])
        assert code == 0
        return json.loads(out.getvalue())

    monkeypatch.setattr(storage, "MAX_RESIDUAL_TOKENS", 5)  # the rows of the others, and why not these
    printed = compress()
    assert set(printed["unavailable"]) == {"residual-1bit", "residual-2bit", "residual-4bit"}
    assert not any(r["method"].startswith("residual-") for r in printed["storage"])
    monkeypatch.undo()
    printed = compress()
    rows = printed["storage"]
    assert printed["unavailable"] == {}
    assert [r["setting"] for r in rows] == [s.id for s in storage.all_settings((128, 96, 64))]
    assert rows[0]["kendall_tau"] == 1.0
