"""RunStore: the owner of kept Runs: sessions, a global memory budget, derived values once, on the executor."""

from __future__ import annotations

import base64
import sys
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
from factories import document_record, filler_words, query_record

from colbert_viz.app.background import Busy, Executor
from colbert_viz.app.limits import LimitError
from colbert_viz.app.run_store import RunExpired, RunStore, derived_bytes, run_bytes
from colbert_viz.app.service import Run
from colbert_viz.maths.analysis import Analysis
from colbert_viz.storage.analysis import StoredAnalysis


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
    assert run_bytes(with_document(run, text=doc.text + "x" * 1000)) == size + 2 * 1000  # records.record_bytes: 2 bytes a character
    assert run_bytes(make_run(n_documents=4, n_words=50)) > size + 2 * 53 * 128 * 4



def test_put_and_get_by_random_key():
    store = RunStore(10**9)
    run = make_run()
    key = store.put(run, "s1")
    other = store.put(run, "s2")
    assert store.get(key, "s1") is run and store.get(other, "s2") is run and key != other


def test_keys_are_unguessable():
    """128 random bits each: no repeats, every position varies, nothing sequential."""
    store = RunStore(10**12)
    run = make_run()
    keys = [store.put(run, f"session-{i}") for i in range(300)]
    assert len(set(keys)) == len(keys)
    assert all(len(base64.urlsafe_b64decode(k + "==")) >= 16 for k in keys)
    for position in range(21):  # 22 characters of base64: the first 21 carry 6 random bits each
        assert len({k[position] for k in keys}) > 30, position
    assert sorted(keys) != keys


def test_a_key_replayed_from_another_session_is_not_found():
    store = RunStore(10**9)
    run = make_run()
    key = store.put(run, "alice")
    for session in ("mallory", None, ""):
        with pytest.raises(RunExpired, match=r"^This run was dropped to free memory; press Run again\.$"):
            store.get(key, session)
        with pytest.raises(RunExpired):
            store.derive(key, session, ("views", 0), lambda r: pytest.fail("computed for another session"))
    assert store.get(key, "alice") is run


def test_a_session_keeps_one_run():
    store = RunStore(10**9)
    first = store.put(make_run(seed=1), "s")
    second = store.put(make_run(seed=2), "s")
    with pytest.raises(RunExpired):
        store.get(first, "s")
    assert store.get(second, "s") and len(store) == 1
    with pytest.raises(ValueError, match="session"):
        store.put(make_run(), None)


@pytest.mark.parametrize("key", ["nope", "", None, 7])
def test_unknown_key_is_expired_with_a_clear_message(key):
    with pytest.raises(RunExpired, match=r"^This run was dropped to free memory; press Run again\.$"):
        RunStore(10**6).get(key, "s")
    assert issubclass(RunExpired, LimitError)  # shown on the page like any limit


