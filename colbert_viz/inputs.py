"""Reading documents from files and text boxes, shared by the CLI and the app.

Formats, chosen by file extension:

- ``.txt``: one document per line (blank lines ignored);
- ``.json``: a list of strings, or of objects with a ``text`` field;
- ``.jsonl``: one JSON object with a ``text`` field (or one JSON string) per line;
- ``.csv``: a ``text`` column if there is one, else the first column; a header row
  is expected.

Parsing streams: with ``max_documents`` set, it stops at the first document over
the limit (``TooManyDocuments``), so a file of millions of short lines or list
items never becomes millions of Python strings. Sizes are checked from the file
system before a byte is read; a file is then decoded whole (at most its size
again). ``.json`` lists are read one item at a time (``JSONDecoder.raw_decode``);
what a single item or a field other than ``documents`` holds is decoded whole,
so its cost is bounded by the file size, not by the document limit.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

FORMATS = (".txt", ".json", ".jsonl", ".csv")
MAX_FILE_BYTES = 25 * 2**20
_TEXT_LINE = re.compile(r"(?<![^\r\n])[^\S\r\n]*\S[^\r\n]*")  # a non-blank line (blank ones skipped in C)
_ANY_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_SPACE = re.compile(r"\s*")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


class InputError(ValueError):
    """Input that cannot be read; the message says where and why."""


class TooManyDocuments(InputError):
    """More documents than ``max_documents``; parsing stopped at the first one over."""

    def __init__(self, limit: int, where: str = "") -> None:
        self.limit = limit
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}more than {limit} documents; the limit is {limit} per request")


def _text_or_none(item) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and isinstance(item.get("text"), str):
        return item["text"]
    return None


def _not_a_document(where: str) -> InputError:
    return InputError(f"{where}: expected a string or an object with a string 'text' field")


def _text_of(item, where: str) -> str:
    text = _text_or_none(item)
    if text is None:
        raise _not_a_document(where)
    return text


def _bounded(documents: Iterable[str], max_documents: int | None) -> list[str]:
    """The documents as a list, raising ``TooManyDocuments`` at the first one over the limit."""
    out = []
    for doc in documents:
        if max_documents is not None and len(out) >= max_documents:
            raise TooManyDocuments(max_documents)
        out.append(doc)
    return out


def _line_number(content: str, pos: int) -> int:
    return content.count("\n", 0, pos) + 1


def _json_error(content: str, pos: int, msg: str) -> InputError:
    line = _line_number(content, pos)
    column = pos - (content.rfind("\n", 0, pos) + 1) + 1
    return InputError(f"invalid JSON at line {line}, column {column}: {msg}")


def _skip_space(content: str, pos: int) -> int:
    return _SPACE.match(content, pos).end()


def _decode(decoder: json.JSONDecoder, content: str, pos: int):
    """``(value, end)`` of the JSON value at ``pos``; ``InputError`` with line and column."""
    try:
        return decoder.raw_decode(content, pos)
    except json.JSONDecodeError as err:
        raise _json_error(content, err.pos, err.msg) from None


def _expect(content: str, pos: int, chars: str, what: str) -> tuple[str, int]:
    pos = _skip_space(content, pos)
    if pos >= len(content) or content[pos] not in chars:
        raise _json_error(content, pos, f"Expecting {what}")
    return content[pos], pos + 1


def _json_list(decoder: json.JSONDecoder, content: str, pos: int, end: list[int]) -> Iterator[str]:
    """Documents of the JSON list whose ``[`` is at ``pos``, one ``raw_decode`` per item;
    when the list is exhausted, ``end[0]`` is the position after its ``]``."""
    pos = _skip_space(content, pos + 1)
    sep = "]" if content.startswith("]", pos) else ","
    pos += sep == "]"
    index = 0
    while sep == ",":
        item, pos = _decode(decoder, content, _skip_space(content, pos))
        yield _text_of(item, f"item {index}")
        index += 1
        sep, pos = _expect(content, pos, ",]", "',' delimiter")
    end[0] = pos


def _json_documents(content: str) -> Iterator[str]:
    """Documents of a ``.json`` file, item by item: a list, or an object whose
    ``documents`` field is a list (its other fields are decoded and dropped)."""
    decoder, end = json.JSONDecoder(), [0]
    not_a_list = InputError("a .json file must hold a list of documents (or an object with a 'documents' list)")
    pos = _skip_space(content, 0)
    if content.startswith("[", pos):
        yield from _json_list(decoder, content, pos, end)
        pos = end[0]
    elif content.startswith("{", pos):
        found = False
        pos = _skip_space(content, pos + 1)
        sep = "}" if content.startswith("}", pos) else ","
        pos += sep == "}"
        while sep == ",":
            pos = _skip_space(content, pos)
            if not content.startswith('"', pos):
                raise _json_error(content, pos, "Expecting property name enclosed in double quotes")
            key, pos = _decode(decoder, content, pos)
            _, pos = _expect(content, pos, ":", "':' delimiter")
            pos = _skip_space(content, pos)
            if key == "documents" and content.startswith("[", pos):
                found = True
                yield from _json_list(decoder, content, pos, end)
                pos = end[0]
            elif key == "documents":
                raise not_a_list
            else:
                _, pos = _decode(decoder, content, pos)
            sep, pos = _expect(content, pos, ",}", "',' delimiter")
        if not found:
            raise not_a_list
    else:
        _decode(decoder, content, pos)
        raise not_a_list
    pos = _skip_space(content, pos)
    if pos < len(content):
        raise _json_error(content, pos, "Extra data")


def _jsonl_documents(content: str) -> Iterator[str]:
    for match in _TEXT_LINE.finditer(content):  # line numbers are counted only for an error
        try:
            text = _text_or_none(json.loads(match.group()))
        except json.JSONDecodeError as err:
            raise InputError(f"line {_line_number(content, match.start())}: invalid JSON: {err.msg}") from None
        if text is None:
            raise _not_a_document(f"line {_line_number(content, match.start())}")
        yield text


def _csv_documents(content: str) -> Iterator[str]:
    rows = (row for row in csv.reader(m.group() for m in _ANY_LINE.finditer(content))
            if any(cell.strip() for cell in row))
    try:
        header = next(rows, None)
        if header is None:
            return
        header = [h.strip().lower() for h in header]
        column = header.index("text") if "text" in header else 0
        for row in rows:
            if len(row) > column and row[column].strip():
                yield row[column]
    except csv.Error as err:
        raise InputError(f"invalid CSV: {err}") from None


def _documents(content: str, fmt: str) -> Iterator[str]:
    fmt = fmt.lower()
    if fmt == ".txt":
        return (m.group() for m in _TEXT_LINE.finditer(content))
    if fmt == ".json":
        return _json_documents(content)
    if fmt == ".jsonl":
        return _jsonl_documents(content)
    if fmt == ".csv":
        return _csv_documents(content)
    raise InputError(f"unsupported file type {fmt!r}; use one of {', '.join(FORMATS)}")


def parse_documents(content: str, fmt: str, max_documents: int | None = None) -> list[str]:
    """Documents from the text of a file in format ``fmt`` (``.txt``, ``.json``, …);
    ``TooManyDocuments`` as soon as there are more than ``max_documents``."""
    return _bounded(_documents(content, fmt), max_documents)


def check_file_size(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> int:
    """The size of the file at ``path`` in bytes (read from the file system, not
    the file); ``InputError`` when it is missing, a folder, or over ``max_bytes``."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(f"{path}: {size:,} bytes; the limit is {max_bytes:,}")
    return size


