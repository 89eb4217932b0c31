"""The page's search mode in Chromium: a search of the demo collection (the example sets,
indexed with the tiny random checkpoint, no quantization) through the explorer's views.
Each hit's Qdrant score in the hits table equals the exact score the explorer shows for
that document (1e-5); the dimension, the document and a storage setting change every view
as for a pasted list, with the package's numbers (``Analysis`` of the same stored vectors).
Writes ``assets/screenshot-search.png`` when ``COLBERT_VIZ_SCREENSHOTS`` is set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from serving import free_port, launch_chromium, playwright_or_skip
from test_browser import WAIT_MS, WIDE, check_views, views, wait_shows

from colbert_viz.app.collection_shelf import DEMO, CollectionShelf
from colbert_viz.app.limits import Limits
from colbert_viz.app.registry import ModelRegistry
from colbert_viz.storage.analysis import StoredAnalysis

pytestmark = pytest.mark.browser

LIMITS = Limits(max_docs=10, max_chars=4000, max_tokens=4000, max_doc_tokens=1024)
QUERY = "What is the population of Berlin?"
TOP_K = 6
SCREENSHOT = Path(__file__).resolve().parents[2] / "assets" / "screenshot-search.png"
JS_HITS = """() => [...document.querySelectorAll('#hits tr[data-rank]')].map(r => ({rank: Number(r.dataset.rank),
  document: Number(r.dataset.document), score: Number(r.dataset.score), label: r.children[1].textContent,
  shown: Number(r.children[2].textContent)}))"""
JS_SEARCH_DONE = """() => {
  const t = document.querySelector('#search-status [data-testid="markdown"]')?.innerText ?? '';
  return (t.includes('⚠') || t.startsWith('Found')) && !!document.querySelector('#heatmap .main-svg');
}"""


@pytest.fixture(scope="module")
def search_page(tiny_checkpoint, tmp_path_factory):
    sync_playwright = playwright_or_skip()
    import colbert_viz
    from colbert_viz.app.ui import build_app, launch_options

    model = colbert_viz.load(str(tiny_checkpoint), dtype="float32", device="cpu")
    os.environ["COLBERT_VIZ_DEMO_COLLECTION"] = str(tmp_path_factory.mktemp("demo") / "collection")
    try:
        shelf = CollectionShelf(private_root=tmp_path_factory.mktemp("private"))
        demo = build_app(ModelRegistry({"tiny": model}), limits=LIMITS, collections=shelf, demo_collection=True)
    finally:
        del os.environ["COLBERT_VIZ_DEMO_COLLECTION"]
    shelf.demo_thread.join(300)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                            **launch_options(LIMITS))
    with sync_playwright() as p:
        chromium = launch_chromium(p)
        page = chromium.new_page(viewport={"width": WIDE, "height": 1000})
        page.set_default_timeout(WAIT_MS)
        errors = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(url)
        page.wait_for_selector("#explorer .cv-mount")
        yield page, shelf, model, errors
        chromium.close()
    demo.close()
    shelf.close()


def search(page, query: str, top_k: int) -> str:
    page.click("#search-tab-button") if page.locator("#search-tab-button").count() else \
        page.get_by_role("tab", name="Search a collection").click()
    page.locator("#search-query textarea").fill(query)
    page.locator("#top-k input").fill(str(top_k))
    page.click("#search")
    page.wait_for_function(JS_SEARCH_DONE)
    return search_status(page)


def search_status(page) -> str:
    return page.evaluate("() => document.querySelector('#search-status [data-testid=\"markdown\"]')?.innerText ?? ''")


def test_search_mode_explores_the_hits_with_qdrants_scores(search_page):
    page, shelf, model, errors = search_page
    status = search(page, QUERY, TOP_K)
    assert status.startswith(f"Found {TOP_K} in “{DEMO}” at 128 dimensions"), status
    expected = shelf.search(DEMO, None, model, QUERY, TOP_K, 128, None)
    analysis = expected.analysis
    hits = page.evaluate(JS_HITS)
    assert [h["rank"] for h in hits] == list(range(1, TOP_K + 1))
    assert [h["label"] for h in hits] == [f"Doc {h['document'] + 1}" for h in hits]
    qdrant = {h["document"]: h["score"] for h in hits}
    assert sorted(qdrant) == list(range(TOP_K))
    for doc, score in qdrant.items():  # Qdrant's score = the explorer's exact score of that document
        page.select_option("#selected-document", str(doc))
        wait_shows(page, doc, 128)
        shown = float(views(page)["heatmap"]["score"])
        assert shown == pytest.approx(score, abs=1e-5), (doc, shown, score)
        assert shown == pytest.approx(analysis.explain(doc, 128).score, abs=1e-5)
    # every view as for a pasted list: the dimension, the document, A and B
    state = {"doc": 2, "dim": 96, "a": 0, "b": 3, "hideExpansion": False, "hideSpecial": False, "merge": False}
    page.click('#dimension input[value="96"]')
    page.select_option("#selected-document", "2")
    page.select_option("#doc-a", "0")
    page.select_option("#doc-b", "3")
    wait_shows(page, 2, 96)
    check_views(page, analysis, state)
    # a storage setting: every view follows, computed on the server from the stored vectors
    page.select_option("#storage select", "binary")
    page.wait_for_function("() => document.querySelector('#ranking').dataset.storage === 'binary'"
                           " && document.querySelector('#heatmap').dataset.storage === 'binary'")
    wait_shows(page, 2, 96)
    binary = StoredAnalysis(analysis).explain(2, 96, storage="binary").score
    assert float(views(page)["heatmap"]["score"]) == pytest.approx(binary, abs=1e-3)
    page.select_option("#storage select", "float32")
    page.wait_for_function("() => document.querySelector('#heatmap').dataset.storage === 'float32'")
    page.click('#dimension input[value="128"]')
    page.select_option("#selected-document", "0")
    wait_shows(page, 0, 128)
    if os.environ.get("COLBERT_VIZ_SCREENSHOTS"):
        page.set_viewport_size({"width": WIDE, "height": 1500})
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(SCREENSHOT), full_page=False)
    assert not errors


def test_a_bad_search_says_why_and_keeps_the_hits(search_page):
    page, *_ = search_page
    page.locator("#top-k input").fill("99")
    page.click("#search")
    page.wait_for_function("() => (document.querySelector('#search-status')?.innerText ?? '').includes('⚠')")
    assert "Top k must be a whole number from 1 to 10" in search_status(page)
    assert page.locator("#stale").is_visible() and page.locator("#hits tr[data-rank]").count() == TOP_K
