"""Scale of the Qdrant collections: indexing throughput and search latency.

    # Indexing: ~1,000 docstrings of installed Python packages, encoded and written to a
    # Qdrant Edge shard (any checkpoint folder; make one with `python -m colbert_viz
    # make-checkpoint DIR --size full`).
    nice -n 10 python scripts/benchmark_search.py index --model DIR --documents 1000

    # Search: top 10 of 10k and 100k documents of 100 random unit vectors (128-d), exact,
    # int8 and binary, rescore on and off; latency, recall@10 against exact, peak memory,
    # bytes on disk. Each setting runs in its own process, so its peak memory is its own.
    nice -n 10 python scripts/benchmark_search.py search --sizes 10000 100000

Prints one JSON line per measurement and a Markdown table at the end.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PACKAGES = ("numpy", "scipy", "pandas", "torch", "transformers", "gradio", "huggingface_hub", "plotly")
TOKENS, DIM, QUERY_TOKENS, TOP_K, OVERSAMPLING = 100, 128, 32, 10, 4.0


# ---- indexing throughput -------------------------------------------------------------


def docstrings(limit: int, min_words: int = 20) -> tuple[list[str], str]:
    """Up to ``limit`` docstrings of ≥ ``min_words`` words from the installed packages'
    source files (read with ``ast``, nothing imported), in file order; and where from."""
    texts: list[str] = []
    used = []
    for name in PACKAGES:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        used.append(f"{name} {dist.version}")
        files = sorted(str(f) for f in dist.files or () if str(f).endswith(".py"))
        for file in files:
            try:
                tree = ast.parse(Path(dist.locate_file(file)).read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    if doc and len(doc.split()) >= min_words and doc not in texts:
                        texts.append(doc)
                        if len(texts) >= limit:
                            return texts, ", ".join(used)
    return texts, ", ".join(used)


def bench_index(args) -> dict:
    import colbert_viz
    from colbert_viz.collections import EdgeBackend, index

    texts, source = docstrings(args.documents)
    model = colbert_viz.load(args.model, dtype=args.dtype, device="cpu")
    folder = Path(tempfile.mkdtemp(prefix="bench-index-"))
    try:
        with EdgeBackend(folder / "c") as backend:
            report = index(model, backend, texts, batch_size=32, doc_maxlen=args.doc_maxlen)
        disk = _bytes(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out = {"what": "index", "model": model.info.name, "dtype": model.info.dtype, "source": source,
           "doc_maxlen": args.doc_maxlen, **report.to_dict(), "bytes_on_disk": disk,
           "peak_rss_mb": _peak_mb(), "threads": _threads()}
    print(json.dumps(out), flush=True)
    return out


# ---- search latency ------------------------------------------------------------------


def _edge_config(quantization: str, threads: int | None):
    import qdrant_edge as q

    from colbert_viz.collections.edge import _edge_quantization

    multi = q.MultiVectorConfig(comparator=q.MultiVectorComparator.MaxSim)
    return q.EdgeConfig(
        vectors={"colbert-128": q.EdgeVectorParams(size=DIM, distance=q.Distance.Cosine, multivector_config=multi)},
        quantization_config=_edge_quantization(quantization),
        hnsw_config=q.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10),
        optimizers=q.EdgeOptimizersConfig(indexing_threshold=1, default_segment_number=1),
        max_search_threads=threads,
    )


def _documents(first: int, count: int) -> np.ndarray:
    """Documents ``first`` … ``first + count - 1``: (count, TOKENS, DIM) random unit vectors,
    the same for every run."""
    rows = []
    for i in range(first, first + count):
        v = np.random.default_rng(i).standard_normal((TOKENS, DIM), dtype=np.float32)
        rows.append(v / np.linalg.norm(v, axis=1, keepdims=True))
    return np.stack(rows)


def _queries(n: int) -> list[np.ndarray]:
    out = []
    for i in range(n):
        v = np.random.default_rng(10_000_000 + i).standard_normal((QUERY_TOKENS, DIM), dtype=np.float32)
        out.append(v / np.linalg.norm(v, axis=1, keepdims=True))
    return out


def build(folder: str, n: int, threads: int | None) -> dict:
    """An unquantized shard of ``n`` documents (run in its own process)."""
    import qdrant_edge as q

    start = time.perf_counter()
    shard = q.EdgeShard.create(folder, _edge_config("none", threads))
    for first in range(0, n, 500):
        docs = _documents(first, min(500, n - first))
        shard.update(q.UpdateOperation.upsert_points(
            [q.Point(id=first + i, vector={"colbert-128": d}) for i, d in enumerate(docs)]))
    shard.flush()
    upserted = time.perf_counter() - start
    shard.optimize()
    shard.close()
    return {"what": "build", "documents": n, "upsert_s": round(upserted, 1),
            "optimize_s": round(time.perf_counter() - start - upserted, 1), "peak_rss_mb": _peak_mb()}


def measure(folder: str, quantization: str, queries: int, threads: int | None) -> dict:
    """Load a shard with ``quantization`` (built by ``optimize``), then time top-10 queries
    with rescore off, and on with ``OVERSAMPLING`` × 10 candidates (run in its own process)."""
    import qdrant_edge as q

    start = time.perf_counter()
    shard = q.EdgeShard.load(folder, _edge_config(quantization, threads))
    shard.optimize()
    prepared = time.perf_counter() - start
    out = {"what": "search", "quantization": quantization, "prepare_s": round(prepared, 1), "runs": []}
    for rescore in ([None] if quantization == "none" else [False, True]):
        oversampling = OVERSAMPLING if rescore else None
        params = q.SearchParams(quantization=q.QuantizationSearchParams(rescore=rescore, oversampling=oversampling))
        times, ids = [], []
        qs = _queries(queries + 1)
        for i, qv in enumerate(qs):
            t = time.perf_counter()
            found = shard.query(q.QueryRequest(limit=TOP_K, query=q.Query.Nearest(qv, using="colbert-128"),
                                               params=params))
            if i:  # the first query warms the caches
                times.append(time.perf_counter() - t)
                ids.append([int(p.id) for p in found])
        out["runs"].append({"rescore": rescore, "median_ms": round(1000 * float(np.median(times)), 1),
                            "p90_ms": round(1000 * float(np.percentile(times, 90)), 1), "ids": ids})
    shard.close()
    out["peak_rss_mb"] = _peak_mb()
    out["bytes_on_disk"] = _bytes(Path(folder))
    return out


def bench_search(args) -> list[dict]:
    rows = []
    root = Path(tempfile.mkdtemp(prefix="bench-search-", dir=args.tmp))
    try:
        for n in args.sizes:
            base = root / f"n{n}"
            built = _child(["_build", str(base), str(n)], args)
            print(json.dumps(built), flush=True)
            exact_ids = None
            queries = args.queries if n <= 10_000 else max(3, args.queries // 4)
            for quantization in ("none", "int8", "binary"):
                folder = base if quantization == "none" else root / f"n{n}-{quantization}"
                if folder != base:
                    shutil.copytree(base, folder)
                result = _child(["_measure", str(folder), quantization, str(queries)], args)
                if folder != base:
                    shutil.rmtree(folder)
                for run in result["runs"]:
                    if quantization == "none":
                        exact_ids = run["ids"]
                    recall = np.mean([len(set(a) & set(b)) / TOP_K for a, b in zip(run["ids"], exact_ids)])
                    row = {"documents": n, "quantization": quantization,
                           "rescore": "-" if run["rescore"] is None else (f"on, ×{OVERSAMPLING:g}" if run["rescore"]
                                                                          else "off"),
                           "median_ms": run["median_ms"], "p90_ms": run["p90_ms"], "queries": queries,
                           "recall_at_10": round(float(recall), 3), "peak_rss_mb": result["peak_rss_mb"],
                           "disk_mb": round(result["bytes_on_disk"] / 2**20),
                           "prepare_s": result["prepare_s"], "build": built}
                    print(json.dumps(row), flush=True)
                    rows.append(row)
            shutil.rmtree(base)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("\n| documents | storage | rescore | median ms | p90 ms | recall@10 | peak RSS MB | disk MB |")
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['documents']:,} | {r['quantization']} | {r['rescore']} | {r['median_ms']} | {r['p90_ms']} "
              f"| {r['recall_at_10']} | {r['peak_rss_mb']} | {r['disk_mb']:,} |")
    return rows


def _child(extra: list[str], args) -> dict:
    cmd = [sys.executable, __file__, *extra] + (["--threads", str(args.threads)] if args.threads else [])
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(extra)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _peak_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _bytes(folder: Path) -> int:
    """Bytes the folder takes on disk (allocated blocks: Qdrant preallocates sparse files)."""
    return sum(f.stat().st_blocks * 512 for f in folder.rglob("*") if f.is_file())


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="Qdrant's search threads (default: one per CPU)")
    sub = parser.add_subparsers(dest="command", required=True)
    idx = sub.add_parser("index")
    idx.add_argument("--model", required=True)
    idx.add_argument("--dtype", default="auto")
    idx.add_argument("--documents", type=int, default=1000)
    idx.add_argument("--doc-maxlen", type=int, default=300)
    corpus = sub.add_parser("corpus", help="write docstrings of the installed packages as JSONL (a real corpus)")
    corpus.add_argument("--documents", type=int, default=1000)
    corpus.add_argument("--out", type=Path, required=True)
    srch = sub.add_parser("search")
    srch.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    srch.add_argument("--queries", type=int, default=20)
    srch.add_argument("--tmp", default=None, help="folder for the shards (default: the system's temp folder)")
    b = sub.add_parser("_build")
    b.add_argument("folder")
    b.add_argument("n", type=int)
    m = sub.add_parser("_measure")
    m.add_argument("folder")
    m.add_argument("quantization")
    m.add_argument("queries", type=int)
    args = parser.parse_args()
    if args.command == "corpus":
        texts, source = docstrings(args.documents)
        with args.out.open("w", encoding="utf-8") as out:
            out.writelines(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts)
        print(f"{len(texts)} docstrings of {source} in {args.out}", file=sys.stderr)
    elif args.command == "index":
        bench_index(args)
    elif args.command == "search":
        bench_search(args)
    elif args.command == "_build":
        print(json.dumps(build(args.folder, args.n, args.threads)))
    else:
        print(json.dumps(measure(args.folder, args.quantization, args.queries, args.threads)))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
