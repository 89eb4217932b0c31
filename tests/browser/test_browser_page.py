"""The page's fit and finish in a real browser (issue 12): the scored query,
the colour bar, the sticky bar, the model menu, the phone, the raw window,
"why A above B", bare word-boundary pieces, a failed Run and the blank-line
split. Same set-up as ``test_browser.py`` (Debian's Chromium, the app served in
this process on the tiny random checkpoint), with the checkpoint offered by
its folder path, as a server does, and a page that also takes taps.
"""

from __future__ import annotations

import re

import pytest
from serving import launch_chromium, served_app
from test_browser import JS_MARK_OLD, JS_RUN_DONE, JS_STATUS, LIMITS, WAIT_MS

pytestmark = pytest.mark.browser

WIDE, NARROW = 1400, 400
BERLIN_DE = ("Wie viele Einwohner hat Berlin im Jahr 2023 laut den offiziellen Statistiken des Amtes für Statistik "
             "Berlin-Brandenburg, und wie hat sich die Zahl seit der Wiedervereinigung in allen Bezirken entwickelt?")
LONG_DOC = " ".join(f"w{i}" for i in range(60))  # about 120 tokens: a heatmap wider than the page


@pytest.fixture(scope="module")
def model_path(tiny_checkpoint) -> str:
    return str(tiny_checkpoint.resolve())


@pytest.fixture(scope="module")
def served(sync_playwright, model_path):
    import colbert_viz

    model = colbert_viz.load(model_path, dtype="float32", device="cpu")
    with served_app({model_path: model, "offline": colbert_viz.load("offline")}, LIMITS) as (_, url):
        yield url


@pytest.fixture(scope="module")
def browser(sync_playwright, served):
    with sync_playwright() as p:
        chromium = launch_chromium(p)
        context = chromium.new_context(viewport={"width": WIDE, "height": 900}, has_touch=True)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        errors = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(served)
        page.wait_for_selector("#explorer .cv-mount")
        yield page, errors
        chromium.close()


@pytest.fixture
def page(browser):
    page = browser[0]
    page.set_viewport_size({"width": WIDE, "height": 900})
    yield page
    assert browser[1] == []


def status(page) -> str:
    return page.evaluate(JS_STATUS)


def run(page, query: str, documents: str, top_n: int = 0) -> str:
    page.click("#example-berlin")
    page.wait_for_function("() => (" + JS_STATUS + ")().startsWith('Loaded')")
    page.locator("#query textarea").fill(query)
    page.locator("#documents textarea").fill(documents)
    page.locator("#top-n input").fill(str(top_n))
    page.evaluate(JS_MARK_OLD)
    page.click("#run")
    page.wait_for_function(JS_RUN_DONE)
    page.wait_for_function("() => document.querySelector('.cv-explorer')?.dataset.pending !== '1'")
    return status(page)


def rect(page, selector: str) -> dict:
    return page.evaluate("s => { const r = document.querySelector(s).getBoundingClientRect();"
                         " return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; }", selector)


def three_berlin_documents_at(page, berlin, width: int, height: int = 900) -> None:
    """Berlin's query and first three documents, Run in a window ``width`` px wide, every chart drawn."""
    page.set_viewport_size({"width": width, "height": height})
    page.wait_for_function(f"() => window.innerWidth === {width}")
    run(page, berlin["query"], "\n".join(berlin["documents"][:3]))
    page.wait_for_function("() => !!document.querySelector('#difference .main-svg')")


