"""Every storage setting on every shipped example set, as the tiny checkpoint CI builds encodes
it (float32, and bfloat16 as the page's ``auto`` may pick): all available, so the storage
explorer works on each; and a document over the pooling limit leaves the other settings available."""

from __future__ import annotations

import pytest

from colbert_viz.app.examples import load_examples
from colbert_viz.explorer.payload import storage_summary
from colbert_viz.storage import MAX_POOL_TOKENS, METHODS, StoredAnalysis, all_settings


@pytest.fixture(scope="module")
def bf16_model(tiny_checkpoint):
    import colbert_viz

    return colbert_viz.load(str(tiny_checkpoint), dtype="bfloat16", device="cpu")


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("example", load_examples(), ids=lambda e: e.id)
def test_every_setting_works_on_every_example_set(tiny_model, bf16_model, example, dtype):
    model = tiny_model if dtype == "float32" else bf16_model
    stored = StoredAnalysis(model.analyze(example.query, example.documents))
    summary = storage_summary(stored)
    assert summary["unavailable"] == {}
    settings = [s.id for s in all_settings(stored.dimensions)]
    assert [r["setting"] for r in summary["table"]] == settings
    assert list(summary["rankings"]) == settings
    assert all(len(r["order"]) == len(example.documents) for r in summary["rankings"].values())


def test_a_document_over_the_pooling_limit_leaves_the_other_settings_available(tiny_model, berlin):
    long = " ".join(["Berlin is the capital and largest city of Germany, with 3.9 million people."] * 80)
    stored = StoredAnalysis(tiny_model.analyze(berlin["query"], [*berlin["documents"][:2], long], doc_maxlen=8192))
    n = int(stored.analysis.documents[2].scored.sum())
    assert n > MAX_POOL_TOKENS
    why = f"token pooling handles at most 1,024 tokens per document, and document 3 has {n:,}"
    summary = storage_summary(stored)
    assert summary["unavailable"] == {m: f"{m} is unavailable for this Run: {why}" for m in ("pool-2", "pool-3")}
    available = [m for m in METHODS if not m.startswith("pool-")]
    assert list(summary["tau"]) == available[1:]
    assert list(summary["rankings"]) == [s.id for s in all_settings(stored.dimensions) if s.name in available]


def test_a_repetitive_document_pools(tiny_model, berlin):
    """Repeated tokens get nearly equal vectors, whose float32 cosine distance can fall just below 0 (it
    does for this document on the CPU this was written on: scipy's "negative distances" error before
    pooling clamped it); every setting stays available."""
    stored = StoredAnalysis(tiny_model.analyze(berlin["query"], ["ab " * 400, *berlin["documents"][:2]]))
    assert storage_summary(stored)["unavailable"] == {}
