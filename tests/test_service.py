"""One app request without the UI: inputs, limits, payloads and exports."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from colbert_viz.inputs import InputError
from colbert_viz.limits import LimitError, Limits
from colbert_viz.service import analyze_request, compare_payload, gather_documents, rerank_payload

LIMITS = Limits(max_docs=10, max_chars=8000, max_tokens=6000, max_doc_tokens=4096)
LONG_DOC = " ".join(f"Sentence {i} is about the weather in Hamburg." for i in range(120)) + \
    " Berlin has 3.8 million inhabitants."


@pytest.fixture(scope="module")
def run(tiny_model, berlin):
    return analyze_request(tiny_model, berlin["query"], [*berlin["documents"][:4], LONG_DOC], 4096, 3, LIMITS)


def test_gather_documents_from_box_and_files(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "from jsonl"}\n', encoding="utf-8")
    (tmp_path / "b.csv").write_text("id,text\n1,from csv\n", encoding="utf-8")
    docs = gather_documents("one\ntwo", [tmp_path / "a.jsonl", tmp_path / "b.csv"])
    assert docs == ["one", "two", "from jsonl", "from csv"]
    (tmp_path / "bad.json").write_text("{oops", encoding="utf-8")
    with pytest.raises(InputError, match=r"^bad\.json: invalid JSON"):
        gather_documents("", [tmp_path / "bad.json"])


def test_request_limits_are_checked_before_encoding(tiny_model, berlin):
    calls = []
    original = tiny_model.analyze
    tiny_model.analyze = lambda *a, **k: calls.append(a)
    try:
        with pytest.raises(LimitError, match="tokens per request"):
            analyze_request(tiny_model, "q", [LONG_DOC] * 5, 4096, None, Limits(max_tokens=1000))
        with pytest.raises(LimitError, match="Enter a query"):
            analyze_request(tiny_model, "", ["a"], None, None, LIMITS)
    finally:
        tiny_model.analyze = original
    assert calls == []


def test_run_summary_and_model_limit(tiny_model, run):
    assert run.n_documents == 5 and run.top_n == 3 and run.total_tokens > 700
    assert "Ranked 5 documents" in run.summary() and "top 3 of 5" in run.summary()
    small = tiny_model.with_settings(doc_limit=64)
    capped = analyze_request(small, "Berlin", [LONG_DOC], 4096, None, LIMITS)
    assert capped.doc_max_tokens == 64 and capped.analysis.documents[0].truncated
    assert "at most 64 tokens" in capped.summary() and "cut to 64 tokens" in capped.summary()


def test_rerank_payload_is_api_shaped(run):
    payload = rerank_payload(run, 96)
    assert [r["index"] for r in payload["results"]] == [r["index"] for r in run.analysis.rerank(96, 3)]
    assert set(payload) == {"model", "dimensions", "results", "kendall_tau", "usage"}
    assert set(payload["kendall_tau"]) == {"128-96", "128-64", "96-64"}
    json.dumps(payload)


def test_compare_payload_adds_up(run):
    payload = compare_payload(run, 0, 4, 64)
    assert sum(t["difference"] for t in payload["tokens"]) == pytest.approx(payload["difference"])




def test_exports_write_three_files(run, tmp_path):
    from colbert_viz.exports import export_files

    ranking, explanation, page = export_files(run, 96, 1, root=tmp_path)
    table = pd.read_csv(ranking)
    assert table["Doc"].tolist() == [r["index"] + 1 for r in run.analysis.rerank(96)]
    data = json.loads(explanation.read_text(encoding="utf-8"))
    assert data["dimensions"] == 96 and data["index"] == 1
    assert data["score"] == pytest.approx(run.analysis.explain(1, 96).score)
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.count("ColbertViz.mount(document") == 1
    assert html.count("plotly.js v") == 1 and len(html) > 1_000_000  # plotly.js inlined once: works offline
    data = json.loads(html.split('id="cv-data">', 1)[1].split("</script>", 1)[0])
    assert data["complete"] and set(data["views"]) == {str(i) for i in range(run.n_documents)}
