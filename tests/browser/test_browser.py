"""The page end to end in a real browser: Debian's Chromium driven by
Playwright's sync API, against the app served in this process on a free local
port (the tiny random jina-layout checkpoint, and the offline model).

One app, one browser and one page for the module (it keeps the file fast).
Every expected value comes from the package (``Analysis`` of a separately
loaded model), never from the page: after each step of a sequence of control
changes, every view (heatmap, contributions, highlight, match changes,
ranking, menus, "why A above B") must show the document, dimension and
variant the controls say, with the package's numbers, and no control may make
a network request after Run. Skipped when ``/usr/bin/chromium`` or the
``playwright`` package is missing.
"""

from __future__ import annotations

import json
import os
import re
from decimal import ROUND_HALF_UP, Decimal
from functools import partial

import numpy as np
import pandas as pd
import pytest
from serving import launch_chromium, served_app

from colbert_viz.app.limits import Limits
from colbert_viz.explorer.layout import collapse, shown_positions
from colbert_viz.maths.scoring import ranking
from colbert_viz.storage.analysis import StoredAnalysis

pytestmark = pytest.mark.browser

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

LIMITS = Limits(max_docs=10, max_chars=4000, max_tokens=4000, max_doc_tokens=1024, max_file_mb=1)
WAIT_MS = 30_000
WIDE, NARROW = 1300, 400
TINY, TINY_BF16, OFFLINE = "tiny", "tiny-bf16", "offline"
FOX_QUERY = "Where does the fox jump?"
FOX_DOC = "The quick brown fox jumps over the lazy dog near the river bank today."

# ---- page-side helpers (JavaScript) ------------------------------------------------------

JS_STATUS = "() => document.querySelector('#status [data-testid=\"markdown\"]')?.innerText ?? ''"
JS_VIEWS = """() => {
  const q = s => document.querySelector(s);
  const ds = s => Object.assign({}, q(s)?.dataset ?? {});
  const heat = q('#heatmap'), contrib = q('#contributions'), diff = q('#difference');
  const hl = q('#highlight .cv-highlight');
  const options = s => [...document.querySelectorAll(s + ' option')].map(o => Number(o.value));
  return {
    heatmap: ds('#heatmap'), contributions: ds('#contributions'), changes: ds('#match-changes'),
    difference: ds('#difference'), highlight: hl ? Object.assign({}, hl.dataset) : null,
    positions: hl ? [...hl.querySelectorAll('.cv-tok[data-pos]')].map(t => Number(t.dataset.pos)) : [],
    heat: {x: heat.data?.[0]?.x?.length ?? null, y: heat.data?.[0]?.y?.length ?? null,
           subtitle: heat.layout?.title?.subtitle?.text ?? null},
    contrib: {bars: contrib.data?.[0]?.x?.length ?? null, subtitle: contrib.layout?.title?.subtitle?.text ?? null},
    diff: {bars: diff.data?.[0]?.x ?? null, title: diff.layout?.title?.text ?? null},
    rankingDim: q('#ranking table')?.dataset.dimension ?? null,
    rows: [...document.querySelectorAll('#ranking tr[data-doc]')].map(r => ({doc: Number(r.dataset.doc),
      score: r.children[2].textContent, perToken: r.children[3].textContent,
      others: [...r.children].slice(4, -2).map(c => Number(c.textContent)),
      selected: r.classList.contains('cv-selected')})),
    menu: {doc: Number(q('#selected-document').value), a: Number(q('#doc-a').value), b: Number(q('#doc-b').value),
           order: options('#selected-document'), orderA: options('#doc-a'), orderB: options('#doc-b')},
    dim: Number(q('#dimension input:checked')?.value),
    toggles: {hideExpansion: q('#hide-expansion input').checked, hideSpecial: q('#hide-special input').checked,
              merge: q('#merge-words input').checked},
    changeRows: document.querySelectorAll('#match-changes tbody tr').length,
    diffRows: document.querySelectorAll('#difference-table tbody tr').length,
    cells: Object.fromEntries(['dimension-table', 'kendall-tau'].map(id => [id,
      [...document.querySelectorAll(`#${id} tbody tr`)].map(r => [...r.children].map(c => c.textContent))])),
    diffTable: [...document.querySelectorAll('#difference-table tbody tr')].map(r => [...r.children].map(c => c.textContent)),
  };
}"""
JS_SHOWS = """([doc, dim, merge]) => {
  const ok = s => { const d = document.querySelector(s)?.dataset ?? {};
    return d.document === `Doc ${doc + 1}` && d.dimension === String(dim) && d.merge === merge; };
  const hl = document.querySelector('#highlight .cv-highlight');
  return document.querySelector('.cv-explorer')?.dataset.pending !== '1'  // the charts drawn a frame later too
    && ok('#heatmap') && ok('#contributions') && !!hl && hl.dataset.dimension === String(dim)
    && hl.dataset.document === `Doc ${doc + 1}` && !!document.querySelector('#heatmap .main-svg');
}"""
JS_MARK_OLD = "() => { const bar = document.querySelector('.cv-bar'); if (bar) bar.__cvOld = true; }"
JS_RUN_DONE = """() => {
  const t = document.querySelector('#status [data-testid="markdown"]')?.innerText ?? '';
  if (t.includes('⚠') || document.querySelector('#status [data-testid="status-tracker"] .error')) return true;
  const bar = document.querySelector('.cv-bar');
  return t.includes('Ranked') && !!bar && !bar.__cvOld && !!document.querySelector('#heatmap .main-svg');
}"""
JS_SCROLL_WIDTH = "() => document.documentElement.scrollWidth"
JS_HIGHLIGHT_TEXT = """() => [...document.querySelector('#highlight .cv-hl-text').children]
  .filter(s => !s.classList.contains('cv-chip')).map(s => s.textContent).join('')"""


# ---- fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def offline_model():
    import colbert_viz

    return colbert_viz.load(OFFLINE)


@pytest.fixture(scope="module")
def served(sync_playwright, tiny_checkpoint, offline_model):
    """The app on a free port with its own tiny model (the tests' ``tiny_model``
    computes the expected values), the tiny model in bfloat16 and the offline model."""
    import colbert_viz

    model = colbert_viz.load(str(tiny_checkpoint), dtype="float32", device="cpu")
    bf16 = colbert_viz.load(str(tiny_checkpoint), dtype="bfloat16", device="cpu")
    with served_app({TINY: model, OFFLINE: offline_model, TINY_BF16: bf16}, LIMITS) as (_, url):
        yield url


@pytest.fixture(scope="module")
def browser(sync_playwright, served):
    """One page for the module; ``dialogs``, ``errors`` and ``requests`` collect what it did."""
    with sync_playwright() as p:
        chromium = launch_chromium(p)
        page = chromium.new_page(viewport={"width": WIDE, "height": 1000})
        page.set_default_timeout(WAIT_MS)
        dialogs, errors, requests = [], [], []

        def on_dialog(dialog):
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(served)
        for elem_id in ("query", "documents", "run", "status", "explorer", "upload", "top-n", "model"):
            page.wait_for_selector(f"#{elem_id}", state="attached")
        page.wait_for_selector("#explorer .cv-mount")
        yield page, dialogs, errors, requests
        chromium.close()


@pytest.fixture
def page(browser):
    page = browser[0]
    page.set_viewport_size({"width": WIDE, "height": 1000})
    for close in page.locator('[data-testid="toast-close"]').all():  # earlier toasts
        if close.is_visible():
            close.click()
    return page


