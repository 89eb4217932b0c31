"""Collections made by other pipelines: stored vectors named by the tokens of the payload
text only on evidence (the writer's statement, or the vectors matched against the text
re-encoded), else labelled by position: layouts inside and outside the known set."""

from __future__ import annotations

import numpy as np
import pytest

import colbert_viz
from colbert_viz.collections.layouts import LAYOUTS, LayoutMapper

TEXTS = [
    "The Spree flows through Berlin",               # no punctuation: every skiplist agrees
    "It costs 5 euros, roughly.",                    # PyLate's skiplist drops ',' and '.'
    "Call me at 5 pm ( or ( later",                  # Stanford's drops the two '▁('
    "Berlin, the capital (of Germany), has 3.7 million people!",
    "Prices rise (slowly) in 2024",
]


@pytest.fixture(scope="module")
def mapper(tiny_model):
    """The mapper search uses: it re-encodes the text with the model to check the vectors."""
    return LayoutMapper(tiny_model.tokenizer, lambda text, maxlen: tiny_model.encode_documents([text], maxlen)[0])


@pytest.fixture(scope="module")
def blind(tiny_model):
    """A mapper that cannot check vectors: it has the tokenizer only."""
    return LayoutMapper(tiny_model.tokenizer)


@pytest.fixture(scope="module")
def encoded(tiny_model):
    return {d.text: d for d in tiny_model.encode_documents(TEXTS)}


def _written(mapper, record, layout):
    """What a pipeline with ``layout`` stores for ``record``: its kept vectors and their tokens."""
    keep = mapper.keep(record, layout)
    return record.vectors[keep], [t for t, k in zip(record.tokens, keep) if k]


@pytest.mark.parametrize(("layout", "dropped"), [
    ("none/specials", []),
    ("reader/specials", ["."]),
    ("stanford/specials", ["▁("]),
    ("none/no-marker", ["[DocumentMarker]"]),
    ("reader/no-marker", ["[DocumentMarker]", "."]),
    ("stanford/no-marker", ["[DocumentMarker]", "▁("]),
    ("none/text-only", ["<s>", "[DocumentMarker]", "</s>"]),
    ("reader/text-only", ["<s>", "[DocumentMarker]", ".", "</s>"]),
    ("stanford/text-only", ["<s>", "[DocumentMarker]", "▁(", "</s>"]),
])
def test_what_each_layout_keeps(tiny_model, mapper, layout, dropped):
    record = tiny_model.tokenizer.tokenize_documents(["It costs ( 5 euros), roughly."])[0]
    assert record.tokens == ["<s>", "[DocumentMarker]", "▁It", "▁costs", "▁(", "▁5", "▁euros", "),", "▁rough",
                             "ly", ".", "</s>"]
    keep = mapper.keep(record, layout)
    assert [t for t, k in zip(record.tokens, keep) if not k] == dropped


def _positional(mapping, n):
    return mapping.layout is None and mapping.basis == "position" and \
        mapping.record.tokens == [f"vector {i}" for i in range(n)] and (mapping.record.ids == -1).all()


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_known_layout_is_named_by_its_vectors(mapper, blind, encoded, text, layout):
    vectors, tokens = _written(mapper, encoded[text], layout)
    mapping = mapper.map(text, vectors)
    assert mapping.basis == "verified" and mapping.record.tokens == tokens, mapping.note
    assert mapping.layout in LAYOUTS and (mapper.keep(encoded[text], mapping.layout) ==
                                          mapper.keep(encoded[text], layout)).all()
    np.testing.assert_allclose(mapping.record.vectors, vectors, atol=1e-6)
    # Told the layout, every one is named as stated; with nothing to check, a count names nothing.
    told = mapper.map(text, vectors, layout=layout)
    assert (told.layout, told.basis, told.record.tokens) == (layout, "stated", tokens)
    unchecked = blind.map(text, vectors)
    assert _positional(unchecked, len(vectors)) and layout in unchecked.note and "a guess" in unchecked.note


def _drop(record, *names):
    """(n,) bool: every position of ``record`` but the tokens named."""
    return np.array([t not in names for t in record.tokens])


# Layouts outside the known set: each is named from its vectors, never by a count.
OUTSIDE = {
    "only </s> dropped": lambda r: _drop(r, "</s>"),
    "only <s> dropped": lambda r: _drop(r, "<s>"),
    "<s> and </s> dropped, marker kept": lambda r: _drop(r, "<s>", "</s>"),
    "marker and </s> dropped": lambda r: _drop(r, "[DocumentMarker]", "</s>"),
    "first text token dropped": lambda r: np.arange(len(r)) != 2,
}


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("how", OUTSIDE)
def test_layouts_outside_the_known_set(mapper, blind, encoded, text, how):
    record = encoded[text]
    keep = OUTSIDE[how](record)
    vectors, tokens = record.vectors[keep], [t for t, k in zip(record.tokens, keep) if k]
    mapping = mapper.map(text, vectors)
    assert (mapping.basis, mapping.record.tokens) == ("verified", tokens), mapping.note
    assert mapping.layout == "other" and "dropped" in mapping.note
    np.testing.assert_allclose(mapping.record.vectors, vectors, atol=1e-6)
    assert _positional(blind.map(text, vectors), len(vectors))  # a count that fits is no evidence


