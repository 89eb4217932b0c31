"""The page's server side without a browser: Run, the server functions
(``document_views``, ``storage_summary``), the storage precompute, exports and
the int8 comparison, over HTTP as Gradio sessions (``page_client``)."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest
from page_client import PageClient, new_session
from serving import free_port

from colbert_viz.app.limits import Limits
from colbert_viz.app.registry import ModelRegistry
from colbert_viz.app.run_store import RunStore
from colbert_viz.explorer.payload import document_payload, storage_summary, stored_document_payload

LIMITS = Limits(max_docs=10, max_chars=2000, max_tokens=4000, max_doc_tokens=1024)
GONE = {"error": "This run was dropped to free memory; press Run again."}


class Served:
    def __init__(self, demo, url, store, registry):
        self.demo, self.url, self.store, self.registry = demo, url, store, registry
        self.client = PageClient(url)


def serve(registry: ModelRegistry, store: RunStore | None = None, monkeypatch=None, **env):
    from colbert_viz.app.ui import build_app, launch_options

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    store = store if store is not None else RunStore(2**30)
    demo = build_app(registry, limits=LIMITS, store=store)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                            **launch_options(LIMITS))
    return Served(demo, url, store, registry)


@pytest.fixture(scope="module")
def app(tiny_model):
    served = serve(ModelRegistry({"tiny": tiny_model}))
    yield served
    served.demo.close()


@pytest.fixture(scope="module")
def berlin_text(berlin) -> str:
    return "\n".join(berlin["documents"])


def test_run_sends_the_payload_and_how_to_read_for_the_model(app, berlin, berlin_text):
    message = app.client.event("run", [berlin["query"], berlin_text, None, "tiny", 512, 0, None, None], new_session())
    _, status, text, _, _, how_to_read, *_ = message["output"]["data"]  # then the header, storage help, stale note
    text = text["value"] if isinstance(text, dict) else text  # an update: the explorer's classes change too
    payload = json.loads(text)  # JSON text: parsed once in the page, never a reactive proxy
    assert status.startswith("Ranked 8 documents") and payload["run_key"] and payload["schema"] == 2
    assert "between −32 and 32" in how_to_read and "128 is the model's native output" in how_to_read
    assert "`<mask>`" in how_to_read and "`[QueryMarker]`" in how_to_read


def test_server_functions_answer_their_session_and_nobody_else(app, berlin, berlin_text):
    alice, mallory = new_session(), new_session()
    key = app.client.run(alice, berlin["query"], berlin_text, "tiny")["key"]
    run = app.store.get(key, alice)
    views = app.client.server("document_views", [key, 2, "float32"], alice)
    assert views == _json(document_payload(run.analysis, 2))
    pooled = app.client.server("document_views", [key, 2, "pool-2"], alice)
    assert pooled == _json(stored_document_payload(run.analysis, 2, "pool-2"))
    assert app.client.server("document_views", [key, 2, "float32"], mallory) == GONE
    assert app.client.server("storage_summary", [key], mallory) == GONE
    assert app.client.server("storage_summary", key, mallory) == GONE
    assert app.client.server("document_views", [key, 99, "float32"], alice) == {"error": "No document 99: choose "
                                                                                         "0 to 7."}
    assert app.client.server("document_views", [key, 1, "zip"], alice) == {"error": "Unknown storage method 'zip'."}


def test_many_sessions_calling_at_once_compute_the_storage_settings_once(app, berlin, berlin_text, monkeypatch):
    from colbert_viz.storage import settings as storage

    session = new_session()
    key = app.client.run(session, berlin["query"], berlin_text, "tiny")["key"]
    calls = []
    rows = storage.compression_rows
    monkeypatch.setattr(storage, "compression_rows", lambda *a, **k: calls.append(1) or rows(*a, **k))
    answers = []
    callers = [threading.Thread(target=lambda: answers.append(app.client.server("storage_summary", [key], session)))
               for _ in range(4)]
    intruders = [threading.Thread(target=lambda: answers.append(app.client.server("storage_summary", [key],
                                                                                  new_session())))
                 for _ in range(8)]
    for t in callers + intruders:
        t.start()
    for t in callers + intruders:
        t.join(120)
    mine = [a for a in answers if "error" not in a]
    assert len(calls) == 1 and len(mine) == 4 and all(a == mine[0] for a in mine)
    assert answers.count(GONE) == 8
    assert mine[0] == _json(storage_summary(app.store.get(key, session).analysis))


def test_the_storage_settings_start_once_the_payload_is_on_the_page(app, berlin, berlin_text):
    session = new_session()
    key = app.client.run(session, berlin["query"], berlin_text, "tiny")["key"]
    kept = app.store._runs[key]
    assert ("storage",) not in kept.derived and not kept.pending  # nothing started before the payload went out
    slots = app.store.executor.slots
    assert session in slots._holds  # background work waits for this page
    app.client.shown(new_session(), key)  # another session cannot start work on it, nor release the hold
    assert session in slots._holds and not kept.pending
    app.client.shown(session, key)
    assert session not in slots._holds
    deadline = time.monotonic() + 120
    while ("storage",) not in kept.derived and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ("storage",) in kept.derived
    started = time.perf_counter()
    assert "rankings" in app.client.server("storage_summary", [key], session)
    assert time.perf_counter() - started < 1.0


def test_exports_are_bounded_per_session_and_leave_no_copies(app, berlin, berlin_text):
    from colbert_viz.app.exports import export_root

    session = new_session()
    key = app.client.run(session, berlin["query"], berlin_text, "tiny")["key"]
    before = {p for p in export_root().iterdir()}
    exports = [app.client.export(session, key, {"dim": d, "doc": i, "merge": False})
               for i, d in enumerate((128, 96, 64))]
    assert all(isinstance(e, list) and len(e) == 3 for e in exports)
    assert Path(exports[2][0]).name == "ranking-64d-float32.csv"
    assert Path(exports[2][1]).name == "explanation-doc3-64d-float32.json"
    folders = {p for p in export_root().iterdir()} - before
    assert len(folders) == 2  # the session's two newest; the first is removed
    kept = {p for e in exports[1:] for p in e}
    assert exports[0][2] not in kept  # each page opens on its own view, so it is a file of its own
    assert all(not Path(p).exists() for p in set(exports[0]) - kept)  # Gradio's copies of the first, removed
    assert all(Path(p).exists() for p in kept)
    other = app.client.export(new_session(), key, {"dim": 64, "doc": 0, "merge": False})
    assert other != exports[2] and not isinstance(other, list)  # another session has no Run to export


def test_int8_comparison_runs_once_per_run(app, berlin, berlin_text):
    session = new_session()
    key = app.client.run(session, berlin["query"], berlin_text, "tiny")["key"]
    first, table = app.client.int8(session, key)
    assert first.startswith("The Run encoded again in int8 engine") and "Kendall tau" in first and table["visible"]
    assert ("engine", "int8") in app.store._runs[key].derived
    assert app.client.int8(session, key)[0] == first  # the kept comparison, not a new encode


def test_a_variant_over_the_budget_is_refused_with_a_message(tiny_model, berlin, berlin_text):
    registry = ModelRegistry({"tiny": tiny_model}, variant_bytes=1024)
    served = serve(registry)
    try:
        session = new_session()
        key = served.client.run(session, berlin["query"], berlin_text, "tiny")["key"]
        text, table = served.client.int8(session, key)
        assert re.search(r"Not enough memory for the int8 engine of tiny-jina \(local checkpoint\): it needs about "
                         r"\d+ MB, and 0 MB of the 0 MB for extra models and engines \(COLBERT_VIZ_VARIANT_MEMORY_MB\)", text)
        assert registry.variant_used == 0 and not table["visible"]
    finally:
        served.demo.close()


def test_a_run_on_a_loaded_model_does_not_wait_for_another_models_load(tiny_model, berlin, berlin_text):
    started, release = threading.Event(), threading.Event()

    def slow_loader(name):
        started.set()
        release.wait(30)
        return tiny_model

    registry = ModelRegistry({"tiny": tiny_model}, choices=["tiny", "slow"], loader=slow_loader)
    served = serve(registry)
    try:
        loading = threading.Thread(target=served.client.run,
                                   args=(new_session(), berlin["query"], berlin_text, "slow"))
        loading.start()
        assert started.wait(30)
        t0 = time.perf_counter()
        result = served.client.run(new_session(), berlin["query"], berlin_text, "tiny")
        waited = time.perf_counter() - t0
        assert result["key"] and waited < 5 and loading.is_alive()
    finally:
        release.set()
        loading.join(30)
        served.demo.close()


def test_build_app_keeps_the_store_it_is_given(tiny_model, berlin, berlin_text):
    store = RunStore(2**30)
    assert not store  # empty, so falsy: `store or RunStore.from_env()` would replace it
    served = serve(ModelRegistry({"tiny": tiny_model}), store)
    try:
        session = new_session()
        key = served.client.run(session, berlin["query"], berlin_text, "tiny")["key"]
        assert len(store) == 1 and store.get(key, session).n_documents == 8
    finally:
        served.demo.close()


def test_the_banner_never_shows_a_server_path(tiny_model):
    from colbert_viz.app.ui import banner_markdown

    registry = ModelRegistry({"tiny": tiny_model})
    registry.startup_note = "Could not load /srv/models/secret-ckpt/: no config.json in /srv/models/secret-ckpt"
    text = banner_markdown(registry, "tiny")
    assert "/srv" not in text and "secret-ckpt" in text


def _json(value):
    import json

    return json.loads(json.dumps(value))
