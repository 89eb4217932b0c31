"""Token-level explanations on real encoder outputs of the tiny random checkpoint."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from colbert_viz.explorer.highlight import text_pieces
from colbert_viz.explorer.layout import SPECIAL_KINDS, shown_positions
from colbert_viz.maths.explain import Explanation, explain, merge, token_kinds, word_groups
from colbert_viz.maths.scoring import maxsim
from colbert_viz.records import TokenVectors

GERMAN_QUERY = "Wie schnell wächst die Bevölkerung Berlins?"
GERMAN_DOC = "Die Bevölkerung Berlins wächst jedes Jahr, und die Hauptstadt zählt 3,85 Millionen Einwohner."
CHINESE_QUERY = "柏林的人口是多少？"
CHINESE_DOC = "柏林是德国的首都，人口约三百八十万。Berlin population"
TYPED_QUERY = "find <mask> and [QueryMarker] in <p>HTML</p>"
TYPED_DOC = "HTML <s>struck</s> text, a [DocumentMarker] and <mask>."


@pytest.fixture(scope="module")
def analysis(tiny_model, berlin):
    return tiny_model.analyze(berlin["query"], berlin["documents"])


@pytest.fixture(scope="module")
def german(tiny_model):
    q = tiny_model.encode_queries([GERMAN_QUERY])[0]
    d = tiny_model.encode_documents([GERMAN_DOC])[0]
    return q, d


@pytest.fixture(scope="module")
def chinese(tiny_model):
    q = tiny_model.encode_queries([CHINESE_QUERY])[0]
    d = tiny_model.encode_documents([CHINESE_DOC])[0]
    return q, d


def all_explanations(analysis, merge_words=False):
    for dim in analysis.dimensions:
        for i in range(len(analysis.documents)):
            yield dim, i, analysis.explain(i, dim, merge_words=merge_words)


# ---- unmerged -------------------------------------------------------------------------


def test_score_equals_rerank_score(tiny_model, analysis, berlin):
    assert analysis.dimensions == (128, 96, 64)
    for dim, i, e in all_explanations(analysis):
        assert e.score == analysis.scores(dim)[i]
        assert e.score == maxsim(analysis.query, analysis.documents[i], dim)
        assert e.dim == dim and not e.merged
    reranked = tiny_model.rerank(berlin["query"], berlin["documents"])
    for r in reranked:
        assert r["relevance_score"] == analysis.explain(r["index"], 128).score
    e = tiny_model.explain(berlin["query"], berlin["documents"][3], 64)
    assert e.score == analysis.explain(3, 64).score


def brute_force(query: np.ndarray, document: np.ndarray, scored: np.ndarray, dim: int):
    """Python loops over float64 dot products of the first ``dim`` components,
    re-normalised: the similarity matrix and each query row's best scored column."""
    def prefix(vector):
        head = [float(x) for x in vector[:dim]]
        norm = math.sqrt(sum(x * x for x in head))
        return [x / norm for x in head]

    qs, ds = [prefix(v) for v in query], [prefix(v) for v in document]
    sim = [[sum(a * b for a, b in zip(qi, dj)) for dj in ds] for qi in qs]
    candidates = [j for j in range(len(ds)) if scored[j]]
    best = [max(candidates, key=lambda j: row[j]) for row in sim]
    return np.array(sim), best


def test_explanation_matches_brute_force(analysis):
    """Similarities, best matches, contributions and the score against plain loops,
    at every dimension (Matryoshka prefixes re-normalised) for three documents."""
    saw_skipped_winner = False
    for dim in analysis.dimensions:
        for i in (0, 3, 6):
            e = analysis.explain(i, dim)
            d = analysis.documents[i]
            sim, best = brute_force(analysis.query.vectors, d.vectors, d.scored, dim)
            assert e.similarity.shape == sim.shape == (32, len(d))
            np.testing.assert_allclose(e.similarity, sim, atol=2e-6, rtol=0)
            rows = np.arange(32)
            # the chosen column is scored and as good as the brute-force best (ties allowed)
            assert d.scored[e.best_index].all() and e.document.scored.tolist() == d.scored.tolist()
            np.testing.assert_allclose(sim[rows, e.best_index], sim[rows, best], atol=2e-6, rtol=0)
            np.testing.assert_allclose(e.best_similarity, sim[rows, best], atol=2e-6, rtol=0)
            np.testing.assert_allclose(e.contributions, sim[rows, best], atol=2e-6, rtol=0)
            assert e.score == pytest.approx(sum(sim[r, best[r]] for r in rows), abs=1e-4)
            assert e.contributions.dtype == np.float64 and float(e.contributions.sum()) == e.score
            # would an unscored (punctuation) column have won? then the skiplist mattered
            saw_skipped_winner |= bool((sim.max(axis=1) > sim[rows, best] + 1e-6).any())
    assert saw_skipped_winner, "some skipped token beats every scored one for some query row"


