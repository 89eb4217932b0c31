"""The app as an MCP server (``launch(mcp_server=True)``), through the ``mcp`` Python
client over streamable HTTP at ``/gradio_api/mcp/``: exactly the API's tools, each
parameter described; JSON answers equal to the package's; a bad input is a tool
error of one sentence and the server keeps answering."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from jina_server import KEY, JinaStub
from serving import free_port

from colbert_viz.app.collection_shelf import CollectionShelf
from colbert_viz.app.limits import Limits
from colbert_viz.app.registry import ModelRegistry
from colbert_viz.collections import EdgeBackend, index

pytest.importorskip("mcp", reason="the mcp package is not installed")

LIMITS = Limits(max_docs=10, max_chars=2000, max_tokens=4000, max_doc_tokens=1024)
TOOLS = {"rerank", "explain", "compare", "compare_encoders", "compress", "search"}


@pytest.fixture(scope="module")
def stub(tiny_model):
    """Jina's API on 127.0.0.1, answering with the tiny model's vectors."""
    server = JinaStub(tiny_model)
    yield server
    server.close()


@pytest.fixture(scope="module")
def url(tiny_model, berlin, tmp_path_factory, stub):
    from colbert_viz.app.ui import build_app, launch_options

    mp = pytest.MonkeyPatch()
    mp.setenv("COLBERT_VIZ_JINA_API_URL", stub.url)
    mp.delenv("JINA_API_KEY", raising=False)  # a tool never spends the operator's key

    folder = tmp_path_factory.mktemp("mcp") / "berlin"
    backend = EdgeBackend(folder)
    index(tiny_model, backend, berlin["documents"], batch_size=4)
    backend.close()
    shelf = CollectionShelf({"berlin": str(folder)})
    demo = build_app(ModelRegistry({"tiny": tiny_model}), limits=LIMITS, collections=shelf)
    _, local, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                              mcp_server=True, **launch_options(LIMITS))
    yield local.rstrip("/")
    demo.close()
    shelf.close()
    mp.undo()


def session(url: str, work):
    """``work(session)`` in one MCP client session with the app."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async def run():
        async with streamablehttp_client(f"{url}/gradio_api/mcp/") as (read, write, _), \
                ClientSession(read, write) as s:
            await s.initialize()
            return await work(s)

    return asyncio.run(run())


def call(url: str, tool: str, **arguments):
    """``(is_error, text)`` of one tool call."""
    async def work(s):
        result = await s.call_tool(tool, arguments)
        return result.isError, result.content[0].text

    return session(url, work)


def answer(url: str, tool: str, **arguments) -> dict:
    error, text = call(url, tool, **arguments)
    assert not error, text
    return json.loads(text)  # JSON, not a Python repr


def docs_text(berlin) -> str:
    return "\n".join(berlin["documents"])


def test_the_tools_are_the_api_each_parameter_described(url):
    async def work(s):
        return (await s.list_tools()).tools

    tools = session(url, work)
    assert {t.name for t in tools} == TOOLS  # the page's events are no tools
    for tool in tools:
        assert len(tool.description) > 60, tool.name
        for name, spec in tool.inputSchema["properties"].items():
            assert spec["type"] in ("string", "integer", "boolean"), (tool.name, name)
            assert len(spec["description"]) > 10, (tool.name, name)
    info = httpx.get(f"{url}/gradio_api/info").raise_for_status().json()
    assert set(info["named_endpoints"]) == {f"/{t}" for t in TOOLS} and not info["unnamed_endpoints"]


def test_rerank_is_the_api_shaped_ranking_with_the_clis_token_count(url, tiny_model, berlin):
    out = answer(url, "rerank", query=berlin["query"], documents=docs_text(berlin), top_n=3, dimensions=96)
    analysis = tiny_model.analyze(berlin["query"], berlin["documents"], LIMITS.max_doc_tokens)
    expected = analysis.rerank(96, 3)
    assert [r["index"] for r in out["results"]] == [r["index"] for r in expected]
    for got, want in zip(out["results"], expected):
        assert got["relevance_score"] == pytest.approx(want["relevance_score"], abs=1e-6)
        assert got["document"] == want["document"]
    assert out["usage"]["total_tokens"] == len(analysis.query) + sum(len(d) for d in analysis.documents)


