"""Dedicated heads against cuts on random checkpoints: the README's table.

Builds (in a temporary folder) the tiny random checkpoint in jina-colbert-v2's layout and two siblings
with the same backbone: one with its own random 96-d head, one whose 64-d head is the first 64 rows
of the 128-d head. For each, the Berlin example under the cut (the base model at 96 or 64) beside the
dedicated head (``BASE+head:SIBLING``), through ``colbert_viz.compare_encoders``.

    python scripts/heads_vs_cuts.py        # prints a Markdown table
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import colbert_viz  # noqa: E402
from colbert_viz.engine.heads import with_head  # noqa: E402
from colbert_viz.engine.synthetic import write_checkpoint, write_sibling  # noqa: E402

BERLIN = ROOT / "colbert_viz" / "app" / "assets" / "examples" / "berlin.json"


def main() -> None:
    berlin = json.loads(BERLIN.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        base_dir = write_checkpoint(Path(tmp) / "tiny-jina", seed=0)
        siblings = {96: write_sibling(base_dir, Path(tmp) / "tiny-jina-96", 96, seed=7),
                    64: write_sibling(base_dir, Path(tmp) / "tiny-jina-64", 64, cut=True)}
        base = colbert_viz.load(str(base_dir), dtype="float32", device="cpu")
        print("| size | the sibling's head | Kendall tau (cut vs head) | largest rank move | largest per-token score "
              "difference | query words matched elsewhere |")
        print("|---:|---|---:|---:|---:|---:|")
        for dim, sibling in siblings.items():
            head = with_head(base, str(sibling))
            c = colbert_viz.compare_encoders(base, head, berlin["query"], berlin["documents"], dim_a=dim)
            gap = max(abs(x - y) for x, y in zip(c.a.per_token, c.b.per_token))
            words = [w for m in c.matches for w in m.words]
            moved = sum(1 for w in words if not w.agree)
            kind = "the first rows of the 128-d head" if head.head_check.equals_cut else "its own projection"
            print(f"| {dim} | {kind} | {c.kendall_tau:.2f} | {int(abs(c.rank_moves).max())} | {gap:.2e} | "
                  f"{moved} of {len(words)} |")


if __name__ == "__main__":
    main()
