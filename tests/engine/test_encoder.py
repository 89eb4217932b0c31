"""``ColbertModel``: encoding layout, batching, caching, errors, and the scoring helpers."""

from __future__ import annotations

import itertools
import random
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import colbert_viz
from colbert_viz.engine.cache import VectorCache
from colbert_viz.engine.encoder import ColbertModel, NonFiniteOutputError
from colbert_viz.maths.analysis import Analysis
from colbert_viz.records import TokenVectors

QUERY_MARKER, DOC_MARKER, MASK = 250002, 250003, 250001

DOCS = [
    "Hello World",
    "Berlin is the capital and largest city of Germany, both by area and by population.",
    "Berlin ist die Hauptstadt Deutschlands.",
    "柏林是德国首都。",
    "Mount Berlin is a glacier-covered volcano in Marie Byrd Land, Antarctica, 100 kilometres "
    "(62 mi) from the Amundsen Sea. It is a roughly 20-kilometre-wide mountain.",
    "x",
    "Irving Berlin (born Israel Beilin) was an American composer and songwriter!",
]


def fresh(model: ColbertModel, network=None, **kwargs) -> ColbertModel:
    """The same weights with an empty cache (and other options), leaving ``model`` alone."""
    options = {"batch_tokens": model.batch_tokens, "cache": VectorCache(), **kwargs}
    return ColbertModel(model.info, model.tokenizer, network or model.network, model.device, model.dtype,
                        options["cache"], options["batch_tokens"])


class CountingNetwork:
    """Wraps a network and records the sequence lengths of each call. ``packed`` says
    which token budget the model applies: the sum of lengths (a packing network, like
    the native one) or rows × longest (a padding one, the default here)."""

    def __init__(self, network, packed: bool = False) -> None:
        self.network = network
        self.packed = packed
        self.calls: list[list[int]] = []

    def __call__(self, sequences, key_masks):
        self.calls.append([len(s) for s in sequences])
        return self.network(sequences, key_masks)


def full_text_ids(model: ColbertModel, text: str) -> list[int]:
    return model.tokenizer.tokenizer.encode(text, add_special_tokens=False).ids


def manual_maxsim(query: np.ndarray, doc: np.ndarray, scored: np.ndarray) -> float:
    sim = query.astype(np.float64) @ doc[scored].astype(np.float64).T
    return float(sim.max(axis=1).sum())


def cut(vectors: np.ndarray, dim: int) -> np.ndarray:
    head = vectors[:, :dim].astype(np.float64)
    return head / np.linalg.norm(head, axis=1, keepdims=True)


# ---------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------


def test_encode_queries_layout(tiny_model):
    long_query = "population " * 50
    queries = ["What is the population of Berlin?", "Berlin", "柏林的人口是多少？", long_query]
    records = fresh(tiny_model).encode_queries(queries)
    assert len(records) == len(queries)
    for text, q in zip(queries, records):
        assert q.kind == "query" and q.text == text
        assert len(q) == 32 and q.ids.shape == (32,) and len(q.tokens) == 32
        assert q.ids[0] == 0 and q.ids[1] == QUERY_MARKER and q.tokens[1] == "[QueryMarker]"
        assert q.marker.tolist() == [False, True] + [False] * 30
        pieces = full_text_ids(tiny_model, text)
        n = min(len(pieces), 29)
        assert q.ids[2 : 2 + n].tolist() == pieces[:n]
        assert q.ids[2 + n] == 2
        assert (q.ids[3 + n :] == MASK).all() and q.expansion.tolist() == [False] * (3 + n) + [True] * (29 - n)
        assert q.n_text_tokens == len(pieces) and q.truncated == (len(pieces) > 29)
        assert q.vectors.dtype == np.float32 and q.vectors.shape == (32, 128)
        assert np.isfinite(q.vectors).all()
        np.testing.assert_allclose(np.linalg.norm(q.vectors, axis=1), 1.0, atol=1e-5)
        assert not q.skipped.any()
    assert records[3].truncated and not records[0].truncated


