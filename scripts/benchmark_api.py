"""A Berlin Run through Jina's API (the loopback stand-in of the tests) against the same Run local.

    python scripts/benchmark_api.py                      # tiny random checkpoint, 5 repeats
    python scripts/benchmark_api.py --size full --repeats 3

The stand-in (``tests/jina_server.py``, 127.0.0.1) computes the vectors with the same
checkpoint, so the difference is what going through the API costs here: the HTTP
requests (one for the query, one per 32 documents), JSON both ways, the local
tokenization that labels the vectors. Each repeat starts with empty vector caches.
Prints a markdown table of medians. Jina's real API adds the network and its own
compute; this measures the client's share.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from jina_server import KEY, JinaStub

    import colbert_viz
    from colbert_viz.engine.api_encoder import ApiEncoder, api_tokenizer
    from colbert_viz.engine.cache import VectorCache
    from colbert_viz.engine.synthetic import FULL_SIZE, TINY, write_checkpoint

    berlin = json.loads((ROOT / "colbert_viz/app/assets/examples/berlin.json").read_text(encoding="utf-8"))
    folder = write_checkpoint(Path(tempfile.mkdtemp()) / "ckpt", shape=TINY if args.size == "tiny" else FULL_SIZE)
    local = colbert_viz.load(str(folder), dtype="float32", device="cpu")
    server_model = colbert_viz.load(str(folder), dtype="float32", device="cpu")  # its own cache
    stub = JinaStub(server_model)
    template = ApiEncoder(api_tokenizer(hub=False), None, base_url=stub.url)
    times: dict[str, list[float]] = {"local": [], "api": []}
    try:
        for _ in range(args.repeats):
            for model in (local, server_model):
                model.cache = VectorCache()
            started = time.perf_counter()
            expected = local.analyze(berlin["query"], berlin["documents"])
            times["local"].append(time.perf_counter() - started)
            api = template.with_key(KEY)
            started = time.perf_counter()
            got = api.analyze(berlin["query"], berlin["documents"])
            times["api"].append(time.perf_counter() - started)
            api.close()
            assert list(got.ranks(128)) == list(expected.ranks(128))
    finally:
        stub.close()
    local_s, api_s = statistics.median(times["local"]), statistics.median(times["api"])
    print(f"| Berlin Run ({args.size} checkpoint, {len(berlin['documents'])} documents) | median s |")
    print("|---|---|")
    print(f"| local encode | {local_s:.3f} |")
    print(f"| through the loopback API (server encodes with the same checkpoint) | {api_s:.3f} |")
    print(f"| the API path's own cost (difference) | {api_s - local_s:.3f} |")


if __name__ == "__main__":
    main()
