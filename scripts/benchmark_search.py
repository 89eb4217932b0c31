"""Scale of the Qdrant collections: indexing throughput and search latency.

    # Indexing: ~1,000 docstrings of installed Python packages, encoded and written to a
    # Qdrant Edge shard (any checkpoint folder; make one with `python -m colbert_viz
    # make-checkpoint DIR --size full`).
    nice -n 10 python scripts/benchmark_search.py index --model DIR --documents 1000

    # Search: top 10 of 10k and 100k documents of 100 random unit vectors (128-d), exact,
    # int8 and binary, rescore on and off; latency, recall@10 against exact, peak memory,
    # bytes on disk. Each setting runs in its own process, so its peak memory is its own.
    nice -n 10 python scripts/benchmark_search.py search --sizes 10000 100000

    # Two stages (a first stage in HNSW, MaxSim on its candidates) against the exact search:
    # recall@10 on a real corpus (docstring paragraphs, the offline model), and latency on
    # synthetic clustered vectors; exact vs pooled vs MUVERA at two candidate counts.
    nice -n 10 python scripts/benchmark_search.py stages-corpus --documents 10000
    nice -n 10 python scripts/benchmark_search.py stages-synthetic --documents 100000

    # 1M documents stored as float16 on disk (about 30 GB and 80 min here); the exact top 10 of
    # every query from numpy while generating; the shard kept, then searched again from disk.
    python scripts/benchmark_search.py stages-synthetic --documents 1000000 --queries 30 \
        --exact-queries 3 --background 0.3 --datatype float16 --on-disk --reference numpy --folder DIR
    python scripts/benchmark_search.py stages-synthetic --documents 1000000 --queries 30 \
        --exact-queries 3 --background 0.3 --datatype float16 --on-disk --reference numpy --folder DIR \
        --measure-only --cold --fresh-latency --candidates 100 400 1000 2000

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

from colbert_viz.collections.backends import DATATYPES  # noqa: E402

PACKAGES = ("numpy", "scipy", "pandas", "torch", "transformers", "gradio", "huggingface_hub", "plotly")
TOKENS, DIM, QUERY_TOKENS, TOP_K, OVERSAMPLING = 100, 128, 32, 10, 4.0


# ---- indexing throughput -------------------------------------------------------------


def docstrings(limit: int, min_words: int = 20) -> tuple[list[str], str]:
    """Up to ``limit`` docstrings of ≥ ``min_words`` words from the installed packages'
    source files (read with ``ast``, nothing imported), in file order; and where from."""
    texts: list[str] = []
    used = []
    for doc, source in _docstrings(min_words):
        texts.append(doc)
        used = source
        if len(texts) >= limit:
            break
    return texts, ", ".join(used)


def _docstrings(min_words: int):
    """``(docstring, packages read so far)`` of ≥ ``min_words`` words, each once, in file order."""
    seen: set[str] = set()
    used: list[str] = []
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
                    if doc and len(doc.split()) >= min_words and doc not in seen:
                        seen.add(doc)
                        yield doc, list(used)


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


# ---- two stages ----------------------------------------------------------------------

CANDIDATES = (100, 400)


def paragraphs(limit: int, min_words: int = 12) -> tuple[list[str], str]:
    """Up to ``limit`` distinct paragraphs (blank-line separated, ≥ ``min_words`` words) of the
    installed packages' docstrings, in file order; and where from."""
    out: dict[str, None] = {}
    used: list[str] = []
    for doc, used in _docstrings(min_words):
        for para in doc.split("\n\n"):
            para = " ".join(para.split())
            if len(para.split()) >= min_words and para not in out:
                out[para] = None
                if len(out) >= limit:
                    return list(out), ", ".join(used)
    return list(out), ", ".join(used)