def test_encode_documents_layout(tiny_model):
    records = fresh(tiny_model).encode_documents(DOCS)
    for text, d in zip(DOCS, records):
        pieces = full_text_ids(tiny_model, text)
        assert d.kind == "document" and d.text == text
        assert d.ids.tolist() == [0, DOC_MARKER, *pieces, 2]
        assert d.tokens[1] == "[DocumentMarker]" and not d.expansion.any()
        assert not d.truncated and d.n_text_tokens == len(pieces)
        assert d.vectors.shape == (len(pieces) + 3, 128) and d.vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(d.vectors, axis=1), 1.0, atol=1e-5)
    # the reader skiplist drops the bare punctuation pieces, never specials
    skipped = {t for d in records for t, s in zip(d.tokens, d.skipped) if s}
    assert skipped and skipped <= {",", ".", "(", ")", "-", "!", "?"}
    assert not any(d.skipped[[0, 1, -1]].any() for d in records)


def test_document_truncation(tiny_model):
    text = DOCS[4]
    pieces = full_text_ids(tiny_model, text)
    assert len(pieces) > 20
    model = fresh(tiny_model)
    cut16 = model.encode_documents([text], doc_maxlen=16)[0]
    assert len(cut16) == 16 and cut16.vectors.shape == (16, 128)
    assert cut16.truncated and cut16.n_text_tokens == len(pieces)
    assert cut16.ids.tolist() == [0, DOC_MARKER, *pieces[:13], 2] and cut16.tokens[-1] == "</s>"
    exact = model.encode_documents([text], doc_maxlen=len(pieces) + 3)[0]
    assert not exact.truncated and len(exact) == len(pieces) + 3
    one_less = model.encode_documents([text], doc_maxlen=len(pieces) + 2)[0]
    assert one_less.truncated and len(one_less) == len(pieces) + 2
    short = model.encode_documents(["Hello World"], doc_maxlen=16)[0]
    assert not short.truncated and len(short) == 5


def test_default_document_length_is_the_models(tiny_model):
    text = " ".join(["Berlin"] * 9000)
    doc = fresh(tiny_model).tokenizer.tokenize_documents([text])[0]
    assert len(doc) == tiny_model.tokenizer.settings.doc_maxlen == 8192
    assert doc.truncated and doc.n_text_tokens == 9000


# ---------------------------------------------------------------------------------
# Batching
# ---------------------------------------------------------------------------------


def test_results_do_not_depend_on_batch_size(tiny_model):
    texts = DOCS * 2 + ["Berlin " * k for k in range(1, 12)]
    big = CountingNetwork(tiny_model.network)
    small = CountingNetwork(tiny_model.network)
    one = fresh(tiny_model, network=big).encode_documents(texts)
    many = fresh(tiny_model, network=small, batch_tokens=40).encode_documents(texts)
    assert len(big.calls) == 1 and sorted(big.calls[0]) == sorted(len(r) for r in one)
    assert len(small.calls) > 5
    for lengths in small.calls:
        assert len(lengths) == 1 or max(lengths) * len(lengths) <= 40
    assert sum(len(c) for c in small.calls) == len(texts)
    for a, b in zip(one, many):
        assert a.text == b.text and a.ids.tolist() == b.ids.tolist()
        np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-5, rtol=0)


def batch_cost(lengths: list[int], packed: bool) -> int:
    return sum(lengths) if packed else max(lengths) * len(lengths)


@pytest.mark.parametrize("packed", [True, False])
def test_batches_fill_the_token_budget(tiny_model, packed):
    """Longest first; each batch within the budget (a single text may exceed it) and
    full: the next text would not have fitted."""
    budget = 60
    texts = DOCS + ["Berlin " * k for k in range(1, 12)]
    counting = CountingNetwork(tiny_model.network, packed=packed)
    records = fresh(tiny_model, network=counting, batch_tokens=budget).encode_documents(texts)
    calls = counting.calls
    flat = [n for lengths in calls for n in lengths]
    assert sorted(flat) == sorted(len(r) for r in records) and flat == sorted(flat, reverse=True)
    assert max(flat) < budget < sum(flat)
    for lengths, following in itertools.pairwise(calls):
        assert len(lengths) == 1 or batch_cost(lengths, packed) <= budget, (lengths, packed)
        assert batch_cost([*lengths, following[0]], packed) > budget, (lengths, following, packed)
    assert batch_cost(calls[-1], packed) <= budget
    # packing fits more than padding would: some batch is over the padded budget
    over_padded = any(batch_cost(lengths, False) > budget for lengths in calls)
    assert over_padded == packed


