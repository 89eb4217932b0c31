"""Jina's API as an encoder, against a loopback server that computes the tiny model's vectors."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
from jina_server import KEY, JinaStub

from colbert_viz.engine.api_encoder import API_MODEL, ApiEncoder, api_tokenizer
from colbert_viz.engine.jina_client import JinaApiError

QUERY = "What is the population of Berlin?"
DOCS = ["Berlin has about 3.9 million inhabitants.", "Paris is the capital of France.",
        "The population of Berlin grew after 1990, reaching 3.7 million by 2020."]


@pytest.fixture(scope="module")
def tokenizer():
    return api_tokenizer(hub=False)


@pytest.fixture
def stub(tiny_model):
    server = JinaStub(tiny_model)
    yield server
    server.close()


def encoder(tokenizer, url, key=KEY, **options) -> ApiEncoder:
    options = {"backoff_s": 0.01, "timeout_s": 5.0, **options}
    return ApiEncoder(tokenizer, None, base_url=url).with_key(key, **options)


def test_the_explanation_through_the_api_equals_the_local_one(tiny_model, tokenizer, stub):
    api = encoder(tokenizer, stub.url)
    through, local = api.analyze(QUERY, DOCS), tiny_model.analyze(QUERY, DOCS)
    for dim in (128, 96, 64):
        np.testing.assert_allclose(through.scores(dim), local.scores(dim), atol=1e-5)
        assert list(through.ranks(dim)) == list(local.ranks(dim))
    for i in range(len(DOCS)):
        a, b = through.explain(i, 128).to_dict(), local.explain(i, 128).to_dict()
        assert a["query"] == b["query"] and a["document"] == b["document"]
        assert [m["document_position"] for m in a["matches"]] == [m["document_position"] for m in b["matches"]]
        np.testing.assert_allclose([m["contribution"] for m in a["matches"]],
                                   [m["contribution"] for m in b["matches"]], atol=1e-5)
    body = stub.requests[0]["body"]
    assert body == {"model": "jina-colbert-v2", "input": [QUERY], "input_type": "query", "dimensions": 128,
                    "embedding_type": "float"}
    assert stub.requests[0]["path"] == "/v1/multi-vector"
    assert api.tokens_used == sum(len(r) for r in [through.query, *through.documents])


def test_a_cut_document_is_sent_cut_and_its_tokens_still_line_up(tiny_model, tokenizer, stub):
    long_doc = " ".join(["Berlin grows every year."] * 40)
    api = encoder(tokenizer, stub.url)
    record = api.encode_documents([long_doc], doc_maxlen=20)[0]
    local = tiny_model.encode_documents([long_doc], doc_maxlen=20)[0]
    assert record.truncated and record.tokens == local.tokens
    np.testing.assert_allclose(record.vectors, local.vectors, atol=1e-5)
    assert len(stub.requests[-1]["body"]["input"][0]) < len(long_doc)


@pytest.mark.parametrize("only", ["/v1/multi-vector", "/v1/embeddings"])
def test_either_path_works_and_is_kept(tiny_model, tokenizer, only):
    server = JinaStub(tiny_model, paths=[only])
    try:
        api = encoder(tokenizer, server.url)
        api.encode_queries([QUERY])
        api.encode_documents(DOCS[:1])
        paths = [r["path"] for r in server.requests]
        expected = ["/v1/multi-vector"] if only == "/v1/multi-vector" else ["/v1/multi-vector", "/v1/embeddings"]
        assert paths == expected + [only]  # the path that answered is kept for the next request
    finally:
        server.close()


def test_texts_go_in_batches(tokenizer, stub):
    api = ApiEncoder(tokenizer, None, base_url=stub.url, batch_texts=2).with_key(KEY)
    api.encode_documents(DOCS)
    assert [len(r["body"]["input"]) for r in stub.requests if r["body"]["input_type"] == "document"] == [2, 1]
    api = ApiEncoder(tokenizer, None, base_url=stub.url).with_key(KEY)
    api.batch_tokens = 30  # DOCS have 13, 10 and 19 tokens: 13 + 10 fit, the third would pass 30
    stub.requests.clear()
    api.encode_documents(DOCS)
    assert [r["body"]["input"] for r in stub.requests] == [DOCS[:2], DOCS[2:]]


def test_a_wrong_count_is_labelled_by_position_with_a_note(tokenizer, stub):
    stub.drop_vectors = 1
    api = encoder(tokenizer, stub.url)
    analysis = api.analyze(QUERY, DOCS[:1])
    doc = analysis.documents[0]
    assert doc.tokens == [f"#{i + 1}" for i in range(len(doc))]
    assert all(s == (0, 0) for s in doc.spans)
    assert "labelled by position" in api.note()


def test_429_waits_as_retry_after_says(tokenizer, stub):
    stub.script = [(429, {"Retry-After": "1"}, {"detail": "Too many", "code": "RATE_TOKEN_LIMIT_EXCEEDED"})]
    api = encoder(tokenizer, stub.url)
    api.encode_queries([QUERY])
    first, second = stub.requests[0]["time"], stub.requests[1]["time"]
    assert 1.0 <= second - first < 3.0


def test_5xx_is_retried_then_said(tokenizer, stub):
    stub.script = [(503, {}, {"detail": "busy"})] * 3
    api = encoder(tokenizer, stub.url, retries=2)
    with pytest.raises(JinaApiError, match=r"failed \(503: busy\) after 2 retries"):
        api.encode_queries([QUERY])
    assert len(stub.requests) == 3


def test_a_rate_limit_that_outlasts_the_retries(tokenizer, stub):
    stub.script = [(429, {"Retry-After": "120"}, {"detail": "Too many", "code": "RATE_TOKEN_LIMIT_EXCEEDED"})]
    api = encoder(tokenizer, stub.url)
    started = time.monotonic()
    with pytest.raises(JinaApiError, match=r"rate limit outlasted 0 retries .*wait 120 s"):
        api.encode_queries([QUERY])
    assert time.monotonic() - started < 2  # a wait over max_wait_s is not waited


ERRORS = [
    ("no key", None, None, "needs a key"),
    ("refused key", "jina_wrongkey987654321", None, r"refused the key \(401: Invalid API key \[key\]"),
    ("422 2026", KEY, (422, {}, {"detail": "Validation failed", "errors": [
        {"field": "dimensions", "message": "must be 64, 96 or 128"}]}), r"\(422: Validation failed dimensions: must"),
    ("422 FastAPI", KEY, (422, {}, {"detail": [{"loc": ["body", "input"], "msg": "field required",
                                               "type": "missing"}]}), r"\(422: input: field required\)"),
    ("wrong shape", KEY, (200, {}, {"data": [{"index": 0, "embeddings": [[1.0, 2.0]]}]}), "unexpected shape"),
    ("not json", KEY, (200, {}, b"<html>"), "not JSON"),
    ("too few", KEY, (200, {}, {"data": []}), "0 embeddings for 1 texts"),
]


@pytest.mark.parametrize(("name", "key", "scripted", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_answers_are_one_sentence_without_the_key(tokenizer, stub, caplog, name, key, scripted, message):
    if scripted:
        stub.script = [scripted]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(JinaApiError, match=message) as info:
        encoder(tokenizer, stub.url, key=key).encode_queries([QUERY])
    text = str(info.value)
    assert "\n" not in text and "Traceback" not in text
    for secret in (KEY, "jina_wrongkey987654321"):
        assert secret not in text and secret not in caplog.text


def test_a_timeout_and_an_unreachable_api(tokenizer, stub):
    stub.delay_s = 1.0
    with pytest.raises(JinaApiError, match=r"did not answer within 0.3 s"):
        encoder(tokenizer, stub.url, timeout_s=0.3).encode_queries([QUERY])
    stub.delay_s = 0
    stub.close()
    with pytest.raises(JinaApiError, match="cannot be reached"):
        encoder(tokenizer, stub.url).encode_queries([QUERY])


def test_load_reads_the_key_and_the_url_from_the_environment(tiny_model, stub, monkeypatch):
    import colbert_viz

    monkeypatch.setenv("COLBERT_VIZ_JINA_API_URL", stub.url)
    monkeypatch.setenv("JINA_API_KEY", KEY)
    model = colbert_viz.load(API_MODEL)
    assert KEY not in repr(model) and KEY not in repr(model.client)
    results = model.rerank(QUERY, DOCS, top_n=2)
    assert [r["index"] for r in results] == [r["index"] for r in tiny_model.rerank(QUERY, DOCS, top_n=2)]
    monkeypatch.delenv("JINA_API_KEY")
    with pytest.raises(JinaApiError, match="JINA_API_KEY"):
        colbert_viz.load(API_MODEL)
