"""Reading documents from files and text boxes."""

from __future__ import annotations

import json

import pytest

from colbert_viz.app.examples import EXAMPLES_DIR
from colbert_viz.inputs import FORMATS, InputError, parse_documents, read_documents, split_documents

DOCS = ["Berlin is the capital of Germany.", "Mount Berlin is a volcano, in Antarctica.", "柏林是德国的首都。"]


# ---- parse_documents ------------------------------------------------------------------


def test_txt_one_document_per_line():
    content = "first line\n\n  \nsecond, with a comma\r\nthird\n"
    assert parse_documents(content, ".txt") == ["first line", "second, with a comma", "third"]
    assert parse_documents("", ".txt") == []
    assert parse_documents("only\n", ".TXT") == ["only"]  # extension case does not matter


def test_json_list_of_strings():
    assert parse_documents(json.dumps(DOCS, ensure_ascii=False), ".json") == DOCS


def test_json_list_of_objects():
    items = [{"text": t, "id": i} for i, t in enumerate(DOCS)]
    assert parse_documents(json.dumps(items), ".json") == DOCS


def test_json_documents_object():
    assert parse_documents(json.dumps({"query": "q", "documents": DOCS}), ".json") == DOCS
    mixed = {"documents": [DOCS[0], {"text": DOCS[1]}]}
    assert parse_documents(json.dumps(mixed), ".json") == DOCS[:2]


def test_json_berlin_example_file(berlin):
    path = EXAMPLES_DIR / "berlin.json"
    assert read_documents(path) == berlin["documents"]


def test_invalid_json_names_line_and_column():
    content = '[\n  "a",\n  "b"\n  "c"\n]'
    with pytest.raises(InputError, match=r"invalid JSON at line 4, column 3"):
        parse_documents(content, ".json")


@pytest.mark.parametrize("content", ['{"docs": ["a"]}', '"just a string"', "42", "null", '{"documents": "a"}'])
def test_json_not_a_list(content):
    with pytest.raises(InputError, match=r"must hold a list of documents"):
        parse_documents(content, ".json")


@pytest.mark.parametrize(("items", "where"), [
    (["a", 3], "item 1"),
    ([{"title": "no text"}], "item 0"),
    (["a", "b", {"text": 5}], "item 2"),
    ([None], "item 0"),
    ([["nested"]], "item 0"),
])
def test_json_wrong_item_types(items, where):
    with pytest.raises(InputError, match=rf"^{where}: expected a string or an object with a string 'text' field"):
        parse_documents(json.dumps(items), ".json")


def test_jsonl():
    lines = [json.dumps({"text": DOCS[0]}), "", json.dumps(DOCS[1]), "   ",
             json.dumps({"text": DOCS[2], "lang": "zh"}, ensure_ascii=False)]
    assert parse_documents("\n".join(lines) + "\n", ".jsonl") == DOCS


def test_jsonl_errors_name_the_line():
    content = '{"text": "a"}\n\n{"text": oops}\n'
    with pytest.raises(InputError, match=r"^line 3: invalid JSON"):
        parse_documents(content, ".jsonl")
    with pytest.raises(InputError, match=r"^line 2: expected a string"):
        parse_documents('"fine"\n{"body": "x"}\n', ".jsonl")
    with pytest.raises(InputError, match=r"^line 1: expected a string"):
        parse_documents("[1, 2]\n", ".jsonl")


def test_csv_text_column():
    content = 'id,Text ,lang\n1,"Berlin, the capital",en\n2,"two\nlines",en\n3,plain,de\n'
    assert parse_documents(content, ".csv") == ["Berlin, the capital", "two\nlines", "plain"]


def test_csv_first_column_fallback():
    content = 'body,other\n"a, b",1\n"c ""quoted""",2\n'
    assert parse_documents(content, ".csv") == ["a, b", 'c "quoted"']


def test_csv_skips_blank_rows_and_cells():
    content = "text,n\n\nfirst,1\n,2\n  ,3\nshort\nsecond,4\n"
    assert parse_documents(content, ".csv") == ["first", "short", "second"]
    assert parse_documents("text\n", ".csv") == []
    assert parse_documents("", ".csv") == []


def test_csv_row_without_the_text_column_is_ignored():
    content = "id,text\n1,kept\n2\n"
    assert parse_documents(content, ".csv") == ["kept"]


@pytest.mark.parametrize("fmt", [".md", ".xml", "", ".tsv"])
def test_unsupported_extension(fmt):
    with pytest.raises(InputError, match=r"unsupported file type .*use one of \.txt, \.json, \.jsonl, \.csv"):
        parse_documents("a", fmt)


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)
    assert FORMATS == (".txt", ".json", ".jsonl", ".csv")


# ---- read_documents -------------------------------------------------------------------


@pytest.mark.parametrize("suffix", FORMATS)
def test_read_each_format(tmp_path, suffix):
    contents = {
        ".txt": "\n".join(DOCS),
        ".json": json.dumps(DOCS, ensure_ascii=False),
        ".jsonl": "\n".join(json.dumps({"text": d}, ensure_ascii=False) for d in DOCS),
        ".csv": "text\n" + "\n".join(f'"{d}"' for d in DOCS),
    }
    path = tmp_path / f"docs{suffix}"
    path.write_text(contents[suffix], encoding="utf-8")
    assert read_documents(path) == DOCS
    assert read_documents(str(path)) == DOCS


def test_read_strips_utf8_bom(tmp_path):
    path = tmp_path / "docs.csv"
    path.write_bytes("\ufefftext,id\nhello,1\n".encode())
    assert read_documents(path) == ["hello"]


def test_read_file_without_extension_is_text(tmp_path):
    path = tmp_path / "documents"
    path.write_text("one\ntwo\n", encoding="utf-8")
    assert read_documents(path) == ["one", "two"]


def test_read_missing_file(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(InputError, match=r"nope\.json: no such file"):
        read_documents(missing)
    with pytest.raises(InputError, match="is a folder, not a file"):
        read_documents(tmp_path)


def test_read_non_utf8(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("ok line\nStraße".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin1\.txt: not UTF-8 text \(byte 12\)"):
        read_documents(path)


def test_read_oversize(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("x" * 101, encoding="utf-8")
    with pytest.raises(InputError, match=r"big\.txt: 101 bytes; the limit is 100"):
        read_documents(path, max_bytes=100)
    assert read_documents(path, max_bytes=101) == ["x" * 101]


def test_read_errors_name_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('["a",', encoding="utf-8")
    with pytest.raises(InputError, match=r"broken\.json: invalid JSON at line 1"):
        read_documents(path)
    path = tmp_path / "notes.md"
    path.write_text("a", encoding="utf-8")
    with pytest.raises(InputError, match=r"notes\.md: unsupported file type '\.md'"):
        read_documents(path)


# ---- split_documents ------------------------------------------------------------------


def test_split_one_per_line_without_blank_lines():
    assert split_documents("a\nb\n  c  \n") == ["a", "b", "c"]
    assert split_documents("single document") == ["single document"]


def test_split_blank_line_separated_blocks():
    text = "first para\nstill first\n\nsecond\n \t \nthird\nthird too\n\n\n"
    assert split_documents(text) == ["first para\nstill first", "second", "third\nthird too"]


def test_split_windows_newlines():
    assert split_documents("one\r\ntwo\r\n\r\nthree") == ["one\ntwo", "three"]
    assert split_documents("one\r\ntwo") == ["one", "two"]


@pytest.mark.parametrize("text", ["", "   ", "\n\n", " \r\n \t"])
def test_split_empty(text):
    assert split_documents(text) == []
