"""The "Compare encoders" panel in Chromium: the tiny jina-layout checkpoint (A) beside the
offline model (B) on Berlin, another pair picked, then B opened in the explorer, whose
heatmap shows B's best document at B's 384 dimensions."""

from __future__ import annotations

import pytest
from serving import launch_chromium, open_page, served_app
from test_browser import WAIT_MS, WIDE, load_example, views, wait_shows

from colbert_viz.app.limits import Limits
from colbert_viz.app.registry import ModelRegistry

pytestmark = pytest.mark.browser

LIMITS = Limits(max_docs=10, max_chars=4000, max_tokens=4000, max_doc_tokens=1024)


def pick(page, elem_id: str, option: str) -> None:
    page.click(f"#{elem_id} input")
    page.get_by_role("option", name=option, exact=True).click()


def test_compare_two_encoders_then_open_b_in_the_explorer(sync_playwright, tiny_model, berlin):
    import colbert_viz

    offline = colbert_viz.load("offline", dtype="float32", device="cpu")
    registry = ModelRegistry({"tiny": tiny_model, "offline": offline})
    with served_app(registry, LIMITS) as (_, url), sync_playwright() as p:
        chromium = launch_chromium(p)
        page, errors = open_page(chromium, url, WIDE, WAIT_MS)
        load_example(page)
        page.click("#encoders button, #encoders .label-wrap")
        pick(page, "encoder-b", "offline")
        page.click("#encoders-compare")
        page.wait_for_function("() => (document.querySelector('#encoders-summary')?.innerText ?? '')"
                               ".includes('Kendall tau')")
        summary = page.locator("#encoders-summary").inner_text()
        assert "A: tiny-jina" in summary and "all-MiniLM-L6-v2" in summary and "384-d" in summary
        n = len(berlin["documents"])
        assert page.locator("#encoders-ranking tbody tr").count() == n
        assert page.locator("#encoders-recipe tbody tr").count() >= 3
        assert page.locator("#encoders-matches tbody tr").count() >= 5
        assert "total (score gap)" in page.locator("#encoders-pair").inner_text()
        pick(page, "encoders-second", f"{n}. {berlin['documents'][n - 1][:49]}…"
             if len(berlin["documents"][n - 1]) > 50 else f"{n}. {berlin['documents'][n - 1]}")
        page.wait_for_function(f"() => (document.querySelector('#encoders-pair')?.innerText ?? '').includes("
                               f"'minus {n})')")
        page.click("#encoders-open-b")
        page.wait_for_function("() => (document.querySelector('#status')?.innerText ?? '')"
                               ".includes('Encoder B in the explorer')")
        best = int(offline.analyze(berlin["query"], berlin["documents"]).ranks(384).argmin())
        wait_shows(page, best, 384)
        assert views(page)["rankingDim"] == "384"
        assert not errors
        chromium.close()


def test_the_panel_stays_inside_a_phone(sync_playwright, tiny_model, berlin):
    """At 400 px the page keeps its width after a comparison: the tables scroll in their own boxes."""
    registry = ModelRegistry({"tiny": tiny_model})
    with served_app(registry, LIMITS) as (_, url), sync_playwright() as p:
        chromium = launch_chromium(p)
        page, _ = open_page(chromium, url, 400, WAIT_MS, height=800)
        load_example(page)
        page.click("#encoders button, #encoders .label-wrap")
        pick(page, "encoder-a-dim", "96")
        page.click("#encoders-compare")
        page.wait_for_function("() => (document.querySelector('#encoders-summary')?.innerText ?? '')"
                               ".includes('Kendall tau')")
        assert page.evaluate("document.documentElement.scrollWidth") <= 400
        box = page.locator("#encoders-ranking .cv-table-scroll")
        assert box.evaluate("e => e.scrollWidth > e.clientWidth")  # the table scrolls inside its box
        chromium.close()
