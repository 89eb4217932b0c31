"""The README's generated tables equal what ``scripts/readme_tables.py`` computes now."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "readme_tables.py"


def _script():
    spec = importlib.util.spec_from_file_location("readme_tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_tables_are_what_the_code_computes():
    """Runs the script in its own process (one thread, float32), as a person would."""
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, f"README.md is out of date; run python scripts/readme_tables.py\n{result.stdout}{result.stderr}"


def test_render_replaces_only_the_blocks():
    module = _script()
    module.GENERATORS["probe"] = lambda analysis: f"rows of {analysis}\n"
    try:
        text = "before\n<!-- generated: probe -->\nstale\n<!-- /generated -->\nafter\n"
        assert module.render(text, "X") == "before\n<!-- generated: probe -->\nrows of X\n<!-- /generated -->\nafter\n"
        with pytest.raises(SystemExit, match="no generator: nope"):
            module.render("<!-- generated: nope -->\n<!-- /generated -->\n", "X")
    finally:
        del module.GENERATORS["probe"]


def test_every_block_of_the_readme_has_a_generator():
    module = _script()
    names = {m.group("name") for m in module.BLOCK.finditer((ROOT / "README.md").read_text(encoding="utf-8"))}
    assert {"compression", "berlin-ranking"} <= names
    assert names <= set(module.GENERATORS)
