"""Collections made by other pipelines: stored vectors mapped to the tokens of the
payload text by the layouts the model can produce, or labelled by position."""

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


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_token_name_is_never_put_on_another_tokens_vector(mapper, encoded, text, layout):
    vectors, tokens = _written(mapper, encoded[text], layout)
    mapping = mapper.map(text, vectors)
    if mapping.layout is None:  # labelled by position, and the note says why
        assert mapping.record.tokens == [f"#{i}" for i in range(len(vectors))]
        assert "labelled by position" in mapping.note
    else:
        assert mapping.record.tokens == tokens
    np.testing.assert_allclose(mapping.record.vectors, vectors, atol=1e-6)
    # Told the layout, every one is named.
    told = mapper.map(text, vectors, layout=layout)
    assert (told.layout, told.record.tokens) == (layout, tokens)


@pytest.mark.parametrize(("text", "layout", "dropped"), [
    ("It costs 5 euros, roughly.", "reader/specials", [",", "."]),                 # PyLate
    ("Call me at 5 pm ( or ( later", "stanford/specials", ["▁(", "▁("]),         # FastEmbed
    ("It costs 5 euros, roughly.", "none/specials", []),                            # the API, as it comes
    ("It costs 5 euros, roughly.", "reader/text-only", ["<s>", "[DocumentMarker]", ",", ".", "</s>"]),
])
def test_foreign_layouts_are_recognised(mapper, encoded, text, layout, dropped):
    record = encoded[text]
    vectors, tokens = _written(mapper, record, layout)
    mapping = mapper.map(text, vectors)
    assert mapping.layout == layout
    assert mapping.record.tokens == tokens
    rest = list(record.tokens)
    for token in dropped:
        rest.remove(token)
    assert tokens == rest
    assert not mapping.record.skipped.any()  # Qdrant scores every stored vector


def test_a_count_no_layout_gives_is_labelled_by_position(mapper, encoded):
    text = TEXTS[1]
    vectors = np.vstack([encoded[text].vectors, encoded[text].vectors[:3]])
    mapping = mapper.map(text, vectors)
    assert mapping.layout is None
    assert mapping.record.tokens[:2] == ["#0", "#1"]
    assert f"no layout gives {len(vectors)} tokens" in mapping.note
    assert (mapping.record.ids == -1).all()


def test_layouts_that_fit_but_disagree_are_labelled_by_position(mapper, encoded):
    text = "Berlin, the capital (of Germany), has 3.7 million people!"
    vectors, _ = _written(mapper, encoded[text], "reader/specials")  # so does stanford/specials, other tokens
    mapping = mapper.map(text, vectors)
    assert mapping.layout is None
    assert "reader/specials" in mapping.note and "stanford/specials" in mapping.note


def test_truncated_by_another_pipeline(tiny_model, mapper):
    text = " ".join(f"word{i}" for i in range(400))
    record = tiny_model.encode_documents([text], doc_maxlen=300)[0]
    mapping = mapper.map(text, record.vectors[mapper.keep(record, "none/specials")])
    assert mapping.record.tokens == record.tokens
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
    assert hit.layout == "none/specials"
    assert result.analysis.documents[hit.index].tokens == records[0].tokens
    assert by_text[texts[1]].layout is None and "no layout gives 12 tokens" in by_text[texts[1]].note
    for h in result.hits:
        assert h.score == pytest.approx(h.exact, abs=1e-5)
    assert colbert_viz.show(result.analysis)._repr_html_()  # every view draws, positional labels included
