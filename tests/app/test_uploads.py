"""Uploads are bounded before they cost memory: file count and sizes from the file
system, parsing that stops at the first document over the limit."""

from __future__ import annotations

import json
import sys
import tracemalloc
from pathlib import Path

import pytest

from colbert_viz.app.limits import LimitError, Limits
from colbert_viz.app.service import gather_documents, user_message
from colbert_viz.inputs import InputError, TooManyDocuments, parse_documents, read_documents, split_documents

ROOT = Path(__file__).resolve().parents[2]
N = 200_000  # documents in each "bomb" below; the limit is 10


def bombs() -> dict[str, str]:
    """Files of N one-word documents in each format."""
    return {
        ".txt": "w\n" * N,
        ".jsonl": '"w"\n' * N,
        ".csv": "text\n" + "w\n" * N,
        ".json": "[" + ",".join(['"w"'] * N) + "]",
        ".json documents": '{"query": "q", "documents": [' + ",".join(['{"text": "w"}'] * N) + "]}",
    }


@pytest.mark.parametrize("fmt", list(bombs()))
def test_parsing_stops_at_the_first_document_over_the_limit(fmt):
    content = bombs()[fmt]
    tracemalloc.start()
    try:
        with pytest.raises(TooManyDocuments, match=r"^more than 10 documents; the limit is 10 per request$"):
            parse_documents(content, fmt.split()[0], max_documents=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200_000, f"{peak:,} bytes traced while refusing {len(content):,} bytes of {fmt}"


@pytest.mark.parametrize(("fmt", "tail"), [(".txt", ""), (".jsonl", "{oops\n"), (".json", '"w", oops]'),
                                           (".csv", '"unterminated\n')])
def test_stopping_early_never_reads_what_follows(fmt, tail):
    head = {".txt": "w\n" * 11, ".jsonl": '"w"\n' * 11, ".json": '[' + '"w", ' * 11,
            ".csv": "text\n" + "w\n" * 11}[fmt]
    with pytest.raises(TooManyDocuments):
        parse_documents(head + tail, fmt, max_documents=10)
    assert len(parse_documents(head.rstrip(", ") + ("]" if fmt == ".json" else ""), fmt)) == 11


@pytest.mark.parametrize("fmt", [".txt", ".jsonl", ".csv", ".json"])
def test_exactly_the_limit_is_accepted(fmt):
    docs = [f"doc {i}" for i in range(10)]
    content = {".txt": "\n".join(docs), ".jsonl": "\n".join(json.dumps(d) for d in docs),
               ".csv": "text\n" + "\n".join(docs), ".json": json.dumps({"documents": docs})}[fmt]
    assert parse_documents(content, fmt, max_documents=10) == docs


def test_json_object_other_fields_and_errors():
    assert parse_documents('{"query": {"a": [1, 2]}, "documents": ["x", {"text": "y"}], "n": 2}', ".json") == \
        ["x", "y"]
    assert parse_documents(" [ ] ", ".json") == []
    with pytest.raises(InputError, match="must hold a list of documents"):
        parse_documents("{}", ".json")
    with pytest.raises(InputError, match=r"invalid JSON at line 1, column 7: Extra data"):
        parse_documents('["a"] ]', ".json")
    with pytest.raises(InputError, match=r"invalid JSON at line 2, column 1: Expecting ',' delimiter"):
        parse_documents('{"documents": ["a"]\n"x": 1}', ".json")


def test_text_box_stops_at_the_limit():
    with pytest.raises(TooManyDocuments):
        split_documents("a\n" * 1000, max_documents=10)
    with pytest.raises(TooManyDocuments):
        split_documents("a\n\nb\n\n" * 1000, max_documents=10)
    assert split_documents("a\n" * 10, max_documents=10) == ["a"] * 10


def test_read_documents_names_the_file_when_over(tmp_path):
    path = tmp_path / "many.txt"
    path.write_text("w\n" * 100, encoding="utf-8")
    with pytest.raises(TooManyDocuments, match=r"many\.txt: more than 5 documents; the limit is 5 per request"):
        read_documents(path, max_documents=5)


# ---- gather_documents: what the app calls --------------------------------------------


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_gather_counts_box_and_files_together(tmp_path):
    limits = Limits(max_docs=5)
    files = [write(tmp_path, "a.txt", "1\n2\n"), write(tmp_path, "b.jsonl", '"3"\n"4"\n')]
    assert gather_documents("x", files, limits) == ["x", "1", "2", "3", "4"]
    with pytest.raises(LimitError, match=r"^The text box and files hold more than 5 documents; the limit is 5 "
                                         r"per request\.$"):
        gather_documents("x\ny", files, limits)


def test_gather_refuses_too_many_files_before_reading_any(tmp_path):
    missing = [tmp_path / f"never-written-{i}.txt" for i in range(3)]
    with pytest.raises(LimitError, match=r"^3 files; the limit is 2 files per request\.$"):
        gather_documents("", missing, Limits(max_files=2))


def test_gather_refuses_big_uploads_from_their_sizes_before_reading(tmp_path):
    not_text = b"\xff" * (600 * 1024)  # would fail to decode if it were read
    files = [write(tmp_path, f"big{i}.txt", not_text) for i in range(2)]
    with pytest.raises(LimitError, match=r"^The files hold 1\.2 MB; the limit is 1 MB per request, all files "
                                         r"together\.$"):
        gather_documents("", files, Limits(max_upload_mb=1))
    huge = write(tmp_path, "huge.txt", b"\xff" * (2 * 2**20 + 1))
    with pytest.raises(InputError, match=r"^huge\.txt: 2,097,153 bytes; the limit is 2,097,152$"):
        gather_documents("", [*files, huge], Limits(max_file_mb=2))


def test_gather_error_messages_name_the_file_not_its_path(tmp_path):
    bad = write(tmp_path, "bad.json", "{oops")
    with pytest.raises(InputError) as caught:
        gather_documents("", [bad], Limits())
    assert str(caught.value).startswith("bad.json: invalid JSON") and str(tmp_path) not in str(caught.value)


def test_gather_memory_under_a_bomb_is_one_file_not_millions_of_strings(tmp_path):
    files = [write(tmp_path, f"bomb{i}.txt", "w\n" * 1_000_000) for i in range(4)]  # 2 MB, 1e6 lines each
    tracemalloc.start()
    try:
        with pytest.raises(LimitError, match="more than 64 documents"):
            gather_documents("", files, Limits(max_upload_mb=100))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 6 * 2**20, f"{peak:,} bytes traced"  # bytes + str of one 2 MB file, not 1e6 strings (~50 MB)


def test_upload_bomb_script_measures_a_small_rss_growth(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import upload_bomb
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    paths = upload_bomb.write_bomb(tmp_path, n_files=2, mb=4)
    result = upload_bomb.measure(paths, {"max_upload_mb": 100, "max_file_mb": 100})
    assert result["message"].startswith("The text box and files hold more than 64 documents")
    assert result["growth_mib"] < 60, result


# ---- user_message ---------------------------------------------------------------------


@pytest.mark.parametrize(("message", "expected"), [
    ("/tmp/gradio/1f2e3d/upload.csv: invalid CSV", "upload.csv: invalid CSV"),
    ("no model.safetensors in /home/user/.cache/huggingface/hub/models--x/snapshots/abc/",
     "no model.safetensors in abc"),
    ("error in /usr/lib/python3.11/site-packages/torch/serialization.py line 3",
     "error in serialization.py line 3"),
    ("'/srv/ckpt' is not one of: /srv/ckpt, offline", "'ckpt' is not one of: ckpt, offline"),
    ("see https://huggingface.co/jinaai/jina-colbert-v2 and 3/4 of a/b", "see https://huggingface.co/jinaai/"
     "jina-colbert-v2 and 3/4 of a/b"),
    ("Document 3 has 200,000 characters; the limit is 100,000.", "Document 3 has 200,000 characters; the limit "
     "is 100,000."),
])
def test_user_message_keeps_only_the_last_path_component(message, expected):
    assert user_message(ValueError(message)) == expected


def test_truncate_dims_lives_in_vectors_and_records_import_it_at_module_level():
    import ast

    import colbert_viz.maths.scoring
    import colbert_viz.maths.vectors
    import colbert_viz.records

    assert colbert_viz.maths.scoring.truncate_dims is colbert_viz.maths.vectors.truncate_dims  # the public name stays
    tree = ast.parse((ROOT / "colbert_viz" / "records.py").read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "colbert_viz.maths.scoring" not in imported and "colbert_viz.maths.vectors" in imported
    vectors = ast.parse((ROOT / "colbert_viz" / "maths" / "vectors.py").read_text(encoding="utf-8"))
    assert {a.name for n in ast.walk(vectors) if isinstance(n, ast.Import) for a in n.names} == {"numpy"}
