"""``VectorCache``: LRU order, the byte bound, oversize records and thread safety."""

from __future__ import annotations

import random
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from colbert_viz.engine.cache import VectorCache
from colbert_viz.records import TokenVectors, record_bytes


def record(text: str, n: int = 4, dim: int = 8) -> TokenVectors:
    """A document record of ``n`` tokens and ``dim``-d vectors."""
    return TokenVectors(
        text=text, kind="document", ids=np.arange(n, dtype=np.int64), tokens=[f"t{i}" for i in range(n)],
        spans=[(0, 0)] * n, special=np.zeros(n, bool), marker=np.zeros(n, bool), expansion=np.zeros(n, bool),
        skipped=np.zeros(n, bool), n_text_tokens=n, truncated=False,
        vectors=np.full((n, dim), dim ** -0.5, np.float32),
    )


def present(cache: VectorCache, keys) -> list:
    """Keys the cache holds (probing with ``get``, which counts and reorders)."""
    return [k for k in keys if cache.get(k) is not None]


def test_record_bytes_grows_with_the_record():
    small, more_tokens, wider = record("a", 4, 8), record("a", 40, 8), record("a", 4, 128)
    assert record_bytes(small) >= small.vectors.nbytes + small.ids.nbytes
    assert record_bytes(more_tokens) > record_bytes(small)
    assert record_bytes(wider) - record_bytes(small) == (128 - 8) * 4 * 4
    assert record_bytes(record("a" * 1000)) - record_bytes(record("a")) == 2 * 999


def test_get_and_put():
    cache = VectorCache()
    assert cache.get("k") is None and (cache.hits, cache.misses) == (0, 1)
    r = record("hello")
    cache.put("k", r)
    assert cache.get("k") is r and (cache.hits, cache.misses) == (1, 1)
    assert len(cache) == 1 and cache.nbytes == record_bytes(r)


def test_least_recently_used_goes_first():
    size = record_bytes(record("a"))
    cache = VectorCache(max_bytes=3 * size)
    for key in "abc":
        cache.put(key, record(key))
    assert len(cache) == 3 and cache.nbytes == 3 * size
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("d", record("d"))
    assert len(cache) == 3 and cache.nbytes == 3 * size
    assert cache.get("b") is None
    cache.put("e", record("e"))  # c is the oldest now
    assert present(cache, "abcde") == ["a", "d", "e"]


def test_put_refreshes_recency():
    size = record_bytes(record("a"))
    cache = VectorCache(max_bytes=2 * size)
    cache.put("a", record("a"))
    cache.put("b", record("b"))
    cache.put("a", record("a"))  # a again: b is now the oldest
    cache.put("c", record("c"))
    assert present(cache, "abc") == ["a", "c"]


def test_replacing_a_key_does_not_count_twice():
    cache = VectorCache()
    small, big = record("x", 4), record("x", 64)
    cache.put("k", small)
    cache.put("k", big)
    assert len(cache) == 1 and cache.nbytes == record_bytes(big)
    cache.put("k", small)
    assert cache.nbytes == record_bytes(small) and cache.get("k") is small


def test_one_big_record_evicts_several_small_ones():
    small = record("s", 4)
    cache = VectorCache(max_bytes=10 * record_bytes(small))
    for i in range(10):
        cache.put(i, record("s", 4))
    big = record("b", 20)
    assert 3 * record_bytes(small) < record_bytes(big) < 10 * record_bytes(small)
    cache.put("big", big)
    assert cache.nbytes <= cache.max_bytes
    kept = present(cache, list(range(10)))
    assert kept == list(range(10 - len(kept), 10)), "the oldest go first"
    assert cache.get("big") is big
    assert cache.nbytes == record_bytes(big) + len(kept) * record_bytes(small)


def test_oversize_record_is_not_stored():
    cache = VectorCache(max_bytes=record_bytes(record("a", 10)))
    kept = record("a", 10)
    cache.put("fits", kept)  # exactly the budget: stored
    assert len(cache) == 1
    cache.put("huge", record("b", 11))
    assert cache.get("huge") is None
    assert cache.get("fits") is kept, "an oversize record must not evict anything"
    assert cache.nbytes == record_bytes(kept)


def test_oversize_record_replacing_a_key_keeps_the_old_value():
    cache = VectorCache(max_bytes=record_bytes(record("a", 10)))
    old = record("a", 10)
    cache.put("k", old)
    cache.put("k", record("a", 100))
    assert cache.get("k") is old and cache.nbytes == record_bytes(old)


def test_zero_budget_stores_nothing():
    cache = VectorCache(max_bytes=0)
    cache.put("k", record("a"))
    assert len(cache) == 0 and cache.nbytes == 0 and cache.get("k") is None


def test_byte_bound_always_holds():
    rng = random.Random(1)
    sizes = {}
    cache = VectorCache(max_bytes=20_000)
    keys = [f"k{i}" for i in range(60)]
    for _ in range(2000):
        key = rng.choice(keys)
        if rng.random() < 0.4:
            cache.get(key)
        else:
            r = record(key, rng.randint(1, 120), rng.choice([8, 32, 64]))
            sizes[key] = record_bytes(r)
            cache.put(key, r)
        assert 0 <= cache.nbytes <= cache.max_bytes
    held = present(cache, keys)
    assert len(held) == len(cache) > 0
    assert cache.nbytes == sum(sizes[k] for k in held)


def test_clear():
    cache = VectorCache()
    for i in range(5):
        cache.put(i, record(str(i)))
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0 and cache.get(0) is None
    cache.put("again", record("x"))
    assert cache.nbytes == record_bytes(record("x"))


@pytest.fixture
def busy_switching():
    """Switch threads very often, so races show up."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def test_thread_safety(busy_switching):
    size_of = {}
    records = {}
    for i in range(40):
        r = record(f"text {i}", 4 + i % 7 * 9, 16)
        records[i], size_of[i] = r, record_bytes(r)
    cache = VectorCache(max_bytes=sum(size_of.values()) // 3)
    gets = [0] * 8
    over_budget = []
    start = threading.Barrier(8)

    def worker(w: int) -> None:
        rng = random.Random(w)
        start.wait()
        for _ in range(6000):
            key = rng.randrange(40)
            if rng.random() < 0.5:
                got = cache.get(key)
                gets[w] += 1
                assert got is None or got is records[key]
            else:
                cache.put(key, records[key])
            if cache.nbytes > cache.max_bytes:
                over_budget.append(cache.nbytes)
            if rng.random() < 0.002:
                cache.clear()

    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(worker, w) for w in range(8)]:
            future.result()  # re-raises any exception from the worker
    assert not over_budget
    assert cache.hits + cache.misses == sum(gets)
    assert cache.hits > 0 and cache.misses > 0
    held = present(cache, range(40))
    assert len(held) == len(cache)
    assert cache.nbytes == sum(size_of[k] for k in held) <= cache.max_bytes
