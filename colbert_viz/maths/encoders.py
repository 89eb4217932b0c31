"""Two encoders side by side: one query and its documents under encoder A and encoder B (numpy only).

A and B may be two models, or one model under two recipes; their tokenizers and
dimensions may differ. Everything here is read off two ``Analysis`` values of the
same query and documents:

- both rankings, the rank moves and Kendall tau (tau-b, ties as in ``kendall_tau``);
- raw scores and scores per query token (MaxSim sums one maximum per query
  token, so the raw scale grows with the number of query tokens, expansion included);
- per query word, the document token each side matched. Words are found in the
  query text (``\\w+`` runs, single Chinese, Japanese or Korean characters and single
  punctuation marks); a side's query tokens
  belong to the words their character spans overlap, and words that one token
  spans are joined, so tokenizers that split differently line up. Tokens outside
  the text (specials, markers, expansion) are listed per side. Two matches agree
  when they fall in the same document word (by character span), or, outside the
  text, on the same kind of token at the same end of the document;
- the recipe differences, and for a pair of documents why A and B order them as they do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from colbert_viz.maths.analysis import Analysis
from colbert_viz.maths.compare import kendall_tau
from colbert_viz.maths.explain import Explanation

CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"  # kana, Han, Hangul
WORD = re.compile(rf"[{CJK}]|(?:(?![{CJK}])\w)+|[^\w\s]")  # a CJK character, a run of other word characters, a mark
TEXT_KINDS = ("text", "typed")


@dataclass(frozen=True)
class Side:
    """One encoder's ranking. scores : (n_documents,) raw MaxSim at ``dim``; per_token :
    (n_documents,) scores / query_tokens; ranks : (n_documents,) 1-based. The token
    counts split the ``query_tokens`` MaxSim sums over."""

    name: str
    model: str
    dim: int
    query_tokens: int
    text_tokens: int
    expansion_tokens: int
    other_tokens: int
    unit_vectors: bool
    scores: np.ndarray
    per_token: np.ndarray
    ranks: np.ndarray

    def to_dict(self) -> dict:
        return {"name": self.name, "model": self.model, "dimensions": self.dim, "query_tokens": self.query_tokens,
                "text_tokens": self.text_tokens, "expansion_tokens": self.expansion_tokens,
                "other_tokens": self.other_tokens, "unit_vectors": self.unit_vectors,
                "scores": self.scores.tolist(), "per_token": self.per_token.tolist(), "ranks": self.ranks.tolist()}


@dataclass(frozen=True)
class SideMatch:
    """One side's query tokens in one query word and what they matched in a document.

    tokens / positions / matches : one entry per query token of the word (its label,
    its query position, the label of its best document token); contribution : their
    sum; match : the best document token of the token that contributes most, ``match_text``
    the document word(s) it lies in and ``match_start`` where they start in the document
    ("" and ``None`` outside the text: a word may occur more than once)."""

    tokens: list[str]
    positions: list[int]
    matches: list[str]
    contribution: float
    match: str
    match_text: str
    match_start: int | None

    def to_dict(self) -> dict:
        return {"tokens": self.tokens, "positions": self.positions, "matches": self.matches,
                "contribution": self.contribution, "match": self.match, "match_text": self.match_text,
                "match_start": self.match_start}


@dataclass(frozen=True)
class WordMatch:
    """A query word (``span`` in the query text) under A and B; ``None`` where a side has
    no token in it (its query was cut). ``agree``: both matched the same document word."""

    word: str
    span: tuple[int, int]
    a: SideMatch | None
    b: SideMatch | None
    agree: bool

    def to_dict(self) -> dict:
        return {"word": self.word, "span": list(self.span), "agree": self.agree,
                "a": None if self.a is None else self.a.to_dict(), "b": None if self.b is None else self.b.to_dict()}


@dataclass(frozen=True)
class ExtraToken:
    """A query token outside the words (special, marker, expansion) and its match."""

    position: int
    token: str
    kind: str
    match: str
    contribution: float

    def to_dict(self) -> dict:
        return {"position": self.position, "token": self.token, "kind": self.kind, "match": self.match,
                "contribution": self.contribution}


@dataclass(frozen=True)
class DocumentMatches:
    """Per query word, what A and B matched in document ``index``; the tokens outside the
    words per side (``extra_a``, ``extra_b``)."""

    index: int
    words: list[WordMatch]
    extra_a: list[ExtraToken]
    extra_b: list[ExtraToken]

    @property
    def disagreements(self) -> list[WordMatch]:
        return [w for w in self.words if not w.agree]

    def to_dict(self) -> dict:
        return {"index": self.index, "words": [w.to_dict() for w in self.words],
                "disagreements": len(self.disagreements),
                "extra_a": [e.to_dict() for e in self.extra_a], "extra_b": [e.to_dict() for e in self.extra_b]}


@dataclass(frozen=True)
class PairRow:
    """One row of a pair's explanation: a query word, or a kind of token outside the words.
    gap_a / gap_b : its contribution to document ``first`` minus to ``second`` on each side
    (``None``: the side has no such token)."""

    label: str
    kind: str
    gap_a: float | None
    gap_b: float | None

    def to_dict(self) -> dict:
        return {"label": self.label, "kind": self.kind, "gap_a": self.gap_a, "gap_b": self.gap_b}


@dataclass(frozen=True)
class PairExplanation:
    """Why A and B order documents ``first`` and ``second`` as they do. On each side the
    rows' gaps sum to that side's score gap (``gap_a``, ``gap_b``: score of first minus
    score of second); ``sentence`` says it in words."""

    first: int
    second: int
    gap_a: float
    gap_b: float
    rows: list[PairRow]
    sentence: str

    def to_dict(self) -> dict:
        return {"first": self.first, "second": self.second, "gap_a": self.gap_a, "gap_b": self.gap_b,
                "rows": [r.to_dict() for r in self.rows], "sentence": self.sentence}


@dataclass(frozen=True)
class EncoderComparison:
    """The same query and documents under A and B.

    rank_moves : (n_documents,) rank under A minus rank under B (positive: B ranks it
    higher); kendall_tau : between the two score vectors (``None``: undefined);
    recipe : (key, A's value, B's value) where they differ; matches : one per document,
    input order; pair : the pair asked for, or ``None``.
    """

    query: str
    documents: list[str]
    a: Side
    b: Side
    kendall_tau: float | None
    rank_moves: np.ndarray
    scale_note: str
    recipe: list[tuple[str, object, object]]
    matches: list[DocumentMatches]
    pair: PairExplanation | None = None

    def to_dict(self) -> dict:
        return {"query": self.query, "documents": self.documents, "a": self.a.to_dict(), "b": self.b.to_dict(),
                "kendall_tau": self.kendall_tau, "rank_moves": self.rank_moves.tolist(),
                "largest_rank_move": int(np.max(np.abs(self.rank_moves))), "scale_note": self.scale_note,
                "recipe_differences": [{"key": k, "a": a, "b": b} for k, a, b in self.recipe],
                "matches": [m.to_dict() for m in self.matches],
                "pair": None if self.pair is None else self.pair.to_dict()}


def recipe_differences(a: dict, b: dict) -> list[tuple[str, object, object]]:
    """(key, A's value, B's value) for each key whose values differ (a missing key: ``None``).

    >>> recipe_differences({"expansion": True, "dim": 128}, {"expansion": False, "dim": 128, "lowercase": True})
    [('expansion', True, False), ('lowercase', None, True)]
    """
    keys = list(dict.fromkeys([*a, *b]))
    return [(k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)]


def check_same_input(a: Analysis, b: Analysis) -> None:
    """``ValueError`` unless A and B encoded the same query and the same documents."""
    if a.query.text != b.query.text:
        raise ValueError("A and B must encode the same query text")
    if a.texts != b.texts:
        raise ValueError("A and B must encode the same documents, in the same order")


def _side(name: str, model: str, analysis: Analysis, dim: int) -> Side:
    q = analysis.query
    n = len(q)
    scores = np.asarray(analysis.scores(dim), dtype=np.float64)
    norms = np.linalg.norm(q.at_dim(dim).astype(np.float64), axis=1)
    return Side(name=name, model=model, dim=dim, query_tokens=n, text_tokens=int(np.sum(q.in_text)),
                expansion_tokens=int(np.sum(q.expansion)), other_tokens=int(np.sum(~q.in_text & ~q.expansion)),
                unit_vectors=bool(np.allclose(norms, 1.0, atol=1e-3)), scores=scores, per_token=scores / n,
                ranks=analysis.ranks(dim))


def scale_note(a: Side, b: Side) -> str:
    """Why the raw scores of A and B are on different scales, in words."""
    def counts(s: Side) -> str:
        return (f"{s.query_tokens} query-token maxima ({s.text_tokens} from the text, {s.expansion_tokens} "
                f"expansion, {s.other_tokens} special or marker)")

    parts = [f"MaxSim adds one maximum per query token: {a.name} sums {counts(a)}, {b.name} sums {counts(b)}."]
    bounded = [s.name for s in (a, b) if s.unit_vectors]
    if len(bounded) == 2:
        parts.append("Both sides' vectors are unit length, so each maximum is a cosine of at most 1, and the "
                     "score per query token (score / query tokens) puts both on one scale.")
    else:
        loose = [s.name for s in (a, b) if not s.unit_vectors]
        parts.append(f"{' and '.join(loose)}'s vectors are not unit length: its maxima are not cosines, and even "
                     "the score per query token is not on the same scale.")
    if a.dim != b.dim:
        parts.append(f"{a.name} compares {a.dim}-d vectors, {b.name} {b.dim}-d: the dimension changes the "
                     "similarities themselves, not their range.")
    return " ".join(parts)


def query_units(text: str, spans_a: list[tuple[int, int]], spans_b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Character spans of the query words (``WORD`` matches), joined where a text token of
    either side overlaps two of them. ``spans_*``: the text tokens' spans of each side.

    >>> query_units("New York!", [(0, 3), (4, 8), (8, 9)], [(0, 8), (8, 9)])
    [(0, 8), (8, 9)]
    >>> query_units("柏林的人口", [(0, 2), (2, 3), (3, 5)], [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)])
    [(0, 2), (2, 3), (3, 5)]
    """
    words = [m.span() for m in WORD.finditer(text)]
    joined = [False] * max(len(words) - 1, 0)  # joined[k]: word k and word k + 1 are one unit
    for start, end in [*spans_a, *spans_b]:
        hit = [k for k, (ws, we) in enumerate(words) if start < we and end > ws]
        for k in range(hit[0], hit[-1]) if hit else ():
            joined[k] = True
    units: list[tuple[int, int]] = []
    for k, (ws, we) in enumerate(words):
        if k and joined[k - 1]:
            units[-1] = (units[-1][0], we)
        else:
            units.append((ws, we))
    return units


