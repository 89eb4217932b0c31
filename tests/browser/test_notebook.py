"""The explorer outside the app: in a notebook (``colbert_viz.show(analysis)`` run by a
real Jupyter kernel through ``nbclient``) and as an exported standalone file
(``colbert_viz.show(analysis).save(path)``), both drawn by Debian's Chromium with the
network blocked. Expected values come from the package's ``Analysis``, in this
process: the kernel and this process load the offline model with ``dtype="auto"``
and must run it in the same dtype, which the decision kept in the test
session's cache folder (``COLBERT_VIZ_CACHE_DIR``, set in conftest) ensures.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from serving import launch_chromium, playwright_or_skip

from colbert_viz.explorer.html import plotly_js, show
from colbert_viz.explorer.layout import shown_positions
from colbert_viz.maths.scoring import ranking
from colbert_viz.storage.analysis import StoredAnalysis

ROOT = Path(__file__).resolve().parents[2]
QUERY = "Where does the fox jump?"
DOCUMENTS = ["The quick brown fox jumps over the lazy dog near the river bank today.",
             "Kangaroos hop across the outback at dawn."]
CELLS = [
    "import colbert_viz\n"
    "model = colbert_viz.load('offline')\n"
    f"analysis = model.analyze({QUERY!r}, {DOCUMENTS!r})",
    "colbert_viz.show(analysis)",
    "colbert_viz.show(analysis, 'second view')",
    "print(model.info.dtype, model.info.dtype_reason, sep='\\n')",
]
JS_SETTLED = "() => [...document.querySelectorAll('.cv-explorer')].every(r => r.dataset.pending !== '1')"
JS_ROOT_STATE = """root => {
  const hl = root.querySelector('.cv-highlight'), heat = root.querySelector('.cv-plot');
  return {dim: root.dataset.dimension, doc: root.dataset.document, hlDim: hl?.dataset.dimension ?? null,
          heat: !!heat?.querySelector('.main-svg'), score: hl ? Number(hl.dataset.score) : null};
}"""


@pytest.fixture(scope="module")
def notebook():
    """The notebook of ``CELLS``, run in one kernel."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    return nb


@pytest.fixture(scope="module")
def notebook_outputs(notebook) -> list[str]:
    """The ``text/html`` outputs of the two ``show()`` cells."""
    return [next(o["data"]["text/html"] for o in cell.outputs if "text/html" in o.get("data", {}))
            for cell in notebook.cells[1:3]]


@pytest.fixture(scope="module")
def chromium():
    sync_playwright = playwright_or_skip()
    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


def offline_page(chromium):
    """A page whose every request other than ``file:`` is refused; the list of those it tried."""
    page = chromium.new_page(viewport={"width": 1200, "height": 900})
    page.set_default_timeout(20_000)
    tried, errors = [], []
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else
               (tried.append(r.request.url), r.abort()))
    page.on("pageerror", lambda err: errors.append(str(err)))
    return page, tried, errors


@pytest.fixture(scope="module")
def offline_model():
    import colbert_viz

    return colbert_viz.load("offline")


@pytest.fixture(scope="module")
def offline_analysis(offline_model):
    return offline_model.analyze(QUERY, DOCUMENTS)


def test_the_kernel_runs_the_model_in_this_process_dtype(notebook, offline_model):
    """Both processes read the one kept ``auto`` decision: a probe in each could differ on a busy machine
    (0.005 apart in the score this file compares)."""
    dtype, reason = "".join(o.get("text", "") for o in notebook.cells[3].outputs).strip().split("\n")
    assert dtype == offline_model.info.dtype
    reasons = [reason, offline_model.info.dtype_reason]
    if "no native bfloat16" not in reason:  # the probe ran, once: whoever came second read its decision
        cache = os.environ["COLBERT_VIZ_CACHE_DIR"]
        assert all(f"cached in {cache}" in r for r in reasons), reasons
        assert any("(probed " in r for r in reasons), reasons


def test_plotly_js_goes_once_per_kernel_session(notebook_outputs):
    first, second = notebook_outputs
    marker = plotly_js()[:400]
    assert first.count(marker) == 1
    assert marker not in second
    assert "ColbertViz.mount" in first and "ColbertViz.mount" in second


