"""How a new collection stores its multivectors: ``datatype`` float16 (Qdrant keeps half the
bytes) and ``on_disk`` (memory-mapped, optimised every ``OPTIMIZE_EVERY`` points, segments of at
most ``SEGMENT_KB``), on Qdrant Edge and qdrant-client's local mode, against numpy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from colbert_viz.cli import main
from colbert_viz.collections import ClientBackend, EdgeBackend, index, search
from colbert_viz.collections import edge as edge_module
from colbert_viz.collections import indexing as indexing_module
from colbert_viz.collections.backfill import add_first_stage
from colbert_viz.collections.indexing import expected_specs

WORDS = ["river", "bridge", "castle", "market", "harbour", "museum", "forest", "tower", "station", "garden"]
DOCS = [f"The {WORDS[i % 10]} by the {WORDS[(3 * i + 7) % 10]}, then the {WORDS[(7 * i + 1) % 10]} ({i})."
        for i in range(40)]
QUERY = "the old castle by the river"


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def stored_as_float16(model, dim):
    """Each document's scored vectors at ``dim``, normalised, then rounded to float16 (what Qdrant keeps)."""
    return [unit(d.vectors[d.scored][:, :dim]).astype(np.float16).astype(np.float32)
            for d in model.encode_documents(DOCS)]


def numpy_top(model, dim, k, docs):
    q = unit(model.encode_queries([QUERY])[0].vectors[:, :dim])
    scores = np.array([(q @ d.T).max(1).sum() for d in docs])
    return list(np.argsort(-scores, kind="stable")[:k]), scores


@pytest.fixture(params=["edge", "client"])
def backend(request, tmp_path):
    if request.param == "edge":
        made = EdgeBackend(tmp_path / "c")
    else:
        from qdrant_client import QdrantClient

        made = ClientBackend(QdrantClient(":memory:"), "c")
    yield made
    made.close()


def test_float16_on_disk_is_stored_so_and_searched_like_numpy(backend, tiny_model):
    index(tiny_model, backend, DOCS, batch_size=16, first_stages=(), datatype="float16", on_disk=True)
    specs = backend.specs()
    for dim in tiny_model.dimensions:
        assert (specs[f"colbert-{dim}"].datatype, specs[f"colbert-{dim}"].on_disk) == ("float16", True)
    dim = max(tiny_model.dimensions)
    docs = stored_as_float16(tiny_model, dim)
    want, scores = numpy_top(tiny_model, dim, 5, docs)
    result = search(tiny_model, backend, QUERY, top_k=5, dim=dim)
    assert [DOCS.index(result.analysis.documents[h.index].text) for h in result.hits] == want
    assert [h.score for h in result.hits] == pytest.approx(list(scores[want]), abs=2e-3)
    assert result.to_dict()["storage"] == {"datatype": "float16", "on_disk": True}
    from colbert_viz.app.ui_search import search_status

    assert f"(colbert-{dim}, stored as float16 on disk; exact MaxSim" in search_status(result, "c", "tiny", 0.1)
    if isinstance(backend, EdgeBackend):  # local mode keeps float32 whatever it is told
        fetched = backend.vectors([h.id for h in result.hits[:1]], f"colbert-{dim}")
        got = next(iter(fetched.values()))
        assert np.array_equal(got, docs[want[0]])  # float16 values exactly
        full = unit(tiny_model.encode_documents([DOCS[want[0]]])[0].vectors)[:len(got), :dim]
        assert not np.array_equal(got, full)  # … not the float32 ones
        config = json.loads((backend.folder / "edge_config.json").read_text())
        assert config["vectors"][f"colbert-{dim}"]["datatype"] == "float16"
        assert config["vectors"][f"colbert-{dim}"]["memory"] == "cold"
        assert config["optimizers"]["max_segment_size"] == edge_module.SEGMENT_KB


def test_default_storage_is_float32_in_ram(tmp_path, tiny_model):
    with EdgeBackend(tmp_path / "c") as backend:
        index(tiny_model, backend, DOCS[:4], first_stages=())
        spec = backend.specs()[f"colbert-{max(tiny_model.dimensions)}"]
        assert (spec.datatype, spec.on_disk) == ("float32", False)
        config = json.loads((backend.folder / "edge_config.json").read_text())
        assert config["optimizers"]["default_segment_number"] == 1


