"""The page's search mode without a browser (``page_client``): a search through the page's
event becomes the session's Run; a session's own collection is seen and searched by that
session only and removed when its page closes; bad collections give one line, never a
traceback or a server path."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import numpy as np
import pytest
from page_client import PageClient, new_session
from serving import free_port, keyed_qdrant

from colbert_viz.app.collection_shelf import (
    DEMO,
    PRIVATE,
    CollectionShelf,
    CollectionUnavailable,
    configured_api_keys,
    configured_collections,
)
from colbert_viz.app.limits import Limits
from colbert_viz.app.registry import ModelRegistry
from colbert_viz.app.run_store import RunStore
from colbert_viz.collections import EdgeBackend, index, point_id
from colbert_viz.collections.backends import StoredPoint
from colbert_viz.explorer.payload import document_payload

LIMITS = Limits(max_docs=10, max_chars=2000, max_tokens=4000, max_doc_tokens=1024)


def _foreign_edge(folder, size=128):
    import qdrant_edge as q

    multi = q.MultiVectorConfig(comparator=q.MultiVectorComparator.MaxSim)
    params = q.EdgeVectorParams(size=size, distance=q.Distance.Cosine, multivector_config=multi)
    q.EdgeShard.create(str(folder), q.EdgeConfig(vectors={"colbert-128" if size == 128 else "other": params})).close()
    return EdgeBackend(folder)


@pytest.fixture(scope="module")
def bad(tmp_path_factory, tiny_model):
    """Operator collections that cannot be searched, each as it fails, and a good one."""
    root = tmp_path_factory.mktemp("bad")
    _foreign_edge(root / "empty").close()
    _foreign_edge(root / "small", size=32).close()
    notext = _foreign_edge(root / "notext")
    notext.upsert([StoredPoint(point_id("x", "y"), {"title": "no text"},
                               {"colbert-128": np.eye(128, dtype=np.float32)[:4]})])
    notext.close()
    only96 = _foreign_edge(root / "only96", size=96)  # a MaxSim multivector of 96 dimensions alone
    only96.close()
    with keyed_qdrant("the server's key") as refused:  # the shelf has no key for it
        yield {"missing": str(root / "missing"), "empty": str(root / "empty"), "small": str(root / "small"),
               "notext": str(root / "notext"), "only96": str(root / "only96"), "unreachable": "http://127.0.0.1:9/collections/docs",
               "refused": f"{refused}/collections/docs"}


@pytest.fixture(scope="module")
def other_model(tmp_path_factory):
    """Another tiny checkpoint (another seed): the page's menu may name it while a collection
    was indexed with ``tiny``."""
    import colbert_viz
    from colbert_viz.engine.synthetic import write_checkpoint

    return colbert_viz.load(str(write_checkpoint(tmp_path_factory.mktemp("ckpt") / "other", seed=1)),
                            dtype="float32", device="cpu")


@pytest.fixture(scope="module")
def app(tiny_model, other_model, tmp_path_factory, bad):
    from colbert_viz.app.ui import build_app, launch_options

    demo_dir = tmp_path_factory.mktemp("demo") / "collection"
    import os

    os.environ["COLBERT_VIZ_DEMO_COLLECTION"] = str(demo_dir)
    try:
        shelf = CollectionShelf(bad, private_root=tmp_path_factory.mktemp("private"), private_docs=20,
                                private_count=3)
        store = RunStore(2**30)
        started = time.perf_counter()
        demo = build_app(ModelRegistry({"tiny": tiny_model, "other": other_model}), limits=LIMITS, store=store, collections=shelf,
                         demo_collection=True)
        shelf.demo_thread.join(300)
        built = time.perf_counter() - started
    finally:
        del os.environ["COLBERT_VIZ_DEMO_COLLECTION"]
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                            **launch_options(LIMITS))
    print(f"demo collection built in {built:.2f} s: {shelf.demo_report}")
    yield type("Served", (), {"demo": demo, "url": url, "store": store, "shelf": shelf, "demo_dir": demo_dir,
                              "client": PageClient(url)})
    demo.close()
    shelf.close()


def test_the_demo_collection_holds_the_example_sets_and_a_restart_reuses_it(app, tiny_model):
    from colbert_viz.app.examples import load_examples

    report = app.shelf.demo_report
    texts = {d for ex in load_examples() for d in ex.documents}
    assert report.points == len(texts) and app.shelf.names()[0] == DEMO
    again = CollectionShelf()
    again.add_demo(app.demo_dir.parent / "collection-copy", "tiny", tiny_model, [["only one"]], background=False)
    assert again.demo_report.written == 1
    # the same folder again: nothing is encoded
    reuse = CollectionShelf()
    with app.shelf.entry(DEMO, None).lock:
        app.shelf.entry(DEMO, None).close()
        reuse.add_demo(app.demo_dir, "tiny", tiny_model, [ex.documents for ex in load_examples()], background=False)
        why = reuse.entry(DEMO, None).building
        reuse.close()
    assert not why, why
    assert reuse.demo_report.written == 0 and reuse.demo_report.skipped == report.documents


def test_search_through_the_page_becomes_the_sessions_run(app, berlin, tiny_model):
    session = new_session()
    started = time.perf_counter()
    found = app.client.search(session, DEMO, berlin["query"], top_k=5, dimensions="96", model="tiny")
    print(f"search on the page: {time.perf_counter() - started:.3f} s")
    assert found["status"].startswith(f"Found 5 in “{DEMO}” at 96 dimensions (colbert-96"), found["status"]
    run = app.store.get(found["key"], session)
    assert len(run.analysis.documents) == 5 and len(found["hits"]) == 5
    scores = run.analysis.scores(96)
    for rank, hit in enumerate(found["hits"], 1):
        assert hit["rank"] == rank
        assert hit["score"] == pytest.approx(hit["exact"], abs=1e-5)
        assert hit["score"] == pytest.approx(scores[hit["document"]], abs=1e-5)
    assert found["payload"]["run_key"] == found["key"] and len(found["payload"]["documents"]) == 5
    # exactly what a pasted list of the same documents gets, from the stored vectors
    assert app.client.server("document_views", [found["key"], 1, "float32"], session) == json.loads(
        json.dumps(document_payload(run.analysis, 1)))
    assert "error" not in app.client.server("storage_summary", [found["key"]], session)
    assert app.client.server("document_views", [found["key"], 1, "float32"], new_session())["error"].startswith(
        "This run was dropped")


def test_the_dimension_menu_follows_the_collection(app):
    def menu(name: str) -> list[str]:
        update = app.client.collection(new_session(), name, "tiny")
        return [c[1] if isinstance(c, list) else c for c in update["choices"]]

    assert menu(DEMO) == ["128", "96", "64"]
    assert menu("only96") == ["96"]  # the collection's sizes, not the model's


def _jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text("\n".join(json.dumps({"text": t}) for t in texts), encoding="utf-8")
    return path


def test_a_private_collection_is_its_sessions_alone_and_goes_with_it(app, tmp_path):
    alice, bob = new_session(), new_session()
    texts = ["Aardvarks dig burrows at night.", "Zebras graze on the savanna.", "Owls hunt mice in the dark."]
    indexed = app.client.index(alice, [_jsonl(tmp_path / "mine.jsonl", texts)], "tiny")
    assert indexed["status"].startswith("Indexed 3 documents") and indexed["collections"][-1] == PRIVATE
    assert PRIVATE in app.shelf.names(alice) and PRIVATE not in app.shelf.names(bob)
    folder = Path(app.shelf.entry(PRIVATE, alice).target)
    assert folder.is_dir()
    mine = app.client.search(alice, PRIVATE, "Which animal digs burrows?", top_k=3, model="tiny")
    assert {h["text"] for h in mine["hits"]} == set(texts)
    theirs = app.client.search(bob, PRIVATE, "Which animal digs burrows?", top_k=3, model="tiny")
    assert theirs["key"] is None and "no uploaded collection" in theirs["status"]
    assert app.client.index(bob, [_jsonl(tmp_path / "too-many.jsonl", [f"doc {i}" for i in range(11)])],
                            "tiny")["status"].startswith('<span class="cv-error">⚠')
    too_long = app.client.index(bob, [_jsonl(tmp_path / "long.jsonl", ["short", "word " * 500])], "tiny")["status"]
    assert "Document 2 has 2,500 characters; the limit is 2,000" in too_long and PRIVATE not in app.shelf.names(bob)
    app.client.close_page(alice)
    deadline = time.monotonic() + 30
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not folder.exists() and PRIVATE not in app.shelf.names(alice)
    gone = app.client.search(alice, PRIVATE, "Which animal digs burrows?", top_k=3, model="tiny")
    assert gone["key"] is None and "no uploaded collection" in gone["status"]


def test_private_collections_are_bounded_by_count(tmp_path, tiny_model):
    shelf = CollectionShelf(private_root=tmp_path, private_docs=3, private_count=2)
    for session in ("a", "b", "c"):  # the third removes the least recently used, and only it
        shelf.add_private(session, "tiny", tiny_model, [f"{session} one", f"{session} two"])
    assert [PRIVATE in shelf.names(s) for s in ("a", "b", "c")] == [False, True, True]
    assert shelf.private_bytes_used() < shelf.private_bytes  # not removed for space: the count did it
    with pytest.raises(Exception, match="limit of 3"):
        shelf.add_private("c", "tiny", tiny_model, ["three", "four"])
    shelf.close()
    assert not tmp_path.exists()


def test_private_collections_are_bounded_by_the_blocks_they_occupy(tmp_path, tiny_model, berlin):
    shelf = CollectionShelf(private_root=tmp_path / "p")
    shelf.add_private("a", "tiny", tiny_model, berlin["documents"])
    one = shelf.private_bytes_used()
    apparent = sum(f.stat().st_size for f in (tmp_path / "p").rglob("*") if f.is_file())
    print(f"one private collection of the Berlin example: {one / 2**20:.2f} MiB occupied, "
          f"{apparent / 2**20:.1f} MiB apparent")
    assert one < apparent / 10  # sparse files: their holes are not counted
    shelf.private_bytes = one  # a's blocks fill the space: b's upload removes a first
    shelf.add_private("b", "tiny", tiny_model, berlin["documents"][:2])
    assert PRIVATE not in shelf.names("a") and PRIVATE in shelf.names("b")
    shelf.private_bytes = 1  # nothing fits, and b's own collection is never evicted for b
    with pytest.raises(CollectionUnavailable, match="fill the space"):
        shelf.add_private("b", "tiny", tiny_model, ["more"])
    assert PRIVATE in shelf.names("b")
    shelf.close()


def test_sixteen_sessions_upload_twice_on_the_default_limits(tmp_path, tiny_model, berlin):
    shelf = CollectionShelf(private_root=tmp_path)  # the defaults: 256 documents, 16 collections, 512 MB
    docs = berlin["documents"]
    started = time.perf_counter()
    for upload in (docs[:4], docs[4:]):
        for session in range(16):
            shelf.add_private(f"s{session}", "tiny", tiny_model, [f"{d} ({session})" for d in upload])
    seconds = time.perf_counter() - started
    held = [s for s in range(16) if PRIVATE in shelf.names(f"s{s}")]
    print(f"16 sessions x 2 uploads: {len(held)} held, {shelf.private_bytes_used() / 2**20:.1f} MiB, {seconds:.1f} s")
    assert held == list(range(16))
    assert all(shelf.entry(PRIVATE, f"s{s}").documents == 8 for s in range(16))
    shelf.close()


class _SlowModel:
    """``tiny_model`` whose document encodes wait for ``go``."""

    def __init__(self, model, go) -> None:
        self.model, self.go, self.started = model, go, __import__("threading").Event()

    def __getattr__(self, name):
        return getattr(self.model, name)

    def encode_documents(self, *args, **kwargs):
        self.started.set()
        assert self.go.wait(60)
        return self.model.encode_documents(*args, **kwargs)


def test_closing_a_tab_while_it_indexes_blocks_no_other_session(tmp_path, tiny_model):
    import threading

    shelf = CollectionShelf(private_root=tmp_path)
    shelf.add_private("other", "tiny", tiny_model, ["Owls hunt at night."])
    go = threading.Event()
    slow = _SlowModel(tiny_model, go)
    indexing = threading.Thread(target=shelf.add_private, args=("closing", "tiny", slow, ["A slow document."]))
    indexing.start()
    assert slow.started.wait(60)
    folder = Path(shelf._private["closing"].target)
    closing = threading.Thread(target=shelf.remove_session, args=("closing",))
    closing.start()  # waits for the index on that collection, and for nothing else
    try:
        for _ in range(3):
            started = time.perf_counter()
            assert shelf.names("other") == [PRIVATE] and PRIVATE not in shelf.names("closing")
            assert shelf.search(PRIVATE, "other", tiny_model, "owls", 1, None, None).hits
            assert time.perf_counter() - started < 5
        assert folder.exists() and closing.is_alive()
    finally:
        go.set()
        indexing.join(60)
        closing.join(60)
    assert not folder.exists()
    shelf.close()


def test_server_keys_per_url_and_a_warning_for_plain_http(caplog):
    urls = {"a": "http://10.0.0.5:6333/collections/a", "b": "https://b.example/collections/b", "c": "/srv/c"}
    env = {"QDRANT_API_KEYS": "http://10.0.0.5:6333=ka, https://b.example:6333=kb"}
    assert configured_api_keys(urls, env) == {"a": "ka", "b": "kb"}
    with pytest.raises(ValueError, match="QDRANT_API_KEY would go to 2 servers"):
        configured_api_keys(urls, {"QDRANT_API_KEY": "one"})
    assert configured_api_keys({"a": urls["a"]}, {"QDRANT_API_KEY": "one"}) == {"a": "one"}  # one server: its key
    with caplog.at_level("WARNING"):
        shelf = CollectionShelf(urls, api_keys=configured_api_keys(urls, env))
    assert shelf.entry("a", None).warning.startswith("the API key of “a” goes over plain http to 10.0.0.5")
    assert shelf.entry("b", None).warning == "" and "ka" not in caplog.text
    assert "plain http to 10.0.0.5" in caplog.text


@pytest.mark.parametrize(("name", "message"), [
    ("missing", "“missing” does not exist"),
    ("empty", "is empty: index documents first"),
    ("small", "has no cosine MAX_SIM multivector of size 128"),
    ("notext", "has no text in its payload field 'text'"),
    ("unreachable", "cannot be reached"),
    ("refused", "refused the API key"),
    ("nowhere", "Choose a collection from the menu."),
])
def test_bad_collections_say_why_in_one_line(app, bad, name, message):
    found = app.client.search(new_session(), name, "Berlin", top_k=3, dimensions="128", model="tiny")
    status = html.unescape(found["status"])
    assert found["key"] is None and message in status, status
    assert status.startswith('<span class="cv-error">⚠') and "\n" not in status and "Traceback" not in status
    assert bad.get(name, "/nowhere") not in status and "/tmp" not in status and "127.0.0.1" not in status


def test_operator_collections_come_from_the_environment():
    assert configured_collections({"COLBERT_VIZ_COLLECTIONS": "a=/x, b=http://h/collections/c"}) == {
        "a": "/x", "b": "http://h/collections/c"}
    for bad in ("a", "=x", "a=/x,a=/y", f"{DEMO}=/x", "a=localhost:6333"):
        with pytest.raises(ValueError, match="COLBERT_VIZ_COLLECTIONS"):
            configured_collections({"COLBERT_VIZ_COLLECTIONS": bad})


def test_a_search_fits_the_top_k_limit(app):
    found = app.client.search(new_session(), DEMO, "Berlin", top_k=11, model="tiny")
    assert found["key"] is None and "Top k must be a whole number from 1 to 10" in found["status"]


def test_a_two_stage_search_says_what_ran(app, berlin, tiny_model):
    """The page's first stage: the status names it and its candidate count; its hits are the
    package's two-stage search of the same collection; a bad candidate count is one line."""
    from colbert_viz.collections import search

    found = app.client.search(new_session(), DEMO, berlin["query"], top_k=3, model="tiny", first_stage="pooled",
                              candidates=4)
    assert "two stages: pooled first stage (first-pooled-128), 4 candidates, then MaxSim" in found["status"]
    want = app.shelf._use(DEMO, None, lambda backend: search(tiny_model, backend, berlin["query"], top_k=3,
                                                             first_stage="pooled", candidates=4))
    assert [h["score"] for h in found["hits"]] == pytest.approx([h.score for h in want.hits], abs=1e-5)
    exact = app.client.search(new_session(), DEMO, berlin["query"], top_k=3, model="tiny")
    assert "exact MaxSim over every point" in exact["status"]
    bad = app.client.search(new_session(), DEMO, berlin["query"], top_k=3, model="tiny", first_stage="pooled",
                            candidates=2)
    assert bad["key"] is None and "at least top k (3)" in bad["status"] and "Traceback" not in bad["status"]


