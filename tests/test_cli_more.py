"""CLI: make-checkpoint (refuses a non-empty folder), --top-n 0, JSONL on stdin."""

from __future__ import annotations

import io
import json
import sys

import pytest
from test_cli import main_in_process

from colbert_viz import cli
from colbert_viz.engine.synthetic import write_checkpoint


def test_make_checkpoint_writes_a_loadable_tiny_checkpoint(tmp_path, capsys, monkeypatch):
    import colbert_viz

    folder = tmp_path / "ckpt"
    result = main_in_process(["make-checkpoint", str(folder), "--size", "tiny", "--seed", "3"], capsys, monkeypatch)
    code, out, err = result.returncode, result.stdout, result.stderr
    assert code == 0, err
    assert json.loads(out) == {"checkpoint": str(folder), "size": "tiny", "seed": 3}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    assert json.loads((folder / "config.json").read_text())["num_hidden_layers"] == 2
    model = colbert_viz.load(str(folder), dtype="float32", device="cpu")
    docs = ["Berlin is a city", "a volcano"]
    best = model.rerank("Berlin", docs, top_n=1)
    assert len(best) == 1 and best[0]["index"] == int(model.analyze("Berlin", docs).scores(128).argmax())


@pytest.mark.parametrize("content", ["file", "folder"])
def test_make_checkpoint_refuses_a_non_empty_folder_and_keeps_it(tmp_path, capsys, monkeypatch, content):
    folder = tmp_path / "mine"
    folder.mkdir()
    keep = folder / ("notes.txt" if content == "file" else "sub")
    if content == "file":
        keep.write_text("keep")
    else:
        keep.mkdir()
    result = main_in_process(["make-checkpoint", str(folder), "--size", "tiny"], capsys, monkeypatch)
    code, out, err = result.returncode, result.stdout, result.stderr
    assert code == 2 and out == ""
    assert err == f"colbert-viz: error: {folder}: is not empty; choose a new or empty folder\n"
    assert [p.name for p in folder.iterdir()] == [keep.name]


def test_make_checkpoint_accepts_an_empty_folder_and_needs_a_size(tmp_path, capsys, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = main_in_process(["make-checkpoint", str(empty), "--size", "tiny"], capsys, monkeypatch)
    code, _, err = result.returncode, result.stdout, result.stderr
    assert code == 0 and (empty / "model.safetensors").is_file(), err
    result = main_in_process(["make-checkpoint", str(tmp_path / "x")], capsys, monkeypatch)
    code, _, err = result.returncode, result.stdout, result.stderr
    assert code == 2 and "--size" in err


def test_write_checkpoint_refuses_a_non_empty_folder_unless_told(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "precious.txt").write_text("data")
    with pytest.raises(FileExistsError, match="is not empty; pass overwrite=True"):
        write_checkpoint(folder)
    assert (folder / "precious.txt").read_text() == "data"
    write_checkpoint(folder, overwrite=True)
    assert not (folder / "precious.txt").exists() and (folder / "model.safetensors").is_file()


@pytest.mark.parametrize(("value", "expected"), [("0", None), ("3", 3)])
def test_top_n_zero_is_all(value, expected):
    args = cli.build_parser().parse_args(["rerank", "--query", "q", "--documents", "d.txt", "--top-n", value])
    assert args.top_n == expected


@pytest.mark.parametrize(("stdin", "expected"), [
    ('{"text": "Berlin is big"}\n\n"Hello World"\n{"text": "x", "id": 3}\n', ["Berlin is big", "Hello World", "x"]),
    ('"only a JSON string"\n', ["only a JSON string"]),
    ('{"text": "a"}\nplain line\n', ['{"text": "a"}', "plain line"]),
    ('{"body": "no text"}\n', ['{"body": "no text"}']),
    ("42\n", ["42"]),
    ('["a", "b"]', ["a", "b"]),
    ("plain\nlines\n", ["plain", "lines"]),
])
def test_stdin_formats(monkeypatch, stdin, expected):
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    assert cli.read_texts("-") == expected