def test_explain_gives_each_query_tokens_match_and_the_top_contributions(url, tiny_model, berlin):
    out = answer(url, "explain", query=berlin["query"], documents=docs_text(berlin), index=2, dimensions=64,
                 top_matches=3)
    expected = tiny_model.analyze(berlin["query"], berlin["documents"], LIMITS.max_doc_tokens).explain(2, 64)
    assert out["index"] == 2 and out["score"] == pytest.approx(expected.score, abs=1e-6)
    assert [m["query_token"] for m in out["matches"]] == expected.query.labels
    assert [m["document_token"] for m in out["matches"]] == [expected.document.labels[j] for j in expected.best_index]
    assert sum(m["contribution"] for m in out["matches"]) == pytest.approx(out["score"], abs=1e-6)
    top = sorted(m["contribution"] for m in out["matches"])[-3:][::-1]
    assert [m["contribution"] for m in out["top_matches"]] == pytest.approx(top)
    assert "similarity" not in out
    full = answer(url, "explain", query=berlin["query"], documents=docs_text(berlin), index=2,
                  include_similarity=True)
    assert len(full["similarity"]) == len(expected.query.labels)


def test_compress_reports_each_settings_ranking_and_what_is_unavailable(url, tiny_model, berlin, monkeypatch):
    out = answer(url, "compress", query=berlin["query"], documents=docs_text(berlin), storage="int8")
    exact = tiny_model.analyze(berlin["query"], berlin["documents"], LIMITS.max_doc_tokens).scores(128)
    assert [r["setting"] for r in out["settings"]] == ["128/int8", "96/int8", "64/int8"] and out["unavailable"] == {}
    for row in out["settings"]:
        assert sorted(r["rank"] for r in row["ranking"]) == list(range(1, len(exact) + 1))
        assert [r["rank"] for r in row["ranking"]] == sorted(r["rank"] for r in row["ranking"])
        for r in row["ranking"]:
            assert r["exact_score"] == pytest.approx(exact[r["index"]], abs=1e-6)
        changes = [abs(r["score"] - r["exact_score"]) for r in row["ranking"]]
        assert row["largest_score_change"] == pytest.approx(max(changes), abs=1e-9)
    monkeypatch.setattr("colbert_viz.storage.settings.MAX_POOL_TOKENS", 4)
    out = answer(url, "compress", query=berlin["query"] + " pooled", documents=docs_text(berlin))
    assert set(out["unavailable"]) == {"pool-2", "pool-3"} and "at most 4" in out["unavailable"]["pool-2"]
    assert {r["method"] for r in out["settings"]} == {"float32", "float16", "int8", "binary", "binary+rescore",
                                                       "residual-1bit", "residual-2bit", "residual-4bit"}


def test_search_answers_from_the_collection(url, tiny_model, berlin):
    out = answer(url, "search", collection="berlin", query=berlin["query"], top_k=3)
    expected = tiny_model.rerank(berlin["query"], berlin["documents"], top_n=3)
    assert out["collection"] == "berlin" and out["dimensions"] == 128
    assert [r["document"]["text"] for r in out["results"]] == [r["document"]["text"] for r in expected]
    for got, want in zip(out["results"], expected):
        assert got["qdrant_score"] == pytest.approx(want["relevance_score"], abs=1e-4)
        assert got["exact_maxsim"] == pytest.approx(want["relevance_score"], abs=1e-4)


