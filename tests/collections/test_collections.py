"""Index documents into a Qdrant collection and explain every hit: Qdrant Edge as it
is (qdrant-edge-py 0.9.0) and qdrant-client 1.20 in its local mode, on the tiny model."""

from __future__ import annotations

import re

import numpy as np
import pytest
from serving import keyed_qdrant

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
        result = search(tiny_model, backend, berlin["query"], top_k=4, dim=dim)  # 4 of 8: which 4 is the test
        assert result.vector == f"colbert-{dim}"
        assert [h.rank for h in result.hits] == list(range(1, 5))
        for hit in result.hits:
            assert hit.score == pytest.approx(hit.exact, abs=1e-5)  # Qdrant's MaxSim = the stored vectors'
            own = exact.scores(dim)[exact.texts.index(result.analysis.documents[hit.index].text)]
            assert hit.score == pytest.approx(own, abs=1e-5)  # = the model's own score of that text
        # The Run re-scores the hits from their stored vectors, in Qdrant's order: the model's top 4.
        np.testing.assert_allclose(result.analysis.scores(dim), [h.score for h in result.hits], atol=1e-5)
        top = np.sort(exact.scores(dim))[::-1]
        assert top[3] - top[4] > 1e-4  # the 4th and 5th are not tied, so the top 4 is one set
        assert result.analysis.texts == [exact.texts[i] for i in np.argsort(-exact.scores(dim), kind="stable")[:4]]
        # The explorer gets the searched dimension and the smaller ones, from the one vector fetched.
        assert result.analysis.dimensions == tuple(d for d in tiny_model.dimensions if d <= dim)


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
        # Rescored from 3 × 3 candidates, every point: the exact top 3 of the model, whatever the codes.
        exact = tiny_model.analyze(berlin["query"], berlin["documents"]).scores(128)
        top3 = search(tiny_model, backend, berlin["query"], top_k=3, rescore=True, oversampling=3.0)
        assert sorted(h.exact for h in top3.hits) == pytest.approx(sorted(exact)[-3:], abs=1e-5)


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
        local = search(tiny_model, backend, berlin["query"], top_k=4, dim=96)
    edge = search(tiny_model, berlin_edge[0], berlin["query"], top_k=4, dim=96)
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


@pytest.mark.parametrize("key", ["wrong", None])
def test_a_key_the_server_refuses(key):
    with keyed_qdrant("right") as url:
        backend = ClientBackend.connect(url, "docs", api_key=key)
        with pytest.raises(CollectionAccessDenied, match="refused the API key"):
            backend.specs()


def test_the_right_key_reaches_the_server():
    with keyed_qdrant("right") as url:
        assert ClientBackend.connect(url, "docs", api_key="right").specs() is None  # answered: no such collection


# ---- what a search fetches ---------------------------------------------------------------------


def test_a_search_fetches_the_searched_vector_only(berlin_edge, tiny_model, berlin, monkeypatch):
    backend, _ = berlin_edge
    asked = []
    fetch = backend.vectors
    monkeypatch.setattr(backend, "vectors", lambda ids, using: asked.append((list(ids), using)) or fetch(ids, using))
    result = search(tiny_model, backend, berlin["query"], top_k=3, dim=64)
    assert [using for _, using in asked] == ["colbert-64"] * 3 and [ids for ids, _ in asked] == [
        [h.id for h in result.hits][i:i + 1] for i in range(3)]
    requests = []

    class Recording:  # the open shard, its requests recorded
        def __getattr__(self, name):
            return getattr(shard, name)

        def query(self, request):
            requests.append(request)
            return shard.query(request)

        def retrieve(self, ids, with_payload=None, with_vector=None):
            requests.append(with_vector)
            return shard.retrieve(ids, with_payload=with_payload, with_vector=with_vector)

    shard = backend.shard
    monkeypatch.setattr(backend, "_shard", Recording())
    search(tiny_model, backend, berlin["query"], top_k=3, dim=64)
    assert requests[0].with_vector is False  # the top k without vectors, then each hit's colbert-64 alone
    assert requests[1:] == [["colbert-64"]] * 3