@pytest.mark.browser
def test_notebook_output_draws_and_switches_offline(notebook_outputs, chromium, offline_analysis):
    page, tried, errors = offline_page(chromium)
    page.set_content("<html><body>" + "".join(notebook_outputs) + "</body></html>")
    roots = page.locator(".cv-notebook")
    assert roots.count() == 2  # the second view draws with the first one's plotly.js
    order = ranking(offline_analysis.scores(384)).tolist()
    for k in range(2):
        root = roots.nth(k)
        root.locator(".js-plotly-plot .main-svg").first.wait_for()
        page.wait_for_function(JS_SETTLED)
        state = root.evaluate(JS_ROOT_STATE)
        expl = offline_analysis.explain(order[0], 384)
        assert state["dim"] == "384" and state["doc"] == str(order[0]) and state["heat"]
        assert abs(state["score"] - expl.score) < 1e-3
        root.locator('.cv-dims input[value="64"]').check()
        root.locator('.cv-highlight[data-dimension="64"]').wait_for()
        page.wait_for_function(JS_SETTLED)
        state = root.evaluate(JS_ROOT_STATE)
        assert state["dim"] == "64" and abs(state["score"] - offline_analysis.explain(order[0], 64).score) < 1e-3
    assert page.locator("#heatmap").count() == 0  # a notebook view sets no page-wide ids
    assert tried == [] and errors == []
    page.close()


@pytest.mark.browser
def test_exported_file_works_from_disk_with_the_network_off(chromium, tiny_model, berlin, tmp_path):
    analysis = tiny_model.analyze(berlin["query"], berlin["documents"])
    path = show(analysis, "Berlin").save(tmp_path / "run.html")
    page, tried, errors = offline_page(chromium)
    page.goto(path.as_uri())
    page.wait_for_selector("#heatmap .main-svg")
    for merge in (False, True):
        page.locator("#merge-words input").set_checked(merge)
        for dim in analysis.dimensions:
            page.check(f'#dimension input[value="{dim}"]')
            for doc in range(len(analysis.documents)):
                page.select_option("#selected-document", str(doc))
                page.wait_for_function(JS_SETTLED)
                shown = page.evaluate("""() => { const h = document.querySelector('#heatmap').dataset;
                  const c = document.querySelector('#contributions').dataset;
                  return [h.document, h.dimension, h.merge, Number(h.score), Number(c.total), Number(h.rows)]; }""")
                expl = analysis.explain(doc, dim, merge)
                assert shown[:3] == [f"Doc {doc + 1}", str(dim), "words" if merge else "tokens"]
                assert abs(shown[3] - expl.score) < 1e-3 and abs(shown[4] - expl.score) < 1e-3
                assert shown[5] == len(expl.query)
    doc = int(ranking(analysis.scores(64))[0])
    page.select_option("#selected-document", str(doc))
    expl = analysis.explain(doc, 64, True)
    for toggle, rows, columns in [("#hide-expansion input", shown_positions(expl.query, True, False), None),
                                  ("#hide-special input", shown_positions(expl.query, True, True),
                                   shown_positions(expl.document, hide_special=True))]:
        page.check(toggle)
        page.wait_for_function(JS_SETTLED)
        heat = page.evaluate("() => Object.assign({}, document.querySelector('#heatmap').dataset)")
        assert int(heat["rows"]) == len(rows)
        if columns is not None:
            assert int(heat["columns"]) == len(columns)
    a, b = int(ranking(analysis.scores(64))[-1]), doc
    page.select_option("#doc-a", str(a))
    page.select_option("#doc-b", str(b))
    page.wait_for_function(JS_SETTLED)
    total = float(page.locator("#difference").get_attribute("data-total"))
    assert abs(total - analysis.compare_documents(a, b, 64, True).total) < 1e-3
    # every storage method is in the file: each one ranks as the package does, with no request
    from colbert_viz.storage.settings import METHODS

    for method in METHODS:
        page.select_option("#storage select", method)
        page.wait_for_function(JS_SETTLED)
        order = page.evaluate("() => [...document.querySelectorAll('#ranking tr[data-doc]')].map(r => +r.dataset.doc)")
        stored = StoredAnalysis(analysis).stored(f"64/{method}")
        expected = [int(i) for i in stored.order] if method != "float32" else ranking(analysis.scores(64)).tolist()
        assert order == expected
        assert page.evaluate("() => document.querySelector('#heatmap').dataset.storage") == method
    assert tried == [] and errors == []
    page.close()