@pytest.mark.parametrize(("tool", "arguments", "message"), [
    ("rerank", {"query": " ", "documents": "a\nb"}, "Enter a query."),
    ("rerank", {"query": "q", "documents": "\n".join("abcdefghijk")},
     "The text box and files hold more than 10 documents; the limit is 10 per request."),
    ("rerank", {"query": "q", "documents": "a\nb", "dimensions": 32}, "Dimensions must be one of 128, 96, 64; got 32."),
    ("explain", {"query": "q", "documents": "a\nb", "index": 5}, "No document 5: choose 0 to 1."),
    ("explain", {"query": "q", "documents": "a\nb", "top_matches": 0},
     "top_matches must be a whole number from 1 to 64; got 0."),
    ("compress", {"query": "q", "documents": "a\nb", "storage": "zip"},
     "Unknown storage method 'zip': choose one of float32, float16, int8, binary, binary+rescore, residual-1bit, "
     "residual-2bit, residual-4bit, pool-2, pool-3."),
    ("search", {"collection": "nope", "query": "q"}, "No collection named “nope”: choose one of: berlin."),
    ("search", {"collection": "berlin", "query": "q", "top_k": 11},
     "Top k must be a whole number from 1 to 10; got 11."),
    ("rerank", {"query": "q", "documents": "a", "model": "other"}, None),
    ("compare_encoders", {"query": "q", "documents": "a\nb", "b_settings": "bogus=1"},
     "b_settings: unknown setting 'bogus'; choose from query_expansion, attend_to_mask_tokens, skiplist, "
     "query_maxlen, doc_maxlen, query_marker, doc_marker."),
    ("compare_encoders", {"query": "q", "documents": "a\nb", "dimensions_b": 32},
     "Encoder B offers 128, 96, 64 dimensions; got 32."),
    ("compare_encoders", {"query": "q", "documents": "a\nb", "first": 0, "second": 0},
     "Choose two different documents for first and second."),
    ("compare_encoders", {"query": "q", "documents": "a\nb", "second": 5}, "No document 5: choose 0 to 1."),
])
def test_a_bad_input_is_one_sentence_and_the_server_stays_up(url, tool, arguments, message):
    error, text = call(url, tool, **arguments)
    assert error
    if message is None:
        assert "not one of the models offered here" in text
    else:
        assert text == message
    assert "Traceback" not in text and "\n" not in text
    assert answer(url, "rerank", query="q", documents="a\nb")["results"]


def test_compare_encoders_is_the_packages_comparison(url, tiny_model, berlin):
    """The tool's answer is ``compare_encoders`` of the same model with B's expansion off, to the number."""
    import colbert_viz

    out = answer(url, "compare_encoders", query=berlin["query"], documents=docs_text(berlin), dimensions_a=96,
                 b_settings="query_expansion=false", first=0, second=2)
    mine = colbert_viz.compare_encoders(tiny_model, tiny_model.with_settings(query_expansion=False),
                                        berlin["query"], berlin["documents"], dim_a=96, pair=(0, 2)).to_dict()
    assert (out["a"]["dimensions"], out["b"]["dimensions"]) == (96, 128)
    assert out["rank_moves"] == mine["rank_moves"] and out["b"]["scores"] == pytest.approx(mine["b"]["scores"])
    assert {r["key"] for r in out["recipe_differences"]} >= {"expansion", "expansion_token"}
    assert out["pair"]["first"] == 0 and out["pair"]["second"] == 2


API = "jina-api:jina-colbert-v2"


def test_an_agent_reranks_through_jinas_api_with_its_own_key(url, tiny_model, berlin):
    """model=jina-api:… with jina_api_key: the API's vectors (here the tiny model's) rank as the local model."""
    local = answer(url, "rerank", query=berlin["query"], documents=docs_text(berlin))
    through = answer(url, "rerank", query=berlin["query"], documents=docs_text(berlin), model=API, jina_api_key=KEY)
    assert [r["index"] for r in through["results"]] == [r["index"] for r in local["results"]]
    for got, want in zip(through["results"], local["results"]):
        assert got["relevance_score"] == pytest.approx(want["relevance_score"], abs=1e-3)
    explained = answer(url, "explain", query=berlin["query"], documents=docs_text(berlin), index=2, model=API,
                       jina_api_key=KEY)
    assert KEY not in json.dumps(through) + json.dumps(explained)


@pytest.mark.parametrize("key", ["", "jina_wrongkey987654321abc"])
def test_jinas_api_without_a_good_key_is_one_sentence_without_the_key(url, key):
    error, text = call(url, "rerank", query="q", documents="a\nb", model=API, jina_api_key=key)
    assert error and "\n" not in text and "Traceback" not in text and text, text
    assert not key or key not in text
    assert answer(url, "rerank", query="q", documents="a\nb")["results"]  # the server stays up