def test_a_search_past_the_vector_limit_is_refused_before_fetching(berlin_edge, tiny_model, berlin, monkeypatch):
    from colbert_viz.collections import ResultTooLarge

    backend, _ = berlin_edge
    tokens = [len(d) for d in search(tiny_model, backend, berlin["query"], top_k=3).analysis.documents]
    monkeypatch.setattr(backend, "vectors", lambda ids, using: pytest.fail("fetched past the limit"))
    with pytest.raises(ResultTooLarge, match=f"hold {sum(tokens):,} stored vectors"):
        search(tiny_model, backend, berlin["query"], top_k=3, max_tokens=sum(tokens) - 1)


def test_vectors_past_the_limit_stop_the_fetch(tmp_path, tiny_model):
    """Points that state no count: fetched one at a time, stopped at the limit."""
    backend = _foreign_edge(tmp_path / "c")
    records = tiny_model.encode_documents(["Berlin is big.", "Paris is old.", "Rome is warm."])
    backend.upsert([StoredPoint(f"00000000-0000-0000-0000-00000000000{i}", {"text": r.text}, {"colbert-128": r.vectors})
                    for i, r in enumerate(records, 1)])
    fetched = []
    fetch = backend.vectors
    backend.vectors = lambda ids, using: fetched.append(ids) or fetch(ids, using)
    from colbert_viz.collections import ResultTooLarge

    with pytest.raises(ResultTooLarge, match="more than 12 stored vectors"):
        search(tiny_model, backend, "Berlin", top_k=3, max_tokens=12)
    assert len(fetched) == 2  # the second hit passes 12: the third is never fetched


@pytest.mark.parametrize("payload", ["reader/specials", ["a"], 7])
def test_a_colbert_viz_payload_that_is_not_an_object_is_ignored(tmp_path, tiny_model, payload):
    backend = _foreign_edge(tmp_path / "c")
    record = tiny_model.encode_documents(["It costs 5 euros, roughly."])[0]
    backend.upsert([StoredPoint(point_id("x", "y"), {"text": record.text, "colbert_viz": payload},
                                {"colbert-128": record.vectors[record.scored]})])
    hit = search(tiny_model, backend, "euros", top_k=1).hits[0]
    assert "'colbert_viz' payload is not an object, ignored" in hit.note
    assert (hit.layout, hit.basis) == ("reader/specials", "verified")


def test_reindexing_with_another_doc_maxlen_is_refused(tmp_path, tiny_model, berlin):
    with EdgeBackend(tmp_path / "c") as backend:
        index(tiny_model, backend, berlin["documents"][:3], doc_maxlen=64)
        assert index(tiny_model, backend, berlin["documents"][:3], doc_maxlen=64).skipped == 3
        with pytest.raises(CollectionSettingsError, match="doc_maxlen 64, this run writes 32: index with the same "
                                                          "--doc-maxlen"):
            index(tiny_model, backend, berlin["documents"][:3], doc_maxlen=32)
        other = tiny_model.with_settings(skiplist="stanford")
        with pytest.raises(CollectionSettingsError, match="layout 'reader/specials', this run writes "
                                                          "'stanford/specials'"):
            index(other, backend, berlin["documents"][:3], doc_maxlen=64)
        assert backend.count() == 3