def test_results_keep_input_order(tiny_model):
    texts = DOCS + ["Berlin " * k for k in range(1, 8)]
    ordered = fresh(tiny_model, batch_tokens=64).encode_documents(texts)
    shuffled = texts[:]
    random.Random(0).shuffle(shuffled)
    assert shuffled != texts
    mixed = fresh(tiny_model, batch_tokens=64).encode_documents(shuffled)
    by_text = {r.text: r for r in ordered}
    for text, record in zip(shuffled, mixed):
        assert record.text == text
        np.testing.assert_allclose(record.vectors, by_text[text].vectors, atol=1e-5, rtol=0)


def test_queries_in_batches(tiny_model):
    queries = [f"query number {i} about Berlin" for i in range(9)]
    counting = CountingNetwork(tiny_model.network)
    batched = fresh(tiny_model, network=counting, batch_tokens=70).encode_queries(queries)
    assert [len(c) for c in counting.calls] == [2, 2, 2, 2, 1]
    together = fresh(tiny_model).encode_queries(queries)
    for a, b in zip(batched, together):
        np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-5, rtol=0)


def test_progress_callback(tiny_model):
    texts = ["Berlin " * k for k in range(1, 10)]
    calls: list[tuple[int, int]] = []
    model = fresh(tiny_model, batch_tokens=30)
    model.encode_documents(texts, progress=lambda done, total: calls.append((done, total)))
    assert len(calls) > 2
    assert calls[-1] == (9, 9) and all(total == 9 for _, total in calls)
    assert [done for done, _ in calls] == sorted({done for done, _ in calls})  # strictly increasing
    # only what is computed is reported: cached texts are not
    calls.clear()
    model.encode_documents([*texts[:3], "a new text"], progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 1)]