def _text_spans(expl: Explanation) -> list[tuple[int, int]]:
    return [s for s, kind in zip(expl.query.spans, expl.query.kinds) if kind in TEXT_KINDS and s[0] < s[1]]


def _doc_key(expl: Explanation, j: int, doc_words: list[tuple[int, int]]):
    """What a document match is for agreement: the document words it overlaps, or, outside
    the text, its kind and which end of the document it is at."""
    start, end = expl.document.spans[j]
    if expl.document.kinds[j] in TEXT_KINDS and start < end:
        return frozenset(k for k, (ws, we) in enumerate(doc_words) if start < we and end > ws)
    return expl.document.kinds[j], j == 0


def _side_match(expl: Explanation, positions: list[int], doc_words: list[tuple[int, int]]) -> tuple[SideMatch, object]:
    best = positions[int(np.argmax(expl.contributions[positions]))]
    j = int(expl.best_index[best])
    key = _doc_key(expl, j, doc_words)
    words = sorted(key) if isinstance(key, frozenset) else []
    text = " ".join(expl.document_text[slice(*doc_words[k])] for k in words)
    match = SideMatch(tokens=[expl.query.labels[i] for i in positions], positions=positions,
                      matches=[expl.document.labels[int(expl.best_index[i])] for i in positions],
                      contribution=float(expl.contributions[positions].sum()), match=expl.document.labels[j],
                      match_text=text, match_start=doc_words[words[0]][0] if words else None)
    return match, key


