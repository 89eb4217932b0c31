"""An API Run in Chromium: the key typed in the password box, jina-api:jina-colbert-v2 chosen
in the menu, Run through a loopback API that computes the tiny model's vectors, then the
"Jina's API beside the open weights" panel. The explorer shows the local model's numbers;
the key is in no text of the page. Writes ``assets/screenshot-api.png`` when
``COLBERT_VIZ_SCREENSHOTS`` is set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from jina_server import KEY, JinaStub
from serving import launch_chromium, open_page, served_app
from test_browser import WAIT_MS, WIDE, choose_model, load_example, start_run, views, wait_shows

from colbert_viz.app.limits import Limits
from colbert_viz.app.registry import ModelRegistry

pytestmark = pytest.mark.browser

LIMITS = Limits(max_docs=10, max_chars=4000, max_tokens=4000, max_doc_tokens=1024)
API = "jina-api:jina-colbert-v2"
SCREENSHOT = Path(__file__).resolve().parents[2] / "assets" / "screenshot-api.png"


@pytest.fixture(scope="module")
def api_page(sync_playwright, tiny_model):
    stub = JinaStub(tiny_model)
    mp = pytest.MonkeyPatch()
    mp.setenv("COLBERT_VIZ_JINA_API_URL", stub.url)
    try:
        with served_app(ModelRegistry({"tiny": tiny_model}), LIMITS) as (_, url), sync_playwright() as p:
            chromium = launch_chromium(p)
            page, errors = open_page(chromium, url, WIDE, WAIT_MS)
            yield page, errors
            chromium.close()
    finally:
        stub.close()
        mp.undo()


def test_an_api_run_and_the_comparison(api_page, tiny_model, berlin):
    page, errors = api_page
    key_input = page.locator("#jina-key input")
    assert key_input.get_attribute("type") == "password"
    key_input.fill(KEY)
    load_example(page)
    choose_model(page, API)
    status = start_run(page)
    assert "with jina-colbert-v2 (Jina API)" in status and "Jina's API counted" in status, status
    local = tiny_model.analyze(berlin["query"], berlin["documents"])
    best = int(local.ranks(128).argmin())
    wait_shows(page, best, 128)
    assert float(views(page)["heatmap"]["score"]) == pytest.approx(local.explain(best, 128).score, abs=1e-3)
    page.click("#jina-api button, #jina-api .label-wrap")
    page.click("#jina-compare")
    page.wait_for_function("() => (document.querySelector('#jina-result')?.innerText ?? '').includes('Kendall')")
    result = page.locator("#jina-result").inner_text()
    assert "/v1/rerank beside the MaxSim" in result and "largest vector difference" in result
    assert KEY not in page.evaluate("() => document.body.innerText")
    assert KEY not in page.evaluate("() => JSON.stringify(window.localStorage) + JSON.stringify(sessionStorage)")
    if os.environ.get("COLBERT_VIZ_SCREENSHOTS"):
        save_screenshot(page)
    assert not errors


def save_screenshot(page) -> None:
    """The top of the page (key box, model, status, ranking) above the API comparison panel."""
    from io import BytesIO

    from PIL import Image

    page.evaluate("() => window.scrollTo(0, 0)")
    top = Image.open(BytesIO(page.screenshot(clip={"x": 0, "y": 0, "width": WIDE, "height": 1000})))
    panel = Image.open(BytesIO(page.locator("#jina-api").screenshot()))
    out = Image.new("RGB", (WIDE, top.height + panel.height + 8), "white")
    out.paste(top, (0, 0))
    out.paste(panel, (0, top.height + 8))
    out.save(SCREENSHOT)