def test_the_scored_query_says_it_was_cut(page, tiny_model):
    query = tiny_model.tokenizer.tokenize_queries([BERLIN_DE])[0]
    dropped = query.n_text_tokens - int(query.in_text.sum())
    assert query.truncated and dropped > 0
    assert run(page, BERLIN_DE, "Berlin hat 3,8 Millionen Einwohner.").startswith("Ranked 1 document")
    assert f"The query was cut to 32 tokens ({dropped} dropped)." in status(page)
    scored = page.locator("#scored-query")
    assert scored.get_attribute("data-dropped") == str(dropped) and scored.get_attribute("data-expansion") == "0"
    assert f"cut to 32 tokens ({dropped} dropped" in scored.inner_text()
    assert scored.locator(".cv-qtok").count() == 32  # every token the model scored, no mask token
    page.locator("#how-to-read").get_by_text("How to read this").click()  # the model's facts, not this Run's
    page.locator("#how-to-read").get_by_text("pads every query to 32 tokens").wait_for()
    assert "No query expansion" not in page.locator("#how-to-read").inner_text()
    run(page, "Berlin?", "Berlin hat 3,8 Millionen Einwohner.")
    n_expansion = int(tiny_model.tokenizer.tokenize_queries(["Berlin?"])[0].expansion.sum())
    assert scored.get_attribute("data-expansion") == str(n_expansion)
    assert f"<mask> × {n_expansion}" in scored.inner_text() and "dropped" not in scored.inner_text()


def test_colour_bar_is_whole_on_a_wide_heatmap(page):
    run(page, "Berlin w3", LONG_DOC)
    page.select_option("#selected-document", "0")
    box = rect(page, ".cv-heat-scroll")
    assert page.evaluate("() => document.querySelector('#heatmap').layout.width") > box["right"] - box["left"]
    bar = rect(page, "#heatmap .colorbar")
    assert box["left"] - 1 <= bar["left"] and bar["right"] <= box["right"], (bar, box)  # seen without scrolling
    ticks = page.evaluate("() => [...document.querySelectorAll('#heatmap .colorbar .cbaxis text')]"
                          ".map(t => t.textContent)")
    assert len(ticks) >= 2 and all(re.fullmatch(r"−?\d\.\d+", t) for t in ticks), ticks
    assert page.locator("#heatmap .colorbar .cbtitle").text_content() == "cosine"


@pytest.mark.parametrize("width", [WIDE, NARROW])
def test_sticky_bar_does_not_cover_table_headers(page, berlin, width):
    page.set_viewport_size({"width": width, "height": 600})
    run(page, berlin["query"], "\n".join(berlin["documents"]))
    heads = page.evaluate("() => document.querySelectorAll('#explorer thead').length")
    assert heads >= 4
    for k in range(heads):
        boxes = page.evaluate("""k => { const th = document.querySelectorAll('#explorer thead')[k].querySelector('th');
          th.scrollIntoView({block: 'start'});
          return {bar: document.querySelector('.cv-bar').getBoundingClientRect().bottom,
                  head: th.getBoundingClientRect().top}; }""", k)
        assert boxes["bar"] <= boxes["head"] + 0.5, (k, boxes)


def test_model_menu_names_no_server_path(page, model_path):
    page.click("#model input")
    options = page.locator("ul[role=listbox] li[role=option]").all_inner_texts()
    page.keyboard.press("Escape")
    assert [o.replace("✓", "").strip() for o in options] == ["tiny-jina (local checkpoint)", "offline"], options
    assert page.locator("#model input").input_value() == "tiny-jina (local checkpoint)"
    assert model_path not in page.locator("body").inner_text()
    assert run(page, "Berlin", "Berlin is big.").startswith("Ranked 1 document")  # the value is still the path


def test_phone_titles_wrap_and_a_tap_shows_the_details(page, berlin):
    three_berlin_documents_at(page, berlin, NARROW, height=800)
    for plot in ("#heatmap", "#contributions", "#difference"):
        box = page.evaluate("p => document.querySelector(p).parentElement.getBoundingClientRect().right", plot)
        for part in (".gtitle", ".gtitle-subtitle"):
            right = page.evaluate("s => document.querySelector(s).getBoundingClientRect().right", f"{plot} {part}")
            assert right <= box + 1, (plot, part, right, box)

    token = page.locator("#highlight .cv-tok[data-pos]").nth(2)
    token.scroll_into_view_if_needed()
    token.tap()
    details = page.locator("#token-details")
    assert details.is_visible() and details.inner_text() == token.get_attribute("title")

    page.evaluate("() => { document.querySelector('#heatmap').scrollIntoView({block: 'start'});"
                  " document.querySelector('.cv-heat-scroll').scrollLeft = 0; }")
    assert rect(page, "#heatmap")["bottom"] > 800  # taller than the screen: what is below it is not seen
    x, y = page.evaluate("""() => { const gd = document.querySelector('#heatmap');
      const r = gd.querySelector('.nsewdrag').getBoundingClientRect(), t = gd.data[0];
      return [r.left + 1.5 * r.width / t.x.length, r.top + 2.5 * r.height / t.y.length]; }""")
    page.touchscreen.tap(x, y)
    cell = page.locator("#cell-details")
    cell.wait_for(state="visible")
    assert re.search(r"^query #2 .* · document #1 .* · similarity −?\d\.\d{3}", cell.inner_text()), cell.inner_text()
    seen = rect(page, "#cell-details")
    assert seen["top"] >= 0 and seen["bottom"] <= 800, seen  # in the window, without scrolling
    assert page.evaluate("([x, y]) => !!document.elementFromPoint(x, y).closest('#heatmap')", [x, y])  # cell uncovered


