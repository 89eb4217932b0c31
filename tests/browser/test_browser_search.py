"""The page's search mode in Chromium: a search of the demo collection (the example sets,
indexed with the tiny random checkpoint, no quantization) through the explorer's views.
Each hit's Qdrant score in the hits table equals the exact score the explorer shows for
that document (1e-5); the dimension, the document and a storage setting change every view
as for a pasted list, with the package's numbers (``Analysis`` of the same stored vectors).
The explorer opens at the dimension searched on the first hit, a click on a hits row shows
that document, and at 400 px the hits table scrolls inside its box, not the page.
Writes ``assets/screenshot-search.png`` when ``COLBERT_VIZ_SCREENSHOTS`` is set (and PNGs of
the sequence at both widths under ``COLBERT_VIZ_SCREENSHOT_DIR`` when that is set)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from serving import free_port, launch_chromium, open_page, playwright_or_skip
from test_browser import JS_SCROLL_WIDTH, NARROW, WAIT_MS, WIDE, check_views, views, wait_shows

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
JS_SEARCH_DONE = """(before) => {
  const t = document.querySelector('#search-status [data-testid="markdown"]')?.innerText ?? '';
  const bar = document.querySelector('.cv-bar');
  return (t.includes('⚠') && t !== before) || (t.startsWith('Found') && !!bar && !bar.__cvOld
                                               && !!document.querySelector('#heatmap .main-svg'));
}"""
JS_MARK_OLD = "() => { const bar = document.querySelector('.cv-bar'); if (bar) bar.__cvOld = true; }"
JS_CURRENT_HIT = "() => [...document.querySelectorAll('#hits tr[aria-current]')].map(r => Number(r.dataset.document))"


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
        page, errors = open_page(chromium, url, WIDE, WAIT_MS)
        yield page, shelf, model, errors
        chromium.close()
    demo.close()
    shelf.close()


def open_search_tab(page) -> None:
    page.get_by_role("tab", name="Search a collection").click()


def search(page, query: str, top_k: int, dim: int | None = None) -> str:
    """Search (at ``dim``, chosen in the search's dimension menu); the status once the new Run is drawn."""
    open_search_tab(page)
    page.locator("#search-query textarea").fill(query)
    page.locator("#top-k input").fill(str(top_k))
    if dim is not None and page.locator("#search-dimensions input").input_value() != str(dim):
        page.click("#search-dimensions input")
        page.get_by_role("option", name=str(dim), exact=True).click()
        page.wait_for_function("d => document.querySelector('#search-dimensions input').value === d", arg=str(dim))
    page.evaluate(JS_MARK_OLD)
    before = search_status(page)
    page.click("#search")
    page.wait_for_function(JS_SEARCH_DONE, arg=before)
    return search_status(page)


def search_status(page) -> str:
    return page.evaluate("() => document.querySelector('#search-status [data-testid=\"markdown\"]')?.innerText ?? ''")


def test_the_empty_explorer_says_what_to_do_on_each_tab(search_page):
    page, *_ = search_page
    placeholder = page.locator("#explorer .cv-placeholder")
    assert placeholder.inner_text().startswith("Press Run:")
    open_search_tab(page)
    page.wait_for_function("() => document.querySelector('#explorer .cv-placeholder')?.textContent"
                           ".startsWith('Press Search:')")
    page.get_by_role("tab", name="Rerank a list").click()
    page.wait_for_function("() => document.querySelector('#explorer .cv-placeholder')?.textContent"
                           ".startsWith('Press Run:')")


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


def _check(page, shelf, model, dim: int, state: dict) -> None:
    """Every view shows ``state`` of the hits searched at ``dim``; the hits table keeps Qdrant's
    order (the explorer's ranking at ``dim`` agrees with it but for float-noise ties)."""
    expected = shelf.search(DEMO, None, model, QUERY, TOP_K, dim, None)
    wait_shows(page, state["doc"], state["dim"])
    v = check_views(page, expected.analysis, state)
    hits = page.evaluate(JS_HITS)
    assert [h["rank"] for h in hits] == list(range(1, TOP_K + 1))
    assert [h["document"] for h in hits] == [h.index for h in expected.hits]
    qdrant = {h["document"]: h["score"] for h in hits}
    if state["dim"] == dim:
        rows = [r["doc"] for r in v["rows"]]
        assert all(qdrant[x] >= qdrant[y] - 1e-5 for x, y in itertools.pairwise(rows)), (rows, qdrant)


def _shoot(page, name: str) -> None:
    folder = os.environ.get("COLBERT_VIZ_SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width", [WIDE, NARROW])
def test_search_click_a_hit_search_again_every_view_follows(search_page, width):
    """Search at 96, switch the explorer to 64, click a hit, search at 64, click another (and Enter on a
    third): after each step the dimension, the document, the titles and the rows are the expected ones,
    the explorer offers the sizes the hits hold (the searched one and smaller), and the page is never
    wider than the window."""
    page, shelf, model, errors = search_page
    page.set_viewport_size({"width": width, "height": 1000})
    page.wait_for_function(f"() => window.innerWidth === {width}")
    assert search(page, QUERY, TOP_K, 96).startswith(f"Found {TOP_K} in “{DEMO}” at 96 dimensions")
    offered = "() => [...document.querySelectorAll('#dimension input')].map(i => Number(i.value))"
    assert page.evaluate(offered) == [96, 64]
    first = page.evaluate(JS_HITS)
    top, second = first[0]["document"], first[1]["document"]
    _check(page, shelf, model, 96, {"doc": top, "dim": 96, "a": top, "b": second, "hideExpansion": False,
                                    "hideSpecial": False, "merge": False})
    assert page.evaluate(JS_SCROLL_WIDTH) == width
    _shoot(page, f"search-96-{width}")
    page.click('#dimension input[value="64"]')
    state = {"doc": top, "dim": 64, "a": top, "b": second, "hideExpansion": False, "hideSpecial": False,
             "merge": False}
    _check(page, shelf, model, 96, state)
    page.locator('#hits tr[data-rank="3"]').click()
    third = first[2]["document"]
    _check(page, shelf, model, 96, {**state, "doc": third})
    assert page.evaluate(JS_CURRENT_HIT) == [third]
    _shoot(page, f"search-96-click-{width}")
    assert search(page, QUERY, TOP_K, 64).startswith(f"Found {TOP_K} in “{DEMO}” at 64 dimensions")
    assert page.evaluate(offered) == [64]
    again = page.evaluate(JS_HITS)
    top, second = again[0]["document"], again[1]["document"]
    state = {"doc": top, "dim": 64, "a": top, "b": second, "hideExpansion": False, "hideSpecial": False,
             "merge": False}
    _check(page, shelf, model, 64, state)
    assert page.evaluate(JS_CURRENT_HIT) == []
    page.locator('#hits tr[data-rank="4"]').click()
    _check(page, shelf, model, 64, {**state, "doc": again[3]["document"]})
    page.locator('#hits tr[data-rank="2"]').focus()
    page.keyboard.press("Enter")
    _check(page, shelf, model, 64, {**state, "doc": again[1]["document"]})
    assert page.evaluate(JS_SCROLL_WIDTH) == width
    box = page.evaluate("""() => { const s = document.querySelector('#hits .cv-hits-scroll');
      return {scroll: s.scrollWidth, client: s.clientWidth, overflow: getComputedStyle(s).overflowX}; }""")
    assert box["overflow"] == "auto" and box["client"] <= width, box
    if width == NARROW:
        assert box["scroll"] > box["client"], box  # the table scrolls in its box
    page.evaluate("() => document.querySelector('#search-tab').scrollIntoView()")
    _shoot(page, f"search-64-click-{width}")
    page.set_viewport_size({"width": WIDE, "height": 1000})
    assert not errors
