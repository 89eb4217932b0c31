"""The storage explorer in a real browser on the Berlin example (the tiny random checkpoint, as CI
builds it): every storage setting at 128, 96 and 64 dimensions, chosen in a sequence (a setting, each
dimension, another setting, back), and after each step every view follows the controls; and a setting
the Run cannot be stored under is shown unavailable while the others, and the dimension control, work.
Same set-up as ``test_browser.py``.
"""

from __future__ import annotations

import pytest
from serving import launch_chromium, served_app
from test_browser import JS_MARK_OLD, JS_RUN_DONE, JS_STATUS, LIMITS, WAIT_MS

from colbert_viz.storage.settings import EXACT, METHODS

pytestmark = pytest.mark.browser

DIMS = (128, 96, 64)

# What every view says it shows, and what would be wrong: the controls, each view's stamp, the
# ranking's rows, the storage line, the heatmap's title, the merge toggle, any error or loading text.
JS_SHOWN = """() => {
  const q = s => document.querySelector(s), ds = s => q(s)?.dataset ?? {};
  const merge = q('#merge-words');
  return {
    pending: q('.cv-explorer').dataset.pending, radio: Number(q('#dimension input:checked')?.value),
    select: q('#storage select').value,
    stamps: ['#heatmap', '#contributions', '#highlight', '#match-changes', '#difference'].map(s => ds(s)),
    highlightDim: ds('#highlight .cv-highlight').dimension ?? null,
    ranking: {dim: ds('#ranking table').dimension ?? null, storage: ds('#ranking').storage ?? null,
              rows: document.querySelectorAll('#ranking tr[data-doc]').length},
    tables: [ds('#dimension-table').storage, ds('#kendall-tau').storage],
    info: q('#storage-info').innerText, title: q('#heatmap').layout?.title?.subtitle?.text ?? '',
    loading: document.querySelectorAll('#explorer .cv-loading').length, message: q('.cv-message').innerText,
    merge: {disabled: q('#merge-words input').disabled, dim: merge.classList.contains('cv-disabled'),
            opacity: Number(getComputedStyle(merge).opacity), title: merge.title},
  };
}"""


@pytest.fixture(scope="module")
def page(sync_playwright, tiny_checkpoint):
    import colbert_viz

    model = colbert_viz.load(str(tiny_checkpoint), dtype="float32", device="cpu")
    with served_app({"tiny": model}, LIMITS) as (_, url), sync_playwright() as p:
        chromium = launch_chromium(p)
        page = chromium.new_page(viewport={"width": 1300, "height": 1000})
        page.set_default_timeout(WAIT_MS)
        errors = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(url)
        page.wait_for_selector("#explorer .cv-mount")
        yield page
        chromium.close()
        assert errors == []


def run_berlin(page, documents: list[str] | None = None) -> str:
    """The Berlin example (its documents, or ``documents``) Run; the status once it is drawn."""
    page.click("#example-berlin")
    page.wait_for_function("() => (" + JS_STATUS + ")().startsWith('Loaded')")
    if documents is not None:
        page.locator("#documents textarea").fill("\n".join(documents))
    page.evaluate(JS_MARK_OLD)
    page.click("#run")
    page.wait_for_function(JS_RUN_DONE)
    return page.evaluate(JS_STATUS)


def choose(page, method: str | None = None, dim: int | None = None) -> dict:
    """Pick a storage method and/or a dimension; what the views show once they are drawn."""
    if method is not None:
        page.select_option("#storage select", method)
    if dim is not None:
        page.click(f'#dimension input[value="{dim}"]')
    page.wait_for_function("""([m, d]) => { const h = document.querySelector('#heatmap').dataset;
      return document.querySelector('.cv-explorer').dataset.pending === '0' && h.dimension === String(d)
        && !document.querySelector('#explorer .cv-loading')  // "why A above B" fetches its documents too
        && h.storage === m && !!document.querySelector('#heatmap .main-svg'); }""",
                           arg=[page.evaluate("() => document.querySelector('#storage select').value"),
                                int(page.evaluate("() => document.querySelector('#dimension input:checked').value"))])
    return page.evaluate(JS_SHOWN)


