"""The search tab's first stage and misses panel in Chromium, on the demo collection (indexed with
both first stages): a two-stage search says which stage ran and its candidate count; the panel lists
the exact top k the first stage did not fetch (the package's ``misses`` of the same search) and
recall@k. Writes ``assets/screenshot-misses.png`` when ``COLBERT_VIZ_SCREENSHOTS`` is set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_browser_search import QUERY, open_search_tab, search, search_page  # noqa: F401 (the fixture)

from colbert_viz.app.collection_shelf import DEMO
from colbert_viz.collections.misses import misses, why

pytestmark = pytest.mark.browser
SCREENSHOT = Path(__file__).resolve().parents[2] / "assets" / "screenshot-misses.png"


def test_two_stage_search_and_its_misses(search_page):  # noqa: F811
    page, shelf, model, errors = search_page
    open_search_tab(page)
    page.click("#first-stage input")
    page.get_by_role("option", name="pooled mean (HNSW)").click()
    page.locator("#candidates input").fill("3")
    status = search(page, QUERY, 3)
    assert "two stages: pooled first stage (first-pooled-128), 3 candidates" in status
    page.get_by_text("What the first stage missed").click()
    page.click("#explain-misses")
    page.wait_for_selector("#misses-view", timeout=60_000)
    shown = page.locator("#misses-view").inner_text()
    report = shelf._use(DEMO, None, lambda backend: misses(model, backend, QUERY, 3, "pooled", 3))
    assert f"recall@3 = {report.recall:.2f}" in shown
    rows = page.locator("#misses-view tbody tr")
    assert rows.count() == len(report.missed)
    for row, miss in zip(rows.all(), report.missed):
        assert row.locator("td").first.inner_text() == str(miss.exact_rank)
    # a document named by its text: its ranks and token matches, from the package's why
    named = report.missed[0].text if report.missed else shelf._use(DEMO, None, lambda b: b.existing(
        [report.exact[0]]))[report.exact[0]]["text"]
    page.locator("#why-document textarea").fill(named)
    page.click("#explain-misses")
    page.wait_for_function("() => document.querySelector('#misses-view')?.innerText.includes('token matches')")
    want = shelf._use(DEMO, None, lambda backend: why(model, backend, QUERY, named, 3, "pooled", 3))
    text = page.locator("#misses-view").inner_text()
    assert f"exact rank {want.exact_rank} (MaxSim {want.exact_score:.4f})" in text
    assert page.locator("#misses-view table").nth(-1).locator("tbody tr").count() == len(want.matches)
    if os.environ.get("COLBERT_VIZ_SCREENSHOTS"):
        page.locator("#misses-panel").screenshot(path=str(SCREENSHOT))
    assert not errors
