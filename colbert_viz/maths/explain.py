"""Explain one MaxSim score token by token (numpy only).

An ``Explanation`` holds the full similarity matrix, each query token's best
document token, and the contributions, which add up to the score exactly
(``score == contributions.sum()``, in float64). ``merge_words`` regroups
sub-word tokens into words on both axes without changing the score.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from colbert_viz.maths.scoring import best_matches, score_of, similarity_matrix
from colbert_viz.records import TokenVectors


@dataclass(frozen=True)
class Axis:
    """One side of the matrix: labels, flags and, for merged words, which tokens.

    ``kinds`` per position: ``"text"``, ``"typed"`` (a special token typed in
    the text, scored like text), ``"special"``, ``"marker"``, ``"expansion"`` or
    ``"skipped"``. ``spans`` index the original text
    (``(0, 0)`` outside it). ``groups[k]`` lists the token positions of item k.
    """

    labels: list[str]
    kinds: list[str]
    spans: list[tuple[int, int]]
    groups: list[list[int]]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def scored(self) -> np.ndarray:
        return np.array([k != "skipped" for k in self.kinds], dtype=bool)


@dataclass(frozen=True)
class Explanation:
    """Why a document scored what it scored, at one dimension.

    similarity : (n_query, n_doc) float32, every document position included
        (skipped ones too, for display).
    best_index : (n_query,) index of each query item's best scored document item.
    best_similarity : (n_query,) that similarity.
    contributions : (n_query,) float64, what each query item adds; sums to ``score``.
    """

    dim: int
    query_text: str
    document_text: str
    query: Axis
    document: Axis
    similarity: np.ndarray
    best_index: np.ndarray
    best_similarity: np.ndarray
    contributions: np.ndarray
    score: float
    n_query_tokens: int
    merged: bool = False
    truncated: bool = False

    def to_dict(self) -> dict:
        """JSON-ready form (lists and floats)."""
        return {
            "dimensions": self.dim,
            "score": self.score,
            "score_per_query_token": self.score / self.n_query_tokens,
            "merged_words": self.merged,
            "document_truncated": self.truncated,
            "query": {"text": self.query_text, "tokens": self.query.labels, "kinds": self.query.kinds},
            "document": {"text": self.document_text, "tokens": self.document.labels,
                         "kinds": self.document.kinds, "spans": [list(s) for s in self.document.spans]},
            "matches": [
                {"query_token": self.query.labels[i], "document_token": self.document.labels[j],
                 "document_position": int(j), "similarity": float(self.best_similarity[i]),
                 "contribution": float(self.contributions[i])}
                for i, j in enumerate(self.best_index)
            ],
            "similarity": np.round(self.similarity.astype(np.float64), 5).tolist(),
        }


def token_kinds(record: TokenVectors) -> list[str]:
    """Per-token kind labels from a record's flags (see ``Axis``).

    A special token typed in the text is ``"typed"`` whatever it spells: not a
    marker, not query expansion, not hidden with the special tokens.
    """
    kinds = []
    for i in range(len(record)):
        if record.typed_special[i]:
            kinds.append("typed")
        elif record.marker[i]:
            kinds.append("marker")
        elif record.expansion[i]:
            kinds.append("expansion")
        elif record.special[i]:
            kinds.append("special")
        elif record.skipped[i]:
            kinds.append("skipped")
        else:
            kinds.append("text")
    return kinds


def token_axis(record: TokenVectors) -> Axis:
    return Axis(labels=list(record.tokens), kinds=token_kinds(record), spans=list(record.spans),
                groups=[[i] for i in range(len(record))])


def explain(query: TokenVectors, document: TokenVectors, dim: int | None = None,
            merge_words: bool = False) -> Explanation:
    """Explain ``maxsim(query, document, dim)`` token by token."""
    dim = query.dim if dim is None else dim
    sim = similarity_matrix(query.at_dim(dim), document.at_dim(dim))
    idx, best = best_matches(sim, document.scored)
    contributions = best.astype(np.float64)
    result = Explanation(
        dim=dim, query_text=query.text, document_text=document.text,
        query=token_axis(query), document=token_axis(document),
        similarity=sim, best_index=idx, best_similarity=best,
        contributions=contributions, score=score_of(best),
        n_query_tokens=len(query), truncated=document.truncated,
    )
    return merge(result) if merge_words else result


def _is_cjk(ch: str) -> bool:
    name = unicodedata.name(ch, "")
    return name.startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL"))


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or unicodedata.category(ch).startswith("M")


def word_groups(axis: Axis, text: str) -> list[list[int]]:
    """Group token positions into words.

    A text token joins the previous one when they touch in the text (no space
    between), both start and end with letters, digits or marks, and neither is
    Chinese, Japanese or Korean (whose pieces are already words or characters).
    Specials (placed or typed), markers, expansion and skipped tokens stay on
    their own.
    """
    groups: list[list[int]] = []
    prev_end = -1
    for i, (kind, (start, end)) in enumerate(zip(axis.kinds, axis.spans)):
        piece = text[start:end]
        joins = (
            kind == "text" and groups and prev_end == start and 0 < start < end
            and _is_word_char(piece[0]) and _is_word_char(text[start - 1])
            and not _is_cjk(piece[0]) and not _is_cjk(text[start - 1])
            and axis.kinds[groups[-1][-1]] == "text"
        )
        if joins:
            groups[-1].append(i)
        else:
            groups.append([i])
        prev_end = end if kind == "text" else -1
    return groups


def _merged_axis(axis: Axis, text: str, groups: list[list[int]]) -> Axis:
    labels, kinds, spans = [], [], []
    for group in groups:
        first, last = group[0], group[-1]
        kind = axis.kinds[first]
        start, end = axis.spans[first][0], axis.spans[last][1]
        if kind == "text" and start < end:  # a word, one token or several: its text
            labels.append(text[start:end])
            spans.append((start, end))
        else:
            labels.append(axis.labels[first])
            spans.append(axis.spans[first])
        kinds.append(kind)
    return Axis(labels=labels, kinds=kinds, spans=spans, groups=groups)


def merge(expl: Explanation) -> Explanation:
    """Regroup both axes into words; the score and its total are unchanged.

    - similarity[qw, dw] is the largest similarity between a token of query word
      qw and a token of document word dw (``word_groups`` never puts a skipped
      token in a word with others, so a word is scored whole or not at all);
    - contributions[qw] is the sum of its tokens' contributions;
    - best_index[qw] is the word holding the best match of the word's token
      that contributes most.
    """
    if expl.merged:
        return expl
    q_groups = word_groups(expl.query, expl.query_text)
    d_groups = word_groups(expl.document, expl.document_text)
    # Groups are runs of consecutive positions, so each word's maximum is one reduceat.
    columns = np.maximum.reduceat(expl.similarity, [g[0] for g in d_groups], axis=1)
    sim = np.maximum.reduceat(columns, [g[0] for g in q_groups], axis=0).astype(np.float32)
    word_of = np.empty(len(expl.document), dtype=np.int64)
    for b, dg in enumerate(d_groups):
        word_of[dg] = b
    contributions = np.array([expl.contributions[g].sum() for g in q_groups], dtype=np.float64)
    best_index = np.array([word_of[expl.best_index[g[int(np.argmax(expl.contributions[g]))]]]
                           for g in q_groups], dtype=np.int64)
    best_sim = sim[np.arange(len(q_groups)), best_index]
    return Explanation(
        dim=expl.dim, query_text=expl.query_text, document_text=expl.document_text,
        query=_merged_axis(expl.query, expl.query_text, q_groups),
        document=_merged_axis(expl.document, expl.document_text, d_groups),
        similarity=sim, best_index=best_index, best_similarity=best_sim,
        contributions=contributions, score=expl.score, n_query_tokens=expl.n_query_tokens,
        merged=True, truncated=expl.truncated,
    )