def test_a_search_uses_the_model_that_indexed_the_collection(app, tmp_path, tiny_model, other_model):
    """The page's menu names ``other``; the session's collection was indexed with ``tiny``:
    the query is encoded with ``tiny``, so the scores are ``tiny``'s MaxSim, not ``other``'s."""
    session, query = new_session(), "Which animal digs burrows?"
    texts = ["Aardvarks dig burrows at night.", "Zebras graze on the savanna.", "Owls hunt mice in the dark."]
    assert app.client.index(session, [_jsonl(tmp_path / "mine.jsonl", texts)], "tiny")["status"].startswith("Indexed")
    found = app.client.search(session, PRIVATE, query, top_k=2, dimensions="128", model="other")
    indexed = tiny_model.analyze(query, texts).scores(128)
    menu = other_model.analyze(query, texts).scores(128)
    assert len(found["hits"]) == 2
    for hit in found["hits"]:
        at = texts.index(hit["text"])
        assert hit["score"] == pytest.approx(float(indexed[at]), abs=1e-4)
        assert abs(hit["score"] - float(menu[at])) > 1e-3
    app.client.close_page(session)


def test_a_shelf_folder_is_its_own(tmp_path, tiny_model):
    shelf = CollectionShelf(private_root=tmp_path)
    shelf.add_private("s", "tiny", tiny_model, ["Berlin has 3.7 million people."])
    result = shelf.search(PRIVATE, "s", tiny_model, "Berlin", 1, None, None)
    assert result.hits[0].score == pytest.approx(result.hits[0].exact, abs=1e-5)
    with EdgeBackend(tmp_path / "x") as other:  # a shelf's folder is its own: another backend elsewhere is fine
        index(tiny_model, other, ["x"])
    shelf.close()


