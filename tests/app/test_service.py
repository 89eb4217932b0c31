"""One app request without the UI: inputs, limits, payloads and exports."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from colbert_viz.app.limits import LimitError, Limits
from colbert_viz.app.service import analyze_request, compare_payload, gather_documents, rerank_payload
from colbert_viz.inputs import InputError

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


class Spy:
    """Wraps a bound method: records each call's arguments and result, then returns it."""

    def __init__(self, method) -> None:
        self.method = method
        self.calls: list[tuple] = []
        self.results: list = []

    def __call__(self, *args, **kwargs):
        self.calls.append(args)
        self.results.append(self.method(*args, **kwargs))
        return self.results[-1]


@pytest.fixture
def spied(tiny_model):
    """A model sharing the tiny model's weights, with spies on tokenizing and encoding
    (``_encode`` is where every analysis path meets the network)."""
    model = tiny_model.with_settings()
    model.tokenizer.tokenize_queries = Spy(model.tokenizer.tokenize_queries)
    model.tokenizer.tokenize_documents = Spy(model.tokenizer.tokenize_documents)
    model.analyze_tokenized = Spy(model.analyze_tokenized)
    model._encode = Spy(model._encode)
    return model


def test_request_limits_are_checked_before_encoding(spied, berlin):
    with pytest.raises(LimitError, match="tokens per request"):
        analyze_request(spied, "q", [LONG_DOC] * 5, 4096, None, Limits(max_tokens=1000))
    with pytest.raises(LimitError, match="Enter a query"):
        analyze_request(spied, "", ["a"], None, None, LIMITS)
    assert spied._encode.calls == [] and spied.analyze_tokenized.calls == []
    # the spy is on the path a valid request takes
    analyze_request(spied, berlin["query"], berlin["documents"][:2], 4096, None, LIMITS)
    assert len(spied._encode.calls) == 2


def test_request_encodes_the_records_it_counted(spied, berlin):
    """Each text is tokenized once; the records whose tokens were counted are the ones encoded."""
    documents = [*berlin["documents"][:3], LONG_DOC]
    run = analyze_request(spied, berlin["query"], documents, 64, None, LIMITS)
    assert len(spied.tokenizer.tokenize_queries.calls) == 1 and len(spied.tokenizer.tokenize_documents.calls) == 1
    query_record = spied.tokenizer.tokenize_queries.results[0][0]
    doc_records = spied.tokenizer.tokenize_documents.results[0]
    assert len(spied.analyze_tokenized.calls) == 1
    given_query, given_docs = spied.analyze_tokenized.calls[0][:2]
    assert given_query is query_record
    assert len(given_docs) == len(documents) and all(a is b for a, b in zip(given_docs, doc_records))
    assert run.total_tokens == sum(len(d) for d in doc_records)
    assert [d.ids.tolist() for d in run.analysis.documents] == [d.ids.tolist() for d in doc_records]
    assert len(run.analysis.documents[3]) == 64 and run.analysis.documents[3].truncated


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


def test_rerank_payload_gives_each_dimensions_own_rank():
    from dataclasses import replace

    from factories import document_record, filler_words, query_record

    from colbert_viz.app.service import Run
    from colbert_viz.maths.analysis import Analysis

    analysis = Analysis(query=query_record(["population", "of", "Berlin"]),
                        documents=[document_record(filler_words(6), seed=i) for i in range(12)],
                        dimensions=(128, 96, 64))
    ranks = {d: analysis.ranks(d) for d in analysis.dimensions}
    assert any((ranks[128] != ranks[d]).any() for d in (96, 64))  # the dimensions disagree here
    run = Run(analysis=analysis, model_name="m", display_name="m", is_fallback=False, note="", top_n=None,
              doc_max_tokens=512, total_tokens=10, seconds=0.1)
    for dim in analysis.dimensions:
        payload = rerank_payload(run, dim)
        assert [r["rank"] for r in payload["results"]] == list(range(1, 13))
        for r in payload["results"]:
            assert r["ranks"] == {str(d): int(ranks[d][r["index"]]) for d in analysis.dimensions}
            assert r["ranks"][str(dim)] == r["rank"]
    assert len(rerank_payload(replace(run, top_n=3), 64)["results"]) == 3


@pytest.mark.parametrize("a, b", [(0, 4), (4, 0), (2, 1)])
def test_compare_payload_keeps_a_and_b_in_their_places(run, a, b):
    payload = compare_payload(run, a, b, 64)
    scores = run.analysis.scores(64)
    assert (payload["a"], payload["b"]) == (a, b)
    assert (payload["score_a"], payload["score_b"]) == (scores[a], scores[b]) and scores[a] != scores[b]
    assert payload["difference"] == pytest.approx(scores[a] - scores[b])
    assert [t["contribution_a"] for t in payload["tokens"]] == run.analysis.explain(a, 64).contributions.tolist()
    assert [t["contribution_b"] for t in payload["tokens"]] == run.analysis.explain(b, 64).contributions.tolist()
    assert sum(t["difference"] for t in payload["tokens"]) == pytest.approx(payload["difference"])




