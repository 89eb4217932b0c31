"""The highlight's pieces: faithful to the text, bounded for long documents."""

from __future__ import annotations

import numpy as np
import pytest
from factories import document_record, make_explanation, query_record

from colbert_viz.explorer.highlight import kept_positions, text_pieces, untokenized_tail
from colbert_viz.maths.explain import explain

XSS_DOC = "Berlin <script>alert(1)</script> has <img src=x onerror=alert(1)> 3.8 million people."


def joined(pieces: list[dict]) -> str:
    return "".join(p.get("text", "") for p in pieces)


@pytest.fixture(scope="module")
def xss_explanation(tiny_model):
    q = tiny_model.encode_queries(["<img src=x onerror=alert(2)> population of Berlin"])[0]
    d = tiny_model.encode_documents([XSS_DOC])[0]
    return explain(q, d, 128)


def test_the_text_is_kept_exactly(xss_explanation):
    pieces = text_pieces(xss_explanation, np.ones(len(xss_explanation.document), bool))
    assert joined(pieces) == XSS_DOC
    tokens = [p for p in pieces if "position" in p]
    assert [p["position"] for p in tokens] == list(range(len(xss_explanation.document)))  # every item once, in order


def test_each_token_piece_is_the_text_of_its_span(xss_explanation):
    doc = xss_explanation.document
    for piece in text_pieces(xss_explanation, np.ones(len(doc), bool)):
        if "position" in piece:
            start, end = doc.spans[piece["position"]]
            assert piece["text"] == XSS_DOC[start:end]  # specials (empty spans) are chips: ""


def test_merged_words_keep_the_text(xss_explanation):
    from colbert_viz.maths.explain import merge

    merged = merge(xss_explanation)
    assert joined(text_pieces(merged, np.ones(len(merged.document), bool))) == XSS_DOC


def test_long_documents_are_cut_to_windows_with_elisions():
    expl = make_explanation(6000)
    keep = kept_positions(expl, 2048)
    pieces = text_pieces(expl, keep)
    tokens = [p["position"] for p in pieces if "position" in p]
    assert len(tokens) == keep.sum() <= 2048
    assert {int(j) for j in expl.best_index} <= set(tokens)
    elided = sum(p["elided"] for p in pieces if "elided" in p)
    assert elided + len(tokens) == len(expl.document)


def test_kept_positions_all_for_short_documents():
    expl = make_explanation(100)
    assert kept_positions(expl, 2048).all()
    assert kept_positions(expl, 20).sum() <= 20 + 3


def test_truncation_tail_is_counted():
    q = query_record(["Berlin"])
    d = document_record(["Berlin", "is", "big"], truncated_text=" and the rest was never encoded")
    expl = explain(q, d)
    assert untokenized_tail(expl) == len(" and the rest was never encoded")
    assert "never" not in joined(text_pieces(expl, np.ones(len(expl.document), bool)))
    assert untokenized_tail(make_explanation(20)) == 0
