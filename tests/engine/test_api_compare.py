"""The API beside the open weights: Python function and CLI, against the loopback server."""

from __future__ import annotations

import json

import numpy as np
import pytest
from jina_server import KEY, JinaStub

from colbert_viz.cli import main
from colbert_viz.engine.api_compare import compare_api
from colbert_viz.engine.api_encoder import ApiEncoder, api_tokenizer

QUERY = "What is the population of Berlin?"
DOCS = ["Berlin has about 3.9 million inhabitants.", "Paris is the capital of France.",
        "The population of Berlin grew after 1990, reaching 3.7 million by 2020."]


@pytest.fixture
def stub(tiny_model):
    server = JinaStub(tiny_model)
    yield server
    server.close()


@pytest.fixture
def api(stub):
    encoder = ApiEncoder(api_tokenizer(hub=False), None, base_url=stub.url).with_key(KEY, backoff_s=0.01)
    yield encoder
    encoder.close()


def test_same_vectors_agree_everywhere(api, stub, tiny_model):
    result = compare_api(api, QUERY, DOCS, local=tiny_model)
    assert result["local"]["max_vector_difference"] < 1e-5
    assert result["local"]["largest_rank_change"] == 0
    assert result["rerank"]["largest_rank_change"] == 0  # the stub's rerank is MaxSim / 32
    for row in result["rerank"]["documents"]:
        assert row["rerank_score"] == pytest.approx(row["maxsim"] / 32, abs=1e-4)
    asked = sorted({r["body"]["dimensions"] for r in stub.requests if "dimensions" in r["body"]})
    assert asked == [64, 96, 128]  # 96 and 64 come from the API, not from the cut
    assert [d["dimensions"] for d in result["dimensions_compared"]] == [96, 64]
    assert result["tokens_used"] > 0 and "counted" in result["note"]


def test_other_vectors_show_their_difference(api, stub, tiny_model):
    stub.drop_vectors = 1  # the API's documents have one vector fewer: no difference can be measured for them
    result = compare_api(api, QUERY, DOCS, local=tiny_model)
    assert all(row["max_vector_difference"] is None for row in result["local"]["documents"])
    assert result["local"]["query_vector_difference"] < 1e-5
    stub.drop_vectors = 0
    original = stub.vectors

    def noisy(body):  # the API's vectors differ from the local ones
        answer = original(body)
        rng = np.random.default_rng(0)
        for item in answer["data"]:
            item["embeddings"] = (np.array(item["embeddings"]) + rng.normal(0, 0.05, (len(item["embeddings"]),
                                                                              body["dimensions"]))).tolist()
        return answer

    stub.vectors = noisy
    fresh = api.with_key(KEY)
    result = compare_api(fresh, QUERY, DOCS, local=tiny_model)
    per_doc = [row["max_vector_difference"] for row in result["local"]["documents"]]
    assert min(per_doc) > 0.01
    assert result["local"]["max_vector_difference"] == max([*per_doc, result["local"]["query_vector_difference"]])


@pytest.fixture
def api_env(stub, monkeypatch, tmp_path):
    monkeypatch.setenv("COLBERT_VIZ_JINA_API_URL", stub.url)
    monkeypatch.setenv("JINA_API_KEY", KEY)
    docs = tmp_path / "docs.json"
    docs.write_text(json.dumps(DOCS))
    return docs


def test_cli_compare_api(api_env, tiny_checkpoint, capsys):
    code = main(["compare-api", "--model", str(tiny_checkpoint), "--dtype", "float32", "--device", "cpu",
                 "--query", QUERY, "--documents", str(api_env)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["local"]["max_vector_difference"] < 1e-5
    assert KEY not in json.dumps(out)


def test_cli_rerank_through_the_api(api_env, tiny_model, capsys):
    assert main(["rerank", "--model", "jina-api:jina-colbert-v2", "--query", QUERY, "--documents",
                 str(api_env)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["index"] for r in out["results"]] == [r["index"] for r in tiny_model.rerank(QUERY, DOCS)]
    assert out["api_tokens"] > 0


@pytest.mark.parametrize(("key", "message"), [("", "needs a key"), ("jina_refused0123456789", "refused the key")])
def test_cli_bad_key_is_exit_2_one_line(api_env, monkeypatch, capsys, key, message):
    monkeypatch.setenv("JINA_API_KEY", key)
    assert main(["compare-api", "--no-local", "--query", QUERY, "--documents", str(api_env)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not key or key not in err


def test_cli_collections_and_storage_through_the_api(api_env, tiny_model, tmp_path, capsys):
    api = ["--model", "jina-api:jina-colbert-v2"]
    collection = str(tmp_path / "edge")
    assert main(["index", *api, "--collection", collection, "--documents", str(api_env)]) == 0
    capsys.readouterr()
    assert main(["search", *api, "--collection", collection, "--query", QUERY, "--top-k", "3", "--explain"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = [DOCS[r["index"]] for r in tiny_model.rerank(QUERY, DOCS)]
    assert [r["document"]["text"] for r in out["results"]] == expected
    assert out["results"][0]["explanation"]["document"]["tokens"][:2] == ["<s>", "[DocumentMarker]"]
    assert main(["compress", *api, "--query", QUERY, "--documents", str(api_env)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {row["method"] for row in out["storage"]} >= {"float16", "int8"}


def test_cli_recipe_of_the_api_is_one_line(api_env, capsys):
    """The API model has no files to read a recipe from: exit 2 and one sentence, not a traceback."""
    assert main(["recipe", "--model", "jina-api:jina-colbert-v2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no recipe to read: it is Jina's hosted API" in err[0]
