"""Which token each stored vector belongs to.

A point holds one vector per kept token of its text, in order. Which tokens a
pipeline keeps differs (model-facts.md, storage-facts.md):

- colbert-viz writes every scored token: the skiplist (its convention, ``reader`` by
  default) dropped, the special tokens and the marker kept; its payload says so.
- The model's launch post upserts the hosted API's multi-vector output as it comes.
- PyLate drops the punctuation it looks up as vocabulary tokens (``reader``);
  FastEmbed and Stanford ColBERT drop the first id of each encoded symbol (``stanford``).
- Some pipelines drop the marker, or every special token.

``LayoutMapper.map`` names the stored vectors only on evidence:

- the layout the writer states (colbert-viz's payload, or the caller), when it
  gives the stored count for the payload text;
- otherwise the vectors themselves: the text is re-encoded once (at the shortest of
  the model's and the common document lengths that holds as many tokens) and each
  stored vector must be closest to one re-encoded token, at cosine ``MATCH`` or more,
  in the text's order. That names every layout, the known ones and any other (only
  ``</s>`` dropped, only ``<s>``, …).

Without that evidence the vectors are labelled by position (``vector 0``, ``vector 1``
…) and the note says why, naming the layouts whose token count fits as a guess: a
token count is not evidence, and a token's name is never put on another token's vector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from colbert_viz.engine.tokenization import ColbertTokenizer, TextError, skiplist_ids
from colbert_viz.maths.vectors import truncate_dims
from colbert_viz.records import Tokenized, TokenVectors

SKIPS = ("none", "reader", "stanford", "recipe")  # recipe: the model's own skiplist words (engine.recipe)
SPECIALS = ("specials", "no-marker", "text-only")
# Where several layouts keep the same tokens, the first names them: the one that drops least.
LAYOUTS: tuple[str, ...] = tuple(f"{skip}/{specials}" for specials in SPECIALS for skip in SKIPS)
# Document lengths pipelines truncate at: the model's own (8192), then common settings.
COMMON_DOC_MAXLENS = (512, 300, 180)
# A stored vector and the re-encoded vector of its token: cosine at least this (the same
# model in another precision stays above 0.99; another token or model falls well below).
MATCH = 0.95
Encode = Callable[[str, int], TokenVectors]  # (text, doc_maxlen) → every token's vectors


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
             "recipe": "the model's own skiplist (its recipe) dropped",
             "none": "every token"}[skip]
    second = {"specials": "special tokens and marker kept", "no-marker": "no marker",
              "text-only": "text tokens only"}[specials]
    return f"{first[0].upper()}{first[1:]}, {second}"


@dataclass(frozen=True)
class Mapping:
    """Stored vectors with their tokens. ``layout``: the layout that names them (``"other"``
    for one outside ``LAYOUTS`` the vectors show), ``None`` when they are labelled by
    position; ``basis``: ``"stated"``, ``"verified"`` or ``"position"``; ``note`` says which
    layout and why, or why none."""

    record: TokenVectors
    layout: str | None
    note: str
    basis: str = "position"


class LayoutMapper:
    """Maps stored multivectors to the tokens of their text, for one tokenizer; ``encode``
    (the model's, ``(text, doc_maxlen) → TokenVectors``) checks them against the text."""

    def __init__(self, tokenizer: ColbertTokenizer, encode: Encode | None = None) -> None:
        self.tokenizer = tokenizer
        self.encode = encode
        self.skip_ids = {name: np.array(sorted(skiplist_ids(tokenizer.tokenizer, name)), np.int64)
                         for name in ("reader", "stanford")}
        self.skip_ids["recipe"] = np.array(sorted(tokenizer.skip_ids), np.int64)

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

    def tokenizations(self, text: str, doc_maxlen: int | None = None) -> list[tuple[int, Tokenized]]:
        """``(doc_maxlen, tokens)`` of ``text`` at each length a writer may have cut at, longest
        first, one per distinct cut; ``TextError`` when it cannot be tokenized."""
        limit = self.tokenizer.settings.doc_limit
        maxlens = [doc_maxlen] if doc_maxlen and 4 <= doc_maxlen <= limit else \
            [self.tokenizer.settings.doc_maxlen, *COMMON_DOC_MAXLENS]
        found: list[tuple[int, Tokenized]] = []
        for maxlen in sorted(dict.fromkeys(m for m in maxlens if 4 <= m <= limit), reverse=True):
            if found and maxlen >= len(found[-1][1]):
                continue  # cuts nothing more: the same tokens
            found.append((maxlen, self.tokenizer.tokenize_documents([text], maxlen)[0]))
        return found

    def map(self, text: str, vectors: np.ndarray, layout: str | None = None,
            doc_maxlen: int | None = None) -> Mapping:
        """Name the rows of ``vectors`` (n_stored, size) with the tokens of ``text``.

        ``layout`` / ``doc_maxlen``: what the writer says it did (colbert-viz's payload,
        or the caller); otherwise (or when that does not fit) the vectors are checked.
        """
        n = len(vectors)
        try:
            cuts = self.tokenizations(text, doc_maxlen)
        except TextError as err:
            return positional(text, vectors, f"its text cannot be tokenized ({err})")
        if layout:
            for _, t in cuts:
                keep = self.keep(t, layout)
                if keep.sum() == n:
                    return Mapping(from_tokens(t, keep, vectors), layout, f"{describe(layout)}{_cut(t)}, "
                                   "as its writer states", "stated")
        guesses = sorted({name for _, t in cuts for name in LAYOUTS if self.keep(t, name).sum() == n},
                         key=LAYOUTS.index)
        guess = f"; the count fits {', '.join(guesses)} (a guess, not shown)" if guesses else ""
        if self.encode is None:
            return positional(text, vectors, f"nothing checks them against its text{guess}")
        fitting = [(m, t) for m, t in cuts if len(t) >= n]
        if not fitting:
            return positional(text, vectors, f"{n} vectors, more than its text has tokens ({len(cuts[0][1])}): "
                                             "another tokenizer or pipeline wrote it")
        maxlen, t = fitting[-1]
        keep, why = self.align(vectors, self.encode(text, maxlen))
        if keep is None:
            return positional(text, vectors, f"{why}{guess}")
        name = next((name for name in LAYOUTS if (self.keep(t, name) == keep).all()), None)
        what = describe(name) if name else "other layout: " + _dropped(t, keep)
        return Mapping(from_tokens(t, keep, vectors), name or "other", f"{what}{_cut(t)}, checked against "
                       "its text re-encoded", "verified")

    @staticmethod
    def align(vectors: np.ndarray, encoded: TokenVectors) -> tuple[np.ndarray | None, str]:
        """(n,) bool over ``encoded``'s tokens, the one each stored vector (n_stored, size) is
        closest to, when every one is within ``MATCH`` and in order; else ``None`` and why."""
        size = vectors.shape[1]
        if size > encoded.dim:
            return None, f"its vectors have {size} dimensions, the model {encoded.dim}"
        similarity = unit_rows(vectors) @ truncate_dims(encoded.vectors, size).T  # (n_stored, n_tokens)
        best = similarity.argmax(axis=1)
        worst = float(similarity[np.arange(len(best)), best].min())
        if worst < MATCH:
            return None, (f"they do not match its text re-encoded (a stored vector is at cosine {worst:.2f} "
                          f"from every token, below {MATCH}): another model or pipeline wrote it")
        if (np.diff(best) <= 0).any():
            return None, "they match its text re-encoded out of order"
        keep = np.zeros(len(encoded), bool)
        keep[best] = True
        return keep, ""


def _cut(t: Tokenized) -> str:
    return f", cut at {len(t)} tokens" if t.truncated else ""


def _dropped(t: Tokenized, keep: np.ndarray) -> str:
    """The tokens of ``t`` that ``keep`` leaves out, in words (for a layout outside ``LAYOUTS``)."""
    gone = [t.tokens[i] for i in np.flatnonzero(~keep)]
    shown = ", ".join(gone[:6]) + (f" and {len(gone) - 6} more" if len(gone) > 6 else "")
    return f"{shown} dropped" if gone else "every token"


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
    """Vectors labelled ``vector 0``, ``vector 1`` … with no span in the text."""
    n = len(vectors)
    record = TokenVectors(
        text=text, kind="document", ids=np.full(n, -1, np.int64), tokens=[f"vector {i}" for i in range(n)],
        spans=[(0, 0)] * n, special=np.zeros(n, bool), marker=np.zeros(n, bool), expansion=np.zeros(n, bool),
        skipped=np.zeros(n, bool), n_text_tokens=n, truncated=False, vectors=unit_rows(vectors),
    )
    return Mapping(record, None, f"vectors labelled by position: {why}")


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """(n, size) float32 with each row L2-normalised, as Qdrant's cosine stores them."""
    v = np.asarray(vectors, np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
