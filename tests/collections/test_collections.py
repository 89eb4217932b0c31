"""Index documents into a Qdrant collection and explain every hit: Qdrant Edge as it
is (qdrant-edge-py 0.9.0) and qdrant-client 1.20 in its local mode, on the tiny model."""

from __future__ import annotations

import numpy as np
import pytest
from serving import refusing_qdrant

import colbert_viz
from colbert_viz.collections import (
    ClientBackend,
    CollectionAccessDenied,
    CollectionNotFound,
    CollectionSettingsError,
    CollectionUnreachable,
    EdgeBackend,
    EmptyCollectionError,
    PointError,
    index,
    point_id,
    search,
)
from colbert_viz.collections.backends import StoredPoint


@pytest.fixture(scope="module")
def berlin_edge(tmp_path_factory, tiny_model, berlin):
    """Berlin's documents in an unquantized Edge shard."""
    backend = EdgeBackend(tmp_path_factory.mktemp("edge") / "berlin")
    report = index(tiny_model, backend, berlin["documents"], batch_size=3)
    yield backend, report
    backend.close()


def test_edge_hits_score_as_the_model_ranks(berlin_edge, tiny_model, berlin):
    backend, report = berlin_edge
    assert (report.written, report.skipped, report.points) == (8, 0, 8)
    exact = tiny_model.analyze(berlin["query"], berlin["documents"])
    for dim in tiny_model.dimensions:
        result = search(tiny_model, backend, berlin["query"], top_k=8, dim=dim)
        assert result.vector == f"colbert-{dim}"
        assert [h.rank for h in result.hits] == list(range(1, 9))
        for hit in result.hits:
            assert hit.score == pytest.approx(hit.exact, abs=1e-5)  # Qdrant's MaxSim = the stored vectors'
            own = exact.scores(dim)[exact.texts.index(result.analysis.documents[hit.index].text)]
            assert hit.score == pytest.approx(own, abs=1e-5)  # = the model's own score of that text
        # The Run re-scores the hits from their stored vectors, in Qdrant's order.
        np.testing.assert_allclose(result.analysis.scores(dim), [h.score for h in result.hits], atol=1e-5)
        assert result.analysis.texts == [exact.texts[i] for i in np.argsort(-exact.scores(dim), kind="stable")]


def test_an_existing_shard_opens_with_a_search_thread_bound(berlin_edge, tiny_model, berlin):
    """``max_search_threads`` on an existing shard: it opens (Edge refuses a partial config
    on load) and answers as the backend that wrote it."""
    backend, _ = berlin_edge
    expected = [h.score for h in search(tiny_model, backend, berlin["query"], top_k=3).hits]
    backend.close()  # one process holds a shard's write-ahead log at a time; the fixture's opens again on use
    reopened = EdgeBackend(backend.folder, max_search_threads=1)
    try:
        assert [h.score for h in search(tiny_model, reopened, berlin["query"], top_k=3).hits] == expected
    finally:
        reopened.close()


def test_edge_hits_are_named_by_their_tokens(berlin_edge, tiny_model, berlin):
    backend, _ = berlin_edge
    result = search(tiny_model, backend, berlin["query"], top_k=3)
    own = {d.text: d for d in tiny_model.encode_documents(berlin["documents"])}
    for hit in result.hits:
        record = result.analysis.documents[hit.index]
        d = own[record.text]
        assert hit.layout == "reader/specials" and "written by" not in hit.note
        assert record.tokens == [t for t, s in zip(d.tokens, d.scored) if s]
        np.testing.assert_allclose(record.vectors, d.vectors[d.scored], atol=1e-6)  # not re-encoded: the same


def test_a_hit_says_when_another_model_wrote_it(berlin_edge, tiny_model, berlin):
    other = tiny_model.with_settings()
    other.info = type(tiny_model.info)(**{**vars(tiny_model.info), "name": "another/model"})
    hit = search(other, berlin_edge[0], berlin["query"], top_k=1).hits[0]
    assert hit.note.endswith(f"written by {tiny_model.info.name}, searched with another/model")


def test_reindex_is_idempotent(berlin_edge, tiny_model, berlin):
    backend, _ = berlin_edge
    again = index(tiny_model, backend, berlin["documents"] + berlin["documents"][:2])
    assert (again.documents, again.written, again.skipped, again.points) == (8, 0, 8, 8)
    assert point_id("m", "Berlin") == point_id("m", "Berlin") != point_id("m", "Berlin.")


