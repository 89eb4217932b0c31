"""Hand-made token records for the app-layer tests: exact control over kinds,
lengths and vectors, no model needed."""

from __future__ import annotations

import math

import numpy as np

from colbert_viz.maths.analysis import Analysis
from colbert_viz.maths.explain import Explanation, explain
from colbert_viz.records import TokenVectors


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def query_record(words: list[str], n_expansion: int = 4, dim: int = 128, seed: int = 0) -> TokenVectors:
    """``<s> [Q] words… </s> <mask>×n_expansion``."""
    text = " ".join(words)
    tokens = ["<s>", "[QueryMarker]", *("▁" + w for w in words), "</s>", *["<mask>"] * n_expansion]
    spans, pos = [(0, 0), (0, 0)], 0
    for w in words:
        spans.append((pos, pos + len(w)))
        pos += len(w) + 1
    spans += [(0, 0)] * (1 + n_expansion)
    n = len(tokens)
    special = np.zeros(n, bool)
    special[[0, 1, 2 + len(words)]] = True
    marker = np.zeros(n, bool)
    marker[1] = True
    expansion = np.zeros(n, bool)
    expansion[n - n_expansion:] = True
    return TokenVectors(text=text, kind="query", ids=np.arange(n), tokens=tokens, spans=spans, special=special,
                        marker=marker, expansion=expansion, skipped=np.zeros(n, bool), n_text_tokens=len(words),
                        truncated=False, vectors=_unit(np.random.default_rng(seed), n, dim))


def document_record(words: list[str], dim: int = 128, seed: int = 1, truncated_text: str = "") -> TokenVectors:
    """``<s> [D] words… </s>``; words that are bare punctuation are skipped.
    ``truncated_text`` is text after the words that was not encoded."""
    text = " ".join(words) + truncated_text
    tokens = ["<s>", "[DocumentMarker]", *("▁" + w for w in words), "</s>"]
    spans, pos = [(0, 0), (0, 0)], 0
    for w in words:
        spans.append((pos, pos + len(w)))
        pos += len(w) + 1
    spans.append((0, 0))
    n = len(tokens)
    special = np.zeros(n, bool)
    special[[0, 1, n - 1]] = True
    marker = np.zeros(n, bool)
    marker[1] = True
    skipped = np.array([False, False, *(w in {",", ".", "?", "-"} for w in words), False])
    return TokenVectors(text=text, kind="document", ids=np.arange(n), tokens=tokens, spans=spans,
                        special=special, marker=marker, expansion=np.zeros(n, bool), skipped=skipped,
                        n_text_tokens=len(words), truncated=bool(truncated_text),
                        vectors=_unit(np.random.default_rng(seed), n, dim))


def filler_words(n: int) -> list[str]:
    base = ["Berlin", "has", "many", "people", ",", "and", "the", "river", "Spree", "."]
    return [base[i % len(base)] + ("" if base[i % len(base)] in {",", "."} else str(i // len(base)))
            for i in range(n)]


def make_explanation(n_words: int = 12, query_words: tuple[str, ...] = ("population", "of", "Berlin"),
                     dim: int = 128, seed: int = 1, merge_words: bool = False) -> Explanation:
    q = query_record(list(query_words))
    d = document_record(filler_words(n_words), seed=seed)
    return explain(q, d, dim, merge_words=merge_words)


def make_analysis(n_documents: int = 5, n_words: int = 20) -> Analysis:
    q = query_record(["population", "of", "Berlin"])
    docs = [document_record(filler_words(n_words + 3 * i), seed=10 + i) for i in range(n_documents)]
    return Analysis(query=q, documents=docs, dimensions=(128, 96, 64))


def brute_tau_b(a, b) -> float:
    """Kendall's tau-b by its definition: (C - D) / sqrt((n0 - n1)(n0 - n2))."""
    concordant = discordant = ties_a = ties_b = 0
    n = len(a)
    for i in range(n):
        for j in range(i + 1, n):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0:
                ties_a += 1
            if db == 0:
                ties_b += 1
            if da * db > 0:
                concordant += 1
            elif da * db < 0:
                discordant += 1
    n0 = n * (n - 1) // 2
    denom = math.sqrt((n0 - ties_a) * (n0 - ties_b))
    return (concordant - discordant) / denom if denom else float("nan")