def test_concurrent_encoding(tiny_model):
    model = fresh(tiny_model)
    expected = fresh(tiny_model).encode_documents(DOCS)

    def work(i: int):
        model.cache.clear()
        return model.encode_documents(DOCS[i % 3 :] + DOCS[: i % 3])

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(12)))
    for i, records in enumerate(results):
        texts = DOCS[i % 3 :] + DOCS[: i % 3]
        for text, record in zip(texts, records):
            want = expected[DOCS.index(text)]
            np.testing.assert_allclose(record.vectors, want.vectors, atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------------
# Cache
# ---------------------------------------------------------------------------------


def test_second_encode_hits_the_cache(tiny_model):
    counting = CountingNetwork(tiny_model.network)
    model = fresh(tiny_model, network=counting)
    first = model.encode_documents(DOCS)
    assert (model.cache.hits, model.cache.misses) == (0, len(DOCS)) and len(model.cache) == len(DOCS)
    second = model.encode_documents(DOCS)
    assert model.cache.hits == len(DOCS) and len(counting.calls) == 1
    for a, b in zip(first, second):
        assert a is b
        np.testing.assert_array_equal(a.vectors, b.vectors)
    # one new text among cached ones: only it is computed
    model.encode_documents([DOCS[0], "something new", DOCS[1]])
    assert counting.calls[-1] == [len(model.tokenizer.tokenize_documents(["something new"])[0])]
    assert len(model.cache) == len(DOCS) + 1


def test_cache_key_follows_the_layout(tiny_model):
    model = fresh(tiny_model)
    text = DOCS[4]
    full = model.encode_documents([text])[0]
    entries = len(model.cache)
    # a longer limit that changes nothing is the same entry
    same = model.encode_documents([text], doc_maxlen=len(full) + 10)[0]
    assert same is full and len(model.cache) == entries
    # a limit that cuts the text is another entry, with other vectors
    short = model.encode_documents([text], doc_maxlen=12)[0]
    assert len(model.cache) == entries + 1 and len(short) == 12 and short.truncated
    assert not np.allclose(short.vectors[:11], full.vectors[:11], atol=1e-3)
    assert model.encode_documents([text], doc_maxlen=12)[0] is short
    assert model.encode_documents([text])[0] is full


def test_queries_and_documents_are_separate_entries(tiny_model):
    model = fresh(tiny_model)
    q = model.encode_queries(["Berlin"])[0]
    d = model.encode_documents(["Berlin"])[0]
    assert model.cache.misses == 2 and len(model.cache) == 2
    assert q.kind == "query" and d.kind == "document" and len(q) == 32 and len(d) == 4


# ---------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nan_checkpoint(tiny_checkpoint, tmp_path_factory):
    folder = tmp_path_factory.mktemp("nan") / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    state = load_file(str(folder / "model.safetensors"))
    state["linear.weight"][0, 0] = float("nan")
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


@pytest.fixture(scope="module")
def nan_model(nan_checkpoint):
    return colbert_viz.load(str(nan_checkpoint), dtype="float32", device="cpu")


def test_nan_weight_raises(nan_model):
    model = fresh(nan_model)
    with pytest.raises(NonFiniteOutputError, match="non-finite vectors for a document"):
        model.encode_documents(DOCS[:2])
    with pytest.raises(NonFiniteOutputError, match="non-finite vectors for a query"):
        model.encode_queries(["Berlin"])
    with pytest.raises(NonFiniteOutputError):
        model.rerank("Berlin", DOCS[:2])
    assert len(model.cache) == 0, "nothing non-finite may be cached"


def test_models_with_other_weights_do_not_share_entries(tiny_model, nan_model):
    """The cache key holds the checkpoint path: a shared cache keeps models apart."""
    shared = VectorCache()
    fresh(tiny_model, cache=shared).encode_documents(["Berlin"])
    with pytest.raises(NonFiniteOutputError):
        fresh(nan_model, cache=shared).encode_documents(["Berlin"])


def test_infinite_output_raises(tiny_model):
    def broken(sequences, key_masks):
        outputs = tiny_model.network(sequences, key_masks)
        outputs[-1][0, 3] = float("inf")
        return outputs

    model = fresh(tiny_model, network=broken)
    with pytest.raises(NonFiniteOutputError, match="check the checkpoint and the dtype"):
        model.encode_documents(DOCS[:3])


@pytest.mark.parametrize("texts", [[""], ["   "], ["ok", None]])
def test_bad_texts(tiny_model, texts):
    with pytest.raises(ValueError):
        fresh(tiny_model).encode_documents(texts)


def test_a_single_string_is_refused(tiny_model):
    with pytest.raises(ValueError, match="single string"):
        fresh(tiny_model).encode_documents("Berlin")
    with pytest.raises(ValueError, match="non-empty list"):
        fresh(tiny_model).analyze("Berlin", "Berlin")
    with pytest.raises(ValueError, match="non-empty list"):
        fresh(tiny_model).analyze("Berlin", [])


# ---------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------


def test_skiplist_changes_flags_not_vectors(tiny_model):
    text = "Berlin, the capital (of Germany), has 3.8 million people! Is it big? Yes."
    base = fresh(tiny_model)
    reader = base.encode_documents([text])[0]
    stanford_model = base.with_settings(skiplist="stanford")
    assert stanford_model.tokenizer.settings.skiplist == "stanford" and base.tokenizer.settings.skiplist == "reader"
    stanford = stanford_model.encode_documents([text])[0]
    none = base.with_settings(skiplist="none").encode_documents([text])[0]
    assert reader.ids.tolist() == stanford.ids.tolist() == none.ids.tolist()
    assert reader.skipped.any() and stanford.skipped.any() and not none.skipped.any()
    assert reader.skipped.tolist() != stanford.skipped.tolist()
    # the bare pieces for the reader; "▁(" and the bare word boundary "▁" (before "3.8") for Stanford
    assert [t for t, s in zip(reader.tokens, reader.skipped) if s] == [",", "!", "?", "."]
    assert [t for t, s in zip(stanford.tokens, stanford.skipped) if s] == ["▁(", "▁"]
    np.testing.assert_allclose(reader.vectors, stanford.vectors, atol=1e-6, rtol=0)
    np.testing.assert_allclose(reader.vectors, none.vectors, atol=1e-6, rtol=0)
    # the settings are part of the cache key: three entries, not one
    assert len(base.cache) == 3
    # and scores use the flags
    q = base.encode_queries(["Berlin capital"])[0]
    assert manual_maxsim(q.vectors, none.vectors, ~none.skipped) >= manual_maxsim(q.vectors, reader.vectors,
                                                                                   ~reader.skipped)


def test_with_settings_validates(tiny_model):
    with pytest.raises(ValueError, match="skiplist"):
        tiny_model.with_settings(skiplist="commas")
    with pytest.raises(TypeError):
        tiny_model.with_settings(no_such_setting=1)


# ---------------------------------------------------------------------------------
# analyze, rerank, explain
# ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def berlin_model(tiny_model):
    return fresh(tiny_model)


def test_rerank_scores_are_maxsim(berlin_model, berlin):
    query, docs = berlin["query"], berlin["documents"]
    results = berlin_model.rerank(query, docs)
    assert len(results) == len(docs)
    q = berlin_model.encode_queries([query])[0]
    ds = berlin_model.encode_documents(docs)
    manual = [manual_maxsim(q.vectors, d.vectors, ~d.skipped) for d in ds]
    assert sorted(r["index"] for r in results) == list(range(len(docs)))
    for r in results:
        assert set(r) == {"index", "relevance_score", "document"} and set(r["document"]) == {"text"}
        assert isinstance(r["index"], int) and isinstance(r["relevance_score"], float)
        assert r["document"]["text"] == docs[r["index"]]
        assert r["relevance_score"] == pytest.approx(manual[r["index"]], abs=1e-5)
    scores = [r["relevance_score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert all(-32 <= s <= 32 for s in scores)


def test_rerank_explain_and_analysis_agree(berlin_model, berlin):
    query, docs = berlin["query"], berlin["documents"]
    results = berlin_model.rerank(query, docs)
    analysis = berlin_model.analyze(query, docs)
    assert analysis.rerank(128) == results
    np.testing.assert_array_equal(analysis.scores(128)[[r["index"] for r in results]],
                                  [r["relevance_score"] for r in results])
    for r in results:
        explanation = berlin_model.explain(query, docs[r["index"]])
        assert explanation.score == r["relevance_score"]
        assert explanation.contributions.sum() == pytest.approx(explanation.score, abs=1e-12)
        assert explanation.contributions.shape == (32,) and explanation.dim == 128
        assert analysis.explain(r["index"], 128).score == explanation.score
        merged = berlin_model.explain(query, docs[r["index"]], merge_words=True)
        assert merged.score == explanation.score


@pytest.mark.parametrize("top_n", [1, 3, 8, 20])
def test_top_n(berlin_model, berlin, top_n):
    full = berlin_model.rerank(berlin["query"], berlin["documents"])
    top = berlin_model.rerank(berlin["query"], berlin["documents"], top_n=top_n)
    assert top == full[:top_n]


def test_top_n_zero_means_every_document_as_in_the_cli_and_the_page(berlin_model, berlin):
    full = berlin_model.rerank(berlin["query"], berlin["documents"])
    assert berlin_model.rerank(berlin["query"], berlin["documents"], top_n=0) == full
    assert len(full) == len(berlin["documents"])


@pytest.mark.parametrize("top_n", [-1, 2.5, True, False])
def test_bad_top_n(berlin_model, berlin, top_n):
    with pytest.raises(ValueError, match="top_n"):
        berlin_model.rerank(berlin["query"], berlin["documents"], top_n=top_n)


@pytest.mark.parametrize("dim", [96, 64])
def test_smaller_dimensions_are_truncated_and_renormalised(berlin_model, berlin, dim):
    query, docs = berlin["query"], berlin["documents"]
    results = berlin_model.rerank(query, docs, dimensions=dim)
    q = cut(berlin_model.encode_queries([query])[0].vectors, dim)
    ds = berlin_model.encode_documents(docs)
    for r in results:
        d = ds[r["index"]]
        want = manual_maxsim(q, cut(d.vectors, dim), ~d.skipped)
        assert r["relevance_score"] == pytest.approx(want, abs=1e-5)
        assert berlin_model.explain(query, docs[r["index"]], dimensions=dim).score == r["relevance_score"]
    native = {r["index"]: r["relevance_score"] for r in berlin_model.rerank(query, docs)}
    assert any(abs(native[r["index"]] - r["relevance_score"]) > 1e-3 for r in results)


@pytest.mark.parametrize("dim", [100, 256, 32, -64, "64", 64.0, True, 0, False])
def test_invalid_dimensions(berlin_model, berlin, dim):
    with pytest.raises(ValueError, match="dimensions must be one of 128, 96, 64"):
        berlin_model.rerank(berlin["query"], berlin["documents"], dimensions=dim)
    with pytest.raises(ValueError, match="dimensions must be one of"):
        berlin_model.explain(berlin["query"], berlin["documents"][0], dimensions=dim)


def test_analyze(berlin_model, berlin):
    analysis = berlin_model.analyze(berlin["query"], berlin["documents"])
    assert analysis.dimensions == (128, 96, 64)
    assert analysis.texts == berlin["documents"]
    assert len(analysis.query) == 32 and len(analysis.documents) == len(berlin["documents"])
    ranks = analysis.ranks(64)
    assert sorted(ranks.tolist()) == list(range(1, len(berlin["documents"]) + 1))
    assert ranks[analysis.rerank(64)[0]["index"]] == 1


def test_analyze_reports_progress(tiny_model, berlin):
    calls: list[tuple[int, int]] = []
    fresh(tiny_model, batch_tokens=100).analyze(berlin["query"], berlin["documents"],
                                                progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (8, 8)


def test_model_outputs_are_float32_on_cpu(tiny_model):
    assert tiny_model.dtype is torch.float32 and tiny_model.device.type == "cpu"
    assert "dim=128" in repr(tiny_model)


def test_analyze_tokenized_encodes_every_record_in_order(tiny_model, berlin):
    """Records tokenized first (to check a budget) come back encoded, all of them, in
    their order, with the vectors an independent model gives each text on its own."""
    tok = tiny_model.tokenizer
    query, docs = berlin["query"], berlin["documents"]
    staged = fresh(tiny_model).analyze_tokenized(tok.tokenize_queries([query])[0],
                                                 tok.tokenize_documents(docs, 64))
    reference = fresh(tiny_model)  # its own cache: nothing is shared with ``staged``
    assert staged.query.text == query and staged.query.kind == "query"
    np.testing.assert_allclose(staged.query.vectors, reference.encode_queries([query])[0].vectors,
                               atol=1e-5, rtol=0)
    assert [d.text for d in staged.documents] == docs
    for text, record in zip(docs, staged.documents):
        alone = reference.encode_documents([text], doc_maxlen=64)[0]
        assert record.kind == "document" and record.ids.tolist() == alone.ids.tolist()
        assert record.truncated == alone.truncated
        np.testing.assert_allclose(record.vectors, alone.vectors, atol=1e-5, rtol=0)
    direct = fresh(tiny_model).analyze(query, docs, 64)
    np.testing.assert_allclose(staged.scores(128), direct.scores(128), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="non-empty"):
        tiny_model.analyze_tokenized(tok.tokenize_queries(["q"])[0], [])


def test_similarity_range_covers_every_document(tiny_model, berlin):
    """The shared colour range against float64 similarities of the re-normalised
    prefixes, every position of every document (skipped ones too)."""
    analysis = fresh(tiny_model).analyze(berlin["query"], berlin["documents"])
    assert any(d.skipped.any() for d in analysis.documents)
    for dim in analysis.dimensions:
        q = cut(analysis.query.vectors, dim)
        sims = [q @ cut(d.vectors, dim).T for d in analysis.documents]
        low, high = analysis.similarity_range(dim)
        assert low == pytest.approx(min(s.min() for s in sims), abs=1e-5)
        assert high == pytest.approx(max(s.max() for s in sims), abs=1e-5)
        assert analysis.similarity_range(dim) == (low, high)  # served from its cache
    # a skipped token counts: here it holds the highest similarity, 1
    def record(kind, vectors, skipped):
        n = len(vectors)
        return TokenVectors(text="x", kind=kind, ids=np.arange(n), tokens=["t"] * n, spans=[(0, 0)] * n,
                            special=np.zeros(n, bool), marker=np.zeros(n, bool), expansion=np.zeros(n, bool),
                            skipped=np.array(skipped), n_text_tokens=n, truncated=False,
                            vectors=np.array(vectors, np.float32))

    hand = Analysis(query=record("query", [[1, 0], [0, 1]], [False, False]),
                    documents=[record("document", [[1, 0], [0.6, 0.8]], [True, False])], dimensions=(2,))
    assert hand.similarity_range(2) == pytest.approx((0.0, 1.0), abs=1e-6)