def test_the_explorer_opens_at_the_dimension_searched_in_the_hits_order(app, berlin):
    found = app.client.search(new_session(), DEMO, berlin["query"], top_k=6, dimensions="64", model="tiny")
    assert found["status"].startswith(f"Found 6 in “{DEMO}” at 64 dimensions"), found["status"]
    order = [h["document"] for h in found["hits"]]
    assert found["payload"]["opens_on"] == {"dim": 64, "doc": order[0], "a": order[0], "b": order[1]}
    ranking = found["payload"]["rankings"]["64"]
    scores = {h["document"]: h["score"] for h in found["hits"]}
    # the explorer's ranking at 64 is the hits' order, but for near-ties (float noise)
    for above, below in zip(ranking["order"], ranking["order"][1:]):
        assert scores[above] >= scores[below] - 1e-5, (ranking["order"], order)
    assert ranking["order"][0] == order[0] or abs(scores[ranking["order"][0]] - scores[order[0]]) < 1e-5
    # the explorer offers the sizes the Run holds (the renderer opens on the first; 128 was not fetched)
    assert found["payload"]["model"]["dimensions"] == [64] and set(found["payload"]["rankings"]) == {"64"}
    assert found["payload"]["texts"]["dimension_note"].startswith("64 dimensions: the stored vectors")