def _stage_runs(backend, queries: list[np.ndarray], using: str, firsts: dict, exact_queries: int,
                reference: list[list[str]] | None = None, candidates: tuple[int, ...] = CANDIDATES,
                fresh=None) -> list[dict]:
    """Top 10 of each query: exact (first ``exact_queries``), and each first stage at each
    candidate count; latency (after one warm-up query) and recall@10 against the exact top 10
    (``reference``: every query's, computed elsewhere, and the full scans run last so they do
    not evict the first stages' pages first; else Qdrant's full scans of the first
    ``exact_queries``, run first). ``fresh(i)``: the i-th query never searched before; given,
    each setting is timed on its own fresh queries (after 3 warm-up ones), so no setting finds
    its candidates in the page cache because an earlier one read them, and recall comes from
    ``queries``, untimed."""

    def exact() -> tuple[list[float], list[list[str]]]:
        times, ids = [], []
        for i, qv in enumerate(queries[: exact_queries + 1]):
            t = time.perf_counter()
            found = backend.query(qv, using, TOP_K, None, exact=True)
            if i:
                times.append(time.perf_counter() - t)
            ids.append([p.id for p in found])
        return times, ids[1:]

    if reference is None:
        exact_times, exact_ids = exact()
        truth = exact_ids
    else:
        truth = reference[1:]
    runs = []
    for kind, stage in firsts.items():
        vectors = [stage.query(qv[:, :stage.source]) for qv in queries]
        for count in candidates:
            times, ids = [], []
            for i, (qv, fv) in enumerate(zip(queries, vectors)):
                t = time.perf_counter()
                found = backend.query_two_stage(fv, stage.name, count, qv, using, TOP_K)
                if i:
                    times.append(time.perf_counter() - t)
                ids.append([p.id for p in found])
            if fresh is not None:
                # each setting its own block of fresh seeds (100 apart, as the README's runs; wider for more queries)
                block = max(100, len(queries) + 3)
                times = _fresh_times(backend, stage, count, using, fresh, len(runs) * block, len(queries) - 1)
            runs.append(_row(kind, count, times, ids[1: len(truth) + 1], truth))
    if reference is not None:
        exact_times, exact_ids = exact()
    return [_row("exact", None, exact_times, exact_ids, truth[: len(exact_ids)]), *runs]


def _fresh_times(backend, stage, count: int, using: str, fresh, first: int, n: int) -> list[float]:
    """Seconds of ``n`` two-stage searches on fresh queries ``first + 3`` …, after 3 warm-up ones."""
    times = []
    for i in range(n + 3):
        qv = fresh(first + i)
        fv = stage.query(qv[:, :stage.source])
        t = time.perf_counter()
        backend.query_two_stage(fv, stage.name, count, qv, using, TOP_K)
        if i >= 3:
            times.append(time.perf_counter() - t)
    return times


def _row(kind: str, candidates: int | None, times: list[float], ids, exact_ids) -> dict:
    recall = np.mean([len(set(a) & set(b)) / TOP_K for a, b in zip(ids, exact_ids)])
    return {"first_stage": kind, "candidates": candidates, "queries": len(times),
            "median_ms": round(1000 * float(np.median(times)), 1),
            "p95_ms": round(1000 * float(np.percentile(times, 95)), 1),
            "recall_at_10": round(float(recall), 3), "recall_queries": len(exact_ids)}


def _table(rows: list[dict], head: dict) -> None:
    print(json.dumps(head), flush=True)
    print("\n| first stage | candidates | median ms | p95 ms | recall@10 |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['first_stage']} | {r['candidates'] or '-'} | {r['median_ms']:,} | {r['p95_ms']:,} "
              f"| {r['recall_at_10']} |")


