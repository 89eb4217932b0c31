"""``colbert-viz index`` and ``colbert-viz search``: JSON out, bad input as one line on stderr (status 2)."""

from __future__ import annotations

import json

import pytest

from colbert_viz.cli import main


@pytest.fixture()
def model_args(tiny_checkpoint):
    return ["--model", str(tiny_checkpoint), "--dtype", "float32", "--device", "cpu"]


def _run(capsys, args):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def docs_file(tmp_path, berlin):
    path = tmp_path / "docs.json"
    path.write_text(json.dumps(berlin["documents"]), encoding="utf-8")
    return path


def test_index_then_search(capsys, tmp_path, model_args, docs_file, berlin):
    collection = str(tmp_path / "c")
    code, out, err = _run(capsys, ["index", *model_args, "--collection", collection,
                                   "--documents", str(docs_file), "--batch-size", "4"])
    assert code == 0, err
    report = json.loads(out)
    assert (report["written"], report["points"], report["skipped"]) == (8, 8, 0)
    assert report["documents_per_second"] > 0 and report["tokens_per_second"] > 0

    code, out, err = _run(capsys, ["index", *model_args, "--collection", collection, "--documents", str(docs_file)])
    assert json.loads(out)["written"] == 0  # idempotent

    code, out, err = _run(capsys, ["search", *model_args, "--collection", collection, "--query", berlin["query"],
                                   "--top-k", "3", "--dimensions", "64", "--explain"])
    assert code == 0, err
    result = json.loads(out)
    assert result["dimensions"] == 64 and result["vector"] == "colbert-64"
    rows = result["results"]
    assert [r["qdrant_rank"] for r in rows] == [1, 2, 3] and [r["index"] for r in rows] == [0, 1, 2]
    for row in rows:
        assert row["relevance_score"] == row["qdrant_score"] == pytest.approx(row["exact_maxsim"], abs=1e-5)
        assert row["document"]["text"] in berlin["documents"]
        assert row["explanation"]["score"] == pytest.approx(row["exact_maxsim"], abs=1e-5)
    assert result["usage"]["total_tokens"] == 32


def _one_line_error(code, out, err, *fragments):
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("colbert-viz: error: "), err
    for fragment in fragments:
        assert fragment in lines[0]


def test_search_a_missing_collection(capsys, tmp_path, model_args):
    _one_line_error(*_run(capsys, ["search", *model_args, "--collection", str(tmp_path / "none"), "--query", "x"]),
                    "does not exist")


def test_search_an_unreachable_server(capsys, model_args):
    _one_line_error(*_run(capsys, ["search", *model_args, "--collection", "http://127.0.0.1:9", "--query", "x"]),
                    "cannot be reached")


def test_no_collection_given(capsys, model_args, monkeypatch):
    monkeypatch.delenv("QDRANT_URL", raising=False)
    _one_line_error(*_run(capsys, ["search", *model_args, "--query", "x"]), "QDRANT_URL")


def test_url_from_the_environment(capsys, model_args, monkeypatch):
    monkeypatch.setenv("QDRANT_URL", "http://127.0.0.1:9/collections/docs")
    _one_line_error(*_run(capsys, ["search", *model_args, "--query", "x"]), "'docs' at http://127.0.0.1:9")


def test_settings_that_do_not_fit(capsys, tmp_path, model_args, docs_file):
    import qdrant_edge as q

    multi = q.MultiVectorConfig(comparator=q.MultiVectorComparator.MaxSim)
    q.EdgeShard.create(str(tmp_path / "c"), q.EdgeConfig(vectors={"colbert-128": q.EdgeVectorParams(
        size=128, distance=q.Distance.Dot, multivector_config=multi)})).close()
    _one_line_error(*_run(capsys, ["index", *model_args, "--collection", str(tmp_path / "c"),
                                   "--documents", str(docs_file)]), "distance dot", "needs cosine")
    _one_line_error(*_run(capsys, ["search", *model_args, "--collection", str(tmp_path / "c"), "--query", "x"]),
                    "no cosine MAX_SIM multivector of size 128")


def test_an_empty_collection(capsys, tmp_path, model_args):
    import qdrant_edge as q

    multi = q.MultiVectorConfig(comparator=q.MultiVectorComparator.MaxSim)
    q.EdgeShard.create(str(tmp_path / "c"), q.EdgeConfig(vectors={"colbert-128": q.EdgeVectorParams(
        size=128, distance=q.Distance.Cosine, multivector_config=multi)})).close()
    _one_line_error(*_run(capsys, ["search", *model_args, "--collection", str(tmp_path / "c"), "--query", "x"]),
                    "is empty")


def test_a_folder_that_is_not_a_collection(capsys, tmp_path, model_args, docs_file):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine", encoding="utf-8")
    _one_line_error(*_run(capsys, ["index", *model_args, "--collection", str(tmp_path / "c"),
                                   "--documents", str(docs_file)]), "is not empty")
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["notes.txt"]  # nothing written


