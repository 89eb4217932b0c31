"""Which tokens a view shows (numpy only): hiding, windows and gaps.

The heatmap and the highlight must stay readable, and their payload bounded,
however long a document is. This module decides what they show; it never
changes a score:

- rows (query items) and columns (document items) can drop the expansion
  (``<mask>``) and the special tokens;
- a document of at most ``max_columns`` shown items is drawn whole; a longer
  one keeps windows of ``radius`` items around every shown query item's best
  match and collapses each run in between into one *gap* column that holds,
  per row, the highest similarity in the run (scored items only);
- a raw window shows ``max_columns`` consecutive items from any start (the
  explorer selects it in the browser from the full similarity matrix).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from colbert_viz.maths.explain import Axis, Explanation

SPECIAL_KINDS = ("special", "marker")


@dataclass(frozen=True)
class Segment:
    """One column of a view: a single item (``gap`` false) or a collapsed run.

    ``positions`` index the explanation's document axis.
    """

    positions: tuple[int, ...]
    gap: bool

    @property
    def start(self) -> int:
        return self.positions[0]

    @property
    def end(self) -> int:
        return self.positions[-1]


def shown_positions(axis: Axis, hide_expansion: bool = False, hide_special: bool = False) -> np.ndarray:
    """Positions of the items a view keeps, in order."""
    hidden = set()
    if hide_expansion:
        hidden.add("expansion")
    if hide_special:
        hidden.update(SPECIAL_KINDS)
    return np.array([i for i, kind in enumerate(axis.kinds) if kind not in hidden], dtype=np.int64)


def windows_around(positions: np.ndarray, anchors: np.ndarray, radius: int) -> np.ndarray:
    """(len(positions),) bool: which of ``positions`` lie within ``radius``
    steps (counted along ``positions``) of an anchor position."""
    keep = np.zeros(len(positions), dtype=bool)
    where = np.flatnonzero(np.isin(positions, anchors))
    for k in where:
        keep[max(0, k - radius): k + radius + 1] = True
    return keep


def _runs(positions: np.ndarray, keep: np.ndarray) -> list[Segment]:
    segments: list[Segment] = []
    run: list[int] = []
    for pos, kept in zip(positions.tolist(), keep.tolist()):
        if kept:
            if run:
                segments.append(Segment(tuple(run), gap=True))
                run = []
            segments.append(Segment((pos,), gap=False))
        else:
            run.append(pos)
    if run:
        segments.append(Segment(tuple(run), gap=True))
    return segments


def collapse(positions: np.ndarray, anchors: np.ndarray, max_columns: int = 256,
             radius: int = 3) -> list[Segment]:
    """Columns for ``positions``: all of them when they fit in ``max_columns``,
    else windows around ``anchors`` with gap columns between; ``radius`` shrinks
    (down to 0) until the result fits."""
    positions = np.asarray(positions, dtype=np.int64)
    if len(positions) <= max_columns:
        return [Segment((int(p),), gap=False) for p in positions]
    for r in range(radius, -1, -1):
        segments = _runs(positions, windows_around(positions, anchors, r))
        if len(segments) <= max_columns or r == 0:
            return segments
    raise AssertionError("unreachable")



def segment_values(similarity: np.ndarray, rows: np.ndarray, segments: list[Segment],
                   scored: np.ndarray) -> np.ndarray:
    """(len(rows), len(segments)) float: the similarity of each shown cell; a
    gap cell holds its row's highest similarity over the run's scored items
    (``nan`` when none is scored)."""
    out = np.full((len(rows), len(segments)), np.nan, dtype=np.float64)
    sub = similarity[rows]
    for c, seg in enumerate(segments):
        if not seg.gap:
            out[:, c] = sub[:, seg.start]
            continue
        cols = [p for p in seg.positions if scored[p]]
        if cols:
            out[:, c] = sub[:, cols].max(axis=1)
    return out


def best_query_per_document_item(expl: Explanation) -> tuple[np.ndarray, np.ndarray]:
    """For each document item, the query item most similar to it and that
    similarity: ``(query_index (n_doc,), similarity (n_doc,))``."""
    idx = expl.similarity.argmax(axis=0)
    return idx, expl.similarity[idx, np.arange(expl.similarity.shape[1])]
