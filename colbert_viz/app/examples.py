"""The example sets in ``colbert_viz/app/assets/examples/*.json`` (one button each on the page),
shipped as package data with ``assets/style.css``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
EXAMPLES_DIR = ASSETS_DIR / "examples"
ORDER = ("berlin", "en", "de", "fr", "es", "zh", "ja", "ar", "ru", "cross_lingual", "code_search", "punctuation")


@dataclass(frozen=True)
class ExampleSet:
    id: str
    title: str
    description: str
    query: str
    top_n: int
    documents: list[str]

    @property
    def elem_id(self) -> str:
        """The button's element id: ``example-`` + the id with ``_`` → ``-``."""
        return "example-" + self.id.replace("_", "-")

    @property
    def button_label(self) -> str:
        """The title up to its first ``:``, ``(`` or ``,``: "Berlin", "German"…"""
        return self.title.split(":")[0].split(" (")[0].split(",")[0]

    @property
    def documents_text(self) -> str:
        return join_documents(self.documents)


def join_documents(documents: list[str]) -> str:
    """Documents as text-box text that ``inputs.split_documents`` reads back: one
    per line, or blank-line separated when a document spans several lines."""
    if any("\n" in d for d in documents):
        if any("\n\n" in d.strip() for d in documents):
            raise ValueError("a document with a blank line inside cannot go in the text box")
        text = "\n\n".join(d.strip() for d in documents)
    else:
        text = "\n".join(d.strip() for d in documents)
    return text


def load_examples(folder: Path = EXAMPLES_DIR) -> list[ExampleSet]:
    """Every example set in ``folder``, in the page's order (unknown ids last)."""
    sets = []
    for file in sorted(folder.glob("*.json")):
        data = json.loads(file.read_text(encoding="utf-8"))
        sets.append(ExampleSet(id=data["id"], title=data["title"], description=data.get("description", ""),
                               query=data["query"], top_n=int(data.get("top_n", 3)),
                               documents=list(data["documents"])))
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(sets, key=lambda s: (rank.get(s.id, len(ORDER)), s.id))