@pytest.mark.parametrize("width", [WIDE, NARROW])
def test_chart_titles_are_whole_inside_their_charts(page, berlin, width):
    """Every chart's title and subtitle lie inside the chart, wide and on a phone (the
    heatmap's title was drawn half above its panel, which clips it), and above its first
    row label (the contributions' subtitle ran into it)."""
    three_berlin_documents_at(page, berlin, width)
    for plot in ("#heatmap", "#contributions", "#difference"):
        top = page.evaluate("p => document.querySelector(p + ' .main-svg').getBoundingClientRect().top", plot)
        for part in (".gtitle", ".gtitle-subtitle"):
            box = page.evaluate("s => { const r = document.querySelector(s).getBoundingClientRect();"
                                " return [r.top, r.height]; }", f"{plot} {part}")
            assert box[1] > 0 and box[0] >= top, (plot, part, box, top)
        label = page.evaluate("p => Math.min(...[...document.querySelectorAll(p + ' .yaxislayer-above .ytick text')]"
                              ".map(t => t.getBoundingClientRect().top))", plot)
        assert rect(page, f"{plot} .gtitle-subtitle")["bottom"] <= label, plot
    for plot in ("#contributions", "#difference"):  # the axis title whole, not cut at the chart's right edge
        svg, title = rect(page, f"{plot} .main-svg"), rect(page, f"{plot} .xtitle")
        assert svg["left"] <= title["left"] and title["right"] <= svg["right"], (plot, title, svg)


def test_the_storage_summary_arriving_redraws_only_what_shows_it(page, berlin):
    """Opening the storage panel fetches the summary; on the exact setting, the ranking and the charts stay as drawn."""
    three_berlin_documents_at(page, berlin, WIDE)
    page.evaluate("() => { for (const s of ['#ranking table', '#heatmap .main-svg', '#difference .main-svg'])"
                  " document.querySelector(s).__cvMark = true; }")
    page.click("#storage-panel summary")
    page.wait_for_selector("#storage-table tr[data-setting]")
    assert page.evaluate("() => ['#ranking table', '#heatmap .main-svg', '#difference .main-svg']"
                         ".map(s => document.querySelector(s).__cvMark === true)") == [True] * 3
    assert "Kendall tau" in page.locator("#storage-info").inner_text()  # the line beside the menu did follow


def test_raw_window_keeps_its_row_labels_in_view(page):
    words = " ".join(f"river{i % 7} bank{i}" if i % 50 == 0 else f"w{i}" for i in range(400))
    run(page, "river bank", words)
    page.check("#raw-window input")
    page.wait_for_function("() => document.querySelector('#heatmap').dataset.title.includes('raw window')")
    page.evaluate("() => { document.querySelector('.cv-heat-scroll').scrollLeft = 1500; }")
    box = rect(page, ".cv-heat-scroll")
    labels = page.evaluate("""() => [...document.querySelectorAll('.cv-heat-scroll .cv-pin .ytick text')]
      .map(t => { const r = t.getBoundingClientRect(); return [t.textContent, r.left, r.right]; })""")
    rows = page.evaluate("() => document.querySelector('#heatmap').layout.yaxis.ticktext.length")
    assert len(labels) == rows > 0
    assert all(box["left"] - 0.5 <= left and right <= box["right"] for _, left, right in labels), (labels, box)
    assert any("river" in text for text, _, _ in labels)