def hand_record(kind: str, vectors: list[list[float]], skipped: list[bool]) -> TokenVectors:
    n = len(vectors)
    return TokenVectors(text="x", kind=kind, ids=np.arange(n), tokens=[f"t{i}" for i in range(n)],
                        spans=[(0, 0)] * n, special=np.zeros(n, bool), marker=np.zeros(n, bool),
                        expansion=np.zeros(n, bool), skipped=np.array(skipped), n_text_tokens=n,
                        truncated=False, vectors=np.array(vectors, dtype=np.float32))


def test_hand_written_vectors_with_known_answers():
    """Unit vectors whose 2-d prefixes re-normalise to other directions; column 2
    is skipped and is query row 1's most similar column at 4 dimensions."""
    q = hand_record("query", [[0.6, 0, 0.8, 0], [0, 1, 0, 0]], [False, False])
    d = hand_record("document", [[1, 0, 0, 0], [0, 0.6, 0, 0.8], [0, 1, 0, 0], [0.48, 0.36, 0.8, 0]],
                    [False, False, True, False])
    e = explain(q, d, 4)
    np.testing.assert_allclose(e.similarity, [[0.6, 0, 0, 0.928], [0, 0.6, 1.0, 0.36]], atol=1e-6)
    assert e.best_index.tolist() == [3, 1]
    np.testing.assert_allclose(e.contributions, [0.928, 0.6], atol=1e-6)
    assert e.score == pytest.approx(1.528, abs=1e-6)
    # at 2 dimensions: q → (1, 0), (0, 1); d → (1, 0), (0, 1), (0, 1), (0.8, 0.6)
    e = explain(q, d, 2)
    np.testing.assert_allclose(e.similarity, [[1, 0, 0, 0.8], [0, 1, 1, 0.6]], atol=1e-6)
    assert e.best_index.tolist() == [0, 1]
    assert e.score == pytest.approx(2.0, abs=1e-6)


def test_kinds_labels(analysis):
    q = analysis.query
    e = analysis.explain(0, 128)
    n = q.tokens.index("</s>")
    assert e.query.kinds == ["special", "marker"] + ["text"] * (n - 2) + ["special"] + ["expansion"] * (31 - n)
    assert e.query.labels == q.tokens
    d = analysis.documents[0]
    kinds = e.document.kinds
    assert kinds == ["special", "marker"] + ["skipped" if s else "text" for s in d.skipped[2:-1]] + ["special"]
    assert set(kinds[2:-1]) == {"text", "skipped"}
    assert e.document.labels == d.tokens
    assert e.document.spans == d.spans
    assert e.document.groups == [[j] for j in range(len(d))]


def test_explain_records_texts_and_truncation(tiny_model, berlin):
    q = tiny_model.encode_queries([berlin["query"]])[0]
    d = tiny_model.encode_documents([berlin["documents"][0]], doc_maxlen=10)[0]
    e = explain(q, d, 96)
    assert e.truncated and e.similarity.shape == (32, 10)
    assert e.query_text == berlin["query"] and e.document_text == berlin["documents"][0]
    assert e.to_dict()["document_truncated"] is True
    assert explain(q, d).dim == 128  # default: native
    with pytest.raises(ValueError, match="to 0 dimensions"):
        explain(q, d, 0)


# ---- merged words ---------------------------------------------------------------------


def check_merged(e: Explanation, m: Explanation):
    assert m.merged and m.score == e.score and m.dim == e.dim
    assert m.contributions.sum() == pytest.approx(e.score, abs=1e-9)
    # groups partition each axis, in order
    for axis, merged_axis in ((e.query, m.query), (e.document, m.document)):
        assert [j for g in merged_axis.groups for j in g] == list(range(len(axis)))
        assert len(merged_axis) == len(merged_axis.groups) == len(merged_axis.kinds)
    assert m.similarity.shape == (len(m.query), len(m.document))
    # contributions are sums over the query word's tokens
    for a, qg in enumerate(m.query.groups):
        assert m.contributions[a] == pytest.approx(sum(e.contributions[k] for k in qg), abs=1e-12)
    # similarity is the max over the group tokens (scored document tokens when there are any)
    scored = e.document.scored
    for a, qg in enumerate(m.query.groups):
        for b, dg in enumerate(m.document.groups):
            cols = [j for j in dg if scored[j]] or dg
            expected = max(float(e.similarity[i, j]) for i in qg for j in cols)
            assert float(m.similarity[a, b]) == expected
    # best word: the word holding the best match of the word's top-contributing token
    for a, qg in enumerate(m.query.groups):
        top = max(qg, key=lambda k: (e.contributions[k], -k))
        word = next(b for b, dg in enumerate(m.document.groups) if e.best_index[top] in dg)
        assert m.best_index[a] == word
        assert m.best_similarity[a] == m.similarity[a, word]
    assert merge(m) is m