def test_only_the_encodes_hold_the_encode_slot(berlin_edge, tiny_model, berlin, monkeypatch):
    """Qdrant is called outside ``encoding()``; the query (and a hit to check) inside it."""
    from contextlib import contextmanager

    backend, _ = berlin_edge
    held, encodes = [], []

    @contextmanager
    def slot():
        held.append(1)
        yield
        held.pop()

    for name in ("specs", "count", "query", "vectors"):
        call = getattr(backend, name)
        monkeypatch.setattr(backend, name, lambda *a, _call=call, **k: pytest.fail("Qdrant in the slot") if held
                            else _call(*a, **k))
    for name in ("encode_queries", "encode_documents"):
        call = getattr(tiny_model, name)
        monkeypatch.setattr(tiny_model, name, lambda *a, _call=call, _name=name, **k: encodes.append(
            (_name, bool(held))) or _call(*a, **k))
    search(tiny_model, backend, berlin["query"], top_k=2, encoding=slot)
    assert encodes == [("encode_queries", True)]


# ---- Edge folders: one open shard per real path, a few search threads ---------------------------


def test_one_folder_opens_twice_in_one_process(berlin_edge, tiny_model, berlin, tmp_path):
    backend, _ = berlin_edge
    expected = [h.id for h in search(tiny_model, backend, berlin["query"], top_k=3).hits]
    (tmp_path / "link").symlink_to(backend.folder)
    again, linked = EdgeBackend(backend.folder), EdgeBackend(tmp_path / "link")
    assert [h.id for h in search(tiny_model, again, berlin["query"], top_k=3).hits] == expected
    assert [h.id for h in search(tiny_model, linked, berlin["query"], top_k=3).hits] == expected
    again.close()
    linked.close()
    assert [h.id for h in search(tiny_model, backend, berlin["query"], top_k=3).hits] == expected  # still open


def test_a_folder_held_by_another_process_says_so(tmp_path, tiny_model):
    import subprocess
    import sys

    with EdgeBackend(tmp_path / "c") as backend:
        index(tiny_model, backend, ["Berlin"])
        code = ("from colbert_viz.collections import EdgeBackend, CollectionError\n"
                f"try:\n    EdgeBackend({str(tmp_path / 'c')!r}).count()\n"
                "except CollectionError as err:\n    print(err)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert "another process holds this folder" in out and "WouldBlock" not in out, out


def test_a_new_shard_starts_a_few_search_threads(tmp_path, tiny_model):
    import json
    import os

    with EdgeBackend(tmp_path / "c") as backend:
        index(tiny_model, backend, ["Berlin"])
    config = json.loads((tmp_path / "c" / "edge_config.json").read_text())
    assert config["max_search_threads"] == min(os.cpu_count(), 4)


# ---- targets and keys --------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["localhost:6333", "qdrant.example:6334/collections/docs", "[::1]:6333"])
def test_a_url_without_scheme_is_refused(tmp_path, monkeypatch, target):
    from colbert_viz.collections import open_collection

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=f"did you mean http://{re.escape(target)}"):
        open_collection(target)
    assert not any(tmp_path.iterdir())  # no folder of that name


def test_each_server_gets_its_own_key(monkeypatch):
    from colbert_viz.collections import open_collection

    with keyed_qdrant("one") as first, keyed_qdrant("two") as second:
        monkeypatch.setenv("QDRANT_API_KEYS", f"{first}=one,{second}=two")
        monkeypatch.setenv("QDRANT_API_KEY", "neither")
        assert open_collection(f"{first}/collections/a").specs() is None
        assert open_collection(f"{second}/collections/a").specs() is None
        monkeypatch.setenv("QDRANT_API_KEYS", f"{first}=one")  # the second falls back to QDRANT_API_KEY
        with pytest.raises(CollectionAccessDenied):
            open_collection(f"{second}/collections/a").specs()


def test_a_key_over_plain_http_to_another_machine_is_warned():
    from colbert_viz.collections import open_collection

    assert open_collection("http://10.1.2.3:6333/collections/a", api_key="k").warning.startswith(
        "the API key goes over plain http to 10.1.2.3")
    for quiet in (("http://127.0.0.1:6333", "k"), ("https://10.1.2.3:6333", "k"), ("http://10.1.2.3:6333", None)):
        assert open_collection(*quiet[:1], api_key=quiet[1]).warning == ""
