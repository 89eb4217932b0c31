"""Two-stage search (a first stage in HNSW, MaxSim on its candidates), the misses view and the
first-stage backfill, on Qdrant Edge and qdrant-client's local mode, against a numpy reference of
the same stages (tiny random model: the first stage misses often, which is what the tests need)."""

from __future__ import annotations

import numpy as np
import pytest

from colbert_viz.collections import ClientBackend, EdgeBackend, index, search
from colbert_viz.collections.backends import CollectionNotFound, CollectionSettingsError, ResultTooLarge
from colbert_viz.collections.backfill import add_first_stage
from colbert_viz.collections.first_stage import MAX_CANDIDATES, MuveraParams
from colbert_viz.collections.misses import misses, why

WORDS = ["river", "bridge", "castle", "market", "harbour", "museum", "forest", "tower", "station", "garden", "library", "bakery", "theatre", "stadium", "mountain", "island", "valley", "factory", "palace", "church"]
DOCS = [f"The {WORDS[i % 20]} near the {WORDS[(3 * i + 7) % 20]} and the {WORDS[(7 * i + 1) % 20]} ({i})."
        for i in range(40)]
QUERIES = ["Where is the old castle by the river?", "a bakery in the market", "the tower of the palace"]
PARAMS = MuveraParams(k_sim=3, dim_proj=8, r_reps=4, seed=7)
TOP_K, CANDIDATES = 5, 8


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def reference(model, query: str, kind: str, dim: int, candidates: int):
    """Numpy: first-stage scores of every document, its top ``candidates``, MaxSim of all; texts."""
    q = model.encode_queries([query])[0]
    docs = [d.vectors[d.scored] for d in model.encode_documents(DOCS)]
    source = max(model.dimensions)
    qs, ds = unit(q.vectors[:, :source]), [unit(d[:, :source]) for d in docs]
    if kind == "pooled":
        first = np.array([unit(qs.mean(0)) @ unit(d.mean(0)) for d in ds])
    else:
        from fastembed.postprocess import Muvera

        m = Muvera(source, k_sim=PARAMS.k_sim, dim_proj=PARAMS.dim_proj, r_reps=PARAMS.r_reps,
                   random_seed=PARAMS.seed)
        fq = m.process_query(qs.astype(np.float64))
        first = np.array([fq @ m.process_document(d.astype(np.float64)) for d in ds])
    exact = np.array([(unit(q.vectors[:, :dim]) @ unit(d[:, :dim]).T).max(1).sum() for d in docs])
    return first, exact


def top(scores, k, among=None):
    order = np.argsort(-scores, kind="stable")
    if among is not None:
        order = [i for i in order if i in among]
    return list(order[:k])


def separated(scores, k):
    s = np.sort(scores)[::-1]
    return s[k - 1] - s[k] > 1e-4


@pytest.fixture(scope="module", params=["edge", "client"])
def store(request, tmp_path_factory, tiny_model):
    """DOCS with both first stages (MUVERA with PARAMS), on Edge and in local mode."""
    if request.param == "edge":
        backend = EdgeBackend(tmp_path_factory.mktemp("edge") / "docs")
    else:
        from qdrant_client import QdrantClient

        backend = ClientBackend(QdrantClient(":memory:"), "docs")
    index(tiny_model, backend, DOCS, batch_size=16, muvera=PARAMS)
    yield backend
    backend.close()


@pytest.mark.parametrize("kind", ["pooled", "muvera"])
def test_two_stages_equal_the_numpy_reference(store, tiny_model, kind):
    dim = min(tiny_model.dimensions)  # rerank at the smallest, the first stage from the largest
    checked = 0
    for query in QUERIES:
        first, exact = reference(tiny_model, query, kind, dim, CANDIDATES)
        if not (separated(first, CANDIDATES) and separated(exact, TOP_K)):
            continue
        fetched = top(first, CANDIDATES)
        expected = [DOCS[i] for i in top(exact, TOP_K, among=set(fetched))]
        result = search(tiny_model, store, query, top_k=TOP_K, dim=dim, first_stage=kind, candidates=CANDIDATES)
        assert [result.analysis.documents[h.index].text for h in result.hits] == expected
        assert result.first_stage["candidates"] == CANDIDATES and result.first_stage["kind"] == kind
        np.testing.assert_allclose([h.score for h in result.hits], sorted(exact[[DOCS.index(t) for t in expected]],
                                                                          reverse=True), atol=1e-4)
        checked += 1
    assert checked >= 2


