"""The explorer's payload: every number the browser draws, checked against
brute force, bounded for long documents, lazy for large Runs."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from factories import document_record, filler_words, make_analysis, query_record

from colbert_viz.analysis import Analysis
from colbert_viz.explorer import MAX_COLUMNS, document_payload, model_facts, run_payload
from colbert_viz.explorer_html import notebook_html, script_json, standalone_html


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
            sim = floats(view["sim"]).reshape(len(q), len(doc))
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
            assert [int(b) for b in view["best"]] == [max(scored, key=lambda j: row[j]) for row in sim]
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
    for combo, fold in view["folds"].items():
        hide_special = combo[1] == "1"
        shown = [j for j, k in enumerate(kinds) if not (hide_special and k in ("special", "marker"))]
        columns = fold["columns"]
        assert len(columns) <= MAX_COLUMNS < len(shown)
        covered = [p for start, end, count, gap in columns for p in shown[shown.index(start): shown.index(end) + 1]]
        assert covered == shown  # every shown column once, in order
        assert all(count == 1 for _, _, count, gap in columns if not gap) and any(gap for *_, gap in columns)
        z = floats(fold["z"]).reshape(len(fold["rows"]), len(columns))
        for c, (start, end, _count, gap) in enumerate(columns):
            run = shown[shown.index(start): shown.index(end) + 1]
            scored = [p for p in run if not doc.skipped[p]]
            for r, row in enumerate(fold["rows"]):
                expected = max(sim[row][p] for p in scored) if gap and scored else sim[row][start]
                if gap and not scored:
                    assert np.isnan(z[r, c])
                else:
                    assert z[r, c] == pytest.approx(expected, abs=1e-5)
        best = {int(view["best"][r]) for r in fold["rows"]}
        assert best <= {start for start, _, _, gap in columns if not gap}  # every best match is its own column


def test_a_large_run_sends_the_first_document_and_the_rest_on_demand(analysis):
    lazy = run_payload(analysis, eager_bytes=1, run_key="k")
    first = lazy["rankings"]["128"]["order"][0]
    assert not lazy["complete"] and set(lazy["views"]) == {str(first)} and lazy["run_key"] == "k"
    other = (first + 1) % 4
    assert json.dumps(document_payload(analysis, other)) == json.dumps(run_payload(analysis)["views"][str(other)])


def test_model_facts_follow_the_tokens():
    facts = model_facts(query_record(["a", "b"], n_expansion=5), (128, 96, 64))
    assert facts["query_tokens"] == facts["score_max"] == 10
    assert facts["expansion"] == ["<mask>"] and facts["markers"] == ["[QueryMarker]"]
    assert facts["specials"] == ["</s>", "<s>"] and facts["subword"] == "sentencepiece"
    wordpiece = query_record(["berlin"], n_expansion=0)
    wordpiece = type(wordpiece)(**{**vars(wordpiece), "tokens": ["[CLS]", "[unused0]", "berlin", "[SEP]"]})
    facts = model_facts(wordpiece, (384, 128))
    assert facts["subword"] == "wordpiece" and facts["expansion"] == [] and facts["native_dim"] == 384


def test_payload_json_cannot_close_its_script_element():
    payload = {"text": "</script><script>alert(1)</script>", "x": "a & b"}
    embedded = script_json(payload)
    assert "</" not in embedded and "<" not in embedded and json.loads(embedded) == payload


def test_standalone_and_notebook_html_embed_plotly_once(payload, monkeypatch):
    from colbert_viz import explorer_html

    page = standalone_html(payload, title="<b>t</b>")
    assert page.count("plotly.js v") == 1 and "<title>&lt;b&gt;t&lt;/b&gt;</title>" in page
    monkeypatch.setattr(explorer_html, "_sent_plotly", False)  # a fresh kernel session
    first, second = notebook_html(payload), notebook_html(payload)
    assert (first.count("plotly.js v"), second.count("plotly.js v")) == (1, 0)
    assert notebook_html(payload, include_plotlyjs=True).count("plotly.js v") == 1
    assert "ColbertViz" in second


def test_how_to_read_follows_the_model():
    from colbert_viz.page_text import how_to_read

    jina = model_facts(query_record(["a", "b"], n_expansion=27), (128, 96, 64))
    text = how_to_read(jina)
    assert "`<mask>`" in text and "between −32 and 32" in text and "`▁` marks the start" in text
    assert "`[QueryMarker]`" in text and "128 is the model's native output" in text
    record = query_record(["berlin"], n_expansion=0)
    record = type(record)(**{**vars(record), "tokens": ["[CLS]", "[unused0]", "berlin", "[SEP]"]})
    text = how_to_read(model_facts(record, (384, 128, 96, 64)))
    assert "No query expansion" in text and "<mask>" not in text and "`##`" in text
    assert "between −4 and 4" in text and "384 is the model's native output" in text


def test_files_and_notebooks_carry_every_storage_setting(analysis):
    from colbert_viz.explorer_html import ExplorerView
    from colbert_viz.storage import METHODS

    payload = ExplorerView.of(analysis).payload
    assert set(payload["stored"]) == set(METHODS) - {"float32"}
    assert all(set(views) == {"0", "1", "2", "3"} for views in payload["stored"].values())
    assert set(payload["storage"]["rankings"]) == {f"{d}/{m}" for d in (128, 96, 64) for m in METHODS}
    assert "stored" not in ExplorerView.of(analysis, storage=False).payload