def test_a_removed_private_collection_leaves_the_sessions_menu(app, tiny_model, tmp_path):
    alice = new_session()
    assert app.client.index(alice, [_jsonl(tmp_path / "a.jsonl", ["Aardvarks dig."])], "tiny")["collections"][-1] \
        == PRIVATE
    for other in range(app.shelf.private_count):  # others' uploads push alice's out (least recently used)
        app.shelf.add_private(f"other-{other}", "tiny", tiny_model, [f"document {other}"])
    assert PRIVATE not in app.shelf.names(alice)
    assert app.client.menu(alice, PRIVATE) == app.shelf.names(alice)
    found = app.client.search(alice, PRIVATE, "Which animal digs?", top_k=1, model="tiny")
    assert found["key"] is None and "no uploaded collection" in found["status"]
    assert found["collections"] == app.shelf.names(alice) and PRIVATE not in found["collections"]


def test_a_demo_folder_held_by_another_process_says_so_and_the_next_search_tries_again(tmp_path, tiny_model):
    import qdrant_edge as q

    from colbert_viz.app.collection_shelf import CollectionUnavailable, demo_folder

    folder = tmp_path / "demo"
    built = CollectionShelf()
    built.add_demo(folder, "tiny", tiny_model, [["Berlin has 3.7 million people."]], background=False)
    built.close()
    held = q.EdgeShard.load(str(folder))  # as another app's process holds it: its WAL lock
    shelf = CollectionShelf()
    shelf.add_demo(folder, "tiny", tiny_model, [["Berlin has 3.7 million people."]], background=False)
    with pytest.raises(CollectionUnavailable) as refused:
        shelf.search(DEMO, None, tiny_model, "Berlin", 1, None, None)
    message = str(refused.value)
    assert message == ("The demo collection cannot be opened now (its folder is in use by another process); "
                       "the next search tries again."), message
    held.close()
    del held
    assert shelf.search(DEMO, None, tiny_model, "Berlin", 1, None, None).hits[0].rank == 1
    shelf.close()
    # by default each process (each app) has a folder of its own
    first, second = demo_folder({}), demo_folder({})
    assert first != second and first.is_dir() and second.is_dir()
    assert demo_folder({"COLBERT_VIZ_DEMO_COLLECTION": str(folder)}) == folder
    assert demo_folder({"COLBERT_VIZ_DEMO_COLLECTION": "off"}) is None
