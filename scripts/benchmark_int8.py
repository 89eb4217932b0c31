"""float32 against the opt-in int8 engine on a full-size random checkpoint.

    python scripts/benchmark_int8.py --checkpoint /tmp/jina-colbert-v2-random
    python scripts/benchmark_int8.py --engines float32 bfloat16 int8 --rounds 3

For every example set in ``colbert_viz/app/assets/examples/*.json`` (the Berlin set, the
multilingual, cross-lingual and code sets: a query and its documents) it
encodes the query and the documents with the vector cache cleared, the engines
alternating (A B A B …, ``--rounds`` each), and reports per set: the median
seconds per engine, and how far each engine's ranking moved from the first
engine's (Kendall tau of the scores, largest absolute score change, beside
the spread of the first engine's scores). Memory (peak ``VmHWM``, and
``VmRSS`` after encoding) comes from a fresh subprocess per engine that loads
the model and encodes every set once. It also prints what ``dtype="auto"`` picks
here. Random weights give the real model's speed; agreement on random weights
shows how much int8 moves scores, not retrieval quality. Not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXAMPLES = ROOT / "colbert_viz" / "app" / "assets" / "examples"
DEFAULT_CHECKPOINT = ROOT / ".bench" / "jina-colbert-v2-random"


def example_sets() -> dict[str, dict]:
    """``{set id: {"query", "documents"}}``, Berlin first."""
    sets = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(EXAMPLES.glob("*.json"))}
    if not sets:
        raise SystemExit(f"no example sets in {EXAMPLES}")
    return dict(sorted(sets.items(), key=lambda kv: kv[0] != "berlin"))


def encode_set(model, example: dict):
    """One Run's encoding, cache cleared first: the query and every document."""
    model.cache.clear()
    return model.analyze(example["query"], example["documents"])


def memory_gib(field: str) -> float:
    """``VmHWM`` (peak resident memory, afresh at exec) or ``VmRSS`` (resident now) of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 2**20  # kB → GiB
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_worker(checkpoint: Path, engine: str) -> dict:
    import colbert_viz

    model = colbert_viz.load(str(checkpoint), dtype=engine, device="cpu")
    for example in example_sets().values():
        encode_set(model, example)
    return {"engine": engine, "peak_gib": memory_gib("VmHWM"), "resident_after_gib": memory_gib("VmRSS")}


def timings(checkpoint: Path, engines: list[str], rounds: int) -> tuple[dict, dict]:
    """Median seconds per (set, engine), engines alternating; and each engine's scores per set."""
    import colbert_viz

    models = {e: colbert_viz.load(str(checkpoint), dtype=e, device="cpu") for e in engines}
    sets = example_sets()
    scores = {name: {e: encode_set(m, ex).scores(128) for e, m in models.items()}  # also the warm-up
              for name, ex in sets.items()}
    times: dict[str, dict[str, list[float]]] = {name: {e: [] for e in engines} for name in sets}
    for _ in range(rounds):
        for name, example in sets.items():
            for engine, model in models.items():
                start = time.perf_counter()
                encode_set(model, example)
                times[name][engine].append(time.perf_counter() - start)
    medians = {name: {e: statistics.median(t) for e, t in per.items()} for name, per in times.items()}
    return medians, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--engines", nargs="+", default=["float32", "int8"],
                        help="dtypes to compare; the first is the reference (default: float32 int8)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--memory-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.memory_worker:
        print(json.dumps(memory_worker(args.checkpoint, args.memory_worker)))
        return
    if not (args.checkpoint / "model.safetensors").is_file():
        from colbert_viz.engine.synthetic import FULL_SIZE, write_checkpoint

        print(f"writing a full-size random checkpoint to {args.checkpoint} …", file=sys.stderr)
        write_checkpoint(args.checkpoint, shape=FULL_SIZE)
    import torch

    from colbert_viz.engine import loading
    from colbert_viz.maths.compare import kendall_tau

    config = json.loads((args.checkpoint / "config.json").read_text())
    auto = loading.pick_dtype("auto", torch.device("cpu"), config["hidden_size"], config["intermediate_size"])
    memory = {}
    for engine in args.engines:
        out = subprocess.run([sys.executable, __file__, "--checkpoint", str(args.checkpoint),
                              "--memory-worker", engine], check=True, capture_output=True, text=True)
        memory[engine] = json.loads(out.stdout.strip().splitlines()[-1])
    medians, scores = timings(args.checkpoint, args.engines, args.rounds)

    ref, others = args.engines[0], args.engines[1:]
    rows = []
    for name in medians:
        row = {"set": name, "documents": len(scores[name][ref]),
               f"{ref}_score_spread": float(scores[name][ref].max() - scores[name][ref].min())}
        row |= {f"{e}_s": medians[name][e] for e in args.engines}
        for e in others:
            row[f"{e}_speedup"] = medians[name][ref] / medians[name][e]
            row[f"{e}_kendall_tau"] = kendall_tau(scores[name][ref], scores[name][e])
            row[f"{e}_max_score_change"] = float(abs(scores[name][ref] - scores[name][e]).max())
        rows.append(row)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.rounds} rounds alternating; "
          f"auto here: {auto.reason}")
    print("memory, GiB (peak VmHWM / resident after encoding): "
          + ", ".join(f"{e} {memory[e]['peak_gib']:.2f} / {memory[e]['resident_after_gib']:.2f}"
                      for e in args.engines) + "\n")
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
    total = {e: sum(medians[n][e] for n in medians) for e in args.engines}
    print("\nall sets: " + ", ".join(f"{e} {total[e]:.2f} s" for e in args.engines))
    if args.json:
        args.json.write_text(json.dumps({"auto": auto.reason, "memory_gib": memory, "rows": rows,
                                         "total_s": total}, indent=2))


if __name__ == "__main__":
    main()
