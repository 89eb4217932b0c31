"""Time the page's "Compare encoders" against two Runs, on Berlin, over HTTP.

    python scripts/benchmark_compare.py [--repeats 5] [--checkpoint DIR]

Serves the page on the offline model and a tiny random checkpoint in jina-colbert-v2's
layout (made in a temporary folder unless ``--checkpoint`` names one), then, as one
Gradio session, times from the event's request to its completion message: Compare (A:
tiny, B: offline) against Run tiny followed by Run offline. Both models' vector caches
are cleared before each timed event, so every one encodes. Prints medians in seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "app"))
BERLIN = ROOT / "colbert_viz" / "app" / "assets" / "examples" / "berlin.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--checkpoint", type=Path, default=None)
    args = parser.parse_args()

    from page_client import new_session
    from test_compare_page import compare, serve_page

    import colbert_viz
    from colbert_viz.app.limits import Limits
    from colbert_viz.engine.synthetic import write_checkpoint

    folder = args.checkpoint or write_checkpoint(Path(tempfile.mkdtemp()) / "tiny-jina", seed=0)
    models = {"tiny": colbert_viz.load(str(folder), dtype="float32"), "offline": colbert_viz.load("offline")}
    limits = Limits()
    demo, client = serve_page(models, limits)
    berlin = json.loads(BERLIN.read_text(encoding="utf-8"))
    docs = "\n".join(berlin["documents"])

    def timed(action) -> float:
        for model in models.values():
            model.cache.clear()
        start = time.perf_counter()
        action()
        return time.perf_counter() - start

    session = new_session()
    compare(client, session, berlin["query"], docs)  # warm-up
    client.run(session, berlin["query"], docs, "tiny")
    client.run(session, berlin["query"], docs, "offline")
    compares, runs = [], []
    for _ in range(args.repeats):
        compares.append(timed(lambda: compare(client, session, berlin["query"], docs)))
        runs.append(timed(lambda: (client.run(session, berlin["query"], docs, "tiny"),
                                   client.run(session, berlin["query"], docs, "offline"))))
    demo.close()
    print(f"Berlin ({len(berlin['documents'])} documents), {models['tiny'].info.device}, median of {args.repeats}:")
    print(f"  Compare encoders (tiny beside offline): {statistics.median(compares):.3f} s")
    print(f"  Run tiny + Run offline:                 {statistics.median(runs):.3f} s")


if __name__ == "__main__":
    main()