def test_merge_keeps_score_and_sums(analysis):
    for dim, i, m in all_explanations(analysis, merge_words=True):
        check_merged(analysis.explain(i, dim), m)


def test_merge_reconstructs_english_words(analysis, berlin):
    m = analysis.explain(0, 128, merge_words=True)
    q_text = [label for label, kind in zip(m.query.labels, m.query.kinds) if kind == "text"]
    assert q_text == ["What", "is", "the", "population", "of", "Berlin", "?"]
    d_words = [label for label, kind in zip(m.document.labels, m.document.kinds) if kind == "text"]
    for word in ("Berlin", "population", "grew", "Accordingly", "residents", "nations", "numerically"):
        assert word in d_words, word
    text = berlin["documents"][0]
    for label, kind, (start, end) in zip(m.document.labels, m.document.kinds, m.document.spans):
        if kind == "text" and start < end:
            assert label == text[start:end] and "▁" not in label
        elif kind == "text":  # a bare word boundary ('▁' before a number) shows no character
            assert label == "▁"
    # a word the tokenizer splits is one item after merging
    raw = analysis.explain(0, 128)
    assert len(m.document) < len(raw.document)


def test_merge_german_subwords(german):
    q, d = german
    e = explain(q, d)
    m = merge(e)
    check_merged(e, m)
    words = [label for label, kind in zip(m.document.labels, m.document.kinds) if kind == "text"]
    assert words == ["Die", "Bevölkerung", "Berlins", "wächst", "jedes", "Jahr", "und", "die", "Hauptstadt",
                     "zählt", "3", "85", "Millionen", "Einwohner"]
    # split query words are grouped too, so similarities are maxima over several rows
    q_words = [label for label, kind in zip(m.query.labels, m.query.kinds) if kind == "text"]
    assert q_words == ["Wie", "schnell", "wächst", "die", "Bevölkerung", "Berlins", "?"]
    assert max(len(g) for g in m.query.groups) >= 2
    # the split pieces of 'Berlins' and 'wächst' are grouped
    berlins = m.document.labels.index("Berlins")
    assert len(m.document.groups[berlins]) >= 2
    assert d.tokens[m.document.groups[berlins][0]] == "▁Berlin"
    # punctuation stays on its own and stays skipped
    skipped = [label for label, kind in zip(m.document.labels, m.document.kinds) if kind == "skipped"]
    assert skipped == [",", ",", "."]


def test_merge_split_query_words_across_documents(tiny_model, german, berlin):
    # a query word's tokens can match different document words: the word's best
    # match is that of its top-contributing token
    q, _ = german
    spread = 0
    for d in tiny_model.encode_documents(berlin["documents"]):
        e = explain(q, d, 64)
        m = merge(e)
        check_merged(e, m)
        word_of = {j: b for b, g in enumerate(m.document.groups) for j in g}
        spread += sum(len({word_of[int(e.best_index[k])] for k in g}) > 1 for g in m.query.groups)
    assert spread > 0


def test_merge_does_not_join_chinese(chinese):
    q, d = chinese
    e = explain(q, d)
    m = merge(e)
    check_merged(e, m)
    for axis in (m.query, m.document):
        for group, kind in zip(axis.groups, axis.kinds):
            if kind == "text":
                assert len(group) == 1, group
    labels = m.document.labels
    for word in ("柏林", "德国", "首都", "人口", "Berlin", "population"):
        assert word in labels, word
    assert "柏林是德国的首都" not in labels


def test_word_groups_leave_non_text_alone(analysis):
    e = analysis.explain(0, 128)
    groups = word_groups(e.query, e.query_text)
    singles = [g for g in groups if e.query.kinds[g[0]] != "text"]
    assert all(len(g) == 1 for g in singles)
    assert sum(len(g) for g in groups) == 32


# ---- to_dict --------------------------------------------------------------------------