@pytest.mark.parametrize("order", ["reversed", "marker last", "</s> first"])
def test_vectors_in_another_order_are_labelled_by_position(mapper, encoded, order):
    record = encoded[TEXTS[3]]
    n = len(record)
    index = {"reversed": list(range(n))[::-1], "marker last": [0, *range(2, n), 1],
             "</s> first": [n - 1, *range(n - 1)]}[order]
    mapping = mapper.map(TEXTS[3], record.vectors[index])  # the count of every token: none/specials fits
    assert _positional(mapping, n) and "out of order" in mapping.note and "none/specials" in mapping.note


def test_vectors_of_another_model_are_labelled_by_position(mapper, encoded):
    text = TEXTS[1]
    vectors, _ = _written(mapper, encoded[text], "reader/specials")
    other = np.random.default_rng(0).standard_normal(vectors.shape).astype(np.float32)
    mapping = mapper.map(text, other)
    assert _positional(mapping, len(other)) and "do not match its text re-encoded" in mapping.note
    assert "reader/specials" in mapping.note and "a guess" in mapping.note


def test_more_vectors_than_tokens_are_labelled_by_position(mapper, encoded):
    text = TEXTS[1]
    vectors = np.vstack([encoded[text].vectors, encoded[text].vectors[:3]])
    mapping = mapper.map(text, vectors)
    assert _positional(mapping, len(vectors)) and "more than its text has tokens" in mapping.note


def test_a_stated_layout_that_does_not_fit_is_checked(mapper, encoded):
    text = TEXTS[1]
    vectors, tokens = _written(mapper, encoded[text], "reader/specials")
    mapping = mapper.map(text, vectors, layout="none/text-only")  # the writer's statement is wrong
    assert (mapping.basis, mapping.layout, mapping.record.tokens) == ("verified", "reader/specials", tokens)


@pytest.mark.parametrize("doc_maxlen", [10**9, 2])
def test_a_stated_length_the_model_cannot_read_is_ignored(mapper, encoded, doc_maxlen):
    vectors, tokens = _written(mapper, encoded[TEXTS[1]], "reader/specials")
    mapping = mapper.map(TEXTS[1], vectors, layout="reader/specials", doc_maxlen=doc_maxlen)
    assert (mapping.basis, mapping.record.tokens) == ("stated", tokens)


def test_truncated_by_another_pipeline(tiny_model, mapper):
    text = " ".join(f"word{i}" for i in range(400))
    record = tiny_model.encode_documents([text], doc_maxlen=300)[0]
    mapping = mapper.map(text, record.vectors[mapper.keep(record, "none/specials")])
    assert mapping.record.tokens == record.tokens and mapping.basis == "verified"
    assert "cut at 300 tokens" in mapping.note


def test_search_explains_a_launch_post_collection(tmp_path, tiny_model):
    """The launch post's recipe: one unnamed 128-d cosine MAX_SIM vector, the API's output
    upserted as it comes, the text in the payload; and a point another tokenizer wrote."""
    import qdrant_edge as q

    from colbert_viz.collections import EdgeBackend, search
    from colbert_viz.collections.backends import StoredPoint

    multi = q.MultiVectorConfig(comparator=q.MultiVectorComparator.MaxSim)
    config = q.EdgeConfig(vectors=q.EdgeVectorParams(size=128, distance=q.Distance.Cosine, multivector_config=multi))
    q.EdgeShard.create(str(tmp_path / "c"), config).close()
    texts = ["It costs 5 euros, roughly.", "The Spree flows through Berlin"]
    records = tiny_model.encode_documents(texts)
    odd = np.vstack([records[1].vectors, records[1].vectors[:2]])  # two vectors more than any layout
    with EdgeBackend(tmp_path / "c") as backend:
        backend.upsert([
            StoredPoint("00000000-0000-0000-0000-000000000001", {"text": texts[0]}, {"": records[0].vectors}),
            StoredPoint("00000000-0000-0000-0000-000000000002", {"text": texts[1]}, {"": odd}),
        ])
        result = search(tiny_model, backend, "price in euros", top_k=2)
    assert result.vector == "" and result.dim == 128
    by_text = {result.analysis.documents[h.index].text: h for h in result.hits}
    hit = by_text[texts[0]]
    assert (hit.layout, hit.basis) == ("none/specials", "verified")
    assert result.analysis.documents[hit.index].tokens == records[0].tokens
    assert by_text[texts[1]].layout is None and "more than its text has tokens" in by_text[texts[1]].note
    for h in result.hits:
        assert h.score == pytest.approx(h.exact, abs=1e-5)
    assert colbert_viz.show(result.analysis)._repr_html_()  # every view draws, positional labels included
