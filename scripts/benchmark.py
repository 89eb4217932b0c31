"""Benchmark the engine on a full-size random checkpoint (jina-colbert-v2's shapes).

    python scripts/benchmark.py                  # float32 and bfloat16, all measurements
    python scripts/benchmark.py --dtypes bfloat16 --skip-long

Measures, per dtype, medians over ``--repeats`` runs with the vector cache
cleared before each: the Berlin query, the 8 Berlin documents, and (in a fresh
subprocess, for an honest peak RSS) one 8192-token document; tokens per
second; the model's arithmetic rate as a fraction of this machine's measured
matmul peak for the dtype; and re-explaining the 8 documents at another
dimension. Random weights give the real model's speed: the arithmetic does not
depend on the values. Not a test: timings on shared machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BERLIN = ROOT / "colbert_viz" / "app" / "assets" / "examples" / "berlin.json"
DEFAULT_CHECKPOINT = ROOT / ".bench" / "jina-colbert-v2-random"


def median_seconds(fn, repeats: int, before=None) -> float:
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_peak(dtype_name: str, repeats: int) -> float:
    """Best median FLOP/s of large GEMMs in the shapes the model uses (M tokens × 1024 → 4096)."""
    import torch

    dtype = getattr(torch, dtype_name)
    best = 0.0
    for m, k, n in ((2048, 1024, 4096), (4096, 1024, 4096), (2048, 4096, 1024)):
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(n, k, dtype=dtype)
        for _ in range(3):
            a @ b.T
        t = median_seconds(lambda a=a, b=b: a @ b.T, repeats * 2)
        best = max(best, 2 * m * k * n / t)
    return best


def model_flops(config: dict, dim: int, lengths: list[int]) -> float:
    """Multiply-add FLOPs of one forward pass over sequences of ``lengths`` (embedding lookups excluded)."""
    h, ff, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    per_token = layers * 2 * (3 * h * h + h * h + 2 * h * ff) + 2 * h * dim
    attention = layers * sum(4 * n * n * h for n in lengths)
    return per_token * sum(lengths) + attention


def long_document(tokenizer, n_tokens: int) -> str:
    """English text of at least ``n_tokens`` tokens, built from the Berlin documents."""
    docs = json.loads(BERLIN.read_text(encoding="utf-8"))["documents"]
    text = ""
    while len(tokenizer.tokenizer.encode(text, add_special_tokens=False).ids) < n_tokens:
        text += " ".join(docs) + "\n"
    return text


def bench_dtype(checkpoint: Path, dtype: str, repeats: int) -> dict:
    import colbert_viz
    from colbert_viz.maths.analysis import Analysis

    model = colbert_viz.load(str(checkpoint), dtype=dtype, device="cpu")
    config = json.loads((checkpoint / "config.json").read_text())
    berlin = json.loads(BERLIN.read_text(encoding="utf-8"))
    clear = model.cache.clear
    model.encode_queries([berlin["query"]])  # warm-up
    model.encode_documents(berlin["documents"])
    t_query = median_seconds(lambda: model.encode_queries([berlin["query"]]), repeats * 2, clear)
    t_docs = median_seconds(lambda: model.encode_documents(berlin["documents"]), repeats, clear)
    query = model.encode_queries([berlin["query"]])[0]
    docs = model.encode_documents(berlin["documents"])
    lengths = [len(d) for d in docs]
    flops = model_flops(config, model.info.dim, lengths)
    peak = matmul_peak(dtype, repeats)

    def reexplain():
        analysis = Analysis(query=query, documents=docs, dimensions=model.dimensions)
        analysis.scores(64)
        for i in range(len(docs)):
            analysis.explain(i, 64)

    t_explain = median_seconds(reexplain, repeats * 4)
    return {
        "dtype": dtype,
        "query_ms": 1000 * t_query,
        "query_tokens": len(query),
        "docs_ms": 1000 * t_docs,
        "docs_tokens": sum(lengths),
        "docs_tokens_per_s": sum(lengths) / t_docs,
        "docs_gflops": flops / t_docs / 1e9,
        "matmul_peak_gflops": peak / 1e9,
        "docs_fraction_of_peak": flops / t_docs / peak,
        "reexplain_8_docs_at_64_ms": 1000 * t_explain,
    }


def peak_rss_gib() -> float:
    """This process's peak resident memory. ``VmHWM`` starts afresh at exec;
    ``ru_maxrss`` would carry over the parent's peak when the child is spawned."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20  # kB → GiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def bench_long(checkpoint: Path, dtype: str, n_tokens: int, repeats: int) -> dict:
    """One long document; run in a fresh process so ru_maxrss is this measurement's."""
    import colbert_viz

    model = colbert_viz.load(str(checkpoint), dtype=dtype, device="cpu")
    config = json.loads((checkpoint / "config.json").read_text())
    text = long_document(model.tokenizer, n_tokens)
    t = median_seconds(lambda: model.encode_documents([text], doc_maxlen=n_tokens), repeats,
                       model.cache.clear)
    record = model.encode_documents([text], doc_maxlen=n_tokens)[0]
    flops = model_flops(config, model.info.dim, [len(record)])
    return {
        "dtype": dtype,
        "long_doc_tokens": len(record),
        "long_doc_s": t,
        "long_doc_tokens_per_s": len(record) / t,
        "long_doc_gflops": flops / t / 1e9,
        "peak_rss_gib": peak_rss_gib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--long-tokens", type=int, default=8192)
    parser.add_argument("--long-repeats", type=int, default=1)
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--long-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    if args.long_only:
        print(json.dumps(bench_long(args.checkpoint, args.dtypes[0], args.long_tokens, args.long_repeats)))
        return
    if not (args.checkpoint / "model.safetensors").is_file():
        from colbert_viz.engine.synthetic import FULL_SIZE, write_checkpoint

        print(f"writing a full-size random checkpoint to {args.checkpoint} …", file=sys.stderr)
        write_checkpoint(args.checkpoint, shape=FULL_SIZE)
    import torch

    results = []
    for dtype in args.dtypes:
        row = bench_dtype(args.checkpoint, dtype, args.repeats)
        if not args.skip_long:
            out = subprocess.run(
                [sys.executable, __file__, "--long-only", "--checkpoint", str(args.checkpoint),
                 "--dtypes", dtype, "--long-tokens", str(args.long_tokens),
                 "--long-repeats", str(args.long_repeats)],
                check=True, capture_output=True, text=True,
            )
            long = json.loads(out.stdout.strip().splitlines()[-1])
            row |= {k: v for k, v in long.items() if k != "dtype"}
            row["long_doc_fraction_of_peak"] = row["long_doc_gflops"] / row["matmul_peak_gflops"]
        results.append(row)
        print(json.dumps(row), file=sys.stderr)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    keys = [k for k in results[0] if k != "dtype"]
    print("| measurement | " + " | ".join(r["dtype"] for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for key in keys:
        cells = []
        for r in results:
            v = r.get(key)
            cells.append("" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v))
        print(f"| {key} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
