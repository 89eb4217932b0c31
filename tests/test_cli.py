"""``python -m colbert_viz``: JSON on stdout, one-line errors with status 2.

The subprocess runs (each imports torch, a few seconds) are started together
in one module fixture, two at a time; the tests read their results. Error
cases that need no separate process run ``cli.main`` in-process.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from colbert_viz import cli
from colbert_viz.app.examples import EXAMPLES_DIR

ROOT = Path(__file__).resolve().parents[1]
BERLIN = EXAMPLES_DIR / "berlin.json"
QUERIES = ["What is the population of Berlin?", "Hello World"]


@dataclass
class Run:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        assert self.returncode == 0, self.stderr
        return json.loads(self.stdout)


def run_cli(args: list[str], stdin: str | None = None) -> Run:
    proc = subprocess.run([sys.executable, "-m", "colbert_viz", *args], input=stdin, capture_output=True,
                          text=True, encoding="utf-8", cwd=ROOT, timeout=180)
    return Run(args, proc.returncode, proc.stdout, proc.stderr)


def broken_pipe_run(args: list[str], stdin: str) -> Run:
    """Like ``… | head -c 10``: read 10 bytes, then close the pipe."""
    proc = subprocess.Popen([sys.executable, "-m", "colbert_viz", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdin.write(stdin.encode())
    proc.stdin.close()
    head = proc.stdout.read(10)
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=180)
    return Run(args, proc.returncode, head.decode(), stderr)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli")
    queries = folder / "queries.txt"
    queries.write_text("\n".join(QUERIES) + "\n", encoding="utf-8")
    bad = folder / "bad.json"
    bad.write_text('["one",\n "two"\n "three"]', encoding="utf-8")
    empty = folder / "empty.json"
    empty.write_text("[]", encoding="utf-8")
    return {"queries": queries, "bad": bad, "empty": empty, "missing": folder / "missing.json"}


@pytest.fixture(scope="module")
def runs(tiny_checkpoint, files) -> dict[str, Run]:
    model = ["--model", str(tiny_checkpoint), "--dtype", "float32", "--device", "cpu"]
    jobs = {
        "encode_query_stdin": (["encode", "--input-type", "query", *model, "-"], json.dumps(QUERIES)),
        "encode_query_file_64": (["encode", "--input-type", "query", *model, "--dimensions", "64",
                                  str(files["queries"])], None),
        "encode_documents": (["encode", "--input-type", "document", *model, "--doc-maxlen", "8"],
                             "Hello, world.\nBerlin is the capital and largest city of Germany\n"),
        "rerank": (["rerank", *model, "--query", "What is the population of Berlin?",
                    "--documents", str(BERLIN), "--top-n", "3"], None),
        "explain": (["explain", *model, "--dimensions", "96", "--merge-words",
                     "--query", "What is the population of Berlin?", "--document", "Berlin's population grew."],
                    None),
        "bad_json": (["rerank", *model, "--query", "q", "--documents", str(files["bad"])], None),
        "top_n_0": (["rerank", *model, "--query", "q", "--documents", str(BERLIN), "--top-n", "0"], None),
        "empty_query": (["rerank", *model, "--query", "", "--documents", str(BERLIN)], None),
        "no_model": (["rerank", "--model", str(files["missing"].parent / "no-such-model"), "--query", "q",
                      "--documents", str(BERLIN)], None),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(run_cli, args, stdin) for name, (args, stdin) in jobs.items()}
        futures["broken_pipe"] = pool.submit(
            broken_pipe_run, ["encode", "--input-type", "query", *model], json.dumps(QUERIES * 3))
        return {name: f.result() for name, f in futures.items()}


# ---- successful commands --------------------------------------------------------------


def test_encode_queries_from_stdin(runs, tiny_model, tiny_checkpoint):
    out = runs["encode_query_stdin"].json()
    assert out["model"] == str(tiny_checkpoint) and out["dimensions"] == 128
    assert len(out["data"]) == 2
    expected = tiny_model.encode_queries(QUERIES)
    for item, record in zip(out["data"], expected):
        assert set(item) == {"embeddings", "tokens", "ids", "scored", "truncated", "n_text_tokens"}
        emb = np.array(item["embeddings"])
        assert emb.shape == (32, 128)
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(emb, record.vectors, atol=1e-5)
        assert item["tokens"] == record.tokens and len(item["tokens"]) == 32
        assert item["ids"] == record.ids.tolist()
        assert item["ids"][:2] == [0, 250002] and item["ids"][-1] == 250001
        assert item["scored"] == [True] * 32
        assert item["truncated"] is False and item["n_text_tokens"] == record.n_text_tokens
    assert out["usage"] == {"total_tokens": 64}


def test_encode_queries_from_file_at_64_dimensions(runs, tiny_model):
    out = runs["encode_query_file_64"].json()
    assert out["dimensions"] == 64
    expected = tiny_model.encode_queries(QUERIES)
    assert len(out["data"]) == 2
    for item, record in zip(out["data"], expected):
        emb = np.array(item["embeddings"])
        assert emb.shape == (32, 64)
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(emb, record.at_dim(64), atol=1e-5)
    assert out["usage"]["total_tokens"] == 64


def test_encode_documents(runs, tiny_model):
    out = runs["encode_documents"].json()
    hello, berlin = out["data"]
    assert hello["tokens"] == ["<s>", "[DocumentMarker]", "▁Hello", ",", "▁world", ".", "</s>"]
    assert hello["ids"] == [0, 250003, 35378, 4, 8999, 5, 2]
    assert hello["scored"] == [True, True, True, False, True, False, True]
    assert np.array(hello["embeddings"]).shape == (7, 128)
    assert hello["truncated"] is False and hello["n_text_tokens"] == 4
    # --doc-maxlen 8 cuts the second line
    assert len(berlin["tokens"]) == 8 and berlin["truncated"] is True
    assert berlin["n_text_tokens"] > 5 and berlin["ids"][-1] == 2
    assert np.array(berlin["embeddings"]).shape == (8, 128)
    record = tiny_model.encode_documents(["Hello, world."])[0]
    np.testing.assert_allclose(np.array(hello["embeddings"]), record.vectors, atol=1e-5)
    assert out["usage"]["total_tokens"] == 15


def test_rerank_top_3(runs, tiny_model, berlin):
    out = runs["rerank"].json()
    results = out["results"]
    assert len(results) == 3
    for r in results:
        assert set(r) == {"index", "relevance_score", "document"}
        assert set(r["document"]) == {"text"}
        assert r["document"]["text"] == berlin["documents"][r["index"]]
    scores = [r["relevance_score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    expected = tiny_model.rerank(berlin["query"], berlin["documents"], top_n=3)
    assert [r["index"] for r in results] == [r["index"] for r in expected]
    for got, want in zip(results, expected):
        assert got["relevance_score"] == pytest.approx(want["relevance_score"], abs=1e-5)
    docs = tiny_model.encode_documents(berlin["documents"])
    assert out["usage"]["total_tokens"] == 32 + sum(len(d) for d in docs)


def test_explain(runs, tiny_model):
    out = runs["explain"].json()
    assert out["dimensions"] == 96
    e = out["explanation"]
    assert e["merged_words"] is True and e["dimensions"] == 96
    want = tiny_model.explain("What is the population of Berlin?", "Berlin's population grew.", 96,
                              merge_words=True)
    assert e["score"] == pytest.approx(want.score, abs=1e-5)
    assert e["document"]["tokens"] == want.document.labels
    assert "population" in e["document"]["tokens"] and "grew" in e["document"]["tokens"]
    assert len(e["matches"]) == len(want.query)
    assert sum(m["contribution"] for m in e["matches"]) == pytest.approx(e["score"], abs=1e-6)


# ---- errors: exit 2, one line, no traceback -------------------------------------------


def assert_one_line_error(run: Run, *fragments: str):
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("colbert-viz: error:"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_bad_json_documents(runs, files):
    assert_one_line_error(runs["bad_json"], "bad.json", "invalid JSON at line 3")


def test_top_n_zero_means_all(runs, berlin):
    results = runs["top_n_0"].json()["results"]
    assert sorted(r["index"] for r in results) == list(range(len(berlin["documents"])))


def test_empty_query(runs):
    assert_one_line_error(runs["empty_query"], "query is empty")


def test_missing_model_folder(runs):
    assert_one_line_error(runs["no_model"], "no checkpoint folder", "no-such-model")


def test_broken_pipe_prints_no_traceback(runs):
    run = runs["broken_pipe"]
    assert run.stdout == '{"model": '
    assert "Traceback" not in run.stderr and "BrokenPipe" not in run.stderr, run.stderr
    assert run.returncode == 0


# ---- errors in-process (no extra interpreter start) -----------------------------------


def main_in_process(args: list[str], capsys, monkeypatch, stdin: str = "") -> Run:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        code = cli.main(args)
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return Run(args, code, captured.out, captured.err)


@pytest.fixture
def model_args(tiny_checkpoint):
    return ["--model", str(tiny_checkpoint), "--dtype", "float32", "--device", "cpu"]


def test_missing_documents_file(capsys, monkeypatch, model_args, files):
    run = main_in_process(["rerank", *model_args, "--query", "q", "--documents", str(files["missing"])],
                          capsys, monkeypatch)
    assert_one_line_error(run, "missing.json: no such file")


def test_empty_documents_file(capsys, monkeypatch, model_args, files):
    run = main_in_process(["rerank", *model_args, "--query", "q", "--documents", str(files["empty"])],
                          capsys, monkeypatch)
    assert_one_line_error(run, "no documents to rerank")
    run = main_in_process(["encode", "--input-type", "document", *model_args, "-"], capsys, monkeypatch, " \n")
    assert_one_line_error(run, "no texts to encode")


def test_unsupported_dimensions(capsys, monkeypatch, model_args):
    run = main_in_process(["rerank", *model_args, "--query", "q", "--documents", str(BERLIN),
                           "--dimensions", "100"], capsys, monkeypatch)
    assert_one_line_error(run, "dimensions must be one of 128, 96, 64; got 100")


@pytest.mark.parametrize(("args", "fragment"), [
    (["rerank", "--query", "q", "--documents", "x.json", "--top-n", "-2"], "-2 is not a positive integer"),
    (["rerank", "--query", "q", "--documents", "x.json", "--top-n", "three"], "'three' is not an integer"),
    (["encode", "--input-type", "query", "--doc-maxlen", "0"], "0 is not a positive integer"),
    (["encode", "--input-type", "passage"], "invalid choice"),
    (["rerank", "--documents", "x.json"], "--query"),
    ([], "command"),
])
def test_usage_errors_are_one_line(capsys, monkeypatch, args, fragment):
    assert_one_line_error(main_in_process(args, capsys, monkeypatch), fragment)


def test_empty_document_in_stdin_list(capsys, monkeypatch, model_args):
    run = main_in_process(["encode", "--input-type", "document", *model_args, "-"], capsys, monkeypatch,
                          json.dumps(["fine", "  "]))
    assert_one_line_error(run, "document 1 is empty")


def test_stdin_lines_in_process(capsys, monkeypatch, model_args):
    run = main_in_process(["encode", "--input-type", "query", *model_args, "--dimensions", "96"],
                          capsys, monkeypatch, "Hello World\n\nBerlin\n")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert [d["tokens"][2:4] for d in out["data"]] == [["▁Hello", "▁World"], ["▁Berlin", "</s>"]]
    assert np.array(out["data"][0]["embeddings"]).shape == (32, 96)
