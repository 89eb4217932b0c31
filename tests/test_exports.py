"""Exports: a private folder per process, removed at exit; CSV cells that cannot run as formulas."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from factories import document_record, query_record

from colbert_viz.analysis import Analysis
from colbert_viz.exports import export_files, export_root, neutralise_cell, safe_csv_table
from colbert_viz.service import Run
from colbert_viz.view_state import ViewState

ROOT = Path(__file__).resolve().parents[1]
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
    code = ("import sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[1] + '/tests');"
            "from test_exports import make_run;"
            "from colbert_viz.exports import export_files; from colbert_viz.view_state import ViewState;"
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
