"""The page's "Compare encoders" panel over HTTP, as Gradio sessions: the tiny jina-layout
checkpoint beside the offline model, B's recipe changed, the views, opening a side in the
explorer, bad input in one line, and user text escaped."""

from __future__ import annotations

import html
import json
import re

import pytest
from page_client import PageClient, new_session
from serving import free_port

from colbert_viz.app.limits import Limits
from colbert_viz.app.registry import ModelRegistry
from colbert_viz.app.run_store import RunStore

LIMITS = Limits(max_docs=6, max_chars=2000, max_tokens=4000, max_doc_tokens=1024)
EVENTS = {("encoders-compare", "click"): "compare", ("encoders-document", "input"): "document",
          ("encoders-first", "input"): "pair", ("encoders-open-a", "click"): "open-a",
          ("encoders-open-b", "click"): "open-b"}
OUTPUTS = ["state", "summary", "ranking", "recipe", "matches", "document", "first", "second", "pair", "open_a",
           "open_b", "dim_a", "dim_b"]


def serve_page(models: dict, limits: Limits):
    """The page on ``models`` (name → loaded model), served on 127.0.0.1: ``(demo, client)``, the client
    knowing the panel's events by the names in ``EVENTS``. Also used by scripts/benchmark_compare.py."""
    from colbert_viz.app.ui import build_app, launch_options

    demo = build_app(ModelRegistry(models), limits=limits, store=RunStore(2**30))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                            **launch_options(limits))
    client = PageClient(url)
    config = client.http.get(f"{client.url}/config").json()
    elem = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
    for dep in config["dependencies"]:
        for target, trigger in dep["targets"]:
            if (elem.get(target), trigger) in EVENTS:
                client.events[EVENTS[(elem.get(target), trigger)]] = dep["id"]
    return demo, client


@pytest.fixture(scope="module")
def page(tiny_model):
    import colbert_viz

    offline = colbert_viz.load("offline", dtype="float32", device="cpu")
    demo, client = serve_page({"tiny": tiny_model, "offline": offline}, LIMITS)
    yield client
    demo.close()


def compare(client, session, query, docs, a="tiny", b="offline", dim_a="native", dim_b="native",
            expansion="the model's", attend="the model's", skiplist="the model's", query_length=0) -> dict:
    message = client.event("compare", [query, docs, None, a, b, dim_a, dim_b, expansion, attend, skiplist,
                                       query_length, 512, 0, None], session)
    data = message["output"]["data"]
    out = {name: (v.get("value") if isinstance(v, dict) and "value" in v else v) for name, v in zip(OUTPUTS, data)}
    return {**out, "raw": dict(zip(OUTPUTS, data))}


def table_rows(fragment: str) -> list[list[str]]:
    body = fragment.split("<tbody>", 1)[1]
    return [[html.unescape(c).replace("\u2068", "").replace("\u2069", "") for c in re.findall(r"<td>(.*?)</td>", row)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body)]


def test_the_rankings_are_those_of_two_runs_and_every_view_is_filled(page, berlin):
    session = new_session()
    docs = "\n".join(berlin["documents"][:5])
    out = compare(page, session, berlin["query"], docs)
    runs = [page.run(session, berlin["query"], docs, m)["payload"] for m in ("tiny", "offline")]
    ranks = [r["rankings"][str(r["model"]["native_dim"])]["ranks"] for r in runs]
    rows = table_rows(out["ranking"])
    assert sorted(int(r[0]) for r in rows) == [1, 2, 3, 4, 5]
    for row in rows:
        doc = int(row[0]) - 1
        assert (int(row[2]), int(row[3])) == (ranks[0][doc], ranks[1][doc])
        assert row[4] == "=" if ranks[0][doc] == ranks[1][doc] else row[4][0] in "↑↓"
    summary = html.unescape(out["summary"])
    assert "Kendall tau" in summary and "32 query-token maxima" in summary and "128-d" in summary
    recipe = {r[0]: (r[1], r[2]) for r in table_rows(out["recipe"])}
    assert recipe["query expansion"] == ("fixed", "none") and recipe["output dimension"] == ("128", "384")
    assert recipe["format"] == ("jina", "offline")
    words = table_rows(out["matches"])
    assert [w[0] for w in words][:3] == ["What", "is", "the"]
    assert all(w[-1] in ("same word", "differ") for w in words)
    assert all(" at character " in w[2] or "outside the text" in w[2] for w in words)
    assert out["matches"].count('class="cv-disagree"') == sum(w[-1] == "differ" for w in words)
    assert "total (score gap)" in out["pair"]
    other = page.event("pair", [None, 4, 2], session)["output"]["data"][0]
    assert "document 5 minus 3" in html.unescape(other)
    same = page.event("pair", [None, 2, 2], session)["output"]["data"][0]
    assert "cv-error" in same and "two different documents" in same
    shown = page.event("document", [None, 3], session)["output"]["data"][0]
    assert table_rows(shown)[0][0] == "What"


def test_open_b_puts_its_run_in_the_explorer(page, berlin):
    session = new_session()
    docs = "\n".join(berlin["documents"][:3])
    compare(page, session, berlin["query"], docs)
    data = page.event("open-b", [None], session)["output"]["data"]
    payloads = [json.loads(v["value"] if isinstance(v, dict) else v) for v in data
                if isinstance(v, str | dict) and "schema" in str(v)]
    assert len(payloads) == 1
    payload = payloads[0]
    assert payload["model"]["native_dim"] == 384 and payload["run_key"]
    views = page.server("document_views", [payload["run_key"], 0], session)
    assert "variants" in views  # the explorer's views come from B's kept Run