@pytest.fixture
def requests(browser) -> list[str]:
    return browser[3]


# ---- actions --------------------------------------------------------------------------------

def status(page) -> str:
    return page.evaluate(JS_STATUS)


def load_example(page, elem_id: str = "example-berlin") -> None:
    """Fill the inputs from an example set; clears any upload and resets the status."""
    page.click(f"#{elem_id}")
    page.wait_for_function("() => (" + JS_STATUS + ")().startsWith('Loaded')")


def choose_model(page, name: str) -> None:
    if page.locator("#model input").input_value() == name:
        return
    page.click("#model input")
    page.get_by_role("option", name=name, exact=True).click()
    page.wait_for_function("n => document.querySelector('#model input').value === n", arg=name)


def start_run(page) -> str:
    """Click Run; the status once the Run is drawn (or refused)."""
    page.evaluate(JS_MARK_OLD)
    page.click("#run")
    page.wait_for_function(JS_RUN_DONE)
    return status(page)


def run(page, query: str, documents: list[str], top_n: int = 0, model: str = TINY) -> str:
    load_example(page)
    choose_model(page, model)
    page.locator("#query textarea").fill(query)
    page.locator("#documents textarea").fill("\n".join(documents))
    page.locator("#top-n input").fill(str(top_n))
    return start_run(page)


def views(page) -> dict:
    return page.evaluate(JS_VIEWS)


def wait_shows(page, doc: int, dim: int, merge: bool = False) -> None:
    page.wait_for_function(JS_SHOWS, arg=[doc, dim, "words" if merge else "tokens"])


def heat_traces(page) -> list[dict]:
    return page.evaluate("() => document.querySelector('#heatmap').data.map(t => ({name: t.name, x: t.x, z: t.z}))")


def heat_ticks(page) -> list[str]:
    return page.evaluate("() => [...document.querySelectorAll('#heatmap .xtick text')].map(t => t.textContent)")


def close(a: float, b: float, tol: float = 1e-3) -> bool:
    return abs(a - b) <= tol


