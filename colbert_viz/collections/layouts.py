"""Which token each stored vector belongs to.

A point holds one vector per kept token of its text, in order. Which tokens a
pipeline keeps differs (model-facts.md, storage-facts.md):

- colbert-viz writes every scored token: the skiplist (its convention, ``reader`` by
  default) dropped, the special tokens and the marker kept; its payload says so.
- The model's launch post upserts the hosted API's multi-vector output as it comes.
- PyLate drops the punctuation it looks up as vocabulary tokens (``reader``);
  FastEmbed and Stanford ColBERT drop the first id of each encoded symbol (``stanford``).
- Some pipelines drop the marker, or every special token.

``map_vectors`` re-tokenizes the payload text (tokenizing is cheap; nothing is
encoded) and keeps the layouts whose token count equals the stored count. When
none fits, or several fit but name the vectors differently, the vectors are
labelled by position (``#0``, ``#1`` …) and the note says why: a token's name is
never put on another token's vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from colbert_viz.engine.tokenization import ColbertTokenizer, TextError, skiplist_ids
from colbert_viz.records import Tokenized, TokenVectors

SKIPS = ("none", "reader", "stanford")
SPECIALS = ("specials", "no-marker", "text-only")
# Where several layouts keep the same tokens, the first names them: the one that drops least.
LAYOUTS: tuple[str, ...] = tuple(f"{skip}/{specials}" for specials in SPECIALS for skip in SKIPS)
# Document lengths pipelines truncate at: the model's own (8192), then common settings.
COMMON_DOC_MAXLENS = (512, 300, 180)


def layout_name(skiplist: str, specials: str = "specials") -> str:
    """The layout id of a skiplist convention and a choice of special tokens.

    >>> layout_name("reader")
    'reader/specials'
    """
    name = f"{skiplist}/{specials}"
    if name not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}; choose one of {', '.join(LAYOUTS)}")
    return name


def describe(layout: str) -> str:
    """A layout in words.

    >>> describe("stanford/no-marker")
    'Stanford skiplist (FastEmbed) dropped, no marker'
    """
    skip, specials = layout.split("/")
    first = {"reader": "reader skiplist (PyLate, colbert-viz) dropped",
             "stanford": "Stanford skiplist (FastEmbed) dropped",
             "none": "every token"}[skip]
    second = {"specials": "special tokens and marker kept", "no-marker": "no marker",
              "text-only": "text tokens only"}[specials]
    return f"{first[0].upper()}{first[1:]}, {second}"


@dataclass(frozen=True)
class Mapping:
    """Stored vectors with their tokens. ``layout`` is ``None`` when they are labelled
    by position; ``note`` says which layout fitted, or why none did."""

    record: TokenVectors
    layout: str | None
    note: str


class LayoutMapper:
    """Maps stored multivectors to the tokens of their text, for one tokenizer."""

    def __init__(self, tokenizer: ColbertTokenizer) -> None:
        self.tokenizer = tokenizer
        self.skip_ids = {name: np.array(sorted(skiplist_ids(tokenizer.tokenizer, name)), np.int64)
                         for name in ("reader", "stanford")}

    def keep(self, t: Tokenized, layout: str) -> np.ndarray:
        """(n,) bool: the positions of ``t`` a pipeline with ``layout`` stores."""
        skip, specials = layout.split("/")
        keep = np.ones(len(t), bool)
        if skip != "none":
            text = ~t.special & ~t.typed_special
            keep &= ~(text & np.isin(t.ids, self.skip_ids[skip]))
        if specials == "no-marker":
            keep &= ~t.marker
        elif specials == "text-only":
            keep &= ~t.special
        return keep

    def map(self, text: str, vectors: np.ndarray, layout: str | None = None,
            doc_maxlen: int | None = None) -> Mapping:
        """Name the rows of ``vectors`` (n_stored, size) with the tokens of ``text``.

        ``layout`` / ``doc_maxlen``: what the writer says it did (colbert-viz's payload,
        or the caller); otherwise every layout and common length is tried.
        """
        n = len(vectors)
        layouts = [layout] if layout else list(LAYOUTS)
        limit = self.tokenizer.settings.doc_limit
        maxlens = [doc_maxlen] if doc_maxlen else [self.tokenizer.settings.doc_maxlen, *COMMON_DOC_MAXLENS]
        maxlens = list(dict.fromkeys(m for m in maxlens if 4 <= m <= limit))
        fits: dict[tuple[int, ...], tuple[list[str], Tokenized, np.ndarray]] = {}
        counts = set()
        longest = None
        for maxlen in sorted(maxlens, reverse=True):
            if longest is not None and maxlen >= longest:
                continue  # cuts nothing more: the same tokens
            try:
                t = self.tokenizer.tokenize_documents([text], maxlen)[0]
            except TextError as err:
                return positional(text, vectors, f"its text cannot be tokenized ({err})")
            longest = len(t) if longest is None else longest
            for name in layouts:
                keep = self.keep(t, name)
                counts.add(int(keep.sum()))
                if keep.sum() == n:
                    fits.setdefault(tuple(t.ids[keep].tolist()), ([], t, keep))[0].append(name)
        if len(fits) == 1:
            names, t, keep = next(iter(fits.values()))
            cut = f", cut at {len(t)} tokens" if t.truncated else ""
            same = f" (the same tokens as {', '.join(names[1:])})" if len(names) > 1 else ""
            return Mapping(from_tokens(t, keep, vectors), names[0], f"{describe(names[0])}{cut}{same}")
        if fits:
            names = sorted({name for group, _, _ in fits.values() for name in group})
            return positional(text, vectors, f"the layouts that fit its {n} vectors name them differently "
                                             f"({', '.join(names)}); say which with layout=")
        said = f"layout {layout} gives" if layout else "no layout gives"
        near = ", ".join(str(c) for c in sorted(counts)[:6])
        return positional(text, vectors, f"{said} {n} tokens for its text (the layouts give {near}): "
                                         "another tokenizer or pipeline wrote it")


def from_tokens(t: Tokenized, keep: np.ndarray, vectors: np.ndarray) -> TokenVectors:
    """The tokens of ``t`` at ``keep`` with the stored ``vectors``; every stored vector is
    scored (Qdrant scores every vector it holds), so nothing is marked skipped."""
    idx = np.flatnonzero(keep)
    n = len(idx)
    return TokenVectors(
        text=t.text, kind="document", ids=t.ids[idx], tokens=[t.tokens[i] for i in idx],
        spans=[t.spans[i] for i in idx], special=t.special[idx], marker=t.marker[idx],
        expansion=np.zeros(n, bool), skipped=np.zeros(n, bool), n_text_tokens=t.n_text_tokens,
        truncated=t.truncated, typed_special=t.typed_special[idx], vectors=unit_rows(vectors),
    )


def positional(text: str, vectors: np.ndarray, why: str) -> Mapping:
    """Vectors labelled ``#0``, ``#1`` … with no span in the text."""
    n = len(vectors)
    record = TokenVectors(
        text=text, kind="document", ids=np.full(n, -1, np.int64), tokens=[f"#{i}" for i in range(n)],
        spans=[(0, 0)] * n, special=np.zeros(n, bool), marker=np.zeros(n, bool), expansion=np.zeros(n, bool),
        skipped=np.zeros(n, bool), n_text_tokens=n, truncated=False, vectors=unit_rows(vectors),
    )
    return Mapping(record, None, f"vectors labelled by position: {why}")


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """(n, size) float32 with each row L2-normalised, as Qdrant's cosine stores them."""
    v = np.asarray(vectors, np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