def test_interrupted_index_resumes(tmp_path, tiny_model, berlin):
    backend = EdgeBackend(tmp_path / "c")

    def stop_after_first_batch(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        index(tiny_model, backend, berlin["documents"], batch_size=3, progress=stop_after_first_batch)
    backend.close()
    reopened = EdgeBackend(tmp_path / "c")
    assert reopened.count() == 3  # the first batch is stored whole, nothing else
    report = index(tiny_model, reopened, berlin["documents"], batch_size=3)
    assert (report.written, report.skipped, report.points) == (5, 3, 8)
    reopened.close()


def _foreign_edge(folder, size=128, distance="Cosine", multivector=True, name="colbert-128"):
    import qdrant_edge as q

    multi = q.MultiVectorConfig(comparator=q.MultiVectorComparator.MaxSim) if multivector else None
    params = q.EdgeVectorParams(size=size, distance=getattr(q.Distance, distance), multivector_config=multi)
    q.EdgeShard.create(str(folder), q.EdgeConfig(vectors={name: params})).close()
    return EdgeBackend(folder)


@pytest.mark.parametrize(("settings", "message"), [
    ({"size": 96}, "has size 96, colbert-viz needs 128"),
    ({"distance": "Dot"}, "has distance dot, colbert-viz needs cosine"),
    ({"multivector": False}, "has comparator None, colbert-viz needs max_sim"),
    ({"name": "dense"}, "has no vector 'colbert-128'"),
])
def test_settings_that_do_not_fit_are_refused(tmp_path, tiny_model, settings, message):
    backend = _foreign_edge(tmp_path / "c", **settings)
    with pytest.raises(CollectionSettingsError, match=message):
        index(tiny_model, backend, ["Berlin"])
    assert backend.count() == 0  # nothing written
    if "name" not in settings:  # another name is fine to search: a collection made by another pipeline
        with pytest.raises(CollectionSettingsError, match="no cosine MAX_SIM multivector of size 128"):
            search(tiny_model, backend, "Berlin", dim=128)


@pytest.mark.parametrize("quantization", ["int8", "binary"])
def test_quantized_collection_with_rescore_on_and_off(tmp_path, tiny_model, berlin, quantization):
    with EdgeBackend(tmp_path / "q") as backend:
        index(tiny_model, backend, berlin["documents"], quantization=quantization)
        assert backend.specs()["colbert-128"].quantization == quantization
        rescored = search(tiny_model, backend, berlin["query"], top_k=8, rescore=True)
        assert rescored.quantization == quantization
        for hit in rescored.hits:
            assert hit.score == pytest.approx(hit.exact, abs=1e-5)
        raw = search(tiny_model, backend, berlin["query"], top_k=8, rescore=False)
        gaps = [abs(h.score - h.exact) for h in raw.hits]
        assert max(gaps) > 1e-3  # Qdrant scored the quantized vectors; the exact MaxSim stands beside
        assert {h.id for h in raw.hits} == {h.id for h in rescored.hits}


def test_missing_and_empty_collections(tmp_path, tiny_model):
    with pytest.raises(CollectionNotFound, match="does not exist"):
        search(tiny_model, EdgeBackend(tmp_path / "none"), "Berlin")
    empty = _foreign_edge(tmp_path / "empty")
    with pytest.raises(EmptyCollectionError, match="is empty"):
        search(tiny_model, empty, "Berlin")


def test_point_without_text(tmp_path, tiny_model):
    backend = _foreign_edge(tmp_path / "c")
    vectors = np.eye(128, dtype=np.float32)[:4]
    backend.upsert([StoredPoint(point_id("x", "y"), {"title": "no text"}, {"colbert-128": vectors})])
    with pytest.raises(PointError, match="has no text in its payload field 'text'"):
        search(tiny_model, backend, "Berlin")


def test_vectors_of_the_wrong_size_are_refused(tmp_path, tiny_model):
    backend = _foreign_edge(tmp_path / "c", size=768, name="")
    with pytest.raises(CollectionSettingsError, match=r"size 768"):
        search(tiny_model, backend, "Berlin")


def test_search_result_shows_in_a_notebook(berlin_edge, tiny_model, berlin):
    backend, _ = berlin_edge
    result = search(tiny_model, backend, berlin["query"], top_k=2)
    assert "<script" in colbert_viz.show(result.analysis)._repr_html_()
    out = result.to_dict(explain=True)
    first = out["results"][0]
    assert {"index", "relevance_score", "document", "qdrant_rank", "qdrant_score", "exact_maxsim",
            "explanation"} <= set(first)
    assert first["explanation"]["score"] == pytest.approx(first["exact_maxsim"], abs=1e-5)


# ---- qdrant-client, local mode -------------------------------------------------------------


def test_client_local_mode_matches_edge(berlin_edge, tiny_model, berlin):
    from qdrant_client import QdrantClient

    with ClientBackend(QdrantClient(":memory:"), "berlin") as backend:
        report = index(tiny_model, backend, berlin["documents"], batch_size=5)
        assert (report.written, report.points) == (8, 8)
        assert index(tiny_model, backend, berlin["documents"]).skipped == 8
        local = search(tiny_model, backend, berlin["query"], top_k=8, dim=96)
    edge = search(tiny_model, berlin_edge[0], berlin["query"], top_k=8, dim=96)
    assert [h.id for h in local.hits] == [h.id for h in edge.hits]
    for a, b in zip(local.hits, edge.hits):
        assert a.score == pytest.approx(a.exact, abs=1e-5)
        assert a.score == pytest.approx(b.score, abs=1e-5)


def test_client_local_mode_on_disk(tmp_path, tiny_model):
    from qdrant_client import QdrantClient

    with ClientBackend(QdrantClient(path=str(tmp_path / "local")), "docs") as backend:
        with pytest.raises(CollectionNotFound):
            search(tiny_model, backend, "Berlin")
        index(tiny_model, backend, ["Berlin is the capital of Germany.", "Paris is in France."])
        assert search(tiny_model, backend, "capital of Germany", top_k=1).hits[0].score > 0


def test_unreachable_server():
    backend = ClientBackend.connect("http://127.0.0.1:9", "docs", timeout=2)
    with pytest.raises(CollectionUnreachable, match="cannot be reached"):
        backend.specs()


def test_wrong_api_key():
    with refusing_qdrant() as url:
        backend = ClientBackend.connect(url, "docs", api_key="wrong")
        with pytest.raises(CollectionAccessDenied, match="refused the API key"):
            backend.specs()