def read_documents(path: str | Path, max_bytes: int = MAX_FILE_BYTES, max_documents: int | None = None) -> list[str]:
    """Documents from a file (``-`` is not handled here; see the CLI). The size is
    checked before reading; parsing stops after ``max_documents`` (``TooManyDocuments``)."""
    path = Path(path)
    check_file_size(path, max_bytes)
    try:
        content = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start})") from None
    try:
        return parse_documents(content, path.suffix or ".txt", max_documents)
    except TooManyDocuments:
        raise TooManyDocuments(max_documents, str(path)) from None
    except InputError as err:
        raise InputError(f"{path}: {err}") from None


def split_documents(text: str, max_documents: int | None = None) -> list[str]:
    """Documents from a text box: separated by blank lines when there are any,
    else one per line; ``TooManyDocuments`` past ``max_documents``.

    >>> split_documents("a\\nb")
    ['a', 'b']
    >>> split_documents("one\\nstill one\\n\\ntwo")
    ['one\\nstill one', 'two']
    """
    text = text.replace("\r\n", "\n").strip()
    if not text:
        return []
    if _BLANK_LINE.search(text):
        blocks = (b.strip() for b in _blocks(text))
        return _bounded((b for b in blocks if b), max_documents)
    return _bounded((m.group().strip() for m in _TEXT_LINE.finditer(text)), max_documents)


def splits_at_blank_lines(text: str, max_documents: int | None = None) -> int:
    """How many documents ``split_documents`` makes of ``text`` when blank lines
    separate them (0 when they do not: one document per line).

    >>> splits_at_blank_lines("one\\nstill one\\n\\ntwo"), splits_at_blank_lines("a\\nb")
    (2, 0)
    """
    if not _BLANK_LINE.search(text.replace("\r\n", "\n").strip()):
        return 0
    return len(split_documents(text, max_documents))


def _blocks(text: str) -> Iterator[str]:
    """The parts of ``text`` between blank lines, one at a time."""
    pos = 0
    for sep in _BLANK_LINE.finditer(text):
        yield text[pos:sep.start()]
        pos = sep.end()
    yield text[pos:]