def test_a_url_without_scheme_and_a_key_over_plain_http(capsys, tmp_path, monkeypatch, model_args):
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(capsys, ["search", *model_args, "--collection", "localhost:6333", "--query", "q"])
    assert code == 2 and err.strip().endswith("did you mean http://localhost:6333?") and len(err.splitlines()) == 1
    assert not any(tmp_path.iterdir())
    code, _, err = _run(capsys, ["search", *model_args, "--collection", "http://192.0.2.1:9/collections/c",
                                   "--api-key", "k", "--query", "q"])
    assert "warning: the API key goes over plain http to 192.0.2.1" in err and code == 2


def test_two_stage_search_misses_and_backfill(capsys, tmp_path, model_args, docs_file, berlin):
    """``index`` adds first stages, ``search --first-stage`` says what ran, ``--misses``/``--why``
    compare it with the exact search, ``first-stage`` gives an old collection one; bad input one line."""
    staged, plain = str(tmp_path / "staged"), str(tmp_path / "plain")
    assert _run(capsys, ["index", *model_args, "--collection", staged, "--documents", str(docs_file),
                         "--muvera", "3,8,4,1"])[0] == 0
    code, out, err = _run(capsys, ["search", *model_args, "--collection", staged, "--query", berlin["query"],
                                   "--top-k", "2", "--first-stage", "muvera", "--candidates", "3", "--misses",
                                   "--why", berlin["documents"][0]])
    assert code == 0, err
    result = json.loads(out)
    assert result["first_stage"] == {"kind": "muvera", "vector": "first-muvera-128-k3-p8-r4-s1", "source_size": 128,
                                     "k_sim": 3, "dim_proj": 8, "r_reps": 4, "seed": 1, "candidates": 3}
    misses = result["misses"]
    assert set(misses["exact_top_k"]) - {m["id"] for m in misses["missed"]} <= set(misses["two_stage_top_k"])
    assert misses["recall@2"] == (2 - len(misses["missed"])) / 2
    assert result["why"]["text"] == berlin["documents"][0] and len(result["why"]["matches"]) == 32

    assert _run(capsys, ["index", *model_args, "--collection", plain, "--documents", str(docs_file),
                         "--first-stages", "none"])[0] == 0
    search = ["search", *model_args, "--collection", plain, "--query", "Berlin"]
    _one_line_error(*_run(capsys, [*search, "--first-stage", "pooled"]), "no pooled first stage", "exactly")
    _one_line_error(*_run(capsys, [*search, "--misses"]), "add --first-stage")
    code, out, err = _run(capsys, ["first-stage", *model_args, "--collection", plain, "--into", str(tmp_path / "b"),
                                   "--first-stages", "pooled"])
    assert code == 0 and json.loads(out)["written"] == 8, err
    search = ["search", *model_args, "--collection", str(tmp_path / "b"), "--query", "Berlin", "--top-k", "3"]
    _one_line_error(*_run(capsys, [*search, "--first-stage", "pooled", "--candidates", "2"]), "at least top k")
    _one_line_error(*_run(capsys, [*search, "--first-stage", "pooled", "--why", "Atlantis"]), "no point 'Atlantis'")
    _one_line_error(*_run(capsys, ["search", *model_args, "--collection", staged, "--query", "Berlin",
                                   "--first-stage", "muvera", "--muvera", "4,8,8,42"]), "k_sim=3", "query with")
    assert json.loads(_run(capsys, [*search, "--first-stage", "pooled"])[1])["first_stage"]["candidates"] == 100


def test_index_on_a_cluster_names_its_shards_and_replicas(capsys, monkeypatch, model_args, docs_file):
    """--shards and --replicas reach create_collection as shard_number and replication_factor
    (a local-mode client stands in for the server; it records what the server is asked)."""
    from qdrant_client import QdrantClient

    from colbert_viz.collections.client import ClientBackend

    asked = {}
    local = QdrantClient(":memory:")
    create = local.create_collection

    def recording(name, **kwargs):
        asked.update(kwargs)
        return create(name, **kwargs)

    local.create_collection = recording
    monkeypatch.setattr(ClientBackend, "connect", classmethod(lambda cls, url, name, key=None, timeout=10:
                                                             cls(local, name)))
    code, out, err = _run(capsys, ["index", *model_args, "--collection", "http://127.0.0.1:6333/collections/docs",
                                   "--documents", str(docs_file), "--shards", "3", "--replicas", "2",
                                   "--first-stages", "pooled"])
    assert code == 0, err
    assert (asked["shard_number"], asked["replication_factor"]) == (3, 2)
    assert json.loads(out)["written"] == 8


def test_shards_on_an_edge_folder_is_one_line(capsys, tmp_path, model_args, docs_file):
    _one_line_error(*_run(capsys, ["index", *model_args, "--collection", str(tmp_path / "edge"), "--documents",
                                   str(docs_file), "--shards", "2"]), "go with a Qdrant server URL")
    assert not (tmp_path / "edge").exists()
