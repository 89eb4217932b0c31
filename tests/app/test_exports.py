"""Exports: a private folder per process, removed at exit; CSV cells that cannot run as formulas."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from factories import document_record, query_record

from colbert_viz.app.exports import export_files, export_root, neutralise_cell, safe_csv_table
from colbert_viz.app.service import Run
from colbert_viz.explorer.view_state import ViewState
from colbert_viz.maths.analysis import Analysis
from colbert_viz.storage.settings import METHODS

ROOT = Path(__file__).resolve().parents[2]
FORMULAS = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"]


def make_run(words_per_doc: list[list[str]]) -> Run:
    analysis = Analysis(query=query_record(["population", "of", "Berlin"]),
                        documents=[document_record(w, seed=i) for i, w in enumerate(words_per_doc)],
                        dimensions=(128, 96, 64))
    return Run(analysis=analysis, model_name="m", display_name="m", is_fallback=False, note="", top_n=None,
               doc_max_tokens=512, total_tokens=10, seconds=0.1)


def test_exports_go_to_a_private_folder_with_one_sub_folder_each():
    run = make_run([["Berlin", "has", "people"], ["Spree", "river"]])
    first = export_files(run, ViewState.of(run.analysis, 128, 0))
    second = export_files(run, ViewState.of(run.analysis, 64, 1))
    root = export_root()
    assert root.parent == Path(tempfile.gettempdir()) and root.name.startswith("colbert-viz-")
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert first[0].parent.parent == root == second[0].parent.parent
    assert first[0].parent != second[0].parent
    assert [p.name for p in second] == ["ranking-64d-float32.csv", "explanation-doc2-64d-float32.json",
                                        "colbert-viz-run.html"]


def test_old_exports_are_not_pruned():
    run = make_run([["Berlin"]])
    old = export_root() / "old-export"
    old.mkdir(exist_ok=True)
    (old / "keep.txt").write_text("x")
    hours_ago = time.time() - 5 * 3600
    os.utime(old, (hours_ago, hours_ago))
    export_files(run, ViewState.of(run.analysis))
    assert (old / "keep.txt").exists()


def test_the_export_folder_is_removed_at_exit():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[1] + '/tests'); sys.path.insert(0, sys.argv[1] + '/tests/app');"
            "from test_exports import make_run;"
            "from colbert_viz.app.exports import export_files; from colbert_viz.explorer.view_state import ViewState;"
            "run = make_run([['Berlin']]); print(export_files(run, ViewState.of(run.analysis))[0])")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, check=True)
    written = Path(out.stdout.strip())
    assert written.name == "ranking-128d-float32.csv" and written.parent.parent.name.startswith("colbert-viz-")
    assert not written.parent.parent.exists()


def test_neutralise_cell_prefixes_formula_starts_only_on_strings():
    for cell in FORMULAS:
        assert neutralise_cell(cell) == "'" + cell
    for cell in ["Berlin", " =not first", "'quoted", "", "3.5"]:
        assert neutralise_cell(cell) == cell
    for number in [-1.5, -3, 0.0, 2]:
        assert neutralise_cell(number) == number and type(neutralise_cell(number)) is type(number)


def test_csv_table_keeps_numbers_numbers():
    table = safe_csv_table(pd.DataFrame({"Score": [-1.5, 2.0], "Rank": [1, 2], "Text": ["=cmd", "-x"]}))
    assert table["Score"].tolist() == [-1.5, 2.0] and table["Score"].dtype == float
    assert table["Text"].tolist() == ["'=cmd", "'-x"]


def test_exported_csv_cannot_run_formulas(tmp_path):
    words = [["=HYPERLINK(1)", "Berlin"], ["-2+3", "people"], ["@SUM(A1)"], ["Berlin", "=x"], ["+1"]]
    run = make_run(words)
    ranking = export_files(run, ViewState.of(run.analysis), root=tmp_path)[0]
    table = pd.read_csv(ranking, keep_default_na=False)
    texts = dict(zip(table["Doc"], table["Text"]))
    assert texts == {1: "'=HYPERLINK(1) Berlin", 2: "'-2+3 people", 3: "'@SUM(A1)", 4: "Berlin =x", 5: "'+1"}
    assert table["Score"].dtype == float


# ---- exports are the screen -------------------------------------------------------------

WORDS = [["Berlin", "has", "3.8", "million", "people", "living", "in", "the", "city"],
         ["Paris", "is", "the", "capital", "of", "France", "and", "its", "largest", "city"],
         ["the", "population", "of", "Berlin", "grew", "after", "1990", "."],
         ["Rivers", "Spree", "and", "Havel", "flow", "through", "Berlin", "slowly"],
         ["Munich", "beer", "gardens", "open", "in", "spring", "every", "year"],
         ["people", "of", "Berlin", "call", "it", "home", "since", "centuries"]]


@pytest.fixture(scope="module")
def exported_run():
    """A Run kept in a store, the page's payload of it (every storage setting's
    views, as a file carries them and as the page fetches them), and the export
    handler of the page bound to that store."""
    from types import SimpleNamespace

    import colbert_viz.app.ui as ui
    from colbert_viz.app.export_shelf import ExportShelf
    from colbert_viz.app.run_store import RunStore
    from colbert_viz.explorer.payload import run_payload

    run = replace(make_run(WORDS), display_name="tiny test model", dtype="bfloat16")
    store = RunStore(2**30)
    key = store.put(run, "session-1")
    ctx = ui.Context(registry=None, limits=None, store=store, page=SimpleNamespace(exports="exports"), slots=None,
                     shelf=ExportShelf(per_session=100))
    request = SimpleNamespace(_json={"session_hash": "session-1"})  # as /component_server hands it over

    def export(state: dict) -> list[Path]:
        out = ui.on_export(ctx, key, SimpleNamespace(_data=state), request)["exports"]
        assert out.visible, state
        return [Path(p["path"] if isinstance(p, dict) else getattr(p, "path", p)) for p in out.value]

    return run, run_payload(run.analysis, storage=True), export


def page_numbers(payload: dict, method: str, dim: int, doc: int, words: bool) -> tuple[dict, dict]:
    """What the page draws under ``method`` at ``dim``: the ranking, and ``doc``'s view."""
    if method == "float32":
        return payload["rankings"][str(dim)], payload["views"][str(doc)]["variants"][
            "words" if words else "tokens"]["dims"][str(dim)]
    views = payload["stored_views"][method][str(doc)]["variants"]["words" if words else "tokens"]
    return payload["storage"]["rankings"][f"{dim}/{method}"], views["dims"][str(dim)]


