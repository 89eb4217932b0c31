"""Benchmark the page in Chromium: how fast each control redraws, how many bytes a Run sends.

    python scripts/benchmark_page.py                 # everything, screenshots into assets/
    python scripts/benchmark_page.py --skip-large --no-screenshots
    python scripts/benchmark_page.py --search-only   # Search on the demo collection, click → explorer

Serves the app on a tiny random checkpoint in jina-colbert-v2's layout (the
renderer's cost does not depend on the weights; the Berlin set has 8 documents
and 32 query tokens), drives Debian's Chromium and times in the page, with
``performance.now()``, from the event (``click`` / ``dispatchEvent``) to the
first animation frame after the heatmap's data attributes changed (the chart
the control is about is redrawn: the heatmap, or the "why A above B" chart for
the A/B menus), and to the frame after every view is drawn
(``.cv-explorer[data-pending]`` back to 0). Medians over ``--repeats`` events.
Run is timed from the click to the new heatmap (the model's vector cache
cleared before each), less the server's encode time printed in the status line;
Search the same way, on the demo collection (top 10 at 64 dimensions).

Payload sizes are the JSON the server sends (``run_payload`` /
``document_payload``, compact), for the Berlin Run and for 64 documents of
8192 tokens (limits raised with ``Limits``); the exported file is
``colbert_viz.show(analysis).save(path)`` of the Berlin Run. Prints a markdown table.
Screenshots (``assets/screenshot*.png``) of the page at 1300 and 400 px, a
notebook output and the exported file.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

BERLIN = ROOT / "colbert_viz" / "app" / "assets" / "examples" / "berlin.json"
ASSETS = ROOT / "assets"

# One timed event in the page: the action, then animation frames until ``target``'s data
# attributes changed (ms to that frame) and until nothing is pending (ms to the frame after).
JS_TIMED = """async ([selector, value, target]) => {
  const el = document.querySelector(selector), root = document.querySelector('.cv-explorer');
  const watched = document.querySelector(target), before = JSON.stringify(watched.dataset);
  const frame = () => new Promise(resolve => requestAnimationFrame(() => resolve()));
  const t0 = performance.now();
  if (value === null) el.click();
  else { el.value = value; el.dispatchEvent(new Event('change', {bubbles: true})); }
  do { await frame(); } while (JSON.stringify(watched.dataset) === before && performance.now() - t0 < 10000);
  const changed = performance.now() - t0;
  while (root.dataset.pending === '1') await frame();
  await frame();
  return [changed, performance.now() - t0];
}"""
JS_STATUS = "() => document.querySelector('#status [data-testid=\"markdown\"]')?.innerText ?? ''"


def compact_bytes(payload: dict) -> int:
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def median_ms(pairs: list[list[float]]) -> tuple[float, float]:
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def time_controls(page, berlin: dict, order: list[int], dims: list[int], repeats: int) -> dict[str, tuple]:
    """Medians (ms) of each control, after a Berlin Run is drawn."""
    timed = lambda selector, value=None, target="#heatmap": page.evaluate(JS_TIMED, [selector, value, target])  # noqa: E731
    results = {}
    results["dimension switch"] = median_ms(
        [timed(f'#dimension input[value="{dims[(k + 1) % len(dims)]}"]') for k in range(repeats)])
    for name, elem in (("toggle: hide <mask>", "hide-expansion"), ("toggle: hide special", "hide-special"),
                       ("toggle: merge sub-words", "merge-words")):
        results[name] = median_ms([timed(f"#{elem} input") for _ in range(repeats + repeats % 2)])
    results["document pick (menu)"] = median_ms(
        [timed("#selected-document", str(order[(k + 1) % len(order)])) for k in range(repeats)])
    results["document pick (row click)"] = median_ms(
        [timed(f'#ranking tr[data-doc="{order[(k + 1) % 3]}"]') for k in range(repeats)])
    results["A pick"] = median_ms(
        [timed("#doc-a", str(order[(k + 2) % len(order)]), "#difference") for k in range(repeats)])
    results["B pick"] = median_ms(
        [timed("#doc-b", str(order[(k + 3) % len(order)]), "#difference") for k in range(repeats)])
    return results


def time_runs(page, model, repeats: int) -> tuple[float, float, float]:
    """Medians (ms) from the Run click to the new heatmap, of the same less the server's
    encode time (status line), and of that encode time; the vector cache is cleared first."""
    totals, less, encodes = [], [], []
    for _ in range(repeats):
        model.cache.clear()
        page.evaluate("() => { const bar = document.querySelector('.cv-bar'); if (bar) bar.__old = true;"
                      " window.__t0 = performance.now(); }")
        page.click("#run")
        ms = page.wait_for_function(
            "() => { const bar = document.querySelector('.cv-bar');"
            " return !!bar && !bar.__old && !!document.querySelector('#heatmap .main-svg')"
            " && (performance.now() - window.__t0); }", polling="raf").json_value()
        encode = float(re.search(r" in (\d+\.\d+) s", page.evaluate(JS_STATUS)).group(1))
        totals.append(ms)
        less.append(ms - 1000 * encode)
        encodes.append(1000 * encode)
    return statistics.median(totals), statistics.median(less), statistics.median(encodes)


def large_payloads(model, n_docs: int = 64, tokens: int = 8192) -> dict[str, int]:
    """Bytes of the initial payload and of one on-demand document for ``n_docs`` documents of ``tokens``."""
    from colbert_viz.app.limits import Limits
    from colbert_viz.app.service import analyze_request
    from colbert_viz.explorer.payload import document_payload, run_payload

    limits = Limits(max_docs=n_docs, max_chars=200_000, max_tokens=n_docs * tokens, max_doc_tokens=tokens)
    docs = [" ".join(f"river{(d * 7919 + i) % 5003} bank{i % 97}" for i in range(tokens // 2)) for d in range(n_docs)]
    start = time.perf_counter()
    run = analyze_request(model, "Which river bank is the longest?", docs, tokens, 0, limits)
    encode = time.perf_counter() - start
    start = time.perf_counter()
    payload = run_payload(run.analysis, run_key="bench")
    first = compact_bytes(payload)
    build = time.perf_counter() - start
    other = next(i for i in range(n_docs) if str(i) not in payload["views"])
    start = time.perf_counter()
    one = compact_bytes(document_payload(run.analysis, other))
    return {"initial": first, "document": one, "encode_s": encode, "payload_s": build,
            "doc_s": time.perf_counter() - start, "tokens": sum(len(d) for d in run.analysis.documents),
            "sent": len(payload["views"])}


def screenshots(browser, page, analysis, folder: Path) -> list[Path]:
    """The page at 1300 and 400 px after a Berlin Run, a notebook output and the exported file."""
    from colbert_viz.explorer.html import ExplorerView

    out = []
    page.set_viewport_size({"width": 1300, "height": 1000})
    page.locator("#explorer").scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    top = page.evaluate("() => document.querySelector('#explorer').getBoundingClientRect().top + window.scrollY")
    page.screenshot(path=str(ASSETS / "screenshot.png"), full_page=True,
                    clip={"x": 0, "y": 0, "width": 1300, "height": top + 1150})
    out.append(ASSETS / "screenshot.png")
    page.set_viewport_size({"width": 400, "height": 860})
    page.wait_for_timeout(500)
    page.locator("#explorer").scroll_into_view_if_needed()
    page.evaluate("() => window.scrollTo(0, document.querySelector('#explorer').getBoundingClientRect().top"
                  " + window.scrollY - 8)")
    page.wait_for_timeout(300)
    page.screenshot(path=str(ASSETS / "screenshot-phone.png"))
    out.append(ASSETS / "screenshot-phone.png")
    page.set_viewport_size({"width": 1300, "height": 1000})

    view = ExplorerView.of(analysis, "colbert-viz · Berlin (tiny random checkpoint)", top_n=3)
    notebook = browser.new_page()
    notebook.set_viewport_size({"width": 1000, "height": 1100})
    notebook.set_content("<html><body style='margin:0;padding:12px 24px;background:#fff'>"
                         "<div style='font:13px monospace;color:#303f9f;margin-bottom:6px'>[3]: colbert_viz.show(analysis)</div>"
                         f"{view._repr_html_()}</body></html>")
    notebook.wait_for_selector(".cv-notebook .main-svg")
    notebook.wait_for_function("() => document.querySelector('.cv-explorer').dataset.pending !== '1'")
    notebook.screenshot(path=str(ASSETS / "screenshot-notebook.png"))
    out.append(ASSETS / "screenshot-notebook.png")
    path = view.save(folder / "export.html")
    notebook.goto(path.as_uri())
    notebook.wait_for_selector("#heatmap .main-svg")
    notebook.wait_for_function("() => document.querySelector('.cv-explorer').dataset.pending !== '1'")
    notebook.screenshot(path=str(ASSETS / "screenshot-export.png"))
    out.append(ASSETS / "screenshot-export.png")
    notebook.close()
    return out


def time_searches(page, model, query: str, repeats: int) -> tuple[float, float]:
    """Medians (ms) from the Search click (the demo collection, top 10, at 64 dimensions) to the
    new explorer's heatmap at 64, and of the server's part (status line); the vector cache cleared first."""
    page.get_by_role("tab", name="Search a collection").click()
    page.locator("#search-query textarea").fill(query)
    page.click("#search-dimensions input")
    page.get_by_role("option", name="64", exact=True).click()
    totals, server = [], []
    for _ in range(repeats):
        model.cache.clear()
        page.evaluate("() => { const bar = document.querySelector('.cv-bar'); if (bar) bar.__old = true;"
                      " window.__t0 = performance.now(); }")
        page.click("#search")
        ms = page.wait_for_function(
            "() => { const bar = document.querySelector('.cv-bar');"
            " return !!bar && !bar.__old && document.querySelector('#heatmap')?.dataset.dimension === '64'"
            " && !!document.querySelector('#heatmap .main-svg') && (performance.now() - window.__t0); }",
            polling="raf").json_value()
        status = page.evaluate("() => document.querySelector('#search-status').innerText")
        totals.append(ms)
        server.append(1000 * float(re.search(r" in (\d+\.\d+) s", status).group(1)))
    return statistics.median(totals), statistics.median(server)


def search_only(model, query: str, repeats: int) -> None:
    """Serve the page with the demo collection (indexed with ``model``) and print ``time_searches``."""
    from playwright.sync_api import sync_playwright
    from serving import free_port, launch_chromium

    from colbert_viz.app.collection_shelf import CollectionShelf
    from colbert_viz.app.limits import Limits
    from colbert_viz.app.registry import ModelRegistry
    from colbert_viz.app.ui import build_app, launch_options

    shelf = CollectionShelf()
    demo = build_app(ModelRegistry({"tiny-jina": model}), limits=Limits(), collections=shelf, demo_collection=True)
    shelf.demo_thread.join()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                            **launch_options(Limits()))
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(url)
            page.wait_for_selector("#explorer .cv-mount")
            total, server = time_searches(page, model, query, repeats)
            browser.close()
    finally:
        demo.close()
        shelf.close()
    print(f"\nSearch on the demo collection ({shelf.demo_report.points} documents, tiny random checkpoint), "
          f"top 10 at 64 dimensions, Chromium, medians of {repeats}:")
    print(f"| Search click → explorer at 64 (heatmap drawn) | {total:.1f} ms |")
    print(f"| of which the server (query encode, Qdrant, the Run; status line) | {server:.1f} ms |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=12, help="events per control (at least 10 is sensible)")
    parser.add_argument("--skip-large", action="store_true", help="skip the 64 × 8192-token payload")
    parser.add_argument("--no-screenshots", action="store_true")
    parser.add_argument("--run-only", action="store_true", help="time Run only (no controls, payloads, screenshots)")
    parser.add_argument("--search-only", action="store_true", help="time Search on the demo collection only")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright
    from serving import launch_chromium, served_app

    import colbert_viz
    from colbert_viz.app.limits import Limits
    from colbert_viz.engine.synthetic import write_checkpoint
    from colbert_viz.explorer.payload import run_payload
    from colbert_viz.maths.scoring import ranking

    berlin = json.loads(BERLIN.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = colbert_viz.load(str(write_checkpoint(folder / "tiny-jina", seed=0)), dtype="float32", device="cpu")
        if args.search_only:
            return search_only(model, berlin["query"], args.repeats)
        analysis = model.analyze(berlin["query"], berlin["documents"])
        dims = list(analysis.dimensions)
        order = ranking(analysis.scores(dims[0])).tolist()
        berlin_bytes = compact_bytes(run_payload(analysis, top_n=berlin["top_n"], run_key="bench"))
        export_bytes = colbert_viz.show(analysis).save(folder / "berlin.html").stat().st_size

        with served_app({"tiny-jina": model}, Limits()) as (_, url), sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.set_default_timeout(60_000)
            errors = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(url)
            page.click("#example-berlin")
            page.wait_for_function("() => (" + JS_STATUS + ")().startsWith('Loaded')")
            page.wait_for_selector("#explorer .cv-mount")
            run_ms = time_runs(page, model, args.repeats)
            if args.run_only:
                args.skip_large = args.no_screenshots = True
            controls = {} if args.run_only else time_controls(page, berlin, order, dims, args.repeats)
            shots = [] if args.no_screenshots else screenshots(browser, page, analysis, folder)
            browser.close()
        large = None if args.skip_large else large_payloads(model)

    print(f"\nPage benchmark: tiny random jina-layout checkpoint, Berlin set (8 documents, "
          f"{len(analysis.query)} query tokens), Chromium, medians of {args.repeats} events.\n")
    print("| step | to the chart redrawn (ms) | to every view drawn (ms) |")
    print("|---|---:|---:|")
    for name, (first, every) in controls.items():
        print(f"| {name} | {first:.1f} | {every:.1f} |")
    print(f"| Run click → new heatmap (encode included, cache cleared) | {run_ms[0]:.1f} | |")
    print(f"| Run click → new heatmap, less the encode ({run_ms[2]:.0f} ms, status line) | {run_ms[1]:.1f} | |")
    print("\n| payload | bytes |")
    print("|---|---:|")
    print(f"| Berlin Run (every document's views) | {berlin_bytes:,} |")
    if large:
        print(f"| 64 × 8192 tokens, initial ({large['sent']} document's views, {large['tokens']:,} tokens; "
              f"encode {large['encode_s']:.1f} s, payload built in {large['payload_s']:.2f} s) | {large['initial']:,} |")
        print(f"| 64 × 8192 tokens, one document on demand (built in {large['doc_s']:.2f} s) | {large['document']:,} |")
    print(f"| exported file, Berlin (plotly.js inlined) | {export_bytes:,} |")
    for shot in shots:
        print(f"\nscreenshot: {shot.relative_to(ROOT)} ({shot.stat().st_size:,} bytes)", end="")
    print()
    if errors:
        print("JavaScript errors:", *errors, sep="\n  ")


if __name__ == "__main__":
    main()