def test_on_disk_is_optimised_as_it_fills_and_searches_across_segments(tmp_path, tiny_model, monkeypatch):
    monkeypatch.setattr(indexing_module, "OPTIMIZE_EVERY", 10)
    monkeypatch.setattr(edge_module, "SEGMENT_KB", 30)  # a few documents per segment
    calls = []
    with EdgeBackend(tmp_path / "disk") as disk, EdgeBackend(tmp_path / "ram") as ram:
        real = disk.optimize
        monkeypatch.setattr(disk, "optimize", lambda: (calls.append(disk.count()), real())[1])
        index(tiny_model, disk, DOCS, batch_size=8, first_stages=(), on_disk=True)
        assert calls == [16, 32, 40]  # after 16 and 32 written (≥ 10 since the last), then at the end
        assert disk.shard.info().segments_count > 2
        index(tiny_model, ram, DOCS, batch_size=8, first_stages=())
        for dim in tiny_model.dimensions:
            a = search(tiny_model, disk, QUERY, top_k=10, dim=dim)
            b = search(tiny_model, ram, QUERY, top_k=10, dim=dim)
            assert [h.id for h in a.hits] == [h.id for h in b.hits]
            assert [h.score for h in a.hits] == pytest.approx([h.score for h in b.hits], abs=1e-5)


def test_resuming_keeps_the_collections_storage(tmp_path, tiny_model, monkeypatch):
    monkeypatch.setattr(indexing_module, "OPTIMIZE_EVERY", 4)
    with EdgeBackend(tmp_path / "c") as backend:
        index(tiny_model, backend, DOCS[:8], first_stages=(), datatype="float16", on_disk=True)
        calls = []
        real = backend.optimize
        monkeypatch.setattr(backend, "optimize", lambda: (calls.append(backend.count()), real())[1])
        report = index(tiny_model, backend, DOCS[:16], batch_size=4, first_stages=())  # options are for a new one
        assert (report.skipped, report.written) == (8, 8)
        assert {(s.datatype, s.on_disk) for s in backend.specs().values()} == {("float16", True)}
        assert calls == [12, 16, 16]  # still optimised as it fills: the collection is on disk


def test_a_copy_with_a_first_stage_keeps_the_storage(tmp_path, tiny_model):
    with EdgeBackend(tmp_path / "old") as old, EdgeBackend(tmp_path / "new") as new:
        index(tiny_model, old, DOCS[:12], first_stages=(), datatype="float16", on_disk=True)
        add_first_stage(old, new, ("pooled",))
        specs = new.specs()
        multi = [s for s in specs.values() if s.comparator]
        assert multi and all((s.datatype, s.on_disk) == ("float16", True) for s in multi)
        first = [s for s in specs.values() if not s.comparator]
        assert [(s.datatype, s.on_disk) for s in first] == [("float32", False)]


def test_an_unknown_datatype_is_refused_before_anything_is_written(tmp_path, tiny_model):
    with pytest.raises(ValueError, match="datatype must be one of float32, float16"):
        expected_specs((128,), "bfloat16")
    with EdgeBackend(tmp_path / "c") as backend:
        with pytest.raises(ValueError, match="datatype must be one of"):
            index(tiny_model, backend, DOCS[:2], datatype="int4")
        assert backend.specs() is None
    from qdrant_client import QdrantClient

    from colbert_viz.collections.backends import VectorSpec

    for made in (EdgeBackend(tmp_path / "d"), ClientBackend(QdrantClient(":memory:"), "d")):
        with made, pytest.raises(ValueError, match="got 'turbo4'"):  # a copy of a collection stored so
            made.create([VectorSpec("colbert-128", 128, datatype="turbo4")], "none", 0)


def test_cli_index_datatype_and_on_disk(capsys, tmp_path, tiny_checkpoint):
    docs = tmp_path / "docs.json"
    docs.write_text(json.dumps(DOCS[:6]), encoding="utf-8")
    model = ["--model", str(tiny_checkpoint), "--dtype", "float32", "--device", "cpu"]
    folder = tmp_path / "c"
    code = main(["index", *model, "--collection", str(folder), "--documents", str(docs), "--datatype", "float16",
                 "--on-disk", "--first-stages", "none"])
    out, err = capsys.readouterr()
    assert code == 0, err
    config = json.loads((folder / "edge_config.json").read_text())
    assert {v.get("datatype") for v in config["vectors"].values()} == {"float16"}
    code = main(["search", *model, "--collection", str(folder), "--query", QUERY, "--top-k", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["storage"] == {"datatype": "float16", "on_disk": True}
    with pytest.raises(SystemExit) as stop:
        main(["index", *model, "--collection", str(tmp_path / "d"), "--documents", str(docs),
              "--datatype", "bfloat16"])
    assert stop.value.code == 2
    assert "invalid choice: 'bfloat16'" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
