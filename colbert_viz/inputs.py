"""Reading documents from files and text boxes, shared by the CLI and the app.

Formats, chosen by file extension:

- ``.txt``: one document per line (blank lines ignored);
- ``.json``: a list of strings, or of objects with a ``text`` field;
- ``.jsonl``: one JSON object with a ``text`` field (or one JSON string) per line;
- ``.csv``: a ``text`` column if there is one, else the first column; a header row
  is expected.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

FORMATS = (".txt", ".json", ".jsonl", ".csv")


class InputError(ValueError):
    """Input that cannot be read; the message says where and why."""


def _text_of(item, where: str) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and isinstance(item.get("text"), str):
        return item["text"]
    raise InputError(f"{where}: expected a string or an object with a string 'text' field")


def parse_documents(content: str, fmt: str) -> list[str]:
    """Documents from the text of a file in format ``fmt`` (``.txt``, ``.json``, …)."""
    fmt = fmt.lower()
    if fmt == ".txt":
        return [line for line in content.splitlines() if line.strip()]
    if fmt == ".json":
        try:
            data = json.loads(content)
        except json.JSONDecodeError as err:
            raise InputError(f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
        if isinstance(data, dict) and isinstance(data.get("documents"), list):
            data = data["documents"]
        if not isinstance(data, list):
            raise InputError("a .json file must hold a list of documents (or an object with a 'documents' list)")
        return [_text_of(item, f"item {i}") for i, item in enumerate(data)]
    if fmt == ".jsonl":
        docs = []
        for n, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"line {n}: invalid JSON: {err.msg}") from None
            docs.append(_text_of(item, f"line {n}"))
        return docs
    if fmt == ".csv":
        try:
            rows = list(csv.reader(io.StringIO(content)))
        except csv.Error as err:
            raise InputError(f"invalid CSV: {err}") from None
        rows = [r for r in rows if any(cell.strip() for cell in r)]
        if not rows:
            return []
        header = [h.strip().lower() for h in rows[0]]
        column = header.index("text") if "text" in header else 0
        return [r[column] for r in rows[1:] if len(r) > column and r[column].strip()]
    raise InputError(f"unsupported file type {fmt!r}; use one of {', '.join(FORMATS)}")


def read_documents(path: str | Path, max_bytes: int = 50 * 2**20) -> list[str]:
    """Documents from a file (``-`` is not handled here; see the CLI)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(f"{path}: {size:,} bytes; the limit is {max_bytes:,}")
    try:
        content = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start})") from None
    try:
        return parse_documents(content, path.suffix or ".txt")
    except InputError as err:
        raise InputError(f"{path}: {err}") from None


def split_documents(text: str) -> list[str]:
    """Documents from a text box: separated by blank lines when there are any,
    else one per line.

    >>> split_documents("a\\nb")
    ['a', 'b']
    >>> split_documents("one\\nstill one\\n\\ntwo")
    ['one\\nstill one', 'two']
    """
    text = text.replace("\r\n", "\n").strip()
    if not text:
        return []
    blocks = [b.strip() for b in re.split(r"\n[ \t]*\n", text)]
    if len(blocks) > 1:
        return [b for b in blocks if b]
    return [line.strip() for line in text.split("\n") if line.strip()]
