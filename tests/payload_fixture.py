"""The payload fixture shared by the Python and the JavaScript tests: what
``run_payload`` makes of a tiny hand-made Run (three short documents, one of
them truncated; two storage methods embedded).

    python tests/payload_fixture.py     # regenerate tests/fixtures/payload.json

``tests/explorer/test_payload_schema.py`` checks that the file is what ``run_payload``
makes now, and that it follows ``colbert_viz.explorer.schema``;
``tests/js/*.test.js`` feed it to the renderer's view builders.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from factories import document_record, filler_words, query_record

from colbert_viz.explorer.payload import run_payload
from colbert_viz.maths.analysis import Analysis

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "payload.json"
STORAGE = ["pool-2", "binary+rescore"]


def fixture_analysis() -> Analysis:
    q = query_record(["population", "of", "Berlin"], n_expansion=2)
    docs = [document_record(filler_words(5), seed=20), document_record(filler_words(7), seed=21),
            document_record(filler_words(4), seed=22, truncated_text=" and more")]
    return Analysis(query=q, documents=docs, dimensions=(128, 64))


def fixture_payload() -> dict:
    """The payload as it crosses the wire (JSON and back)."""
    payload = run_payload(fixture_analysis(), top_n=2, summary="3 documents", display_name="hand-made",
                          run_key="fixture", storage=STORAGE)
    return json.loads(json.dumps(payload, ensure_ascii=False, allow_nan=False))


if __name__ == "__main__":
    FIXTURE.write_text(json.dumps(fixture_payload(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size:,} bytes)")
