"""The explorer's payload: every number the browser draws, checked against
brute force, bounded for long documents, lazy for large Runs."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from factories import document_record, filler_words, make_analysis, query_record

from colbert_viz.explorer.html import notebook_html, script_json, standalone_html
from colbert_viz.explorer.payload import MAX_COLUMNS, document_payload, model_facts, query_facts, run_payload
from colbert_viz.maths.analysis import Analysis


def floats(b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype="<f4")


def brute_similarity(q: np.ndarray, d: np.ndarray, dim: int) -> np.ndarray:
    """Cosine of the re-normalised prefixes, with python loops in float64."""
    def cut(v):
        head = [float(x) for x in v[:dim]]
        norm = sum(x * x for x in head) ** 0.5
        return [x / norm for x in head]
    qs, ds = [cut(v) for v in q], [cut(v) for v in d]
    return np.array([[sum(a * b for a, b in zip(x, y)) for y in ds] for x in qs])


@pytest.fixture(scope="module")
def analysis():
    return make_analysis(4, n_words=12)


@pytest.fixture(scope="module")
def payload(analysis):
    return json.loads(json.dumps(run_payload(analysis, top_n=3, summary="s")))  # what crosses the wire


def test_every_document_and_dimension_is_sent_for_a_small_run(payload, analysis):
    assert payload["complete"] and set(payload["views"]) == {"0", "1", "2", "3"}
    for view in payload["views"].values():
        assert set(view["variants"]) == {"tokens", "words"}
        for variant in view["variants"].values():
            assert set(variant["dims"]) == {"128", "96", "64"}


def test_similarities_are_the_brute_force_cosines(payload, analysis):
    q = analysis.query.vectors
    for i, doc in enumerate(analysis.documents):
        for dim in (128, 64):
            view = payload["views"][str(i)]["variants"]["tokens"]["dims"][str(dim)]
            sim = floats(view["similarity"]).reshape(len(q), len(doc))
            assert np.abs(sim - brute_similarity(q, doc.vectors, dim)).max() < 1e-5


def test_contributions_add_up_to_the_ranked_score(payload, analysis):
    for dim in (128, 96, 64):
        ranking = payload["rankings"][str(dim)]
        brute = []
        for i, doc in enumerate(analysis.documents):
            sim = brute_similarity(analysis.query.vectors, doc.vectors, dim)
            scored = [j for j in range(len(doc)) if not doc.skipped[j]]
            brute.append(sum(max(row[j] for j in scored) for row in sim))
            view = payload["views"][str(i)]["variants"]["tokens"]["dims"][str(dim)]
            assert sum(view["contributions"]) == pytest.approx(view["score"], abs=1e-9)
            assert view["score"] == pytest.approx(ranking["scores"][i], abs=1e-9)
            assert [int(b) for b in view["best_index"]] == [max(scored, key=lambda j: row[j]) for row in sim]
        assert ranking["scores"] == pytest.approx(brute, abs=1e-4)
        assert ranking["order"] == sorted(range(4), key=lambda i: -brute[i])
        assert [ranking["ranks"][i] for i in ranking["order"]] == [1, 2, 3, 4]
        assert ranking["per_token"] == pytest.approx([s / len(analysis.query) for s in ranking["scores"]])


def test_words_keep_the_score(payload):
    for view in payload["views"].values():
        for dim in ("128", "64"):
            tokens, words = (view["variants"][v]["dims"][dim] for v in ("tokens", "words"))
            assert words["score"] == pytest.approx(tokens["score"])
            assert sum(words["contributions"]) == pytest.approx(tokens["score"])


def test_short_documents_send_no_folds_and_their_pieces_once(payload):
    variant = payload["views"]["0"]["variants"]["tokens"]
    assert variant["pieces"] and all("folds" not in v and "pieces" not in v for v in variant["dims"].values())


def long_analysis(n_words: int = 700) -> Analysis:
    q = query_record(["population", "of", "Berlin"])
    return Analysis(query=q, documents=[document_record(filler_words(n_words), seed=3)], dimensions=(128, 64))


def test_long_documents_come_folded_to_the_column_bound():
    analysis = long_analysis()
    doc = analysis.documents[0]
    view = document_payload(analysis, 0)["variants"]["tokens"]["dims"]["64"]
    sim = brute_similarity(analysis.query.vectors, doc.vectors, 64)
    kinds = document_payload(analysis, 0)["variants"]["tokens"]["axis"]["kinds"]
    assert {(f["hide_expansion"], f["hide_special"]) for f in view["folds"]} == {
        (False, False), (False, True), (True, False), (True, True)}
    for fold in view["folds"]:
        shown = [j for j, k in enumerate(kinds) if not (fold["hide_special"] and k in ("special", "marker"))]
        columns = [(c["start"], c["end"], c["count"], c["gap"]) for c in fold["columns"]]
        assert len(columns) <= MAX_COLUMNS < len(shown)
        covered = [p for start, end, count, gap in columns for p in shown[shown.index(start): shown.index(end) + 1]]
        assert covered == shown  # every shown column once, in order
        assert all(count == 1 for _, _, count, gap in columns if not gap) and any(gap for *_, gap in columns)
        z = floats(fold["similarity"]).reshape(len(fold["rows"]), len(columns))
        for c, (start, end, _count, gap) in enumerate(columns):
            run = shown[shown.index(start): shown.index(end) + 1]
            scored = [p for p in run if not doc.skipped[p]]
            for r, row in enumerate(fold["rows"]):
                expected = max(sim[row][p] for p in scored) if gap and scored else sim[row][start]
                if gap and not scored:
                    assert np.isnan(z[r, c])
                else:
                    assert z[r, c] == pytest.approx(expected, abs=1e-5)
        best = {int(view["best_index"][r]) for r in fold["rows"]}
        assert best <= {start for start, _, _, gap in columns if not gap}  # every best match is its own column


def test_a_large_run_sends_the_first_document_and_the_rest_on_demand(analysis):
    lazy = run_payload(analysis, eager_bytes=1, run_key="k")
    first = lazy["rankings"]["128"]["order"][0]
    assert not lazy["complete"] and set(lazy["views"]) == {str(first)} and lazy["run_key"] == "k"
    other = (first + 1) % 4
    assert json.dumps(document_payload(analysis, other)) == json.dumps(run_payload(analysis)["views"][str(other)])


def test_query_facts_follow_the_tokens_of_a_hand_built_run():
    facts = query_facts(query_record(["a", "b"], n_expansion=5), (128, 96, 64))
    assert facts["query_tokens"] == facts["score_max"] == 10
    assert facts["expansion"] == ["<mask>"] and facts["markers"] == ["[QueryMarker]"]
    assert facts["specials"] == ["</s>", "<s>"] and facts["subword"] == "sentencepiece"
    assert facts["matryoshka"] is None
    wordpiece = query_record(["berlin"], n_expansion=0)
    wordpiece = type(wordpiece)(**{**vars(wordpiece), "tokens": ["[CLS]", "[unused0]", "berlin", "[SEP]"]})
    facts = query_facts(wordpiece, (384, 128))
    assert facts["subword"] == "wordpiece" and facts["expansion"] == [] and facts["native_dim"] == 384


GERMAN = ("Wie viele Einwohner hat Berlin im Jahr 2023 laut den offiziellen Statistiken des Amtes für Statistik "
          "Berlin-Brandenburg, und wie hat sich die Zahl seit der Wiedervereinigung entwickelt?")


def test_model_facts_come_from_the_model_not_from_a_cut_query(tiny_model):
    facts = model_facts(tiny_model)
    assert facts["query_tokens"] == 32 and facts["expansion"] == ["<mask>"] and facts["matryoshka"] is True
    assert facts["markers"] == ["[QueryMarker]", "[DocumentMarker]"] and facts["specials"] == ["<s>", "</s>"]
    assert (facts["native_dim"], facts["dimensions"], facts["subword"]) == (128, [128, 96, 64], "sentencepiece")
    analysis = tiny_model.analyze(GERMAN, ["Berlin hat 3,8 Millionen Einwohner."])
    assert analysis.query.truncated and not analysis.query.expansion.any()  # no mask token in this Run
    payload = run_payload(analysis, model=facts)
    assert payload["model"] == facts  # the Run's tokens do not turn expansion off
    scored = payload["query"]["scored"]
    dropped = analysis.query.n_text_tokens - int(analysis.query.in_text.sum())
    assert dropped > 0 and scored == {"tokens": 32, "text_tokens": analysis.query.n_text_tokens,
                                      "kept": 32 - 3, "dropped": dropped, "truncated": True, "expansion": 0,
                                      "note": scored["note"]}
    assert f"cut to 32 tokens ({dropped} dropped" in scored["note"]
    short = run_payload(tiny_model.analyze("Berlin?", ["Berlin."]), model=facts)["query"]["scored"]
    expansion = int(tiny_model.tokenizer.tokenize_queries(["Berlin?"])[0].expansion.sum())
    assert not short["truncated"] and short["dropped"] == 0 and short["expansion"] == expansion > 20
    assert "expansion tokens (<mask>) pad it to 32" in short["note"]


@pytest.fixture(scope="module")
def offline_model():
    import colbert_viz

    return colbert_viz.load("offline")


def test_the_offline_model_is_described_as_itself(offline_model):
    from colbert_viz.explorer.page_text import how_to_read, intro, storage_help

    facts = model_facts(offline_model)
    assert facts["matryoshka"] is False and facts["expansion"] == [] and facts["markers"] == []
    assert facts["specials"] == ["[CLS]", "[SEP]"] and facts["native_dim"] == 384 and facts["subword"] == "wordpiece"
    text = how_to_read(facts)
    assert "all-MiniLM-L6-v2" in text and "no Matryoshka training" in text and "`[CLS]` `[SEP]`" in text
    assert "0.565" not in text and "Matryoshka representation learning" not in text
    assert "`<s>`" not in text and "<mask>" not in text and "384 is the model's native output" in text
    assert "No query expansion" in text and "at most 32" in text and "does not pad queries with mask" not in text
    assert "384, 128, 96 or 64 dimensions" in intro(facts)
    assert "1,536 bytes each at 384 dimensions" in storage_help(facts) and "128 dimensions" not in storage_help(facts)


def test_payload_json_cannot_close_its_script_element():
    payload = {"text": "</script><script>alert(1)</script>", "x": "a & b"}
    embedded = script_json(payload)
    assert "</" not in embedded and "<" not in embedded and json.loads(embedded) == payload


def test_standalone_and_notebook_html_embed_plotly_once(payload, monkeypatch):
    from colbert_viz.explorer import html as explorer_html

    page = standalone_html(payload, title="<b>t</b>")
    assert page.count("plotly.js v") == 1 and "<title>&lt;b&gt;t&lt;/b&gt;</title>" in page
    monkeypatch.setattr(explorer_html, "_sent_plotly", False)  # a fresh kernel session
    first, second = notebook_html(payload), notebook_html(payload)
    assert (first.count("plotly.js v"), second.count("plotly.js v")) == (1, 0)
    assert notebook_html(payload, include_plotlyjs=True).count("plotly.js v") == 1
    assert "ColbertViz" in second


def test_how_to_read_follows_the_model(tiny_model):
    from colbert_viz.explorer.page_text import dimension_note, how_to_read, intro, storage_help

    jina = model_facts(tiny_model)
    text = how_to_read(jina)
    assert "`<mask>`" in text and "between −32 and 32" in text and "`▁` marks the start" in text
    assert "`[QueryMarker]` `[DocumentMarker]`" in text and "128 is the model's native output" in text
    assert "Matryoshka representation learning" in text and "0.565 at 128" in text
    assert dimension_note(jina).startswith("128 is native; 96 and 64") and "(Matryoshka)" in dimension_note(jina)
    assert "128, 96 or 64 dimensions" in intro(jina) and "512 bytes each at 128 dimensions" in storage_help(jina)
    record = query_record(["berlin"], n_expansion=0)
    record = type(record)(**{**vars(record), "tokens": ["[CLS]", "[unused0]", "berlin", "[SEP]"]})
    text = how_to_read(query_facts(record, (384, 128, 96, 64)))
    assert "No query expansion" in text and "<mask>" not in text and "`##`" in text
    assert "at most 4" in text and "384 is the model's native output" in text and "0.565" not in text


def test_files_and_notebooks_carry_every_storage_setting(analysis):
    from colbert_viz.explorer.html import ExplorerView
    from colbert_viz.storage.settings import METHODS

    payload = ExplorerView.of(analysis).payload
    assert set(payload["stored_views"]) == set(METHODS) - {"float32"}
    assert all(set(views) == {"0", "1", "2", "3"} for views in payload["stored_views"].values())
    assert set(payload["storage"]["rankings"]) == {f"{d}/{m}" for d in (128, 96, 64) for m in METHODS}
    assert "stored_views" not in ExplorerView.of(analysis, embed_storage=False).payload


def test_storage_views_carry_their_own_taus_and_moved_matches(analysis):
    from colbert_viz.explorer.payload import storage_summary, stored_document_payload
    from colbert_viz.explorer.tables import match_changes_table
    from colbert_viz.storage.analysis import StoredAnalysis
    from colbert_viz.storage.settings import METHODS

    stored = StoredAnalysis(analysis)
    summary = storage_summary(stored)
    for method in METHODS[1:]:
        comparison = stored.compare_dimensions(method)
        assert [(t["a"], t["b"]) for t in summary["tau"][method]] == list(comparison.tau)
        assert [t["tau"] for t in summary["tau"][method]] == pytest.approx(list(comparison.tau.values()))
        views = stored_document_payload(stored, 2, method)
        changes = match_changes_table(analysis, 2, {d: stored.explain(2, d, storage=method)
                                                    for d in analysis.dimensions})
        assert views["match_changes"] == {"columns": list(changes.columns), "rows": changes.values.tolist()}