@pytest.mark.parametrize("kind", ["pooled", "muvera"])
def test_misses_are_the_exact_top_k_the_prefetch_left_out(store, tiny_model, kind):
    dim = max(tiny_model.dimensions)
    seen = 0
    for query in QUERIES:
        first, exact = reference(tiny_model, query, kind, dim, TOP_K)
        if not (separated(first, TOP_K) and separated(exact, TOP_K)):
            continue
        fetched = set(top(first, TOP_K))
        expected = {DOCS[i] for i in top(exact, TOP_K) if i not in fetched}
        report = misses(tiny_model, store, query, top_k=TOP_K, first_stage=kind, candidates=TOP_K)
        assert {m.text for m in report.missed} == expected
        order = np.argsort(-first, kind="stable").tolist()
        for m in report.missed:
            i = DOCS.index(m.text)
            assert m.first_rank == order.index(i) + 1 and m.first_rank > TOP_K
            assert m.first_score == pytest.approx(first[i], abs=1e-4)
            assert m.exact_score == pytest.approx(exact[i], abs=1e-4)
        kept = set(top(exact, TOP_K, among=fetched))
        assert report.recall == pytest.approx(len(kept & set(top(exact, TOP_K))) / TOP_K)
        seen += len(expected)
    assert seen > 0  # the tiny model's first stage misses some: the test compares something


def test_why_a_document_ranks_where_it_does(store, tiny_model):
    query, dim = QUERIES[0], max(tiny_model.dimensions)
    first, exact = reference(tiny_model, query, "pooled", dim, TOP_K)
    i = top(exact, 1)[0]
    found = why(tiny_model, store, query, DOCS[i], top_k=TOP_K, first_stage="pooled", candidates=TOP_K)
    assert found.exact_rank == 1 and found.exact_score == pytest.approx(exact[i], abs=1e-4)
    assert found.first_rank == np.argsort(-first, kind="stable").tolist().index(i) + 1
    assert found.fetched == (found.first_rank <= TOP_K)
    assert sum(m["similarity"] for m in found.matches) == pytest.approx(exact[i], abs=1e-4)
    by_id = why(tiny_model, store, query, found.id, first_stage="pooled")
    assert by_id.exact_score == found.exact_score


def test_bad_input_is_one_sentence(store, tiny_model, tmp_path):
    with pytest.raises(CollectionSettingsError, match=r"MUVERA vector was made with k_sim=3.*query with"):
        search(tiny_model, store, "castle", first_stage="muvera", muvera=MuveraParams())
    with pytest.raises(ValueError, match="at least top k"):
        search(tiny_model, store, "castle", top_k=5, first_stage="pooled", candidates=4)
    with pytest.raises(ValueError, match=f"at most {MAX_CANDIDATES:,}"):
        search(tiny_model, store, "castle", first_stage="pooled", candidates=MAX_CANDIDATES + 1)
    import sys

    module = sys.modules["colbert_viz.collections.misses"]  # the package's `misses` is the function

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "MAX_EXACT_POINTS", len(DOCS) - 1)
        with pytest.raises(ResultTooLarge, match=f"holds {len(DOCS)} points; the misses view .* stops at"):
            misses(tiny_model, store, "castle", first_stage="pooled")
    with pytest.raises(CollectionNotFound, match="no point 'Atlantis'"):
        why(tiny_model, store, "castle", "Atlantis", first_stage="pooled")
    with EdgeBackend(tmp_path / "plain") as plain:
        index(tiny_model, plain, DOCS[:6], first_stages=())
        with pytest.raises(CollectionSettingsError, match=r"no muvera first stage .*search it exactly"):
            search(tiny_model, plain, "castle", first_stage="muvera")
        assert len(search(tiny_model, plain, "castle", top_k=3).hits) == 3  # the exact search stays


def test_backfill_gives_an_old_collection_the_same_first_stage(tmp_path, tiny_model, store):
    with EdgeBackend(tmp_path / "old") as old, EdgeBackend(tmp_path / "new") as new:
        index(tiny_model, old, DOCS, first_stages=())
        calls = []

        def stop_after_one(done, total):
            calls.append(done)
            if len(calls) == 1:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            add_first_stage(old, new, muvera=PARAMS, batch_size=16, progress=stop_after_one)
        report = add_first_stage(old, new, muvera=PARAMS, batch_size=16)
        assert (report.skipped, report.written, report.points) == (16, len(DOCS) - 16, len(DOCS))
        for kind in ("pooled", "muvera"):
            got = search(tiny_model, new, QUERIES[1], top_k=TOP_K, first_stage=kind, candidates=CANDIDATES)
            want = search(tiny_model, store, QUERIES[1], top_k=TOP_K, first_stage=kind, candidates=CANDIDATES)
            assert [h.id for h in got.hits] == [h.id for h in want.hits]
        with pytest.raises(CollectionSettingsError, match="has a first stage already"):
            add_first_stage(new, EdgeBackend(tmp_path / "again"))


def test_without_fastembed_muvera_is_refused_before_anything_is_written(tmp_path, tiny_model, monkeypatch):
    import sys

    from colbert_viz.collections import first_stage

    first_stage._muvera.cache_clear()
    monkeypatch.setitem(sys.modules, "fastembed.postprocess.muvera", None)  # import fails
    try:
        with EdgeBackend(tmp_path / "c") as backend:
            with pytest.raises(CollectionSettingsError, match="needs fastembed"):
                index(tiny_model, backend, DOCS[:3])
            assert backend.specs() is None  # no collection created
        assert first_stage.available() == ("pooled",)
    finally:
        first_stage._muvera.cache_clear()