def test_b_with_its_expansion_off_differs_in_that_row_only(page, berlin):
    out = compare(page, new_session(), berlin["query"], "\n".join(berlin["documents"][:3]), b="tiny",
                  expansion="off")
    assert [r[0] for r in table_rows(out["recipe"])] == ["query length", "query expansion", "expansion length",
                                                         "expansion token"]
    found = re.search(r"B sums (\d+) query-token maxima \((\d+) from the text, 0 expansion, 3 special or marker\)",
                      html.unescape(out["summary"]))
    assert found and int(found[1]) == int(found[2]) + 3  # <s>, [QueryMarker], </s>: no <mask> left


@pytest.mark.parametrize(("inputs", "message"), [
    ({"query": ""}, "Enter a query."),
    ({"docs": "\n".join(f"doc {i}" for i in range(7))}, "limit is 6"),
    ({"query_length": 2}, "B's query tokens must be a whole number of at least 4"),
    ({"docs": "x" * 2001}, "the limit is 2,000 per document"),
    ({"b": "tiny", "query_length": 99999}, "query_maxlen 99999 is over"),
])
def test_bad_input_is_one_line(page, inputs, message):
    args = {"query": "Berlin?", "docs": "Berlin is big.\nParis is old.", **inputs}
    out = compare(page, new_session(), args.pop("query"), args.pop("docs"), **args)
    assert "cv-error" in out["summary"] and message in html.unescape(out["summary"]), out["summary"]
    assert not isinstance(out["ranking"], str) and "Traceback" not in out["summary"]  # nothing drawn


def test_a_refused_comparison_keeps_the_last_one_and_says_so(page, berlin):
    session = new_session()
    docs = "\n".join(berlin["documents"][:3])
    first = compare(page, session, berlin["query"], docs)
    assert "<table" in first["ranking"]
    out = compare(page, session, "", docs)
    assert "Enter a query." in html.unescape(out["summary"])
    assert "previous comparison" in out["summary"] and not isinstance(out["ranking"], str)  # left as it was
    assert page.event("document", [None, 1], session)["output"]["data"][0].count("<tr") > 1  # still answers


def test_the_size_menus_follow_the_models_and_a_side_opens_at_its_size(page, berlin):
    session = new_session()
    docs = "\n".join(berlin["documents"][:3])
    out = compare(page, session, berlin["query"], docs, dim_a="96")
    dim_a, dim_b = out["raw"]["dim_a"], out["raw"]["dim_b"]
    assert [c[0] for c in dim_a["choices"]] == ["native", "96", "64"] and dim_a["value"] == "96"
    assert [c[0] for c in dim_b["choices"]] == ["native", "128", "96", "64"]  # offline: 384 native
    data = page.event("open-a", [None], session)["output"]["data"]
    payload = next(json.loads(v["value"] if isinstance(v, dict) else v) for v in data
                   if isinstance(v, str | dict) and "schema" in str(v))
    ranks = payload["rankings"]["96"]["ranks"]
    assert payload["opens_on"]["dim"] == 96 and ranks[payload["opens_on"]["doc"]] == 1


def test_a_side_that_cut_a_document_says_so(page):
    out = compare(page, new_session(), "Berlin?", "a " * 900 + "Berlin.\nParis.", b="offline")  # cut at 512
    summary = html.unescape(out["summary"])
    assert "A cut document 1 to 512 tokens (of 90" in summary and "B cut document 1 to 512 tokens" in summary
    assert "document 2" not in summary


def test_user_text_is_escaped(page):
    out = compare(page, new_session(), "<b>Berlin</b>?", "<script>alert(1)</script> Berlin\n<img src=x> Paris")
    for name in ("summary", "ranking", "matches", "pair"):
        assert "<script>" not in out[name] and "<img" not in out[name] and "<b>" not in out[name]
    assert "&lt;script&gt;" in out["ranking"]


def test_each_side_at_its_own_dimensions(page, berlin):
    """The tiny model at 64 (the cut of its 128) beside itself at 128: the per-token scale and the ranks are
    those of the Runs' 64 and 128 rankings."""
    session = new_session()
    docs = "\n".join(berlin["documents"][:4])
    out = compare(page, session, berlin["query"], docs, b="tiny", dim_a="64", dim_b="128")
    run = page.run(session, berlin["query"], docs, "tiny")["payload"]
    assert "A: tiny-jina (local checkpoint) at 64 dimensions" in html.unescape(out["summary"])
    for row in table_rows(out["ranking"]):
        doc = int(row[0]) - 1
        assert (int(row[2]), int(row[3])) == (run["rankings"]["64"]["ranks"][doc], run["rankings"]["128"]["ranks"][doc])
    assert "The recipes are the same." in out["recipe"]


def test_a_size_the_model_does_not_offer_is_refused(tiny_model):
    from colbert_viz.app.limits import LimitError
    from colbert_viz.app.ui_compare import dimension

    assert (dimension(tiny_model, "native", "A"), dimension(tiny_model, "96", "A")) == (128, 96)
    with pytest.raises(LimitError, match="Encoder B offers 128, 96, 64 dimensions; got '384'"):
        dimension(tiny_model, "384", "B")