def test_why_a_above_b_adds_up_as_shown_and_says_when_a_is_b(page, tiny_model, berlin):
    analysis = tiny_model.analyze(berlin["query"], berlin["documents"], LIMITS.max_doc_tokens)
    scores = analysis.scores(128)
    pairs = [(a, b) for a in range(len(scores)) for b in range(len(scores)) if a != b
             and round(round(scores[a], 2) - round(scores[b], 2), 2) != round(scores[a] - scores[b], 2)]
    assert pairs, "no pair of the Berlin set rounds differently"
    a, b = pairs[0]
    run(page, berlin["query"], "\n".join(berlin["documents"]))
    page.select_option("#doc-a", str(a))
    page.select_option("#doc-b", str(b))
    page.wait_for_function("([a, b]) => { const d = document.querySelector('#difference').dataset;"
                           " return d.a === `Doc ${a + 1}` && d.b === `Doc ${b + 1}`; }", arg=[a, b])
    title = page.evaluate("() => document.querySelector('#difference').layout.title.text")
    x, y, z = (float(v.replace("−", "-")) for v in re.search(r": (\S+) − (\S+) = (\S+)$", title).groups())
    assert round(x - y, 2) == z and (x, y) == (round(scores[a], 2), round(scores[b], 2)), title
    assert "rounded" in page.evaluate("() => document.querySelector('#difference').layout.title.subtitle.text")
    assert not page.locator("#pair-note").is_visible()
    page.select_option("#doc-b", str(a))
    page.wait_for_function("a => document.querySelector('#difference').dataset.b === `Doc ${a + 1}`", arg=a)
    assert "same document" in page.locator("#pair-note").inner_text()
    assert "against itself" in page.evaluate("() => document.querySelector('#difference').layout.title.text")


def test_a_bare_word_boundary_piece_shows_as_a_space(page, tiny_model):
    text = "Berlin has 3.8 million people."
    doc = tiny_model.tokenizer.tokenize_documents([text])[0]
    bare = doc.tokens.index("\u2581")
    run(page, "Berlin", text)
    span = page.locator(f'#highlight .cv-tok[data-pos="{bare}"]')
    assert span.text_content() == " " and "cv-chip" not in span.get_attribute("class")
    shown = page.evaluate("() => [...document.querySelector('#highlight .cv-hl-text').children]"
                          ".filter(s => !s.classList.contains('cv-chip')).map(s => s.textContent).join('')")
    assert shown == text
    span.tap()
    assert page.locator("#token-details").inner_text().startswith("\u2581  (token")


def test_a_failed_run_marks_the_previous_run_stale(page):
    run(page, "Berlin", "Berlin is big.")
    assert not page.locator("#stale").is_visible()
    page.locator("#query textarea").fill("")
    page.evaluate(JS_MARK_OLD)
    page.click("#run")
    page.wait_for_function("() => (" + JS_STATUS + ")().startsWith('⚠')")
    page.locator("#stale").wait_for(state="visible")
    assert "Previous Run" in page.locator("#stale").inner_text()
    assert "cv-stale" in page.locator("#explorer").get_attribute("class")
    assert page.evaluate("() => document.querySelector('.cv-bar').__cvOld === true")  # the same explorer
    assert float(page.evaluate("() => getComputedStyle(document.querySelector('.cv-explorer')).opacity")) < 1
    run(page, "Berlin", "Berlin is big.")
    assert not page.locator("#stale").is_visible() and "cv-stale" not in page.locator("#explorer").get_attribute("class")


def test_blank_lines_splitting_documents_is_said(page):
    assert "split at blank lines" not in run(page, "Berlin", "Berlin is big.\nParis is old.")
    said = run(page, "Berlin", "Berlin is big.\nIt is in Germany.\n\nParis is old.")
    assert said.startswith("Ranked 2 documents") and "The text box held 2 documents, split at blank lines." in said