def mounted_state(page: str) -> dict:
    """The options the exported page mounts the explorer with."""
    call = page.split("ColbertViz.mount(document.getElementById(", 1)[1]
    return json.loads(call.split(".textContent), ", 1)[1].rsplit(");</script>", 1)[0])


@pytest.mark.parametrize("method", METHODS)
def test_every_exported_file_is_the_view_on_screen(exported_run, method):
    """For every storage setting × dimension, the export handler called with the state
    the page sends writes the numbers the page draws for that state, names the query,
    model, dtype and setting, and the HTML opens on that state."""
    run, payload, export = exported_run
    analysis = run.analysis
    pooled = method.startswith("pool-")
    for dim in analysis.dimensions:
        ranking_shown, _ = page_numbers(payload, method, dim, 0, False)
        order = ranking_shown["order"]
        doc, a, b = order[1], order[-1], order[0]  # not the documents the explorer opens on
        state = {"dim": dim, "storage": method, "doc": doc, "a": a, "b": b, "hideExpansion": True,
                 "hideSpecial": False, "merge": True, "raw": False, "start": 0}
        csv, explanation, page = export(state)
        assert (csv.name, explanation.name) == (f"ranking-{dim}d-{method}.csv",
                                                f"explanation-doc{doc + 1}-{dim}d-{method}.json")
        words = not pooled  # the page disables the merge toggle under pooling
        ranking_shown, view_shown = page_numbers(payload, method, dim, doc, words)

        table = pd.read_csv(csv, keep_default_na=False)
        assert table["Doc"].tolist() == [i + 1 for i in ranking_shown["order"]]
        assert table["Rank"].tolist() == [ranking_shown["ranks"][i] for i in ranking_shown["order"]]
        assert np.allclose(table["Score"], [ranking_shown["scores"][i] for i in ranking_shown["order"]],
                           rtol=0, atol=1e-12)
        assert np.allclose(table["Per query token"], [ranking_shown["per_token"][i] for i in ranking_shown["order"]],
                           rtol=0, atol=1e-12)
        for other in analysis.dimensions:
            if other != dim:
                other_shown, _ = page_numbers(payload, method, other, doc, words)
                assert table[f"Rank @{other}"].tolist() == [other_shown["ranks"][i] for i in ranking_shown["order"]]
        assert table["Selected"].tolist() == [i == doc for i in ranking_shown["order"]]
        assert set(table["Storage"]) == {method} and set(table["Dimensions"]) == {dim}
        assert set(table["Query"]) == {analysis.query.text} and set(table["Model"]) == {"tiny test model"}
        assert set(table["Dtype"]) == {"bfloat16"}
        if method != "float32":
            assert table["Exact rank"].tolist() == [payload["rankings"]["128"]["ranks"][i]
                                                    for i in ranking_shown["order"]]
            assert table["Stored bytes"].dtype.kind == "i"  # whole bytes, as the page shows them
            assert table["Stored bytes"].tolist() == [ranking_shown["bytes_per_document"][i]
                                                      for i in ranking_shown["order"]]

        data = json.loads(explanation.read_text(encoding="utf-8"))
        assert (data["index"], data["dimensions"], data["storage"], data["merged_words"]) == (doc, dim, method, words)
        assert data["score"] == pytest.approx(view_shown["score"], abs=1e-9)
        assert [m["contribution"] for m in data["matches"]] == pytest.approx(view_shown["contributions"], abs=1e-9)
        assert data["rank"] == ranking_shown["ranks"][doc]
        assert (data["query"]["text"], data["model"], data["dtype"]) == (analysis.query.text, "tiny test model",
                                                                         "bfloat16")
        assert data["view"] | {"setting": f"{dim}/{method}"} == data["view"]
        assert (data["view"]["document"], data["view"]["hide_expansion"], data["view"]["merge_words"]) == (doc, True,
                                                                                                        True)
        kinds = data["query"]["kinds"]
        assert data["shown"]["query_positions"] == [i for i, k in enumerate(kinds) if k != "expansion"]
        _, view_a = page_numbers(payload, method, dim, a, words)
        _, view_b = page_numbers(payload, method, dim, b, words)
        why = data["why_a_above_b"]
        assert (why["a"], why["b"], why["storage"]) == (a, b, method)
        assert why["difference"] == pytest.approx(view_a["score"] - view_b["score"], abs=1e-9)

        html = page.read_text(encoding="utf-8")
        assert mounted_state(html) == {"ids": True, "initial": {k: state[k] for k in (
            "dim", "storage", "doc", "a", "b", "merge", "hideExpansion", "hideSpecial")}}
        embedded = json.loads(html.split('id="cv-data">', 1)[1].split("</script>", 1)[0])
        assert method in embedded["storage_methods"] and (method == "float32" or method in embedded["stored_views"])
        assert embedded["model"]["dtype"] == "bfloat16"
        assert f'<bdi dir="auto">{analysis.query.text}</bdi>' in html and "tiny test model · dtype bfloat16" in html


