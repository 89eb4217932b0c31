"""The page end to end in a real browser: Debian's Chromium driven by
Playwright's sync API, against the app served in this process on a free local
port with the tiny random checkpoint.

One app, one browser and one page for the whole module (it keeps the file
fast); every test starts from a known state by loading an example set, which
also resets the status line to "Loaded …", so "the run finished" is simply
"the status says Ranked (or ⚠)". Skipped when ``/usr/bin/chromium`` or the
``playwright`` package is missing. ``pytest -s`` prints the timings.
"""

from __future__ import annotations

import json
import os
import re
import statistics
from pathlib import Path

import pytest
from serving import served_app

from colbert_viz.limits import Limits

pytestmark = pytest.mark.browser

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LIMITS = Limits(max_docs=10, max_chars=2000, max_tokens=4000, max_doc_tokens=1024)
WAIT_MS = 30_000
EXAMPLE_IDS = ["example-berlin", "example-de", "example-fr", "example-es", "example-zh", "example-ja",
               "example-ar", "example-ru", "example-en", "example-cross-lingual", "example-code-search",
               "example-punctuation"]
PAGE_IDS = ["query", "documents", "run", "dimension", "ranking", "heatmap", "contributions", "highlight", "compare",
            "status", "upload", "hide-expansion"]
# Ranking columns at any dimension: Rank, Doc, Score, Per query token, Rank @a, Rank @b, Tokens, Preview.
DOC_COL, SCORE_COL, PREVIEW_COL = 1, 2, 7

# ---- page-side helpers (JavaScript) ------------------------------------------------------

JS_TABLE = """id => {
  const rows = {};
  for (const el of document.querySelectorAll(`#${id} [data-testid^="cell-"]`)) {
    const m = el.dataset.testid.match(/^cell-(\\d+)-(\\d+)$/);
    if (m) (rows[m[1]] ??= [])[+m[2]] = el.innerText.replace('⋮', '').trim();
  }
  return Object.keys(rows).sort((a, b) => a - b).map(k => rows[k]);
}"""
JS_TITLES = """id => {
  const q = s => document.querySelector(`#${id} ${s}`);
  return {title: q('.gtitle')?.textContent ?? null, subtitle: q('.gtitle-subtitle')?.textContent ?? null};
}"""
JS_STATUS = "() => document.querySelector('#status [data-testid=\"markdown\"]')?.innerText ?? ''"
JS_VIEWS_SHOW = """([label, dim]) => {
  const sub = id => document.querySelector(`#${id} .gtitle-subtitle`)?.textContent ?? '';
  const hl = document.querySelector('#highlight .cv-highlight');
  return sub('heatmap').startsWith(`${label} · ${dim} dimensions`)
    && sub('contributions') === `${label} · ${dim} dimensions`
    && !!hl && hl.dataset.dimension === String(dim) && hl.dataset.document === label;
}"""
JS_DONE = """() => {
  const t = document.querySelector('#status [data-testid="markdown"]')?.innerText ?? '';
  return t.includes('Ranked') || t.includes('⚠');
}"""
JS_MASK_TICKS = """() => {
  const ticks = [...document.querySelectorAll('#heatmap .ytick text')].map(t => t.textContent);
  return {all: ticks.length, masks: ticks.filter(t => t.includes('<mask>')).length};
}"""


