"""Regenerate the README's tables that come from the code, or check them.

    python scripts/readme_tables.py            # rewrite the generated blocks of README.md
    python scripts/readme_tables.py --check    # exit 1 and print a diff if README.md differs

A generated block sits between ``<!-- generated: NAME -->`` and
``<!-- /generated -->``; everything outside the blocks is left alone. The
figures are deterministic: the offline model (all-MiniLM-L6-v2, shipped in a
PyPI package) in float32 on one thread, the Berlin example set, and the storage
settings' fixed seeds. Tables of timings are measurements, not generated: the
README names the benchmark script behind each.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- generated: (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /generated -->)", re.S)
QUERY = "What is the population of Berlin?"


def _berlin():
    import torch

    import colbert_viz
    from colbert_viz.app.examples import load_examples

    torch.set_num_threads(1)
    berlin = next(s for s in load_examples() if s.id == "berlin")
    from colbert_viz.storage.analysis import StoredAnalysis

    model = colbert_viz.load("offline", dtype="float32", device="cpu")
    # one StoredAnalysis for every block: each storage setting is computed once
    return StoredAnalysis(model.analyze(berlin.query, list(berlin.documents)))


def _number(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def compression_table(stored) -> str:
    """The decision table at the native size and at 64 dimensions, every setting."""
    keep = {stored.dimensions[0], min(stored.dimensions)}
    lines = ["| Setting | Bytes/token | Bytes/doc | Vectors/doc | Kendall tau | Largest rank change | Largest score change |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in stored.compression_table():
        if row["dimensions"] not in keep:
            continue
        tau = "n/a" if row["kendall_tau"] is None else f"{row['kendall_tau']:.2f}"
        lines.append(f"| {row['setting']} | {_number(row['bytes_per_token'], 0)} | {_number(row['bytes_per_document'], 0)}"
                     f" | {row['stored_vectors_per_document']:.1f} | {tau} | {row['largest_rank_change']}"
                     f" | {row['largest_score_change']:.3f} |")
    return "\n".join(lines) + "\n"


def berlin_ranking(stored) -> str:
    """The exact ranking at the native size, and which document each setting puts first."""
    from colbert_viz.explorer.tables import document_label
    from colbert_viz.storage.settings import METHODS

    analysis = stored.analysis
    dim = analysis.dimensions[0]
    scores = analysis.scores(dim)
    order = [r["index"] for r in analysis.rerank(dim)]
    top = ", ".join(f"{document_label(i)} {scores[i]:.2f}" for i in order[:3])
    firsts = []
    for method in METHODS:
        first = int(stored.stored(f"{dim}/{method}").order[0])
        if first != order[0]:
            firsts.append(f"`{method}` puts {document_label(first)} first")
    moved = "; ".join(firsts) if firsts else "every setting keeps it first"
    return (f"Exact float32 at {dim} dimensions ranks {top} at the top "
            f"(the three within {scores[order[0]] - scores[order[2]]:.2f} of each other), "
            f"so a setting that moves scores by more than that can swap them. "
            f"At {dim} dimensions, {moved}.\n")


GENERATORS: dict[str, Callable] = {"compression": compression_table, "berlin-ranking": berlin_ranking}


def render(text: str, analysis) -> str:
    """``text`` with every generated block replaced by its generator's output."""
    names = [m.group("name") for m in BLOCK.finditer(text)]
    unknown = sorted(set(names) - set(GENERATORS))
    if unknown:
        raise SystemExit(f"README.md has generated blocks with no generator: {', '.join(unknown)}")
    return BLOCK.sub(lambda m: m.group(1) + GENERATORS[m.group("name")](analysis) + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 with a diff when README.md is not up to date")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    if not BLOCK.search(text):
        raise SystemExit("README.md has no generated blocks")
    new = render(text, _berlin())
    if args.check:
        if new != text:
            sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), new.splitlines(True),
                                                       "README.md", "README.md (generated)"))
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