def bench_stages_corpus(args) -> list[dict]:
    """Docstring paragraphs indexed with the offline model (both first stages); held-out
    paragraphs' first sentences as queries."""
    import colbert_viz
    from colbert_viz.collections import EdgeBackend, index
    from colbert_viz.collections.first_stage import stages

    texts, source = paragraphs(args.documents + args.queries)
    docs, held = texts[: args.documents], texts[args.documents:]
    queries = [t.split(". ")[0] for t in held]
    model = colbert_viz.load("offline", dtype="float32", device="cpu")
    folder = Path(tempfile.mkdtemp(prefix="bench-stages-", dir=args.tmp))
    try:
        with EdgeBackend(folder / "c") as backend:
            start = time.perf_counter()
            report = index(model, backend, docs, batch_size=64, doc_maxlen=args.doc_maxlen)
            index_s = time.perf_counter() - start
            dim = max(model.dimensions)
            firsts = {s.kind: s for s in stages(backend.specs())}
            encoded = [r.at_dim(dim) for r in model.encode_queries(queries)]
            rows = _stage_runs(backend, encoded, f"colbert-{dim}", firsts, len(encoded) - 1)
            disk = _bytes(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    head = {"what": "stages-corpus", "source": source, "documents": len(docs), "queries": len(queries) - 1,
            "tokens": report.tokens, "index_s": round(index_s, 1), "bytes_on_disk": disk, "peak_rss_mb": _peak_mb(),
            "first_stages": {k: s.name for k, s in firsts.items()}, "rows": rows}
    _table(rows, head)
    return rows


def clustered(first: int, count: int, topics: int = 1000, words: int = 20, tokens: int = TOKENS,
              noise: float = 0.75, background: float = 0.0) -> np.ndarray:
    """(count, tokens, DIM) unit vectors with structure: document ``i`` belongs to topic
    ``i % topics``; each token is one of its topic's ``words`` unit vectors (drawn at random)
    plus Gaussian noise of norm about ``noise``, normalised. With ``background`` p, each token is
    instead, with probability p, a word of any topic (shared words: documents of one topic then
    differ in how many of their tokens are on topic, and topics overlap). The same for every run."""
    vocab = np.random.default_rng(12345).standard_normal((topics, words, DIM), dtype=np.float32)
    vocab /= np.linalg.norm(vocab, axis=-1, keepdims=True)
    out = np.empty((count, tokens, DIM), np.float32)
    for j, i in enumerate(range(first, first + count)):
        rng = np.random.default_rng(1_000_000 + i)
        topic = np.full(tokens, i % topics)
        if background:
            shared = rng.random(tokens) < background
            topic[shared] = rng.integers(0, topics, int(shared.sum()))
        v = vocab[topic, rng.integers(0, words, tokens)] + \
            rng.standard_normal((tokens, DIM), dtype=np.float32) * (noise / np.sqrt(DIM))
        out[j] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def bench_stages_synthetic(args) -> list[dict]:
    """``args.documents`` clustered documents of 100 vectors in a Qdrant Edge shard with both
    first stages; queries of 32 vectors drawn like documents of random topics.

    With ``--reference numpy`` the exact top 10 of every query is computed while the documents
    are generated (numpy MaxSim over the vectors as stored: float16-rounded with ``--datatype
    float16``), so recall needs no full scan of Qdrant; ``--exact-queries`` full scans are still
    timed, and their top 10 compared with numpy's. ``--folder`` keeps the shard (and the
    reference) there; ``--measure-only`` then searches it again without building."""
    from colbert_viz.collections import EdgeBackend
    from colbert_viz.collections.backends import StoredPoint, VectorSpec
    from colbert_viz.collections.first_stage import make
    from colbert_viz.collections.indexing import optimize_due

    firsts = {kind: make(kind, DIM) for kind in ("pooled", "muvera")}
    folder = Path(args.folder) if args.folder else Path(tempfile.mkdtemp(prefix="bench-stages-", dir=args.tmp))
    queries = [clustered(7_000_000 + i, 1, tokens=QUERY_TOKENS, background=args.background)[0]
               for i in range(args.queries + 1)]
    timing = {"generate_s": 0.0, "reference_s": 0.0, "first_stage_s": 0.0, "upsert_s": 0.0, "optimize_s": 0.0}
    saved = folder / "reference.json"
    spec = VectorSpec("colbert-128", DIM, datatype=args.datatype, on_disk=args.on_disk)
    try:
        if not args.measure_only:
            reference = _TopK(np.stack(queries), TOP_K) if args.reference == "numpy" else None
            with EdgeBackend(folder / "c") as backend:
                backend.create([spec, *(f.spec() for f in firsts.values())], "none", 0)
                optimized = 0
                for first in range(0, args.documents, 500):
                    t0 = time.perf_counter()
                    docs = clustered(first, min(500, args.documents - first), background=args.background)
                    if args.datatype == "float16":  # what Qdrant stores (the vectors are unit already)
                        docs = docs.astype(np.float16).astype(np.float32)
                    t1 = time.perf_counter()
                    if reference is not None:
                        reference.add(first, docs)
                    t2 = time.perf_counter()
                    points = [StoredPoint(str(first + i), {}, {"colbert-128": d, **{f.name: f.document(d)
                                                                                   for f in firsts.values()}})
                              for i, d in enumerate(docs)]
                    t3 = time.perf_counter()
                    backend.upsert(points)
                    t4 = time.perf_counter()
                    if optimize_due([spec], first + len(docs), optimized):
                        backend.optimize()
                        optimized = first + len(docs)
                    timing["generate_s"] += t1 - t0
                    timing["reference_s"] += t2 - t1
                    timing["first_stage_s"] += t3 - t2
                    timing["upsert_s"] += t4 - t3
                    timing["optimize_s"] += time.perf_counter() - t4
                    if (first // 500) % 200 == 199:
                        print(json.dumps({"progress": first + len(docs), **{k: round(v) for k, v in timing.items()},
                                          "peak_rss_mb": _peak_mb()}), file=sys.stderr, flush=True)
                t = time.perf_counter()
                backend.optimize()
                timing["optimize_s"] += time.perf_counter() - t
            built = {**{k: round(v, 1) for k, v in timing.items()}, "bytes_on_disk": _bytes(folder / "c"),
                     "build_peak_rss_mb": _peak_mb(),
                     "reference": reference.ids() if reference is not None else None}
            saved.write_text(json.dumps(built))
        built = json.loads(saved.read_text())
        if args.cold:
            _cold_multivectors(folder / "c")
        with EdgeBackend(folder / "c") as backend:
            fresh = (lambda i: clustered(8_000_000 + i, 1, tokens=QUERY_TOKENS, background=args.background)[0]) \
                if args.fresh_latency else None
            rows = _stage_runs(backend, queries, "colbert-128", firsts, args.exact_queries,
                               reference=built["reference"], candidates=tuple(args.candidates), fresh=fresh)
    finally:
        if not args.folder:
            shutil.rmtree(folder, ignore_errors=True)
    head = {"what": "stages-synthetic", "documents": args.documents, "queries": args.queries,
            "background": args.background, "datatype": args.datatype, "on_disk": args.on_disk,
            "reference": args.reference, "cold": args.cold, "candidates": args.candidates,
            "fresh_latency": args.fresh_latency,
            **{k: v for k, v in built.items() if k != "reference"}, "peak_rss_mb": _peak_mb(),
            "first_stages": {k: s.name for k, s in firsts.items()}, "rows": rows}
    _table(rows, head)
    return rows


class _TopK:
    """The exact MaxSim top ``k`` of each query over documents added in batches (numpy)."""

    def __init__(self, queries: np.ndarray, k: int) -> None:
        self.queries, self.k = queries, k  # (n_queries, query_tokens, DIM)
        self.best = [np.zeros(0, np.int64) for _ in queries]
        self.scores = [np.zeros(0, np.float32) for _ in queries]

    def add(self, first: int, docs: np.ndarray) -> None:
        """``docs`` (count, tokens, DIM) are documents ``first`` … ``first + count - 1``."""
        n_q, q_tok, _ = self.queries.shape
        sims = docs.reshape(-1, DIM) @ self.queries.reshape(-1, DIM).T      # (count·tokens, n_q·q_tok)
        maxsim = sims.reshape(len(docs), -1, n_q, q_tok).max(axis=1).sum(axis=2)  # (count, n_q)
        ids = np.arange(first, first + len(docs))
        for j in range(n_q):
            scores = np.concatenate([self.scores[j], maxsim[:, j]])
            every = np.concatenate([self.best[j], ids])
            keep = np.argsort(-scores, kind="stable")[: self.k]
            self.best[j], self.scores[j] = every[keep], scores[keep]

    def ids(self) -> list[list[str]]:
        return [[str(i) for i in b] for b in self.best]


def _cold_multivectors(folder: Path) -> None:
    """The deployment the on-disk storage is for: drop the multivectors' files from the page
    cache (``vector_storage-colbert-*``), read every other file of the shard into it (the first
    stages' vectors and graphs, as Qdrant's default cached memory keeps them)."""
    for f in sorted(folder.rglob("*")):
        if not f.is_file():
            continue
        fd = os.open(f, os.O_RDONLY)
        try:
            if any(part.startswith("vector_storage-colbert-") for part in f.parts):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            else:
                while os.read(fd, 1 << 24):
                    pass
        finally:
            os.close(fd)


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
    sc = sub.add_parser("stages-corpus", help="two stages vs exact on docstring paragraphs, the offline model")
    sc.add_argument("--documents", type=int, default=10_000)
    sc.add_argument("--queries", type=int, default=50)
    sc.add_argument("--doc-maxlen", type=int, default=128)
    sc.add_argument("--tmp", default=None)
    ss = sub.add_parser("stages-synthetic", help="two stages vs exact on clustered synthetic vectors")
    ss.add_argument("--documents", type=int, default=100_000)
    ss.add_argument("--queries", type=int, default=50)
    ss.add_argument("--exact-queries", type=int, default=10)
    ss.add_argument("--tmp", default=None)
    ss.add_argument("--background", type=float, default=0.0,
                    help="probability that a token is a word of any topic (0: documents of a topic stand apart)")
    ss.add_argument("--datatype", choices=DATATYPES, default="float32",
                    help="how the multivectors are stored (as `index --datatype`)")
    ss.add_argument("--on-disk", action="store_true", help="multivectors memory-mapped on disk (as `index --on-disk`)")
    ss.add_argument("--reference", choices=("qdrant", "numpy"), default="qdrant",
                    help="the exact top 10 for recall: Qdrant's full scan of --exact-queries queries, or numpy's "
                         "of every query, computed while generating (for collections too large to scan often)")
    ss.add_argument("--folder", default=None, help="build the shard here and keep it (default: a temporary folder)")
    ss.add_argument("--measure-only", action="store_true", help="search the shard kept in --folder again")
    ss.add_argument("--cold", action="store_true",
                    help="before loading: the multivectors' files out of the page cache, the first stages' in it")
    ss.add_argument("--fresh-latency", action="store_true",
                    help="time each setting on its own new queries (recall stays on the reference queries)")
    ss.add_argument("--candidates", type=int, nargs="+", default=list(CANDIDATES), help="first-stage candidate counts")
    b = sub.add_parser("_build")
    b.add_argument("folder")
    b.add_argument("n", type=int)
    m = sub.add_parser("_measure")
    m.add_argument("folder")
    m.add_argument("quantization")
    m.add_argument("queries", type=int)
    args = parser.parse_args()
    if getattr(args, "measure_only", False) and not args.folder:
        parser.error("--measure-only searches the shard a build kept: give its --folder")
    if args.command == "corpus":
        texts, source = docstrings(args.documents)
        with args.out.open("w", encoding="utf-8") as out:
            out.writelines(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts)
        print(f"{len(texts)} docstrings of {source} in {args.out}", file=sys.stderr)
    elif args.command == "index":
        bench_index(args)
    elif args.command == "search":
        bench_search(args)
    elif args.command == "stages-corpus":
        bench_stages_corpus(args)
    elif args.command == "stages-synthetic":
        bench_stages_synthetic(args)
    elif args.command == "_build":
        print(json.dumps(build(args.folder, args.n, args.threads)))
    else:
        print(json.dumps(measure(args.folder, args.quantization, args.queries, args.threads)))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
