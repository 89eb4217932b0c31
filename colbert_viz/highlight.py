"""The document as escaped HTML, each token shaded by its best similarity to
any query token (drawing only; the numbers come from the explanation).

Every piece of user text goes through ``html.escape``: tokens, the text
between them, labels and tooltips. Long documents are cut to windows around
the MaxSim matches with ``… N tokens …`` elisions, so the HTML stays bounded.
"""

from __future__ import annotations

import html

import numpy as np

from colbert_viz.explain import Explanation
from colbert_viz.layout import SPECIAL_KINDS, best_query_per_document_item, windows_around, winners

SHADE_RGB = (255, 153, 0)


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def shade(value: float, zrange: tuple[float, float]) -> str:
    """CSS background for a similarity on the shared scale: transparent at the
    low end, strong amber at the high end."""
    low, high = zrange
    t = 0.0 if high <= low else float(np.clip((value - low) / (high - low), 0.0, 1.0))
    r, g, b = SHADE_RGB
    return f"rgba({r},{g},{b},{0.04 + 0.76 * t:.2f})"


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


def _tooltip(expl: Explanation, pos: int, query_idx: int, similarity: float, chosen_by: list[int]) -> str:
    doc, query = expl.document, expl.query
    lines = [f"{doc.labels[pos]}  (token {pos})"]
    if doc.kinds[pos] == "skipped":
        lines.append("skipped: punctuation is not scored")
    elif doc.kinds[pos] == "typed":
        lines.append(f"typed in the text: parsed as the special token {doc.labels[pos]}, "
                     "as the model's tokenizer does")
    lines.append(f"closest query token: {query.labels[query_idx]} ({similarity:.3f})")
    if chosen_by:
        names = ", ".join(f"{query.labels[q]} ({expl.best_similarity[q]:.3f})" for q in chosen_by[:8])
        more = f" and {len(chosen_by) - 8} more" if len(chosen_by) > 8 else ""
        lines.append(f"MaxSim match of: {names}{more}")
    return _esc("\n".join(lines))


def _token(expl: Explanation, pos: int, text: str, query_idx: int, similarity: float,
           chosen_by: list[int], zrange: tuple[float, float]) -> str:
    kind = expl.document.kinds[pos]
    classes = ["cv-tok", f"cv-{kind}"]
    style = ""
    if kind != "skipped":
        style = f' style="background:{shade(similarity, zrange)}"'
    if chosen_by:
        classes.append("cv-win")
    if not text:
        classes.append("cv-chip")
        text = expl.document.labels[pos]
    return (f'<span class="{" ".join(classes)}"{style} data-pos="{pos}" '
            f'title="{_tooltip(expl, pos, query_idx, similarity, chosen_by)}">{_esc(text)}</span>')


def highlight_html(expl: Explanation, zrange: tuple[float, float], max_tokens: int = 2048,
                   label: str = "") -> str:
    """The document of ``expl`` as HTML: tokens shaded by their best similarity
    to any query token (scale ``zrange``), MaxSim matches outlined, skipped
    punctuation grey, a tooltip on each token. At most ``max_tokens`` tokens are
    rendered; longer documents show windows around the matches."""
    doc, text = expl.document, expl.document_text
    query_idx, similarity = best_query_per_document_item(expl)
    chosen = winners(expl)
    keep = kept_positions(expl, max_tokens)
    spanned = [p for p, (s, e) in enumerate(doc.spans) if e > s]
    last_spanned = spanned[-1] if spanned else -1
    parts: list[str] = []
    cursor, hidden = 0, 0
    for pos, (start, end) in enumerate(doc.spans):
        if not keep[pos]:
            hidden += 1
            continue
        is_chip = doc.kinds[pos] in SPECIAL_KINDS and end <= start
        if hidden:
            parts.append(f'<span class="cv-elide">… {hidden:,} tokens …</span>')
            hidden = 0
            cursor = (len(text) if pos > last_spanned else cursor) if is_chip else max(cursor, start)
        if pos > last_spanned and is_chip and cursor < len(text) and not expl.truncated:
            parts.append(_esc(text[cursor:]))
            cursor = len(text)
        if not is_chip and start > cursor:
            parts.append(_esc(text[cursor:start]))
        piece = text[max(start, cursor):end] if not is_chip else ""
        parts.append(_token(expl, pos, piece, int(query_idx[pos]), float(similarity[pos]),
                            chosen.get(pos, []), zrange))
        cursor = max(cursor, end)
    if hidden:
        parts.append(f'<span class="cv-elide">… {hidden:,} tokens …</span>')
    shown = int(keep.sum())
    notes = []
    if shown < len(doc):
        notes.append(f"Long document: showing {shown:,} of {len(doc):,} tokens, around the best matches.")
    if expl.truncated:
        rest = len(text) - (doc.spans[last_spanned][1] if spanned else 0)
        notes.append(f"Truncated: the document was cut to {len(doc):,} tokens; the last {rest:,} characters "
                     "were not encoded and play no part in the score.")
    note_html = "".join(f'<div class="cv-note">{_esc(n)}</div>' for n in notes)
    typed = (' · <span class="cv-tok cv-typed">&lt;s&gt;</span> a special token typed in the text'
             if "typed" in doc.kinds else "")
    return (f'<div class="cv-highlight" data-dimension="{expl.dim}" data-document="{_esc(label)}" '
            f'data-score="{expl.score:.4f}" data-tokens="{len(doc)}" data-shown="{shown}">'
            f'<div class="cv-hl-title">{_esc(label)}{" · " if label else ""}{expl.dim} dimensions · '
            f'score {expl.score:.2f}</div>{note_html}'
            f'<div class="cv-hl-text">{"".join(parts)}</div>'
            '<div class="cv-legend"><span class="cv-tok" style="background:rgba(255,153,0,0.8)">shade</span> '
            'best similarity to any query token · <span class="cv-tok cv-win">outlined</span> a query token\'s '
            'MaxSim match · <span class="cv-tok cv-skipped">grey</span> skipped punctuation (not scored)'
            f'{typed} · hover a token for details</div></div>')
