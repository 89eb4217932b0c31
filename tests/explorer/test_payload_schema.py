"""The payload contract: ``colbert_viz.explorer.schema`` documents every field
of the explorer's payload, every payload follows it, and the shared fixture
(``tests/fixtures/payload.json``, which the JavaScript tests feed to the
renderer) is what ``run_payload`` makes now. Regenerate it with
``python tests/payload_fixture.py``."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from factories import document_record, filler_words, query_record
from payload_fixture import FIXTURE, fixture_analysis, fixture_payload

from colbert_viz.explorer.payload import document_payload, run_payload, storage_summary, stored_document_payload
from colbert_viz.explorer.schema import DOCUMENT_VIEWS, PAYLOAD, STORAGE, STORED_VIEWS, check, rows
from colbert_viz.maths.analysis import Analysis


def same(a, b, path="payload"):
    """Equal JSON, floats (and base64 float32) to 1e-5: the fixture may come from another machine's BLAS."""
    assert type(a) is type(b) or {type(a), type(b)} <= {int, float}, path
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for k, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{path}[{k}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, abs=1e-5), path
    elif isinstance(a, str) and a != b and len(a) % 4 == 0 and len(a) >= 8:
        x, y = (np.frombuffer(base64.b64decode(v), dtype="<f4") for v in (a, b))
        np.testing.assert_allclose(x, y, atol=1e-5, err_msg=path)
    else:
        assert a == b, path


def test_the_fixture_is_what_run_payload_makes_now():
    """If this fails after a deliberate payload change: python tests/payload_fixture.py (and update the schema)."""
    same(json.loads(FIXTURE.read_text(encoding="utf-8")), fixture_payload())


def test_the_fixture_follows_the_schema():
    assert check(json.loads(FIXTURE.read_text(encoding="utf-8"))) == []


def test_every_part_a_page_fetches_follows_the_schema():
    analysis = fixture_analysis()
    assert check(json.loads(json.dumps(document_payload(analysis, 1))), DOCUMENT_VIEWS) == []
    assert check(json.loads(json.dumps(storage_summary(analysis))), STORAGE) == []
    for method in ("int8", "pool-2", "binary+rescore"):
        assert check(json.loads(json.dumps(stored_document_payload(analysis, 2, method))), STORED_VIEWS) == []


def test_long_and_lazy_payloads_follow_the_schema():
    """Folds and long-document pieces (with elided runs) appear only past the bounds."""
    q = query_record(["population", "of", "Berlin"])
    long = Analysis(query=q, documents=[document_record(filler_words(2600), seed=3)], dimensions=(128, 64))
    payload = json.loads(json.dumps(run_payload(long, storage=["pool-2"])))
    view = payload["views"]["0"]["variants"]["tokens"]
    assert view["pieces"] is None and "folds" in view["dims"]["64"] and "pieces" in view["dims"]["64"]
    assert any("elided" in p for p in view["dims"]["64"]["pieces"])
    assert check(payload) == []
    assert check(json.loads(json.dumps(run_payload(fixture_analysis(), eager_bytes=1, run_key="k")))) == []


def test_the_check_finds_an_undocumented_a_missing_and_a_mistyped_field():
    payload = json.loads(FIXTURE.read_text(encoding="utf-8"))
    payload["rankings"]["128"]["extra"] = 1
    del payload["views"]["0"]["variants"]["tokens"]["dims"]["64"]["best_index"]
    payload["documents"][0]["truncated"] = "no"
    assert sorted(check(payload)) == ["payload.documents[0].truncated: not bool",
                                      "payload.rankings.128.extra: not in the schema",
                                      "payload.views.0.variants.tokens.dims.64.best_index: missing"]


def test_every_field_has_a_meaning():
    table = rows(PAYLOAD)
    assert all(meaning for _, _, meaning in table) and len({p for p, _, _ in table}) == len(table)
    assert ("rankings.<dim>.columns[].title", "str", "the column's header") in table