class CountingNetwork:
    """The model's network, counting its calls (each call encodes one batch)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.inner(*args, **kwargs)


# ---- fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sync_playwright():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed")
    return sync_playwright


@pytest.fixture(scope="module")
def served(sync_playwright, tiny_checkpoint):
    """The app on a free port, with its own float32 model whose network counts calls."""
    import colbert_viz

    model = colbert_viz.load(str(tiny_checkpoint), dtype="float32", device="cpu")
    model.network = CountingNetwork(model.network)
    with served_app({str(tiny_checkpoint): model}, LIMITS) as (_, url):
        yield model, url


@pytest.fixture(scope="module")
def browser(sync_playwright, served):
    """One page for the module; ``dialogs`` and ``errors`` collect what it raised."""
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = chromium.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(WAIT_MS)
        dialogs, errors = [], []

        def on_dialog(dialog):
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(served[1])
        for elem_id in PAGE_IDS:  # Gradio mounts the page in pieces
            page.wait_for_selector(f"#{elem_id}", state="attached")
        yield page, dialogs, errors
        chromium.close()


@pytest.fixture
def page(browser):
    page = browser[0]
    for close in page.locator('[data-testid="toast-close"]').all():  # earlier error toasts
        if close.is_visible():
            close.click()
    return page


# ---- actions --------------------------------------------------------------------------------

def status(page) -> str:
    return page.evaluate(JS_STATUS)


def table(page, elem_id: str = "ranking") -> list[list[str]]:
    return page.evaluate(JS_TABLE, elem_id)


def titles(page, elem_id: str) -> dict:
    return page.evaluate(JS_TITLES, elem_id)


def textbox(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea")


def load_example(page, elem_id: str = "example-berlin") -> None:
    """Fill the inputs from an example set; clears any upload and resets the status."""
    page.click(f"#{elem_id}")
    page.wait_for_function("() => (" + JS_STATUS + ")().startsWith('Loaded')", timeout=WAIT_MS)


def start_run(page) -> None:
    page.click("#run")
    page.wait_for_function(JS_DONE, timeout=WAIT_MS)


def wait_views(page, label: str, dim: int) -> None:
    """Heatmap, contributions and highlight all show document ``label`` at ``dim``."""
    page.wait_for_function(JS_VIEWS_SHOW, arg=[label, dim], timeout=WAIT_MS)


def set_dimension(page, dim: int) -> None:
    if page.locator(f'#dimension [data-testid="{dim}-radio-label"]').get_attribute("class").count("selected"):
        return
    page.click(f'#dimension input[value="{dim}"]')
    if page.locator("#highlight .cv-highlight").count():
        page.wait_for_function("d => document.querySelector('#highlight .cv-highlight')?.dataset.dimension == d",
                               arg=dim, timeout=WAIT_MS)


def run_berlin(page) -> list[list[str]]:
    """The Berlin example at 128 dimensions; the ranking table once every view shows the top document."""
    set_dimension(page, 128)
    load_example(page)
    start_run(page)
    assert status(page).startswith("Ranked 8 documents"), status(page)
    rows = table(page)
    wait_views(page, f"Doc {rows[0][DOC_COL]}", 128)
    return rows


def timed_click(page, selector: str, condition: str, arg) -> float:
    """Seconds from a click (in the page) until ``condition(arg)`` holds, checked every frame."""
    page.evaluate("s => { window.__cvT0 = performance.now(); document.querySelector(s).click(); }", selector)
    handle = page.wait_for_function(f"a => ({condition})(a) && (performance.now() - window.__cvT0)", arg=arg,
                                    polling="raf", timeout=WAIT_MS)
    return handle.json_value() / 1000


def select_row(page, row: int) -> str:
    """Click a row of the ranking; its document label once the views show it."""
    label = f"Doc {table(page)[row][DOC_COL]}"
    page.click(f'#ranking [data-testid="cell-{row}-{PREVIEW_COL}"]')
    wait_views(page, label, int(page.locator("#highlight .cv-highlight").get_attribute("data-dimension")))
    return label


# ---- tests ----------------------------------------------------------------------------------

def test_page_has_every_element(page):
    from playwright.sync_api import expect

    for elem_id in PAGE_IDS + EXAMPLE_IDS:
        expect(page.locator(f"#{elem_id}"), elem_id).to_have_count(1, timeout=WAIT_MS)
    assert page.locator("#example-berlin").inner_text().strip() == "Berlin"
    assert page.locator("#dimension input[type=radio]").count() == 3


def test_berlin_run_matches_the_package(page, browser, served, tiny_model, berlin):
    load_example(page)
    assert textbox(page, "query").input_value() == berlin["query"]
    expected = tiny_model.rerank(berlin["query"], berlin["documents"], top_n=berlin["top_n"],
                                 doc_maxlen=LIMITS.max_doc_tokens)
    top = f"Doc {expected[0]['index'] + 1}"
    first = timed_click(page, "#run", JS_VIEWS_SHOW, [top, 128])  # first run: nothing cached yet

    rows = table(page)
    assert [int(r[DOC_COL]) for r in rows] == [r["index"] + 1 for r in expected]
    assert [float(r[SCORE_COL]) for r in rows] == [round(r["relevance_score"], 2) for r in expected]
    assert [r[0] for r in rows] == ["1", "2", "3"]
    assert status(page).startswith("Ranked 8 documents")

    assert page.locator("#heatmap .main-svg").count() >= 1
    assert page.locator("#heatmap g.hm image").count() >= 1  # plotly draws heatmap cells as an image
    assert page.locator("#heatmap .ytick text").count() == 32  # every query token, masks included
    assert page.locator("#contributions g.bars .point path").count() == 32
    title = titles(page, "contributions")["title"]
    total = re.fullmatch(r"Contributions: total (-?\d+\.\d\d) = the score", title)
    assert total, title
    assert total.group(1) == f"{float(rows[0][SCORE_COL]):.2f}"
    assert titles(page, "heatmap")["subtitle"] == f"{top} · 128 dimensions · score {total.group(1)}"
    assert browser[2] == []  # no JavaScript errors so far

    warm = []  # cached documents: select another row first, so the views have something to redraw
    for _ in range(3):
        select_row(page, 1)
        load_example(page)
        warm.append(timed_click(page, "#run", JS_VIEWS_SHOW, [top, 128]))
    print(f"\n[browser] Run, Berlin (8 docs, tiny model), click → status + every view drawn: first {first:.3f} s; "
          f"cached, median of 3: {statistics.median(warm):.3f} s ({', '.join(f'{t:.3f}' for t in warm)})")
    assert first < 30 and max(warm) < 30


def test_dimension_switch_redraws_without_encoding(page, served, tiny_model, berlin):
    model = served[0]
    rows = run_berlin(page)
    label = f"Doc {rows[0][DOC_COL]}"
    analysis = tiny_model.analyze(berlin["query"], berlin["documents"], LIMITS.max_doc_tokens)
    calls, lookups = model.network.calls, model.cache.hits + model.cache.misses
    score_128 = titles(page, "heatmap")["subtitle"]
    try:
        seconds = []
        for dim in (64, 96, 128, 64, 96):
            seconds.append(timed_click(page, f'#dimension input[value="{dim}"]', JS_VIEWS_SHOW, [label, dim]))
            shown = table(page)
            want = analysis.rerank(dim, berlin["top_n"])
            assert [int(r[DOC_COL]) for r in shown] == [r["index"] + 1 for r in want], dim
            assert [float(r[SCORE_COL]) for r in shown] == [round(r["relevance_score"], 2) for r in want], dim
            # "Why A above B" follows in a second step, at the same dimension
            page.wait_for_function(
                "d => (document.querySelector('#difference .gtitle-subtitle')?.textContent ?? '')"
                ".endsWith(`· ${d} dimensions`)", arg=dim, timeout=WAIT_MS)
            if dim == 64:
                assert titles(page, "heatmap")["subtitle"] != score_128  # the score moved
                assert "64 dimensions" in page.locator("#highlight .cv-hl-title").inner_text()
        assert model.network.calls == calls, "switching the dimension ran the network"
        assert model.cache.hits + model.cache.misses == lookups, "switching the dimension looked up vectors"
    finally:
        set_dimension(page, 128)
    print(f"\n[browser] dimension switch, click → heatmap subtitle shows the new dimension: median of 5 "
          f"{statistics.median(seconds):.3f} s ({', '.join(f'{t:.3f}' for t in seconds)})")
    assert statistics.median(seconds) < 5


def test_user_text_is_escaped(page, browser):
    dialogs = browser[1]
    documents = ["<script>window.__xss=1</script> Berlin has 3.8 million inhabitants.",
                 '<img src=x onerror="window.__xss=2"> Paris is the capital of France.',
                 "A plain third document about rivers."]
    load_example(page)
    textbox(page, "query").fill("<b>bold</b> population of Berlin")
    textbox(page, "documents").fill("\n".join(documents))
    start_run(page)
    assert status(page).startswith("Ranked 3 documents"), status(page)
    previews = [r[PREVIEW_COL] for r in table(page)]
    assert sorted(previews) == sorted(documents)  # shown as text, verbatim
    for text in documents[:2]:
        label = select_row(page, previews.index(text))
        highlight = page.locator("#highlight .cv-hl-text").inner_text()
        assert text.split(">")[0] + ">" in highlight, (label, highlight)
    assert "<script>window.__xss=1</script>" in page.locator("#ranking").inner_text()
    assert page.evaluate("() => window.__xss") is None
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("#highlight script, #ranking script").count() == 0
    assert page.locator("#heatmap b, #highlight b, #ranking b").count() == 0
    assert dialogs == []


def test_uploaded_jsonl_documents_are_ranked(page, tmp_path):
    documents = ["The Rhine flows through Basel.", "Tokyo is the capital of Japan.", "Bread is baked in ovens."]
    upload = tmp_path / "three.jsonl"
    upload.write_text("".join(json.dumps({"text": d}) + "\n" for d in documents), encoding="utf-8")
    load_example(page)
    textbox(page, "documents").fill("")
    textbox(page, "query").fill("Which river flows through Basel?")
    page.set_input_files("#upload input[type=file]", str(upload))
    page.locator("#upload").get_by_text("three.jsonl").wait_for()
    start_run(page)
    assert status(page).startswith("Ranked 3 documents"), status(page)
    assert sorted(r[PREVIEW_COL] for r in table(page)) == sorted(documents)
    assert sorted(int(r[DOC_COL]) for r in table(page)) == [1, 2, 3]


def test_oversized_upload_is_refused_with_a_message(page, tmp_path):
    from colbert_viz.ui import MAX_UPLOAD

    big = tmp_path / "big.txt"
    line = "word " * 20 + "\n"
    big.write_text(line * (int(MAX_UPLOAD.removesuffix("mb")) * 2**20 // len(line) + 1000), encoding="utf-8")
    load_example(page)
    page.set_input_files("#upload input[type=file]", str(big))
    toast = page.locator('[data-testid="toast-body"]').filter(has_text="exceed the maximum allowed size")
    toast.first.wait_for()
    assert "big.txt" in toast.first.inner_text()
    assert page.locator("#upload").get_by_text("big.txt").count() == 0  # nothing was taken in


def test_over_limit_keeps_the_inputs_and_says_why(page, berlin):
    query = "What is the population of Berlin?"
    documents = "\n".join(f"Document number {i} about Berlin." for i in range(1, 12))
    load_example(page)
    textbox(page, "query").fill(query)
    textbox(page, "documents").fill(documents)
    start_run(page)
    message = "11 documents; the limit is 10 per request."
    assert message in status(page)
    toast = page.locator('[data-testid="toast-body"]').filter(has_text=message)
    toast.first.wait_for()
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and "LimitError" not in body
    assert textbox(page, "query").input_value() == query
    assert textbox(page, "documents").input_value() == documents


def test_empty_query_gets_a_clear_message(page):
    load_example(page)
    textbox(page, "query").fill("")
    start_run(page)
    assert "Enter a query." in status(page)
    assert "Traceback" not in page.locator("body").inner_text()


def test_selecting_a_row_explains_that_document(page):
    rows = run_berlin(page)
    first = f"Doc {rows[0][DOC_COL]}"
    assert titles(page, "heatmap")["subtitle"].startswith(first + " ·")
    label = select_row(page, 2)
    assert label == f"Doc {rows[2][DOC_COL]}" != first
    assert titles(page, "heatmap")["subtitle"].startswith(label + " ·")
    assert page.locator("#highlight .cv-highlight").get_attribute("data-document") == label
    total = re.search(r"total (-?\d+\.\d\d)", titles(page, "contributions")["title"]).group(1)
    assert total == f"{float(rows[2][SCORE_COL]):.2f}"


def test_hiding_mask_tokens_drops_their_rows(page):
    run_berlin(page)
    before = page.evaluate(JS_MASK_TICKS)
    assert before["all"] == 32 and before["masks"] > 0
    checkbox = page.locator("#hide-expansion input[type=checkbox]")
    checkbox.check()
    try:
        page.wait_for_function(f"() => (({JS_MASK_TICKS})()).all === {before['all'] - before['masks']}",
                               timeout=WAIT_MS)
        after = page.evaluate(JS_MASK_TICKS)
        assert after["masks"] == 0 and 0 < after["all"] < before["all"]
        assert page.locator("#contributions g.bars .point path").count() == 32  # the bars still add up
    finally:
        checkbox.uncheck()
        page.wait_for_function(f"() => (({JS_MASK_TICKS})()).all === 32", timeout=WAIT_MS)


def test_no_javascript_errors(browser):
    assert browser[2] == []
