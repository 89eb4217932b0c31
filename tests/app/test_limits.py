"""Request limits: read from the environment, clear messages when exceeded."""

from __future__ import annotations

import pytest

from colbert_viz.app.limits import (
    LimitError,
    Limits,
    check_doc_max_tokens,
    check_documents,
    check_query,
    check_token_budget,
    check_top_n,
)


def test_defaults():
    limits = Limits.from_env({})
    assert limits == Limits(max_docs=64, max_chars=100_000, max_tokens=32_768, max_doc_tokens=8192)
    assert "64 documents" in limits.describe() and "32,768" in limits.describe()


def test_environment_overrides():
    env = {"COLBERT_VIZ_MAX_DOCS": "5", "COLBERT_VIZ_MAX_CHARS": "1_000", "COLBERT_VIZ_MAX_TOKENS": " 900 ",
           "COLBERT_VIZ_MAX_DOC_TOKENS": "128"}
    assert Limits.from_env(env) == Limits(max_docs=5, max_chars=1000, max_tokens=900, max_doc_tokens=128)


@pytest.mark.parametrize("env", [{"COLBERT_VIZ_MAX_DOCS": "many"}, {"COLBERT_VIZ_MAX_TOKENS": "0"},
                                 {"COLBERT_VIZ_MAX_DOC_TOKENS": "4"}])
def test_bad_environment_names_the_variable(env):
    with pytest.raises(ValueError, match="COLBERT_VIZ_MAX"):
        Limits.from_env(env)


def test_query_checks():
    limits = Limits(max_chars=10)
    assert check_query("  Berlin? ", limits) == "Berlin?"
    with pytest.raises(LimitError, match="Enter a query"):
        check_query("   ", limits)
    with pytest.raises(LimitError, match="11 characters; the limit is 10"):
        check_query("x" * 11, limits)


def test_document_checks():
    limits = Limits(max_docs=2, max_chars=5)
    assert check_documents(["a", "b"], limits) == ["a", "b"]
    with pytest.raises(LimitError, match="at least one document"):
        check_documents([], limits)
    with pytest.raises(LimitError, match="3 documents; the limit is 2"):
        check_documents(["a", "b", "c"], limits)
    with pytest.raises(LimitError, match="Document 2 has 6 characters; the limit is 5"):
        check_documents(["a", "xxxxxx"], limits)


def test_doc_max_tokens():
    limits = Limits(max_doc_tokens=512)
    assert check_doc_max_tokens(300.0, limits) == 300
    assert check_doc_max_tokens(None, limits) == 512
    for bad in (4, 513, 12.5, True):
        with pytest.raises(LimitError, match="Document max tokens"):
            check_doc_max_tokens(bad, limits)


def test_top_n():
    assert check_top_n(None, 5) is None and check_top_n(0, 5) is None
    assert check_top_n(3.0, 5) == 3 and check_top_n(9, 5) == 5
    with pytest.raises(LimitError, match="top_n"):
        check_top_n(-1, 5)


def test_token_budget_counts_before_encoding(tiny_model):
    docs = ["Berlin is the capital of Germany.", "Mount Berlin is a volcano in Antarctica, far from the city."]
    counts = [len(t) for t in tiny_model.tokenizer.tokenize_documents(docs, 8)]
    assert counts == [8, 8]
    full = [len(t) for t in tiny_model.tokenizer.tokenize_documents(docs, 512)]
    assert full == [len(d) for d in tiny_model.encode_documents(docs, 512)]
    assert check_token_budget(full, Limits(max_tokens=sum(full))) == sum(full)
    with pytest.raises(LimitError, match=f"{sum(full)} tokens; the limit is {sum(full) - 1} tokens per request"):
        check_token_budget(full, Limits(max_tokens=sum(full) - 1))