def _assign(expl: Explanation, units: list[tuple[int, int]]) -> tuple[list[list[int]], list[int]]:
    """Each unit's query positions on one side, and the positions outside every unit."""
    members: list[list[int]] = [[] for _ in units]
    outside = []
    for i, (kind, (start, end)) in enumerate(zip(expl.query.kinds, expl.query.spans)):
        u = next((u for u, (us, ue) in enumerate(units) if start < ue and end > us), None) \
            if kind in TEXT_KINDS and start < end else None
        if u is None:
            outside.append(i)
        else:
            members[u].append(i)
    return members, outside


def document_matches(index: int, a: Explanation, b: Explanation) -> DocumentMatches:
    """What A and B matched in one document, per query word (see the module docstring)."""
    units = query_units(a.query_text, _text_spans(a), _text_spans(b))
    doc_words = [m.span() for m in WORD.finditer(a.document_text)]
    (in_a, out_a), (in_b, out_b) = _assign(a, units), _assign(b, units)
    words = []
    for (start, end), pa, pb in zip(units, in_a, in_b):
        ma, ka = _side_match(a, pa, doc_words) if pa else (None, None)
        mb, kb = _side_match(b, pb, doc_words) if pb else (None, None)
        agree = ma is not None and mb is not None and (ka == kb if not isinstance(ka, frozenset) else
                                                       isinstance(kb, frozenset) and bool(ka & kb))
        words.append(WordMatch(word=a.query_text[start:end], span=(start, end), a=ma, b=mb, agree=agree))

    def extras(expl: Explanation, positions: list[int]) -> list[ExtraToken]:
        return [ExtraToken(position=i, token=expl.query.labels[i], kind=expl.query.kinds[i],
                           match=expl.document.labels[int(expl.best_index[i])],
                           contribution=float(expl.contributions[i])) for i in positions]

    return DocumentMatches(index=index, words=words, extra_a=extras(a, out_a), extra_b=extras(b, out_b))


