"""The package builds as a wheel that carries its data files, dependencies and command."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from colbert_viz.app.examples import ASSETS_DIR, EXAMPLES_DIR, load_examples

ROOT = Path(__file__).resolve().parents[1]


def requirement_pins() -> set[str]:
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """A wheel built from a copy of the sources (the worktree stays clean)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "colbert_viz", src / "colbert_viz", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(src)], check=True, capture_output=True, timeout=300)
    (path,) = out.glob("colbert_viz-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_lists_the_package_data(wheel):
    names = set(wheel.namelist())
    examples = {f"colbert_viz/app/assets/examples/{p.name}" for p in EXAMPLES_DIR.glob("*.json")}
    assert len(examples) == 12 and examples <= names
    assert "colbert_viz/app/assets/style.css" in names
    assert {"colbert_viz/explorer/static/explorer.js", "colbert_viz/explorer/static/explorer.css"} <= names  # the renderer
    assert not any(n.startswith(("tests/", "assets/", "scripts/")) for n in names)
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "colbert_viz").rglob("*.py")}
    assert modules <= names, sorted(modules - names)  # every stage's subpackage ships


def test_the_wheel_declares_the_pinned_dependencies_and_the_command(wheel):
    meta = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    requires = {line.split(": ", 1)[1] for line in wheel.read(meta).decode().splitlines()
                if line.startswith("Requires-Dist: ")}
    assert requires == requirement_pins() and "torch==2.13.0" in requires
    entry = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
    assert "colbert-viz = colbert_viz.cli:main" in wheel.read(entry).decode()


def test_examples_and_style_are_read_from_the_package():
    import colbert_viz

    assert ASSETS_DIR.parent == Path(colbert_viz.__file__).parent / "app" and ASSETS_DIR.name == "assets"
    assert (ASSETS_DIR / "style.css").is_file()
    assert [s.id for s in load_examples()][:2] == ["berlin", "en"] and len(load_examples()) == 12