@pytest.mark.parametrize("merge_words", [False, True])
def test_to_dict_is_json(analysis, berlin, merge_words):
    e = analysis.explain(1, 64, merge_words=merge_words)
    out = e.to_dict()
    back = json.loads(json.dumps(out, allow_nan=False, ensure_ascii=False))
    assert set(back) == {"dimensions", "score", "score_per_query_token", "merged_words", "document_truncated",
                         "query", "document", "matches", "similarity"}
    assert back["dimensions"] == 64 and back["merged_words"] is merge_words
    assert back["score"] == e.score
    assert back["score_per_query_token"] == pytest.approx(e.score / 32)
    assert set(back["query"]) == {"text", "tokens", "kinds"}
    assert set(back["document"]) == {"text", "tokens", "kinds", "spans"}
    assert back["query"]["text"] == berlin["query"]
    assert back["document"]["text"] == berlin["documents"][1]
    assert len(back["matches"]) == len(e.query)
    for match, i in zip(back["matches"], range(len(e.query))):
        assert set(match) == {"query_token", "document_token", "document_position", "similarity", "contribution"}
        assert match["document_position"] == int(e.best_index[i])
        assert match["document_token"] == e.document.labels[e.best_index[i]]
        assert match["contribution"] == float(e.contributions[i])
    assert sum(m["contribution"] for m in back["matches"]) == pytest.approx(e.score, abs=1e-9)
    sim = np.array(back["similarity"])
    assert sim.shape == e.similarity.shape
    np.testing.assert_allclose(sim, e.similarity, atol=1e-5)


# ---- special tokens typed in the text -------------------------------------------------


@pytest.fixture(scope="module")
def typed(tiny_model):
    q = tiny_model.encode_queries([TYPED_QUERY])[0]
    d = tiny_model.encode_documents([TYPED_DOC])[0]
    return q, d, explain(q, d, 96)


def test_typed_special_tokens_are_their_own_kind(typed):
    q, d, e = typed
    assert [q.tokens[i] for i in np.flatnonzero(q.typed_special)] == ["<mask>", "[QueryMarker]"]
    assert [d.tokens[i] for i in np.flatnonzero(d.typed_special)] == ["<s>", "</s>", "[DocumentMarker]", "<mask>"]
    for record, axis in ((q, e.query), (d, e.document)):
        assert [i for i, k in enumerate(axis.kinds) if k == "typed"] == np.flatnonzero(record.typed_special).tolist()
        assert axis.kinds[:2] == ["special", "marker"]
    # the typed <mask> is not query expansion: the expansion rows are the placed ones after </s>
    end = q.tokens.index("</s>", 2)
    assert e.query.kinds[end] == "special"
    assert [i for i, k in enumerate(e.query.kinds) if k == "expansion"] == list(range(end + 1, 32))
    # scored like text: candidates for MaxSim, never skipped
    assert e.document.scored[d.typed_special].all()
    assert "skipped" in e.document.kinds


def test_hiding_special_tokens_keeps_typed_ones(typed):
    q, d, e = typed
    assert SPECIAL_KINDS == ("special", "marker")
    for axis, record in ((e.query, q), (e.document, d)):
        shown = shown_positions(axis, hide_expansion=True, hide_special=True).tolist()
        assert set(np.flatnonzero(record.typed_special).tolist()) <= set(shown)
        assert not set(np.flatnonzero(record.special | record.expansion).tolist()) & set(shown)


def test_typed_special_tokens_stay_single_when_merging(typed):
    q, d, e = typed
    m = merge(e)
    check_merged(e, m)
    for axis, record in ((m.query, q), (m.document, d)):
        typed_items = [k for k, kind in enumerate(axis.kinds) if kind == "typed"]
        assert [axis.groups[k] for k in typed_items] == [[i] for i in np.flatnonzero(record.typed_special)]
        assert [axis.labels[k] for k in typed_items] == [record.tokens[i] for i in np.flatnonzero(record.typed_special)]
    # the word before a typed <s> and the piece after it are not glued to it
    assert "HTML" in m.document.labels and "struck" in m.document.labels


def test_typed_special_tokens_in_the_views(typed):
    _, _, e = typed
    pieces = text_pieces(e, np.ones(len(e.document), bool))
    typed_pieces = [p for p in pieces if "position" in p and e.document.kinds[p["position"]] == "typed"]
    assert [p["text"] for p in typed_pieces] == ["<s>", "</s>", "[DocumentMarker]", "<mask>"]  # text, not chips
    assert "".join(p.get("text", "") for p in pieces) == TYPED_DOC  # the text reads exactly as typed


def test_records_built_without_the_flag_have_none_typed():
    record = TokenVectors(text="a", kind="document", ids=np.array([0, 5, 2]), tokens=["<s>", "▁a", "</s>"],
                          spans=[(0, 0), (0, 1), (0, 0)], special=np.array([True, False, True]),
                          marker=np.zeros(3, bool), expansion=np.zeros(3, bool), skipped=np.zeros(3, bool),
                          n_text_tokens=1, truncated=False, vectors=np.eye(3, dtype=np.float32))
    assert record.typed_special.tolist() == [False, False, False]
    assert token_kinds(record) == ["special", "text", "special"]
