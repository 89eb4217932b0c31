"""The app end to end through its API (gradio_client), plus its wiring: element
ids, example sets, the model registry and the offline banner."""

from __future__ import annotations

import pytest
from serving import served_app

from colbert_viz.app.examples import load_examples
from colbert_viz.app.limits import Limits
from colbert_viz.app.registry import ModelRegistry, model_choices
from colbert_viz.engine.checkpoint import OFFLINE, ModelLoadError
from colbert_viz.inputs import split_documents

LIMITS = Limits(max_docs=10, max_chars=2000, max_tokens=4000, max_doc_tokens=1024)
REQUIRED_IDS = {"query", "documents", "run", "explorer", "banner", "status", "upload", "model", "doc-max-tokens",
                "top-n", "exports", "how-to-read"}
# Drawn by the explorer in the browser (checked in test_browser.py): dimension, ranking, selected-document,
# hide-expansion, hide-special, merge-words, heatmap, window-controls, contributions, highlight, compare,
# dimension-table, kendall-tau, match-changes, why, doc-a, doc-b, difference, difference-table, export.
EXAMPLE_IDS = {"example-berlin", "example-de", "example-fr", "example-es", "example-zh", "example-ja",
               "example-ar", "example-ru", "example-en", "example-cross-lingual", "example-code-search",
               "example-punctuation"}


@pytest.fixture(scope="module")
def app(tiny_model, tiny_checkpoint):
    with served_app({str(tiny_checkpoint): tiny_model}, LIMITS) as served:
        yield served


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client

    return Client(app[1], verbose=False)


def documents_text(berlin) -> str:
    return "\n".join(berlin["documents"])


def elem_ids(demo) -> set[str]:
    return {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}


def test_page_has_the_stable_element_ids(app):
    ids = elem_ids(app[0])
    assert ids >= REQUIRED_IDS | EXAMPLE_IDS


def test_rerank_through_the_api_matches_the_model(client, tiny_model, berlin):
    result = client.predict(query=berlin["query"], documents=documents_text(berlin), top_n=3, dimensions=128,
                            doc_max_tokens=512, api_name="/rerank")
    expected = tiny_model.rerank(berlin["query"], berlin["documents"], top_n=3, doc_maxlen=512)
    assert [r["index"] for r in result["results"]] == [r["index"] for r in expected]
    for got, want in zip(result["results"], expected):
        assert got["relevance_score"] == pytest.approx(want["relevance_score"], abs=1e-6)
        assert got["score_per_query_token"] == pytest.approx(want["relevance_score"] / 32, abs=1e-6)
        assert got["document"]["text"] == want["document"]["text"]
        assert set(got["ranks"]) == {"128", "96", "64"} and got["ranks"]["128"] == got["rank"]
    assert result["dimensions"] == 128 and result["usage"]["total_tokens"] > 0


def test_rerank_at_64_dimensions(client, tiny_model, berlin):
    result = client.predict(query=berlin["query"], documents=documents_text(berlin), dimensions=64,
                            api_name="/rerank")
    expected = tiny_model.analyze(berlin["query"], berlin["documents"], LIMITS.max_doc_tokens).rerank(64)
    assert [r["index"] for r in result["results"]] == [r["index"] for r in expected]


def test_over_limit_request_gets_a_clear_message(client, berlin):
    from gradio_client.exceptions import AppError

    too_many = "\n".join(berlin["documents"] * 2)
    with pytest.raises(AppError, match="more than 10 documents; the limit is 10 per request"):
        client.predict(query=berlin["query"], documents=too_many, api_name="/rerank")
    with pytest.raises(AppError, match="Enter a query"):
        client.predict(query="  ", documents=documents_text(berlin), api_name="/rerank")
    with pytest.raises(AppError, match="Dimensions must be one of 128, 96, 64"):
        client.predict(query=berlin["query"], documents=documents_text(berlin), dimensions=32,
                       api_name="/rerank")


def test_explain_at_64_dimensions(client, tiny_model, berlin):
    result = client.predict(query=berlin["query"], documents=documents_text(berlin), index=3, dimensions=64,
                            api_name="/explain")
    expected = tiny_model.analyze(berlin["query"], berlin["documents"], LIMITS.max_doc_tokens).explain(3, 64)
    assert result["dimensions"] == 64 and result["index"] == 3
    assert result["score"] == pytest.approx(expected.score, abs=1e-6)
    assert sum(m["contribution"] for m in result["matches"]) == pytest.approx(result["score"], abs=1e-6)
    assert result["query"]["tokens"] == expected.query.labels


def test_compare_two_documents(client, berlin):
    result = client.predict(query=berlin["query"], documents=documents_text(berlin), a=0, b=4, dimensions=96,
                            api_name="/compare")
    assert result["difference"] == pytest.approx(result["score_a"] - result["score_b"], abs=1e-9)
    assert sum(t["difference"] for t in result["tokens"]) == pytest.approx(result["difference"], abs=1e-6)
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="No document 99"):
        client.predict(query=berlin["query"], documents=documents_text(berlin), a=0, b=99, api_name="/compare")


def test_every_example_set_has_a_button_and_round_trips():
    sets = load_examples()
    assert {s.elem_id for s in sets} == EXAMPLE_IDS
    assert sets[0].id == "berlin"
    for s in sets:
        assert split_documents(s.documents_text) == [d.strip() for d in s.documents]
        assert s.button_label and len(s.button_label) <= 16


def test_registry_loads_once_and_refuses_unlisted_names():
    calls = []

    def loader(name):
        calls.append(name)
        return object()

    registry = ModelRegistry(choices=["a", OFFLINE], default="a", loader=loader)
    assert registry.get() is registry.get("a")
    assert calls == ["a"]
    with pytest.raises(ModelLoadError, match="not one of the models offered"):
        registry.get("/etc/passwd")


def test_registry_falls_back_to_offline_and_remembers_why():
    def loader(name):
        if name != OFFLINE:
            raise ModelLoadError("the hub cannot be reached")
        return "offline model"

    registry = ModelRegistry(choices=["jinaai/jina-colbert-v2", OFFLINE], loader=loader)
    assert registry.start() == "offline model"
    assert registry.default == OFFLINE
    assert "the hub cannot be reached" in registry.startup_note
    with pytest.raises(ModelLoadError, match="hub cannot be reached"):
        registry.get("jinaai/jina-colbert-v2")


def test_model_choices_from_the_environment():
    env = {"COLBERT_VIZ_MODELS": "a/b, offline ,c/d,"}
    assert model_choices("x/y", env) == ["x/y", "offline", "a/b", "c/d"]
    assert ModelRegistry.from_env({"COLBERT_VIZ_MODEL": "/models/mine"}).default == "/models/mine"
    assert ModelRegistry.from_env({}).default == "jinaai/jina-colbert-v2"


def test_banner_says_when_the_offline_model_is_active(tiny_model):
    from colbert_viz.app.ui import banner_markdown, build_app

    registry = ModelRegistry({OFFLINE: tiny_model}, default=OFFLINE)
    registry.startup_note = "Could not load jinaai/jina-colbert-v2: <no network>"
    text = banner_markdown(registry, OFFLINE)
    assert "not jina-colbert-v2" in text and "&lt;no network&gt;" in text
    demo = build_app(registry, limits=LIMITS)
    banner = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "banner")
    assert banner.visible and "Offline model" in banner.value
    assert banner_markdown(ModelRegistry({"m": tiny_model}), "m") == ""