def test_oldest_runs_are_dropped_when_over_the_budget():
    runs = [make_run(seed=i) for i in range(4)]
    size = run_bytes(runs[0])
    store = RunStore(3 * size + size // 2)
    keys = [store.put(r, f"s{i}") for i, r in enumerate(runs[:3])]
    assert len(store) == 3 and store.total_bytes == 3 * size
    fourth = store.put(runs[3], "s3")
    with pytest.raises(RunExpired):
        store.get(keys[0], "s0")
    assert [store.get(k, f"s{i + 1}") for i, k in enumerate([*keys[1:], fourth])] == [*runs[1:]]
    assert store.total_bytes == 3 * size


def test_a_used_run_is_kept_over_an_older_unused_one():
    runs = [make_run(seed=i) for i in range(3)]
    store = RunStore(2 * run_bytes(runs[0]))
    first, second = store.put(runs[0], "a"), store.put(runs[1], "b")
    store.get(first, "a")
    store.put(runs[2], "c")
    assert store.get(first, "a") is runs[0]
    with pytest.raises(RunExpired):
        store.get(second, "b")


def test_a_run_bigger_than_the_budget_is_kept_alone():
    store = RunStore(100)
    old = store.put(make_run(seed=1), "a")
    new_run = make_run(seed=2)
    new = store.put(new_run, "b")
    assert store.get(new, "b") is new_run and len(store) == 1
    with pytest.raises(RunExpired):
        store.get(old, "a")


def test_concurrent_puts_keep_the_total_consistent():
    run = make_run()
    size = run_bytes(run)
    store = RunStore(5 * size)
    keys: list[str] = []

    def worker(n):
        for i in range(50):
            keys.append(store.put(run, f"{n}-{i}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
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


# ---- derived values -------------------------------------------------------------------

def test_concurrent_callers_share_one_computation_on_the_executor():
    store = RunStore(10**9, per_session_waiting=12)
    key = store.put(make_run(), "s")
    calls, threads_seen = [], set()

    def compute(run):
        calls.append(1)
        threads_seen.add(threading.current_thread().name)
        time.sleep(0.2)
        return {"table": run.stored.compression_table()}

    results = []
    callers = [threading.Thread(target=lambda: results.append(store.derive(key, "s", ("table",), compute)))
               for _ in range(12)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(30)
    assert len(calls) == 1 and len(results) == 12 and all(r is results[0] for r in results)
    assert threads_seen == {"colbert-viz-derived-0"}
    assert store.derive(key, "s", ("table",), lambda r: pytest.fail("computed twice")) is results[0]


def test_storage_settings_are_computed_once_and_charged_when_computed(monkeypatch):
    from colbert_viz.storage import settings as storage

    run = make_run(n_documents=3)
    store = RunStore(10**9)
    key = store.put(run, "s")
    before = store.total_bytes
    applied = []
    apply = storage.apply
    monkeypatch.setattr(storage, "apply", lambda setting, *a: applied.append(setting.id) or apply(setting, *a))
    table = store.derive(key, "s", "table", lambda r: r.stored.compression_table())
    assert sorted(applied) == sorted(s.id for s in storage.all_settings(run.analysis.dimensions))
    grown = store.total_bytes
    assert grown > before + 3 * 53 * 64 * 4  # every setting's stored vectors at least
    store.derive(key, "s", "pooled", lambda r: r.stored.stored("128/pool-2").scores)
    store.derive(key, "s", "summary", lambda r: r.stored.compression_table())
    assert len(applied) == len(set(applied))  # kept by the store: never computed again
    monkeypatch.setattr(storage, "apply", apply)
    assert table == StoredAnalysis(run.analysis).compression_table()  # the same rows as computing it directly


def test_a_derived_value_can_push_an_older_run_out():
    old, new = make_run(seed=0), make_run(seed=5)
    size = run_bytes(old)
    store = RunStore(max_bytes=size + run_bytes(new) + 50_000)  # room for both Runs, not for 80 kB more
    key = store.put(old, "a")
    other = store.put(new, "b")
    store.derive(key, "a", "big", lambda r: np.zeros(20_000, np.float32))
    assert store.get(key, "a") is old  # the one that grew was used last: the other went
    with pytest.raises(RunExpired):
        store.get(other, "b")
    assert len(store) == 1 and store.total_bytes == size + derived_bytes(np.zeros(20_000, np.float32))


def test_a_value_that_does_not_fit_beside_its_run_is_handed_back_not_kept():
    run = make_run()
    store = RunStore(run_bytes(run) + 1000)
    key = store.put(run, "s")
    calls = []

    def big(r):
        calls.append(1)
        return np.zeros(10_000, np.float32)

    assert store.derive(key, "s", "big", big).shape == (10_000,)
    assert store.total_bytes == run_bytes(run)
    store.derive(key, "s", "big", big)
    assert len(calls) == 2


def test_a_value_too_large_to_keep_drops_no_other_sessions_run():
    """Room for three Runs and a little more: C's value cannot fit even alone beside C's Run, so A and B stay."""
    runs = {s: make_run(seed=i) for i, s in enumerate("abc")}
    size = run_bytes(runs["a"])
    store = RunStore(3 * size + 1000)
    keys = {s: store.put(r, s) for s, r in runs.items()}
    big = np.zeros(3 * size // 4, np.float32)  # 3 × size bytes: more than the budget leaves beside C's Run
    assert store.derive(keys["c"], "c", "big", lambda r: big) is big  # handed back
    assert [store.get(keys[s], s) for s in "abc"] == [runs[s] for s in "abc"]
    assert len(store) == 3 and store.total_bytes == sum(run_bytes(r) for r in runs.values())


def test_a_dropped_run_cancels_its_queued_jobs_and_lets_go_of_the_run():
    release = threading.Event()
    executor = Executor(per_session=8)
    store = RunStore(10**9, executor)
    blocker = store.put(make_run(seed=1), "blocker")
    threading.Thread(target=store.derive, args=(blocker, "blocker", "wait", lambda r: release.wait(10)),
                     daemon=True).start()
    time.sleep(0.1)
    key = store.put(make_run(seed=2), "s")
    errors = []

    def ask():
        try:
            store.derive(key, "s", "views", lambda r: pytest.fail("ran for a dropped Run"))
        except RunExpired as err:
            errors.append(err)

    waiter = threading.Thread(target=ask)
    waiter.start()
    time.sleep(0.1)
    store.put(make_run(seed=3), "s")  # the session's new Run replaces the old one
    waiter.join(5)
    release.set()
    assert len(errors) == 1
    assert store._runs.get(key) is None


def test_the_executor_refuses_beyond_its_bounds():
    release = threading.Event()
    executor = Executor(max_pending=3, per_session=2)
    futures = [executor.submit("a", lambda: release.wait(10)) for _ in range(2)]
    with pytest.raises(Busy, match="too many views"):
        executor.submit("a", lambda: None)
    futures.append(executor.submit("b", lambda: release.wait(10)))
    with pytest.raises(Busy, match="busy computing views for other visitors"):
        executor.submit("c", lambda: None)
    release.set()
    assert all(f.result(5) for f in futures)
    assert executor.submit("c", lambda: 7).result(5) == 7 and executor.pending == 0


def test_background_work_waits_while_an_encode_runs():
    from colbert_viz.app.background import EncodeSlots

    slots = EncodeSlots(1)
    executor = Executor(slots, yield_s=5)
    order = []
    with slots.encoding():
        future = executor.submit("s", lambda: order.append("derived"))
        time.sleep(0.3)
        order.append("encode done")
    future.result(5)
    assert order == ["encode done", "derived"]


def test_background_work_waits_for_a_runs_payload_to_reach_its_page(monkeypatch):
    from colbert_viz.app import background
    from colbert_viz.app.background import EncodeSlots

    slots = EncodeSlots(1)
    executor = Executor(slots, yield_s=30)
    order = []
    slots.hold("page")
    future = executor.submit("s", lambda: order.append("derived"))
    time.sleep(0.3)
    order.append("shown")
    slots.release("page")
    future.result(5)
    monkeypatch.setattr(background, "HOLD_S", 0.2)
    slots.hold("a page that never says it is shown")
    started = time.perf_counter()
    executor.submit("s", lambda: order.append("after the hold ran out")).result(10)  # long before yield_s
    assert order == ["shown", "derived", "after the hold ran out"] and time.perf_counter() - started >= 0.15


def test_a_long_job_gives_way_between_its_steps():
    from colbert_viz.app.background import EncodeSlots

    slots = EncodeSlots(1)
    executor = Executor(slots, yield_s=5)
    order, first_done, encoding = [], threading.Event(), threading.Event()

    def job():
        order.append("step 1")
        first_done.set()
        encoding.wait(5)
        executor.pause_point()
        order.append("step 2")

    future = executor.submit("s", job)
    assert first_done.wait(5)
    with slots.encoding():
        encoding.set()
        time.sleep(0.3)
        order.append("encode")
    future.result(5)
    assert order == ["step 1", "encode", "step 2"]


def test_callers_waiting_for_derived_values_are_bounded():
    """Each waiting caller holds one of Gradio's worker threads: 8 per session, 24 in all."""
    release = threading.Event()
    store = RunStore(10**9, Executor(per_session=8, max_pending=32), max_waiting=10, per_session_waiting=8)
    keys = {s: store.put(make_run(seed=i), s) for i, s in enumerate(("a", "b"))}
    answers = []

    def ask(session):
        try:
            answers.append(store.derive(keys[session], session, "slow", lambda r: release.wait(10)))
        except Busy as err:
            answers.append(str(err))

    callers = [threading.Thread(target=ask, args=("a",)) for _ in range(8)]
    for t in callers:
        t.start()
    time.sleep(0.3)
    ask("a")  # the ninth of this session: refused at once
    more = [threading.Thread(target=ask, args=("b",)) for _ in range(2)]
    for t in more:
        t.start()
    time.sleep(0.3)
    ask("b")  # the eleventh in all
    release.set()
    for t in callers + more:
        t.join(5)
    assert answers[:2] == ["This page has too many views being computed; wait for them, then try again.",
                           "The server is busy computing views for other visitors; try again in a moment."]
    assert answers[2:] == [True] * 10
    assert store.derive(keys["a"], "a", "slow", lambda r: pytest.fail("computed again")) is True


def test_the_page_is_told_to_retry_a_busy_fetch_and_to_keep_any_other_error():
    """``document_views`` / ``storage_views`` answer ``retry`` only for ``Busy`` (the renderer asks again later)."""
    from colbert_viz.app.ui import document_views, storage_views

    release = threading.Event()
    store = RunStore(10**9, Executor(per_session=1))
    key = store.put(make_run(), "s")
    store.executor.submit("s", lambda: release.wait(10))  # the session's one job: the next is refused
    try:
        for answer in (document_views(store, key, 0, "float32", "s"), storage_views(store, key, "s")):
            assert answer == {"error": "This page has too many views being computed; wait for them, then try again.",
                              "retry": True}
    finally:
        release.set()
    assert document_views(store, key, 0, "float32", "mallory") == {"error": RunExpired().args[0]}
    assert document_views(store, key, 0, "zip", "s") == {"error": "Unknown storage method 'zip'."}
