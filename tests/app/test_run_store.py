"""RunStore: a global memory budget for kept Runs."""

from __future__ import annotations

import sys
import threading
from dataclasses import replace

import numpy as np
import pytest
from factories import document_record, filler_words, query_record

from colbert_viz.app.limits import LimitError
from colbert_viz.app.run_store import RunExpired, RunStore, run_bytes
from colbert_viz.app.service import Run
from colbert_viz.maths.analysis import Analysis


def make_run(n_documents: int = 2, n_words: int = 50, seed: int = 0) -> Run:
    analysis = Analysis(query=query_record(["population", "of", "Berlin"]),
                        documents=[document_record(filler_words(n_words), seed=seed + i) for i in range(n_documents)],
                        dimensions=(128, 96, 64))
    return Run(analysis=analysis, model_name="m", display_name="m", is_fallback=False, note="", top_n=None,
               doc_max_tokens=512, total_tokens=10, seconds=0.1)


def with_document(run: Run, **changes) -> Run:
    """``run`` with its first document's fields changed."""
    docs = [replace(run.analysis.documents[0], **changes), *run.analysis.documents[1:]]
    return replace(run, analysis=replace(run.analysis, documents=docs))


def test_run_bytes_counts_vectors_flags_and_texts():
    run = make_run(n_documents=2, n_words=50)
    vectors = sum(r.vectors.nbytes for r in [run.analysis.query, *run.analysis.documents])
    assert vectors == (10 + 2 * 53) * 128 * 4  # query: <s> [Q] 3 words </s> 4 masks; documents 53
    size = run_bytes(run)
    assert vectors < size < 2 * vectors
    doc = run.analysis.documents[0]
    n = len(doc)
    assert run_bytes(with_document(run, vectors=np.zeros((n, 256), np.float32))) == size + n * 128 * 4
    assert run_bytes(with_document(run, ids=doc.ids.astype(np.int32))) == size - 4 * n
    for flag in ("special", "marker", "expansion", "skipped"):
        assert run_bytes(with_document(run, **{flag: np.zeros(n, np.int64)})) == size + 7 * n, flag
    assert run_bytes(with_document(run, text=doc.text + "x" * 1000)) == size + 1000
    assert run_bytes(make_run(n_documents=4, n_words=50)) > size + 2 * 53 * 128 * 4


def test_put_and_get_by_random_key():
    store = RunStore(10**9)
    run = make_run()
    key = store.put(run)
    other = store.put(run)
    assert store.get(key) is run and key != other and len(key) >= 16


@pytest.mark.parametrize("key", ["nope", "", None])
def test_unknown_key_is_expired_with_a_clear_message(key):
    with pytest.raises(RunExpired, match=r"^This run was dropped to free memory; press Run again\.$"):
        RunStore(10**6).get(key)
    assert issubclass(RunExpired, LimitError)  # shown on the page like any limit


def test_oldest_runs_are_dropped_when_over_the_budget():
    runs = [make_run(seed=i) for i in range(4)]
    size = run_bytes(runs[0])
    store = RunStore(3 * size + size // 2)
    keys = [store.put(r) for r in runs[:3]]
    assert len(store) == 3 and store.total_bytes == 3 * size
    fourth = store.put(runs[3])
    with pytest.raises(RunExpired):
        store.get(keys[0])
    assert [store.get(k) for k in [*keys[1:], fourth]] == [*runs[1:]]
    assert store.total_bytes == 3 * size


def test_a_used_run_is_kept_over_an_older_unused_one():
    runs = [make_run(seed=i) for i in range(3)]
    store = RunStore(2 * run_bytes(runs[0]))
    first, second = store.put(runs[0]), store.put(runs[1])
    store.get(first)
    store.put(runs[2])
    assert store.get(first) is runs[0]
    with pytest.raises(RunExpired):
        store.get(second)


def test_a_run_bigger_than_the_budget_is_kept_alone():
    store = RunStore(100)
    old = store.put(make_run(seed=1))
    new_run = make_run(seed=2)
    new = store.put(new_run)
    assert store.get(new) is new_run and len(store) == 1
    with pytest.raises(RunExpired):
        store.get(old)


def test_concurrent_puts_keep_the_total_consistent():
    run = make_run()
    size = run_bytes(run)
    store = RunStore(5 * size)
    keys: list[str] = []

    def worker():
        for _ in range(50):
            keys.append(store.put(run))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible to expose races
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert len(keys) == 400 and len(set(keys)) == 400
    assert len(store) == 5 and store.total_bytes == 5 * size


def test_budget_from_the_environment():
    assert RunStore.from_env({}).max_bytes == 1024 * 2**20
    assert RunStore.from_env({"COLBERT_VIZ_RUN_MEMORY_MB": "256"}).max_bytes == 256 * 2**20
    for bad in ["0", "-5", "lots"]:
        with pytest.raises(ValueError, match=r"COLBERT_VIZ_RUN_MEMORY_MB must be a positive integer"):
            RunStore.from_env({"COLBERT_VIZ_RUN_MEMORY_MB": bad})
    assert np.isfinite(RunStore(1).max_bytes)


def test_computed_storage_settings_count_and_can_push_a_run_out():
    old, new = make_run(seed=0), make_run(seed=5)
    before = run_bytes(old)
    stored = old.analysis.stored("128/pool-2")
    grown = run_bytes(old)
    pooled = stored.query.nbytes + sum(d.vectors.nbytes for d in stored.documents)
    assert grown == before + pooled
    store = RunStore(max_bytes=before + run_bytes(new) + pooled // 2)  # room for both, not for the pooled copy
    key = store.put(old)
    store.get(key)
    store.put(new)  # sizes measured again: the grown Run no longer fits beside the new one
    with pytest.raises(RunExpired):
        store.get(key)
