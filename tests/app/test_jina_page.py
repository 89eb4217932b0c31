"""The page with Jina's API (a loopback server computing the tiny model's vectors): a Run
through the API, the comparison panel, and bad keys, over HTTP as Gradio sessions."""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path

import pytest
from jina_server import KEY, JinaStub
from page_client import PageClient, new_session
from serving import free_port

from colbert_viz.app.limits import Limits
from colbert_viz.app.registry import ModelRegistry
from colbert_viz.app.run_store import RunStore

LIMITS = Limits(max_docs=10, max_chars=2000, max_tokens=4000, max_doc_tokens=1024)
API = "jina-api:jina-colbert-v2"
WRONG = "jina_wrongkey987654321abc"


@pytest.fixture(scope="module")
def stub(tiny_model):
    server = JinaStub(tiny_model)
    yield server
    server.close()


@pytest.fixture(scope="module")
def page(tiny_model, stub):
    from colbert_viz.app.ui import build_app, launch_options

    mp = pytest.MonkeyPatch()
    mp.setenv("COLBERT_VIZ_JINA_API_URL", stub.url)
    mp.delenv("JINA_API_KEY", raising=False)  # the page never reads the operator's key
    registry = ModelRegistry({"tiny": tiny_model})
    demo = build_app(registry, limits=LIMITS, store=RunStore(2**30))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                            **launch_options(LIMITS))
    yield PageClient(url), registry
    demo.close()
    mp.undo()


@pytest.fixture(scope="module")
def berlin_text(berlin) -> str:
    return "\n".join(berlin["documents"])


def test_the_menu_offers_the_api_once_a_key_is_typed(page):
    _, registry = page
    assert API not in registry.menu() and registry.menu(api=True)[-1] == API


def test_an_api_run_ranks_as_the_local_model_and_says_the_tokens(page, berlin, caplog):
    client, _ = page
    caplog.set_level(logging.DEBUG)
    session = new_session()
    berlin_text = "\n".join(berlin["documents"][:4])  # four documents: the export stays quick
    local = client.run(session, berlin["query"], berlin_text, "tiny")["payload"]
    through = client.run(session, berlin["query"], berlin_text, API, api_key=KEY)
    status = html.unescape(through["status"])
    assert "Jina's API counted" in status and "jina-colbert-v2 (Jina API)" in status
    payload = through["payload"]
    for d in ("128", "96", "64"):
        assert payload["rankings"][d]["ranks"] == local["rankings"][d]["ranks"]
        assert payload["rankings"][d]["scores"] == pytest.approx(local["rankings"][d]["scores"], abs=1e-4)
    first = str(local["rankings"]["128"]["order"][0])
    mine, theirs = payload["views"][first]["variants"], local["views"][first]["variants"]
    assert mine.keys() == theirs.keys()
    for name in mine:  # the explorer's views of the top document: the same tokens, the same matches
        assert mine[name]["axis"] == theirs[name]["axis"]
        assert mine[name]["dims"]["128"]["best_index"] == theirs[name]["dims"]["128"]["best_index"]
    exported = client.export(session, through["key"], {"dim": 128, "doc": 0, "merge": False})
    assert isinstance(exported, list)
    texts = [Path(p).read_text(encoding="utf-8", errors="replace") for p in exported]
    for text in [json.dumps(payload), through["status"], *texts, caplog.text]:
        assert KEY not in text


def test_the_comparison_panel(page, berlin, berlin_text):
    client, _ = page
    session = new_session()
    key = client.run(session, berlin["query"], berlin_text, API, api_key=KEY)["key"]
    summary, table = client.event("jina", [key, KEY], session)["output"]["data"]
    summary = html.unescape(summary)
    assert "/v1/rerank beside the MaxSim" in summary and "largest vector difference" in summary
    assert "The API's 96 beside the cut of its 128" in summary and table["visible"]
    assert KEY not in summary and KEY not in json.dumps(table)


def test_a_refused_key_is_one_line_without_the_key(page, berlin, berlin_text, caplog):
    client, _ = page
    caplog.set_level(logging.DEBUG)
    result = client.run(new_session(), berlin["query"], berlin_text, API, api_key=WRONG)
    status = html.unescape(result["status"])
    assert result["key"] is None and "refused the key (401" in status and "Traceback" not in status
    assert WRONG not in result["status"] and WRONG not in caplog.text


def test_without_a_key_the_menu_drops_the_api_and_the_panel_says_so(page, berlin, berlin_text):
    client, _ = page
    session = new_session()
    client.event("jina-key", [KEY, None], session)
    menu = client.event("jina-key", ["  ", API], session)["output"]["data"][0]
    assert menu["value"] == "tiny" and [c[0] for c in menu["choices"]] == ["tiny"]
    key = client.run(session, berlin["query"], berlin_text, "tiny")["key"]
    summary, table = client.event("jina", [key, ""], session)["output"]["data"]
    assert "needs a key" in html.unescape(summary) and not table["visible"]


@pytest.mark.parametrize(("scripted", "message"), [
    ((422, {}, {"detail": "Validation failed", "errors": [{"field": "input", "message": "too long"}]}),
     "refused the request (422: Validation failed input: too long)"),
    ((429, {"Retry-After": "120"}, {"detail": "Too many", "code": "RATE_TOKEN_LIMIT_EXCEEDED"}),
     "rate limit outlasted 0 retries (429, asking to wait 120 s)"),
    ((200, {}, {"data": [{"index": 0, "embeddings": "none"}]}), "unexpected shape"),
], ids=["422", "429", "shape"])
def test_a_bad_answer_is_one_line(page, stub, berlin, berlin_text, scripted, message):
    client, _ = page
    stub.script = [scripted]
    result = client.run(new_session(), berlin["query"], berlin_text, API, api_key=KEY)
    status = html.unescape(result["status"])
    assert result["key"] is None and message in status and "\n" not in status and KEY not in status


def test_engine_comparisons_say_why_they_do_not_apply_to_an_api_run(page, berlin):
    client, _ = page
    session = new_session()
    key = client.run(session, berlin["query"], "\n".join(berlin["documents"][:2]), API, api_key=KEY)["key"]
    summary, table = client.int8(session, key)
    assert "came from Jina's API" in html.unescape(summary) and not table["visible"]
