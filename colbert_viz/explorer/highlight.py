"""The document text cut into pieces for the highlight view (numpy only).

The explorer draws the highlight in the browser; this module decides what it
draws, so the tricky part (which characters belong to which token, what a long
document leaves out) is plain Python with tests:

- a piece ``{"text": text}`` is text between tokens (spaces, characters no
  token covers);
- ``{"position": position, "text": text}`` is one document item (token, or
  word when merged) and the characters it covers; special tokens, which cover
  none, get ``"text": ""`` and are drawn as chips with their label;
- ``{"elided": n}`` stands for ``n`` items left out of a long document.

Long documents keep windows around the MaxSim matches (``kept_positions``) so
the view stays bounded.
"""

from __future__ import annotations

import numpy as np

from colbert_viz.explorer.layout import SPECIAL_KINDS, windows_around
from colbert_viz.maths.explain import Explanation


def kept_positions(expl: Explanation, max_tokens: int, radius: int = 16) -> np.ndarray:
    """(n_doc,) bool: the document items the highlight shows. All of them when
    there are at most ``max_tokens``; else windows around the MaxSim matches
    (``radius`` shrinks until they fit) plus the special tokens."""
    n = len(expl.document)
    if n <= max_tokens:
        return np.ones(n, dtype=bool)
    positions = np.arange(n)
    special = np.array([k in SPECIAL_KINDS for k in expl.document.kinds])
    for r in range(radius, -1, -1):
        keep = windows_around(positions, np.unique(expl.best_index), r) | special
        if keep.sum() <= max_tokens:
            return keep
    return keep


def text_pieces(expl: Explanation, keep: np.ndarray) -> list[dict]:
    """The document of ``expl`` as pieces (see the module docstring), showing
    the items where ``keep`` (n_doc,) is true. Joining the ``"text"`` of every
    piece that is not a chip gives the encoded text exactly (less what a long
    document elides, plus the part a truncated document did not encode)."""
    doc, text = expl.document, expl.document_text
    spanned = [p for p, (s, e) in enumerate(doc.spans) if e > s]
    last_spanned = spanned[-1] if spanned else -1
    pieces: list[dict] = []
    cursor, hidden = 0, 0
    for pos, (start, end) in enumerate(doc.spans):
        if not keep[pos]:
            hidden += 1
            continue
        is_chip = doc.kinds[pos] in SPECIAL_KINDS and end <= start
        if hidden:
            pieces.append({"elided": hidden})
            hidden = 0
            cursor = (len(text) if pos > last_spanned else cursor) if is_chip else max(cursor, start)
        if pos > last_spanned and is_chip and cursor < len(text) and not expl.truncated:
            pieces.append({"text": text[cursor:]})
            cursor = len(text)
        if not is_chip and start > cursor:
            pieces.append({"text": text[cursor:start]})
        pieces.append({"position": pos, "text": text[max(start, cursor):end] if not is_chip else ""})
        cursor = max(cursor, end)
    if hidden:
        pieces.append({"elided": hidden})
    return pieces


def untokenized_tail(expl: Explanation) -> int:
    """How many characters at the end of a truncated document were not encoded."""
    ends = [e for s, e in expl.document.spans if e > s]
    return len(expl.document_text) - (ends[-1] if ends else 0) if expl.truncated else 0