def explain_pair(a: Analysis, b: Analysis, first: int, second: int, dim_a: int | None = None,
                 dim_b: int | None = None, names: tuple[str, str] = ("A", "B")) -> PairExplanation:
    """Why A and B order documents ``first`` and ``second`` (input order) as they do: per
    query word, then per kind of token outside the words, each side's contribution gap."""
    dim_a, dim_b = dim_a or a.dimensions[0], dim_b or b.dimensions[0]
    first, second = a.check_index(first), a.check_index(second)
    if first == second:
        raise ValueError("choose two different documents to compare")
    ea1, ea2 = a.explain(first, dim_a), a.explain(second, dim_a)
    eb1, eb2 = b.explain(first, dim_b), b.explain(second, dim_b)
    units = query_units(ea1.query_text, _text_spans(ea1), _text_spans(eb1))
    (in_a, out_a), (in_b, out_b) = _assign(ea1, units), _assign(eb1, units)
    diff_a, diff_b = ea1.contributions - ea2.contributions, eb1.contributions - eb2.contributions
    rows = [PairRow(label=ea1.query_text[s:e], kind="word", gap_a=float(diff_a[pa].sum()) if pa else None,
                    gap_b=float(diff_b[pb].sum()) if pb else None) for (s, e), pa, pb in zip(units, in_a, in_b)]
    kinds = list(dict.fromkeys([ea1.query.kinds[i] for i in out_a] + [eb1.query.kinds[i] for i in out_b]))
    for kind in kinds:
        pa = [i for i in out_a if ea1.query.kinds[i] == kind]
        pb = [i for i in out_b if eb1.query.kinds[i] == kind]
        label = f"{kind} tokens ({names[0]}: {len(pa)}, {names[1]}: {len(pb)})"
        rows.append(PairRow(label=label, kind=kind, gap_a=float(diff_a[pa].sum()) if pa else None,
                            gap_b=float(diff_b[pb].sum()) if pb else None))
    gap_a, gap_b = ea1.score - ea2.score, eb1.score - eb2.score
    return PairExplanation(first=first, second=second, gap_a=gap_a, gap_b=gap_b, rows=rows,
                           sentence=_pair_sentence(first, second, gap_a, gap_b, len(ea1.contributions),
                                                   len(eb1.contributions), rows, names))


def _pair_sentence(first: int, second: int, gap_a: float, gap_b: float, n_a: int, n_b: int,
                   rows: list[PairRow], names: tuple[str, str]) -> str:
    def order(name: str, gap: float, n: int) -> str:
        if gap == 0:
            return f"{name} scores documents {first + 1} and {second + 1} the same"
        hi, lo = (first, second) if gap > 0 else (second, first)
        return f"{name} puts document {hi + 1} above {lo + 1} by {abs(gap):.3f} ({abs(gap) / n:.4f} per query token)"

    def spread(r: PairRow) -> float:
        return abs((r.gap_a or 0.0) / n_a - (r.gap_b or 0.0) / n_b)

    top = sorted(rows, key=spread, reverse=True)[:3]
    def gap(x: float | None) -> str:
        return "–" if x is None else f"{x:+.3f}"

    where = "; ".join(f"“{r.label}” ({names[0]} {gap(r.gap_a)}, {names[1]} {gap(r.gap_b)})" for r in top)
    return f"{order(names[0], gap_a, n_a)}; {order(names[1], gap_b, n_b)}. The rows that differ most: {where}."


def compare_encoders(a: Analysis, b: Analysis, dim_a: int | None = None, dim_b: int | None = None,
                     names: tuple[str, str] = ("A", "B"), recipes: tuple[dict, dict] = ({}, {}),
                     pair: tuple[int, int] | None = None, models: tuple[str, str] = ("", "")) -> EncoderComparison:
    """``a`` and ``b`` (the same query and documents, each at its ``dim``, default native)
    side by side; ``recipes``: each side's recipe (``recipe_differences``); ``pair``:
    two document indices to explain (``explain_pair``); ``models``: what each side is, in words."""
    check_same_input(a, b)
    dim_a, dim_b = dim_a or a.dimensions[0], dim_b or b.dimensions[0]
    side_a, side_b = _side(names[0], models[0], a, dim_a), _side(names[1], models[1], b, dim_b)
    tau = kendall_tau(side_a.scores, side_b.scores)
    matches = [document_matches(i, a.explain(i, dim_a), b.explain(i, dim_b)) for i in range(len(a.documents))]
    return EncoderComparison(
        query=a.query.text, documents=a.texts, a=side_a, b=side_b, kendall_tau=None if np.isnan(tau) else tau,
        rank_moves=side_a.ranks - side_b.ranks, scale_note=scale_note(side_a, side_b),
        recipe=recipe_differences(*recipes), matches=matches,
        pair=None if pair is None else explain_pair(a, b, *pair, dim_a, dim_b, names))