def test_exports_write_three_files(run, tmp_path):
    from colbert_viz.app.exports import export_files
    from colbert_viz.explorer.view_state import ViewState

    ranking, explanation, page = export_files(run, ViewState.of(run.analysis, 96, 1), root=tmp_path)
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


def test_compare_engines_encodes_again_and_compares(tiny_model, tiny_checkpoint, run):
    import colbert_viz
    from colbert_viz.app.service import compare_engines
    from colbert_viz.maths.compare import kendall_tau

    int8 = colbert_viz.load(str(tiny_checkpoint), dtype="int8", device="cpu")
    result = compare_engines(run, int8, 64)
    other = int8.analyze(run.analysis.query.text, run.analysis.texts, run.doc_max_tokens)
    assert result["engine"] == "int8" and result["dimensions"] == 64
    assert [d["index"] for d in result["documents"]] == [r["index"] for r in run.analysis.rerank(64)]
    assert [d["score"] for d in result["documents"]] == pytest.approx(
        [other.scores(64)[d["index"]] for d in result["documents"]])
    assert result["kendall_tau"] == pytest.approx(kendall_tau(run.analysis.scores(64), other.scores(64)))
    assert 0 < result["largest_score_change"] < 0.5  # the int8 layers ran, and stayed close
    json.dumps(result)


@pytest.fixture(scope="module")
def bf16_run(tiny_checkpoint, berlin):
    """A Run of the tiny model as ``auto`` may pick it on a CPU with bfloat16 units, in a registry of its own."""
    import colbert_viz
    from colbert_viz.app.registry import ModelRegistry

    model = colbert_viz.load(str(tiny_checkpoint), dtype="bfloat16", device="cpu")
    registry = ModelRegistry({"tiny": model})
    return analyze_request(model, berlin["query"], berlin["documents"][:5], 4096, 3, LIMITS, model_name="tiny"), \
        registry


def test_compare_with_exact_float32_encodes_the_run_again_in_float32(bf16_run, tiny_model):
    from colbert_viz.app.service import compare_with_engine
    from colbert_viz.maths.compare import kendall_tau

    run, registry = bf16_run
    result = compare_with_engine(run, registry, "float32")
    exact = tiny_model.analyze(run.analysis.query.text, run.analysis.texts, run.doc_max_tokens)
    variant = registry.models["tiny [float32]"]  # loaded through the registry, once, on the Run model's device
    assert variant.info.dtype == "float32" and variant.info.device == "cpu"
    assert (result["engine"], result["reference_engine"], result["note"]) == ("float32", "bfloat16", "")
    assert result["dimensions"] == 128
    assert [d["index"] for d in result["documents"]] == [r["index"] for r in run.analysis.rerank(128)]
    assert [d["score"] for d in result["documents"]] == pytest.approx(
        [exact.scores(128)[d["index"]] for d in result["documents"]], abs=1e-5)
    assert [d["reference_score"] for d in result["documents"]] == pytest.approx(
        [run.analysis.scores(128)[d["index"]] for d in result["documents"]])
    assert result["kendall_tau"] == pytest.approx(kendall_tau(run.analysis.scores(128), exact.scores(128)))
    assert 0 < result["largest_score_change"] < 1  # bfloat16 arithmetic moved the scores a little
    json.dumps(result)
    assert compare_with_engine(run, registry, "float32", 64)["dimensions"] == 64
    assert registry.models["tiny [float32]"] is variant  # not loaded again


def test_compare_with_the_engine_the_run_already_uses_says_so(run, bf16_run):
    from colbert_viz.app.service import compare_with_engine

    class NoVariants:
        def variant(self, name, dtype):
            raise AssertionError("nothing should be loaded or encoded")

    result = compare_with_engine(run, NoVariants(), "float32")
    assert set(result) == {"engine", "reference_engine", "dimensions", "note"}
    assert result["note"] == ("This Run's model already runs in float32 (float32: asked for): encoding it again in "
                              "float32 gives the same numbers, so there is nothing to compare.")
    with pytest.raises(LimitError, match="Unknown engine 'float16': choose float32 or int8"):
        compare_with_engine(bf16_run[0], NoVariants(), "float16")


def test_the_summary_names_the_dtype_decision_without_server_paths(run):
    from dataclasses import replace

    reason = "auto: bfloat16, 3.8× faster than float32 on this CPU (probed 2026-12-01, cached in /srv/cv/dtype.json)"
    summary = replace(run, dtype_reason=reason).summary()
    assert "(auto: bfloat16, 3.8× faster than float32 on this CPU (probed 2026-12-01, cached in dtype.json))" in summary