def to_fixed(x: float, digits: int = 2) -> str:
    """JavaScript's ``x.toFixed(digits)``: the float's exact value, halves away from zero (Python's
    format rounds them to even: binary scores, integers over the dimension, land on halves)."""
    return str(Decimal(x).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


# ---- what the page must show, from the package ---------------------------------------------

def check_views(page, analysis, state: dict, top_n: int | None = None) -> dict:
    """Every view agrees with the package for ``state`` (doc, dim, a, b,
    hideExpansion, hideSpecial, merge); the views read from the page."""
    v = views(page)
    doc, dim, merge = state["doc"], state["dim"], state["merge"]
    label, variant = f"Doc {doc + 1}", "words" if merge else "tokens"
    expl = analysis.explain(doc, dim, merge)
    scores, order = analysis.scores(dim), ranking(analysis.scores(dim)).tolist()

    assert v["dim"] == dim and v["toggles"] == {k: state[k] for k in ("hideExpansion", "hideSpecial", "merge")}
    for name in ("heatmap", "contributions", "changes"):
        assert (v[name]["document"], v[name]["dimension"], v[name]["merge"]) == (label, str(dim), variant), name
    assert close(float(v["heatmap"]["score"]), expl.score)
    assert close(float(v["contributions"]["total"]), expl.score)
    assert int(v["contributions"]["bars"]) == v["contrib"]["bars"] == len(expl.query)
    rows = shown_positions(expl.query, state["hideExpansion"], state["hideSpecial"])
    assert int(v["heatmap"]["rows"]) == v["heat"]["y"] == len(rows)
    columns = shown_positions(expl.document, hide_special=state["hideSpecial"])
    if len(columns) <= 256:
        assert int(v["heatmap"]["columns"]) == v["heat"]["x"] == len(columns)
    assert v["heat"]["subtitle"].startswith(f"\u2068{label}\u2069 · {dim} dimensions · score {expl.score:.2f}")
    assert v["contrib"]["subtitle"] == f"\u2068{label}\u2069 · {dim} dimensions"
    hl = v["highlight"]
    assert (hl["document"], hl["dimension"]) == (label, str(dim)) and close(float(hl["score"]), expl.score)
    if len(expl.document) <= 2048:
        assert v["positions"] == list(range(len(expl.document)))

    native = analysis.dimensions[0]
    best = {d: analysis.explain(doc, d).best_index for d in analysis.dimensions}
    changed = int(np.any([best[d] != best[native] for d in analysis.dimensions], axis=0).sum())
    assert v["changeRows"] == changed

    shown = order[:top_n] if top_n else order
    assert [r["doc"] for r in v["rows"]] == shown and v["rankingDim"] == str(dim)
    for r in v["rows"]:
        assert close(float(r["score"]), scores[r["doc"]], 0.005 + 1e-6)
        assert close(float(r["perToken"]), scores[r["doc"]] / len(analysis.query), 0.0005 + 1e-6)
        assert r["selected"] == (r["doc"] == doc)
        assert r["others"] == [int(analysis.ranks(d)[r["doc"]]) for d in analysis.dimensions if d != dim]
    comparison = analysis.compare_dimensions()
    expected_rows = [[str(k + 1), *(f"Doc {int(ranking(comparison.scores[d])[k]) + 1} · "
                                    f"{comparison.scores[d][int(ranking(comparison.scores[d])[k])]:.2f}"
                                    for d in analysis.dimensions)] for k in range(len(analysis.documents))]
    assert v["cells"]["dimension-table"] == expected_rows
    taus = {cell[0]: float(cell[1]) for cell in v["cells"]["kendall-tau"]}
    assert taus.keys() == {f"{a} vs {b}" for a, b in comparison.tau}
    assert all(close(taus[f"{a} vs {b}"], t, 0.0005 + 1e-6) for (a, b), t in comparison.tau.items())
    assert v["menu"]["order"] == v["menu"]["orderA"] == v["menu"]["orderB"] == order
    assert (v["menu"]["doc"], v["menu"]["a"], v["menu"]["b"]) == (doc, state["a"], state["b"])

    a, b = state["a"], state["b"]
    diff = analysis.compare_documents(a, b, dim, merge)
    assert (v["difference"]["a"], v["difference"]["b"], v["difference"]["dimension"]) == (
        f"Doc {a + 1}", f"Doc {b + 1}", str(dim))
    assert close(float(v["difference"]["total"]), diff.total)
    assert np.allclose(v["diff"]["bars"], [d.difference for d in diff.differences], atol=1e-3)
    assert v["diffRows"] == len(diff.differences)
    table = {int(re.search(r"\(#(\d+)\)$", row[0]).group(1)): row for row in v["diffTable"]}
    for d in diff.differences:  # the matched items follow the merge toggle (the score does not)
        row = table[d.query_position]
        assert (row[2], row[4]) == (d.match_a, d.match_b), (d, row)
        assert close(float(row[1]), d.contribution_a, 0.0005 + 1e-6) and close(float(row[3]), d.contribution_b,
                                                                              0.0005 + 1e-6)
    word = "above" if diff.total >= 0 else "below"
    assert v["diff"]["title"].startswith(f"Why \u2068Doc {a + 1}\u2069 {word} \u2068Doc {b + 1}\u2069")
    return v


# ---- tests ----------------------------------------------------------------------------------

def test_empty_state_before_the_first_run(page):
    explorer = page.locator("#explorer")
    assert "Press Run" in explorer.locator(".cv-placeholder").inner_text()
    assert explorer.locator("table, th, .js-plotly-plot").count() == 0
    page.set_viewport_size({"width": NARROW, "height": 900})
    page.wait_for_function(f"() => window.innerWidth === {NARROW}")
    assert page.evaluate(JS_SCROLL_WIDTH) <= NARROW


def test_every_control_redraws_every_view_without_a_request(page, requests, tiny_model, berlin):
    analysis = tiny_model.analyze(berlin["query"], berlin["documents"], LIMITS.max_doc_tokens)
    dims = analysis.dimensions
    order = ranking(analysis.scores(dims[0])).tolist()
    assert run(page, berlin["query"], berlin["documents"], top_n=3).startswith("Ranked 8 documents")
    state = {"doc": order[0], "dim": dims[0], "a": order[0], "b": order[1],
             "hideExpansion": False, "hideSpecial": False, "merge": False}
    check_views(page, analysis, state, top_n=3)
    page.wait_for_timeout(300)  # the Run's own requests end
    before = len(requests)

    def step(action, **changes):
        action()
        state.update(changes)
        wait_shows(page, state["doc"], state["dim"], state["merge"])
        page.wait_for_function("([a, b, d]) => { const x = document.querySelector('#difference').dataset;"
                               " return x.a === `Doc ${a + 1}` && x.b === `Doc ${b + 1}` && x.dimension === String(d); }",
                               arg=[state["a"], state["b"], state["dim"]])
        check_views(page, analysis, state, top_n=3)

    step(lambda: page.select_option("#selected-document", str(order[5])), doc=order[5])  # a document outside top n
    step(lambda: page.click(f'#dimension input[value="{dims[2]}"]'), dim=dims[2])
    step(lambda: page.check("#hide-expansion input"), hideExpansion=True)
    order_now = ranking(analysis.scores(dims[2])).tolist()
    step(lambda: page.click(f'#ranking tr[data-doc="{order_now[1]}"]'), doc=order_now[1])  # a row click
    step(lambda: page.click(f'#dimension input[value="{dims[1]}"]'), dim=dims[1])
    step(lambda: page.check("#merge-words input"), merge=True)
    step(lambda: page.check("#hide-special input"), hideSpecial=True)
    step(lambda: page.select_option("#doc-a", str(order[7])), a=order[7])
    step(lambda: page.select_option("#doc-b", str(order[2])), b=order[2])
    step(lambda: page.click(f'#dimension input[value="{dims[0]}"]'), dim=dims[0])
    step(lambda: page.uncheck("#merge-words input"), merge=False)
    step(lambda: page.uncheck("#hide-expansion input"), hideExpansion=False)
    step(lambda: page.click(f'#ranking tr[data-doc="{order[2]}"]'), doc=order[2])
    step(lambda: page.uncheck("#hide-special input"), hideSpecial=False)
    page.wait_for_timeout(300)
    assert requests[before:] == [], "a control made a network request after Run"

    page.click("#export")  # the server writes the files of the current view
    page.wait_for_selector("#exports a")
    names = page.locator("#exports").inner_text().replace("\n.", ".")
    assert f"explanation-doc{order[2] + 1}-{dims[0]}d-float32.json" in names and f"ranking-{dims[0]}d-float32.csv" in names, names


def test_hiding_tokens_drops_their_rows_and_columns(page, tiny_model, berlin):
    analysis = tiny_model.analyze(berlin["query"], berlin["documents"], LIMITS.max_doc_tokens)
    run(page, berlin["query"], berlin["documents"], top_n=3)
    top = int(ranking(analysis.scores(128))[0])
    expl = analysis.explain(top, 128)
    masks = sum(k == "expansion" for k in expl.query.kinds)
    assert masks > 0 and page.locator("#hide-expansion").is_visible()
    assert "<mask>" in page.locator("#hide-expansion").inner_text()
    page.check("#hide-expansion input")
    page.wait_for_function(f"() => document.querySelector('#heatmap').dataset.rows === '{len(expl.query) - masks}'")
    ticks = page.evaluate("() => document.querySelector('#heatmap').layout.yaxis.ticktext")
    assert not any("mask" in t for t in ticks)
    assert views(page)["contrib"]["bars"] == len(expl.query)  # the bars still add up to the score
    page.check("#hide-special input")
    n_special = sum(k in ("special", "marker") for k in expl.document.kinds)
    page.wait_for_function("n => document.querySelector('#heatmap').dataset.columns === String(n)",
                           arg=len(expl.document) - n_special)
    page.uncheck("#hide-special input")
    page.uncheck("#hide-expansion input")
    page.wait_for_function(f"() => document.querySelector('#heatmap').dataset.rows === '{len(expl.query)}'")


def test_skipped_punctuation_is_drawn_in_place(page, tiny_model):
    analysis = tiny_model.analyze(FOX_QUERY, [FOX_DOC], LIMITS.max_doc_tokens)
    run(page, FOX_QUERY, [FOX_DOC])
    kinds = analysis.explain(0, 128).document.kinds
    skipped = [i for i, k in enumerate(kinds) if k == "skipped"]
    assert len(skipped) == 1 and analysis.documents[0].tokens[skipped[0]] == "."
    traces = {t["name"]: t for t in heat_traces(page)}
    main, grey = traces["similarity"], traces["skipped"]
    assert main["x"] == grey["x"] and len(main["x"]) == len(kinds)
    columns = {c for row in grey["z"] for c, value in enumerate(row) if value is not None}
    assert columns == set(skipped)
    assert all(row[skipped[0]] is None for row in main["z"])
    assert main["x"][skipped[0]].startswith(f"#{skipped[0]} ")
    size = page.evaluate("() => { const gd = document.querySelector('#heatmap');"
                         " return {plot: gd._fullLayout._size.w, box: gd.clientWidth}; }")
    assert size["plot"] > 0.5 * size["box"], size


def test_quote_marks_show_as_quotes_in_axis_ticks(page):
    run(page, 'the "quoted" word', ['She said "hello" to the river, then "goodbye".', "No quotes here."])
    page.select_option("#selected-document", "0")
    wait_shows(page, 0, 128)
    ticks = heat_ticks(page)
    assert any('"' in t for t in ticks), ticks
    assert not any("&quot;" in t or "&amp;" in t for t in ticks)
    y = page.evaluate("() => [...document.querySelectorAll('#heatmap .ytick text')].map(t => t.textContent)")
    assert any('"' in t for t in y) and not any("&quot;" in t for t in y)


def test_right_to_left_override_stays_in_its_cell(page):
    documents = ["Plain text about the river bank near the city.",
                 "Evil \u202eknab revir eht tuoba txet\u202c and more words here.",
                 "Another plain document about a lazy dog by the river."]
    run(page, "river bank", documents)
    cells = page.evaluate("""() => [...document.querySelectorAll('#ranking tr[data-doc]')].map(r => {
      const bdi = r.querySelector('.cv-preview bdi');
      const text = bdi.firstChild, range = document.createRange();
      const at = i => { range.setStart(text, i); range.setEnd(text, i + 1); return range.getBoundingClientRect().left; };
      return {doc: Number(r.dataset.doc), bidi: getComputedStyle(bdi).unicodeBidi, text: bdi.textContent,
              first: at(0), last: at(text.length - 1), docCell: r.children[1].textContent,
              docLeft: r.children[1].getBoundingClientRect().left, previewLeft: r.children[7].getBoundingClientRect().left};
    })""")
    assert len(cells) == 3
    for cell in cells:
        assert cell["bidi"] == "isolate"
        assert cell["docCell"] == str(cell["doc"] + 1) and cell["text"] == documents[cell["doc"]]
        assert cell["docLeft"] < cell["previewLeft"]  # the columns keep their order
        if cell["doc"] != 1:  # the neighbours read left to right
            assert cell["first"] < cell["last"], cell
    options = page.evaluate("() => [...document.querySelectorAll('#selected-document option')].map(o => o.textContent)")
    assert all(o.startswith("Doc ") and "\u2068" in o and o.endswith("\u2069") for o in options)


def test_user_text_is_shown_literally_and_never_runs(page, browser, tiny_model):
    dialogs = browser[1]
    query = '<img src=x onerror="window.__xss=1"> population <b>of</b> Berlin'
    documents = ["<script>window.__xss=2</script> Berlin has 3.8 million inhabitants.",
                 '<img src=x onerror="window.__xss=3"> Paris is the capital of France.',
                 "A plain third document & some <i>rivers</i>."]
    assert run(page, query, documents).startswith("Ranked 3 documents")
    previews = page.evaluate("() => Object.fromEntries([...document.querySelectorAll('#ranking tr[data-doc]')]"
                             ".map(r => [r.dataset.doc, r.querySelector('.cv-preview').textContent]))")
    assert previews == {str(i): d for i, d in enumerate(documents)}
    for i, text in enumerate(documents):
        page.select_option("#selected-document", str(i))
        wait_shows(page, i, 128)
        page.check("#merge-words input")
        wait_shows(page, i, 128, merge=True)
        assert page.evaluate(JS_HIGHLIGHT_TEXT) == text  # less the chips (tokens without text of their own)
        page.uncheck("#merge-words input")
        wait_shows(page, i, 128)
    ticks = page.evaluate("() => document.querySelector('#heatmap').layout.yaxis.ticktext.join(' ')")
    assert "&lt;" in ticks and "<img" not in ticks  # escaped for plotly, which reads a little HTML
    shown = page.evaluate("() => [...document.querySelectorAll('#heatmap .ytick text')].map(t => t.textContent).join(' ')")
    assert "<" in shown and "&lt;" not in shown
    assert page.evaluate("() => window.__xss") is None
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("#explorer script").count() == 0
    assert page.locator("#explorer b, #explorer i").filter(has_text="of").count() == 0  # the query's <b>of</b>
    assert page.locator("#explorer b, #explorer i").filter(has_text="rivers").count() == 0
    assert dialogs == []


def test_bad_input_after_a_run_keeps_the_run(page):
    assert run(page, FOX_QUERY, [FOX_DOC, "A second document about cats."]).startswith("Ranked 2 documents")
    page.evaluate(JS_MARK_OLD)
    cases = [("#top-n input", "-1", "top_n must be a positive whole number"),
             ("#doc-max-tokens input", "3", "Document max tokens must be between"),
             ("#query textarea", "", "Enter a query.")]
    for selector, value, message in cases:
        load_example(page)
        page.locator("#query textarea").fill(FOX_QUERY)
        page.locator(selector).fill(value)
        start_run(page)
        badge = page.locator('#status [data-testid="status-tracker"] .error')
        assert badge.count() == 0 or not badge.first.is_visible(), "Gradio's Error badge covers the status"
        assert status(page).startswith("⚠") and message in status(page), status(page)
        assert page.evaluate("() => document.querySelector('.cv-bar').__cvOld === true")  # the same explorer
        assert page.locator("#ranking tr[data-doc]").count() == 2
        assert "Traceback" not in page.locator("body").inner_text()
    page.locator("#doc-max-tokens input").fill(str(LIMITS.max_doc_tokens))


def test_narrow_page_scrolls_only_inside_wide_views(page, berlin):
    page.set_viewport_size({"width": NARROW, "height": 900})
    page.wait_for_function(f"() => window.innerWidth === {NARROW}")
    long = " ".join(f"word{i}" for i in range(120))
    run(page, berlin["query"], [*berlin["documents"][:3], long])
    page.select_option("#selected-document", "3")
    wait_shows(page, 3, 128)
    assert page.evaluate(JS_SCROLL_WIDTH) <= NARROW
    panel = page.evaluate("""() => { const s = document.querySelector('#heatmap').closest('.cv-scroll');
      return {scroll: s.scrollWidth, client: s.clientWidth, overflow: getComputedStyle(s).overflowX}; }""")
    assert panel["overflow"] == "auto" and panel["client"] <= NARROW < panel["scroll"], panel
    page.check("#merge-words input")
    page.check("#hide-special input")
    wait_shows(page, 3, 128, merge=True)
    assert page.evaluate(JS_SCROLL_WIDTH) <= NARROW
    page.uncheck("#merge-words input")
    page.uncheck("#hide-special input")


@pytest.mark.parametrize("width", [WIDE, NARROW])
def test_sticky_bar_does_not_cover_the_selected_row(page, berlin, width):
    page.set_viewport_size({"width": width, "height": 700})
    run(page, berlin["query"], berlin["documents"])
    row = page.locator("#ranking tr[data-doc]").nth(5)
    doc = int(row.get_attribute("data-doc"))
    row.click()
    wait_shows(page, doc, 128)
    page.locator("#heatmap").scroll_into_view_if_needed()  # the user reads on, then comes back to the row
    page.evaluate("() => document.querySelector('#ranking tr.cv-selected').scrollIntoView({block: 'start'})")
    boxes = page.evaluate("""() => ({bar: document.querySelector('.cv-bar').getBoundingClientRect().bottom,
      row: document.querySelector('#ranking tr.cv-selected').getBoundingClientRect().top,
      head: document.querySelector('#ranking th').getBoundingClientRect().bottom})""")
    assert boxes["bar"] <= boxes["row"] + 0.5 and boxes["head"] <= boxes["row"] + 0.5, boxes  # nor the sticky header


def test_long_document_folds_and_the_raw_window_moves_in_the_page(page, requests, tiny_model):
    words = " ".join(f"river{i % 7} bank{i}" if i % 50 == 0 else f"w{i}" for i in range(400))
    documents = [words, FOX_DOC]
    query = "river bank"
    analysis = tiny_model.analyze(query, documents, LIMITS.max_doc_tokens)
    assert run(page, query, documents).startswith("Ranked 2 documents")
    page.select_option("#selected-document", "0")
    wait_shows(page, 0, 128)
    expl = analysis.explain(0, 128)
    positions = shown_positions(expl.document)
    assert len(positions) > 256
    segments = collapse(positions, expl.best_index[shown_positions(expl.query)], 256)
    gaps = [s for s in segments if s.gap]
    assert gaps
    assert int(page.locator("#heatmap").get_attribute("data-columns")) == len(segments)
    ticks = page.evaluate("() => document.querySelector('#heatmap').layout.xaxis.ticktext")
    assert [t for t in ticks if "tokens" in t] == [f"<i>… {len(s.positions)} tokens</i>" for s in gaps]
    assert page.locator("#window-controls").is_visible()
    page.wait_for_timeout(200)
    before = len(requests)

    page.check("#raw-window input")
    page.wait_for_function("() => document.querySelector('#heatmap').dataset.title.includes('raw window from token 0')")
    assert int(page.locator("#heatmap").get_attribute("data-columns")) == 256
    start = 100
    page.evaluate("s => { const r = document.querySelector('#window-start input[type=range]');"
                  " r.value = s; r.dispatchEvent(new Event('input', {bubbles: true})); }", start)
    page.wait_for_function("s => document.querySelector('#heatmap').dataset.title.includes(`from token ${s}`)", arg=start)
    x = heat_traces(page)[0]["x"]
    assert len(x) == 256 and x[0].startswith(f"#{start} ") and x[-1].startswith(f"#{start + 255} ")
    last = len(expl.document) - 256
    page.locator("#window-start input[type=range]").fill(str(len(expl.document)))  # past the end: the last window
    page.wait_for_function("s => document.querySelector('#heatmap').dataset.title.includes(`from token ${s}`)", arg=last)
    assert page.locator("#window-start input[type=range]").get_attribute("max") == str(last)
    page.uncheck("#raw-window input")
    page.wait_for_function("() => document.querySelector('#heatmap').dataset.title.includes('runs collapsed')")
    page.select_option("#selected-document", "1")  # a short document: no window controls
    wait_shows(page, 1, 128)
    assert not page.locator("#window-controls").is_visible()
    page.wait_for_timeout(200)
    assert requests[before:] == []


def test_offline_model_speaks_its_own_tokens(page, offline_model):
    documents = [FOX_DOC, "Kangaroos hop across the outback at dawn."]
    analysis = offline_model.analyze(FOX_QUERY, documents)
    try:
        assert run(page, FOX_QUERY, documents, model=OFFLINE).startswith("Ranked 2 documents")
        assert not page.locator("#hide-expansion").is_visible()
        labels = page.locator("#dimension label").all_inner_texts()
        assert [s.strip() for s in labels] == ["384 (native)", "128", "96", "64"]
        page.locator("#how-to-read").get_by_text("How to read this").click()
        page.locator("#how-to-read").get_by_text("MaxSim (late interaction)").wait_for()
        how = page.locator("#how-to-read").text_content()
        assert "[CLS]" in how and "##" in how and "at most 32" in how and "no Matryoshka training" in how
        assert "<mask>" not in how and "<s>" not in how and "0.565" not in how
        assert "384, 128, 96 or 64 dimensions" in page.locator("#header").inner_text()
        page.locator("#storage-help").get_by_text("what the settings do").click()
        page.locator("#storage-help").get_by_text("1,536 bytes each at 384 dimensions").wait_for()
        order = ranking(analysis.scores(384)).tolist()
        state = {"doc": order[0], "dim": 384, "a": order[0], "b": order[1],
                 "hideExpansion": False, "hideSpecial": False, "merge": False}
        check_views(page, analysis, state)
        page.click('#dimension input[value="64"]')
        state["dim"] = 64
        wait_shows(page, order[0], 64)
        page.wait_for_function("() => document.querySelector('#difference').dataset.dimension === '64'")
        check_views(page, analysis, state)
        page.select_option("#selected-document", str(order[1]))
        page.check("#merge-words input")
        state.update(doc=order[1], merge=True)
        wait_shows(page, order[1], 64, merge=True)
        check_views(page, analysis, state)
    finally:
        choose_model(page, TINY)


def test_a_large_run_fetches_each_document_once(page, requests, tiny_model, berlin, monkeypatch):
    import colbert_viz.app.ui
    import colbert_viz.explorer.payload

    monkeypatch.setattr(colbert_viz.app.ui, "run_payload", partial(colbert_viz.explorer.payload.run_payload, eager_bytes=1))
    analysis = tiny_model.analyze(berlin["query"], berlin["documents"], LIMITS.max_doc_tokens)
    order = ranking(analysis.scores(128)).tolist()
    server_calls = lambda: [u for u in requests if "/gradio_api/" in u]  # noqa: E731
    n0 = len(requests)
    assert run(page, berlin["query"], berlin["documents"]).startswith("Ranked 8 documents")
    page.wait_for_function("() => !!document.querySelector('#difference .main-svg')")  # B (#2) came by itself
    page.wait_for_timeout(300)
    after_run = len(server_calls())
    state = {"doc": order[0], "dim": 128, "a": order[0], "b": order[1],
             "hideExpansion": False, "hideSpecial": False, "merge": False}
    check_views(page, analysis, state)
    assert len([u for u in requests[n0:] if "/gradio_api/" in u]) >= 3  # the Run, then document B

    def calls_for(action) -> int:
        before = len(server_calls())
        action()
        wait_shows(page, state["doc"], state["dim"], state["merge"])
        page.wait_for_function("() => !document.querySelector('#explorer .cv-loading')")
        page.wait_for_timeout(300)
        return len(server_calls()) - before

    per_document = calls_for(lambda: (page.select_option("#selected-document", str(order[4])),
                                      state.update(doc=order[4])))
    assert per_document == 1  # one call of the server function
    check_views(page, analysis, state)
    assert calls_for(lambda: (page.click('#dimension input[value="64"]'), state.update(dim=64))) == 0
    check_views(page, analysis, state)
    assert calls_for(lambda: (page.select_option("#selected-document", str(order[1])),
                              state.update(doc=order[1]))) == 0  # already loaded, as B
    assert calls_for(lambda: (page.select_option("#doc-a", str(order[6])), state.update(a=order[6]))) == 1
    check_views(page, analysis, state)
    assert calls_for(lambda: (page.click(f'#ranking tr[data-doc="{order[6]}"]'), state.update(doc=order[6]))) == 0
    check_views(page, analysis, state)
    assert len(server_calls()) - after_run == 2


def test_storage_method_follows_the_package_and_is_fetched_once(page, requests, tiny_model, berlin):
    from colbert_viz.storage.settings import explain_stored

    analysis = tiny_model.analyze(berlin["query"], berlin["documents"], LIMITS.max_doc_tokens)
    kept = StoredAnalysis(analysis)
    assert run(page, berlin["query"], berlin["documents"]).startswith("Ranked 8 documents")
    page.wait_for_timeout(300)
    settled = "() => document.querySelector('.cv-explorer').dataset.pending !== '1'" \
              " && !document.querySelector('#explorer .cv-loading')"

    def shown(method: str, dim: int) -> None:
        """Ranking, heatmap and contributions show ``method`` at ``dim``, with the package's numbers."""
        page.wait_for_function("([m, d]) => { const h = document.querySelector('#heatmap').dataset,"
                               " c = document.querySelector('#contributions').dataset;"
                               " return h.storage === m && c.storage === m && h.dimension === String(d)"
                               " && c.dimension === String(d) && !!document.querySelector('#heatmap .main-svg'); }",
                               arg=[method, dim])
        page.wait_for_function(settled)
        stored = kept.stored(f"{dim}/{method}")
        order = [int(i) for i in stored.order]
        v = views(page)
        assert [r["doc"] for r in v["rows"]] == order
        assert all(close(float(r["score"]), stored.scores[r["doc"]], 0.005 + 1e-6) for r in v["rows"])
        doc = int(v["menu"]["doc"])
        expl = explain_stored(stored, analysis.query, analysis.documents[doc], doc)
        assert close(float(v["heatmap"]["score"]), expl.score) and close(float(v["contributions"]["total"]), expl.score)
        assert int(v["heatmap"]["columns"]) == len(expl.document)

    before = len(requests)
    page.select_option("#storage select", "int8")
    shown("int8", 128)
    fetched = len(requests) - before
    assert fetched >= 1  # the storage summary and the shown documents, asked for once
    page.click('#dimension input[value="64"]')
    shown("int8", 64)
    page.select_option("#storage select", "pool-2")
    shown("pool-2", 64)
    after_pool = len(requests)
    page.select_option("#storage select", "int8")
    shown("int8", 64)
    page.select_option("#storage select", "float32")
    page.click('#dimension input[value="128"]')
    wait_shows(page, int(views(page)["menu"]["doc"]), 128)
    page.wait_for_timeout(300)
    assert len(requests) == after_pool  # back to a method already loaded, and to exact: nothing asked again


def test_decision_table_rows_explore_their_setting(page, tiny_model, berlin):
    """The storage panel's table is the package's table; a row click sets the dimension and the storage
    method, and the ranking, heatmap and highlight follow (pooled tokens shaded by their item)."""
    analysis = tiny_model.analyze(berlin["query"], berlin["documents"], LIMITS.max_doc_tokens)
    assert run(page, berlin["query"], berlin["documents"]).startswith("Ranked 8 documents")
    page.click("#storage-panel summary")
    page.wait_for_selector("#storage-table tr[data-setting]", timeout=WAIT_MS)
    rows = page.evaluate("""() => [...document.querySelectorAll('#storage-table tr[data-setting]')].map(
        r => [...r.children].map(c => c.textContent))""")
    kept = StoredAnalysis(analysis)
    expected = kept.compression_table()
    assert [r[0] for r in rows] == [e["setting"] for e in expected]
    for shown, row in zip(rows, expected):
        tau = "–" if row["kendall_tau"] is None else f"{row['kendall_tau']:.3f}"
        assert shown[4] == tau and shown[5] == str(row["largest_rank_change"])
        assert shown[6] == f"{row['largest_score_change']:.3f}"
    page.click('#storage-table tr[data-setting="64/pool-2"]')
    page.wait_for_function("() => { const h = document.querySelector('#heatmap').dataset;"
                           " return h.storage === 'pool-2' && h.dimension === '64'; }")
    page.wait_for_function("() => document.querySelector('.cv-explorer').dataset.pending !== '1'")
    assert page.evaluate("() => document.querySelector('#storage select').value") == "pool-2"
    assert page.evaluate("() => document.querySelector('#dimension input:checked').value") == "64"
    stored = kept.stored("64/pool-2")
    order = page.evaluate("() => [...document.querySelectorAll('#ranking tr[data-doc]')].map(r => +r.dataset.doc)")
    assert order == [int(i) for i in stored.order]
    info = page.inner_text("#storage-info")
    assert info.startswith("64/pool-2:") and "exact 128/float32" in info
    doc = int(page.evaluate("() => document.querySelector('#selected-document').value"))
    from colbert_viz.storage.settings import explain_stored

    expl = explain_stored(stored, analysis.query, analysis.documents[doc], doc)
    labels = page.evaluate("() => document.querySelector('#heatmap').layout.xaxis.ticktext")
    assert any("+" in label for label in labels) and len(labels) == len(expl.document)
    tips = page.evaluate("() => [...document.querySelectorAll('#highlight .cv-tok[data-pos]')].map(t => t.title)")
    assert any("stored pooled with its neighbours as" in t for t in tips)
    assert page.evaluate("() => document.querySelector('#merge-words input').disabled")  # no words for pooled items


JS_ENGINE_CELLS = """() => {
  const rows = {};
  for (const el of document.querySelectorAll('#engine-table [data-testid^="cell-"]')) {
    const m = el.dataset.testid.match(/^cell-(\\d+)-(\\d+)$/);
    if (m) (rows[m[1]] ??= [])[+m[2]] = el.innerText.replace('⋮', '').trim();
  }
  return Object.keys(rows).sort((a, b) => a - b).map(k => rows[k]);
}"""


def compare_engine(page, engine: str, expect: str) -> str:
    """Open the engine comparison, click ``engine``'s button; its summary once it says ``expect``."""
    if not page.locator(f"#{engine}-compare").is_visible():
        page.click("#engines .label-wrap")
    page.evaluate("() => { const r = document.querySelector('#engine-result'); if (r) r.dataset.old = r.innerText; }")
    page.click(f"#{engine}-compare")
    page.wait_for_function("""e => { const r = document.querySelector('#engine-result');
      return r.innerText !== r.dataset.old && r.innerText.includes(e); }""", arg=expect)
    return page.inner_text("#engine-result")


def test_int8_engine_comparison(page, tiny_model, tiny_checkpoint, berlin):
    import colbert_viz

    assert run(page, berlin["query"], berlin["documents"]).startswith("Ranked 8 documents")
    compare_engine(page, "int8", "Kendall tau")
    page.wait_for_selector("#engine-table table", timeout=WAIT_MS)
    int8 = colbert_viz.load(str(tiny_checkpoint), dtype="int8", device="cpu")
    exact = tiny_model.analyze(berlin["query"], berlin["documents"], LIMITS.max_doc_tokens).scores(128)
    other = int8.analyze(berlin["query"], berlin["documents"], LIMITS.max_doc_tokens).scores(128)
    cells = page.evaluate(JS_ENGINE_CELLS)
    assert [int(r[0]) - 1 for r in cells] == sorted(range(8), key=lambda i: -exact[i])
    assert all(close(float(r[4]), other[int(r[0]) - 1], 0.0005 + 1e-6) for r in cells)


def test_float32_engine_comparison(page, tiny_model, tiny_checkpoint, berlin):
    """A bfloat16 Run against exact float32: the package's scores and Kendall tau; a float32 Run: nothing to compare."""
    import colbert_viz
    from colbert_viz.maths.compare import agreement

    assert run(page, berlin["query"], berlin["documents"]).startswith("Ranked 8 documents")
    said = compare_engine(page, "float32", "already runs in float32")
    assert said.startswith("This Run's model already runs in float32") and "nothing to compare" in said
    assert not page.locator("#engine-table").is_visible()

    assert run(page, berlin["query"], berlin["documents"], model=TINY_BF16).startswith("Ranked 8 documents")
    said = compare_engine(page, "float32", "Kendall tau")
    page.wait_for_selector("#engine-table table", timeout=WAIT_MS)
    bf16 = colbert_viz.load(str(tiny_checkpoint), dtype="bfloat16", device="cpu")
    reference = bf16.analyze(berlin["query"], berlin["documents"], LIMITS.max_doc_tokens).scores(128)
    exact = tiny_model.analyze(berlin["query"], berlin["documents"], LIMITS.max_doc_tokens).scores(128)
    expected = agreement(reference, exact)
    assert said.startswith("The Run encoded again in exact float32 at 128 dimensions")
    assert "bfloat16). Kendall tau " + f"{expected['kendall_tau']:.3f}, largest rank change " \
        f"{expected['largest_rank_change']}, largest score change {expected['largest_score_change']:.3f}." in said
    headers = page.evaluate("() => [...document.querySelectorAll('#engine-table thead th')].map(c => c.innerText.trim())")
    assert [h for h in headers if h][:5] == ["Doc", "Rank (bfloat16)", "Rank (float32)", "Score (bfloat16)",
                                             "Score (float32)"]
    cells = page.evaluate(JS_ENGINE_CELLS)
    assert [int(r[0]) - 1 for r in cells] == sorted(range(8), key=lambda i: -reference[i])
    assert all(close(float(r[3]), reference[int(r[0]) - 1], 0.0005 + 1e-6) for r in cells)
    assert all(close(float(r[4]), exact[int(r[0]) - 1], 0.0005 + 1e-6) for r in cells)


def test_uploaded_jsonl_documents_are_ranked(page, tmp_path):
    documents = ["The Rhine flows through Basel.", "Tokyo is the capital of Japan.", "Bread is baked in ovens."]
    upload = tmp_path / "three.jsonl"
    upload.write_text("".join(json.dumps({"text": d}) + "\n" for d in documents), encoding="utf-8")
    load_example(page)
    page.locator("#documents textarea").fill("")
    page.locator("#query textarea").fill("Which river flows through Basel?")
    page.set_input_files("#upload input[type=file]", str(upload))
    page.locator("#upload").get_by_text("three.jsonl").wait_for()
    assert start_run(page).startswith("Ranked 3 documents"), status(page)
    previews = page.evaluate("() => [...document.querySelectorAll('#ranking tr[data-doc] .cv-preview')]"
                             ".map(c => c.textContent)")
    assert sorted(previews) == sorted(documents)


def test_oversized_upload_is_refused_with_a_message(page, tmp_path):
    big = tmp_path / "big.txt"
    line = "word " * 20 + "\n"
    big.write_text(line * (LIMITS.max_file_mb * 2**20 // len(line) + 1000), encoding="utf-8")
    load_example(page)
    page.set_input_files("#upload input[type=file]", str(big))
    toast = page.locator('[data-testid="toast-body"]').filter(has_text="exceed the maximum allowed size")
    toast.first.wait_for()
    assert "big.txt" in toast.first.inner_text()
    assert page.locator("#upload").get_by_text("big.txt").count() == 0


# ---- the storage control: every view follows it; exports are the view on screen ----------

STORAGE_CHECKED = {"ranking", "heatmap", "contributions", "highlight", "dimension-table", "kendall-tau",
                   "match-changes", "difference", "difference-table", "storage-table"}
JS_VIEW_IDS = "() => Object.values(document.querySelector('#explorer .cv-mount').__colbertViz.views).map(n => n.id)"
JS_SETTLED = "() => document.querySelector('.cv-explorer').dataset.pending !== '1'" \
             " && !document.querySelector('#explorer .cv-loading')"
JS_RANKING_CELLS = "() => [...document.querySelectorAll('#ranking tr[data-doc]')].map(r => [...r.children].map(c => c.textContent))"
JS_STORAGE_SHOWN = """([m, d, doc, a, b]) => {
  const ds = s => document.querySelector(s)?.dataset ?? {};
  return ['#heatmap', '#contributions', '#match-changes', '#ranking', '#kendall-tau', '#dimension-table',
          '#difference'].every(s => ds(s).storage === m)
    && ds('#heatmap').dimension === String(d) && ds('#heatmap').document === `Doc ${doc + 1}`
    && ds('#difference').a === `Doc ${a + 1}` && ds('#difference').b === `Doc ${b + 1}`
    && ds('#difference').dimension === String(d) && !!document.querySelector('#heatmap .main-svg');
}"""


def set_storage_state(page, method: str, dim: int, doc: int, a: int, b: int, merge: bool, hide_special: bool) -> None:
    """Set the controls (storage and dimension first: the document menus follow the ranking) and wait for every view."""
    page.select_option("#storage select", method)
    page.click(f'#dimension input[value="{dim}"]')
    page.wait_for_function("([m, d]) => document.querySelector('#ranking').dataset.storage === m"
                           " && document.querySelector('#ranking').dataset.dimension === String(d)", arg=[method, dim])
    page.select_option("#selected-document", str(doc))
    page.select_option("#doc-a", str(a))
    page.select_option("#doc-b", str(b))
    if not page.locator("#merge-words input").is_disabled():
        page.locator("#merge-words input").set_checked(merge)
    page.locator("#hide-special input").set_checked(hide_special)
    page.wait_for_function(JS_STORAGE_SHOWN, arg=[method, dim, doc, a, b])
    page.wait_for_function(JS_SETTLED)


def check_storage_views(page, analysis, method: str, dim: int, doc: int, a: int, b: int, words: bool,
                        hide_special: bool) -> dict:
    """Every view of the explorer shows ``method`` at ``dim`` with the package's numbers."""
    from colbert_viz.explorer.tables import match_changes_table

    kept = StoredAnalysis(analysis)

    assert set(page.evaluate(JS_VIEW_IDS)) == STORAGE_CHECKED, "a view this check does not cover"
    v = views(page)
    setting = f"{dim}/{method}"
    comparison = kept.compare_dimensions(method)
    order = [int(i) for i in np.argsort(comparison.ranks[dim], kind="stable")]
    exact_ranks = analysis.ranks(analysis.dimensions[0])
    # ranking (and the document menus, which follow it)
    assert [r["doc"] for r in v["rows"]] == order and v["rankingDim"] == str(dim)
    stored = kept.stored(setting)
    for r, cells in zip(v["rows"], page.evaluate(JS_RANKING_CELLS)):
        i = r["doc"]
        assert r["score"] == to_fixed(comparison.scores[dim][i]) and r["selected"] == (i == doc)
        assert close(float(r["perToken"]), comparison.scores[dim][i] / len(analysis.query), 0.0005 + 1e-6)
        others = [str(comparison.ranks[d][i]) for d in analysis.dimensions if d != dim]
        moved = int(exact_ranks[i] - comparison.ranks[dim][i])
        arrow = f" ({'↑' if moved > 0 else '↓'}{abs(moved)})" if moved else ""
        rescored = " · rescored" if i in stored.candidates else ""
        assert cells[4:-2] == [*others, f"{exact_ranks[i]}{arrow}", f"{stored.documents[i].n_bytes:,.0f}{rescored}"]
    assert v["menu"]["order"] == v["menu"]["orderA"] == v["menu"]["orderB"] == order
    # heatmap, contributions, highlight
    expl = kept.explain(doc, dim, words, method)
    label, variant = f"Doc {doc + 1}", "words" if words else "tokens"
    for name in ("heatmap", "contributions", "changes"):
        assert (v[name]["document"], v[name]["dimension"], v[name]["merge"], v[name]["storage"]) == (
            label, str(dim), variant, method), name
    assert close(float(v["heatmap"]["score"]), expl.score) and close(float(v["contributions"]["total"]), expl.score)
    assert int(v["heatmap"]["columns"]) == len(shown_positions(expl.document, hide_special=hide_special))
    assert int(v["heatmap"]["rows"]) == len(shown_positions(expl.query, hide_special=hide_special))
    assert v["heat"]["subtitle"].endswith(f"· {dim} dimensions · {method} · score {to_fixed(expl.score)}")
    hl = v["highlight"]
    assert (hl["document"], hl["dimension"]) == (label, str(dim)) and close(float(hl["score"]), expl.score)
    # compare dimensions: the rankings, Kendall tau and the moved matches, all under the storage setting
    expected_rows = [[str(k + 1), *(f"Doc {int(np.argsort(comparison.ranks[d], kind='stable')[k]) + 1} · "
                                    f"{to_fixed(comparison.scores[d][int(np.argsort(comparison.ranks[d], kind='stable')[k])])}"
                                    for d in analysis.dimensions)] for k in range(len(analysis.documents))]
    assert v["cells"]["dimension-table"] == expected_rows
    taus = {cell[0]: cell[1] for cell in v["cells"]["kendall-tau"]}
    assert taus == {f"{x} vs {y}": "–" if np.isnan(t) else f"{t:.3f}" for (x, y), t in comparison.tau.items()}
    changes = match_changes_table(analysis, doc, {d: kept.explain(doc, d, storage=method)
                                                  for d in analysis.dimensions})
    shown_changes = page.evaluate("() => [...document.querySelectorAll('#match-changes tbody tr')]"
                                  ".map(r => [...r.children].map(c => c.textContent))")
    assert shown_changes == [[str(c) for c in row] for row in changes.values.tolist()]
    # why A above B
    diff = kept.compare_documents(a, b, dim, words, method)
    assert (v["difference"]["a"], v["difference"]["b"], v["difference"]["dimension"], v["difference"]["storage"]) == (
        f"Doc {a + 1}", f"Doc {b + 1}", str(dim), method)
    assert close(float(v["difference"]["total"]), diff.total)
    assert np.allclose(v["diff"]["bars"], [d.difference for d in diff.differences], atol=1e-3)
    table = {int(re.search(r"\(#(\d+)\)$", row[0]).group(1)): row for row in v["diffTable"]}
    assert len(table) == len(diff.differences)
    for d in diff.differences:
        row = table[d.query_position]
        assert (row[2], row[4]) == (d.match_a, d.match_b) and close(float(row[5]), d.difference, 0.0005 + 1e-6)
    # the decision table marks the setting; the info line names it
    assert page.evaluate("() => [...document.querySelectorAll('#storage-table tr.cv-selected')]"
                         ".map(r => r.dataset.setting)") == [setting]
    assert page.inner_text("#storage-info").startswith(f"{setting}:")
    return v


def test_every_view_follows_the_storage_control(page, tiny_model, berlin):
    analysis = tiny_model.analyze(berlin["query"], berlin["documents"], LIMITS.max_doc_tokens)
    assert run(page, berlin["query"], berlin["documents"]).startswith("Ranked 8 documents")
    page.click("#storage-panel summary")  # the decision table, drawn for every setting
    for method, dim, merge, hide_special in [("binary", 64, True, True), ("pool-2", 96, True, False),
                                             ("binary+rescore", 128, False, True)]:
        order = [int(i) for i in np.argsort(StoredAnalysis(analysis).compare_dimensions(method).ranks[dim],
                                            kind="stable")]
        doc, a, b = order[3], order[-1], order[1]
        set_storage_state(page, method, dim, doc, a, b, merge, hide_special)
        words = merge and not method.startswith("pool-")
        check_storage_views(page, analysis, method, dim, doc, a, b, words, hide_special)
    page.click("#storage-panel summary")


def test_export_is_the_view_on_screen(page, tiny_model, berlin, tmp_path):
    """Export under 64-d binary, on a document that is not the first, words merged, expansion hidden:
    the CSV's numbers are the ranking table's, the JSON's the explanation drawn, and the HTML opens on
    that view, naming the query and the model."""
    analysis = tiny_model.analyze(berlin["query"], berlin["documents"], LIMITS.max_doc_tokens)
    assert run(page, berlin["query"], berlin["documents"]).startswith("Ranked 8 documents")
    order = [int(i) for i in StoredAnalysis(analysis).stored("64/binary").order]
    doc, a, b = order[2], order[4], order[0]
    set_storage_state(page, "binary", 64, doc, a, b, True, False)
    page.check("#hide-expansion input")
    page.wait_for_function("() => document.querySelector('#hide-expansion input').checked")
    page.wait_for_function(JS_SETTLED)
    shown = views(page)
    cells = page.evaluate(JS_RANKING_CELLS)
    contributions = page.evaluate("() => document.querySelector('#contributions').data[0].x")
    taus = shown["cells"]["kendall-tau"]
    page.click("#export")
    page.wait_for_function("() => document.querySelectorAll('#exports a').length === 3")
    links = page.evaluate("() => [...document.querySelectorAll('#exports a')].map(a => a.href)")
    files = {}
    for url in links:
        body = page.request.get(url).body()
        name = next(n for n in ("ranking-", "explanation-", "colbert-viz-run") if n in url)
        files[name] = tmp_path / url.rsplit("/", 1)[-1]
        files[name].write_bytes(body)
    assert files["ranking-"].name == "ranking-64d-binary.csv"
    assert files["explanation-"].name == f"explanation-doc{doc + 1}-64d-binary.json"

    table = pd.read_csv(files["ranking-"], keep_default_na=False)
    assert table["Doc"].tolist() == [r["doc"] + 1 for r in shown["rows"]]
    assert [f"{s:.2f}" for s in table["Score"]] == [r["score"] for r in shown["rows"]]
    assert [f"{s:.3f}" for s in table["Per query token"]] == [r["perToken"] for r in shown["rows"]]
    assert [[str(x) for x in row] for row in table[["Rank @128", "Rank @96"]].values.tolist()] == [
        c[4:6] for c in cells]
    assert [str(x) for x in table["Exact rank"]] == [c[6].split(" ")[0] for c in cells]
    assert [f"{x:,.0f}" for x in table["Stored bytes"]] == [c[7] for c in cells]
    assert table["Selected"].tolist() == [r["selected"] for r in shown["rows"]]
    assert set(table["Storage"]) == {"binary"} and set(table["Dimensions"]) == {64}
    assert set(table["Query"]) == {berlin["query"]} and set(table["Model"]) == {tiny_model.info.display_name}

    data = json.loads(files["explanation-"].read_text(encoding="utf-8"))
    assert (data["document_label"], data["dimensions"], data["storage"], data["merged_words"]) == (
        f"Doc {doc + 1}", 64, "binary", True)
    assert close(data["score"], float(shown["heatmap"]["score"]), 1e-9)
    assert np.allclose([m["contribution"] for m in data["matches"]], contributions, atol=1e-6)
    assert data["rank"] == [r["doc"] for r in shown["rows"]].index(doc) + 1
    assert close(data["why_a_above_b"]["difference"], float(shown["difference"]["total"]), 1e-9)
    assert data["view"]["hide_expansion"] and data["query"]["text"] == berlin["query"]
    assert data["dtype"] == tiny_model.info.dtype and data["model"] == tiny_model.info.display_name

    exported = page.context.browser.new_page()
    try:
        exported.goto(files["colbert-viz-run"].as_uri())
        exported.wait_for_selector("#heatmap .main-svg")
        exported.wait_for_function("() => document.querySelector('.cv-explorer').dataset.pending === '0'")
        again = views(exported)
        assert (again["heatmap"]["document"], again["heatmap"]["dimension"], again["heatmap"]["merge"],
                again["heatmap"]["storage"]) == (f"Doc {doc + 1}", "64", "words", "binary")
        assert again["rows"] == shown["rows"] and again["cells"]["kendall-tau"] == taus
        assert again["toggles"] == {"hideExpansion": True, "hideSpecial": False, "merge": True}
        assert (again["menu"]["a"], again["menu"]["b"]) == (a, b)
        assert again["heatmap"]["score"] == shown["heatmap"]["score"]
        assert exported.evaluate("() => document.querySelector('#storage select').value") == "binary"
        assert exported.inner_text("#file-query") == f"Query {berlin['query']}"
        assert tiny_model.info.display_name in exported.inner_text("#file-model")
    finally:
        exported.close()


def test_no_javascript_errors(browser):
    assert browser[2] == []