def test_a_state_the_run_cannot_show_is_refused_with_a_message(exported_run, monkeypatch):
    import colbert_viz.app.ui as ui

    warnings = []
    monkeypatch.setattr(ui.gr, "Warning", warnings.append)
    _, _, export = exported_run
    for state, message in [({"dim": 32, "doc": 0}, "dimensions must be one of 128, 96, 64"),
                           ({"dim": 64, "doc": 9}, "no document 9"),
                           ({"dim": 64, "doc": 0, "storage": "zstd"}, "storage must be one of"),
                           ({"dim": 64, "doc": 0, "a": True}, "no document A True")]:
        with pytest.raises(AssertionError):
            export(state)
        assert message in warnings[-1], (state, warnings[-1])


def test_show_opens_on_the_view_asked_for(monkeypatch):
    import colbert_viz.explorer.html

    analysis = make_run(WORDS).analysis
    monkeypatch.setattr(colbert_viz.explorer.html, "STORAGE_EMBED_BYTES", 0)  # too large to carry every setting
    view = colbert_viz.show(analysis, dimension=96, storage="pool-2", document=4, merge_words=True)
    assert view.payload["storage_methods"] == ["float32", "pool-2"] and set(view.payload["stored_views"]) == {"pool-2"}
    assert mounted_state(view.to_html())["initial"] == {
        "dim": 96, "storage": "pool-2", "doc": 4, "a": view.view.a, "b": view.view.b, "merge": True,
        "hideExpansion": False, "hideSpecial": False}
    assert '"initial": {"dim": 96' in view._repr_html_()
    assert "stored_views" not in colbert_viz.show(analysis).payload  # exact: no storage setting comes along