def check_follows(shown: dict, method: str, dim: int, n_rows: int, notice: str = "") -> None:
    """Every view shows ``method`` at ``dim``, the controls say so, and nothing says it failed
    (the storage line says ``notice`` instead, when given)."""
    where = f"{dim}/{method}"
    assert (shown["radio"], shown["select"]) == (dim, method), where
    for stamp in shown["stamps"]:
        assert (stamp.get("dimension"), stamp.get("storage")) == (str(dim), method), (where, stamp)
    assert shown["highlightDim"] == str(dim), where
    assert shown["ranking"] == {"dim": str(dim), "storage": method, "rows": n_rows}, where
    assert shown["tables"] == [method, method], where
    if notice:
        assert shown["info"].startswith(notice), (where, shown["info"])
    elif method == EXACT:  # before the storage settings are computed, and after
        assert shown["info"] == "exact float32: the vectors as encoded." or shown["info"].startswith(f"{where}: ")
        assert f"{dim} dimensions · score" in shown["title"], (where, shown["title"])
    else:
        assert shown["info"].startswith(f"{where}: ") and "Kendall tau" in shown["info"], (where, shown["info"])
        assert f"{dim} dimensions · {method} · score" in shown["title"], (where, shown["title"])
    assert shown["loading"] == 0 and shown["message"] == "", where
    pooled = method.startswith("pool-")
    assert shown["merge"]["disabled"] == shown["merge"]["dim"] == pooled, where
    assert (shown["merge"]["opacity"] < 0.6) == pooled and ("pool" in shown["merge"]["title"]) == pooled, where


def test_every_storage_setting_at_every_dimension_on_berlin(page, berlin):
    assert run_berlin(page).startswith("Ranked 8 documents")
    n = berlin["top_n"]  # the example's top n: the ranking's rows
    check_follows(choose(page), EXACT, 128, n)
    page.check("#merge-words input")  # words where they mean something; never under pooling
    previous, dim = EXACT, 128
    for k, method in enumerate(METHODS[1:]):
        check_follows(choose(page, method), method, dim, n)  # a setting, at the dimension shown
        for dim in DIMS[k % 3:] + DIMS[:k % 3]:  # then each dimension, starting at a different one
            check_follows(choose(page, dim=dim), method, dim, n)
        check_follows(choose(page, previous), previous, dim, n)  # another setting, and back
        check_follows(choose(page, method), method, dim, n)
        previous = method
    assert page.evaluate("() => [...document.querySelectorAll('#storage select option')].some(o => o.disabled)") is False


def test_a_setting_over_its_limit_is_unavailable_and_the_others_work(page, berlin, monkeypatch):
    import colbert_viz.storage.settings

    monkeypatch.setattr(colbert_viz.storage.settings, "MAX_POOL_TOKENS", 40)  # Berlin documents are over it
    n = berlin["top_n"]
    assert run_berlin(page).startswith("Ranked 8 documents")
    page.select_option("#storage select", "pool-2")  # not known yet to be unavailable: asked for
    page.wait_for_function("() => document.querySelector('#storage select option[value=\"pool-2\"]').disabled")
    why = "pool-2 is unavailable for this Run: token pooling handles at most 40 tokens per document, and document "
    check_follows(choose(page), EXACT, 128, n, notice=why)  # the exact views, and why
    option = page.locator('#storage select option[value="pool-3"]')
    assert option.is_disabled() and option.inner_text() == "pool-3 (unavailable)"
    assert option.get_attribute("title").startswith("pool-3 is unavailable for this Run")
    check_follows(choose(page, dim=64), EXACT, 64, n)  # the dimension control works
    check_follows(choose(page, "int8"), "int8", 64, n)  # and every other setting
    check_follows(choose(page, dim=96), "int8", 96, n)
    check_follows(choose(page, "residual-2bit"), "residual-2bit", 96, n)
    page.click("#storage-panel summary")
    page.wait_for_selector('#storage-table tr[data-setting="pool-2"]')
    row = page.inner_text('#storage-table tr[data-setting="pool-2"]')
    assert "token pooling handles at most 40 tokens" in row
    assert page.locator('#storage-table tr[data-setting="96/int8"]').count() == 1
    page.click("#storage-panel summary")
