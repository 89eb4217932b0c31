"""The stages import one way (README, "Layout"): read off the sources' syntax
trees, every import counted, at module level or inside a function, under
``TYPE_CHECKING`` or through ``importlib.import_module("...")``."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "colbert_viz"

# what each stage may import from the package: the stages before it (a module
# name, like ``maths.vectors``, allows that module alone); the entry points
# (``__init__``, ``cli``, ``__main__``) may import any stage
ALLOWED = {
    "checks": set(),
    "records": {"checks", "maths.vectors"},
    "inputs": {"checks", "records"},
    "maths": {"checks", "records"},
    "engine": {"checks", "records", "maths"},
    "storage": {"checks", "records", "maths"},
    "collections": {"checks", "records", "inputs", "engine", "maths", "storage"},
    "explorer": {"checks", "records", "maths", "storage"},
    "app": {"checks", "records", "inputs", "engine", "maths", "storage", "collections", "explorer"},
}
ENTRY_POINTS = {"__init__", "cli", "__main__"}
# the libraries outside the standard library a stage may import (the others' are not bounded here)
LIBRARIES = {
    "maths": {"numpy"},
    "storage": {"numpy", "scipy"},
    "explorer": {"numpy", "pandas", "plotly"},
}


def stage_of(path: Path, package: Path = PACKAGE) -> str:
    """``colbert_viz/maths/scoring.py`` → ``maths``; ``colbert_viz/records.py`` → ``records``."""
    return path.relative_to(package).parts[0].removesuffix(".py")


def imported(tree: ast.AST) -> list[str]:
    """Every module name ``tree`` imports."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "imports are absolute in colbert_viz"
            names += [f"{node.module}.{a.name}" for a in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant)):
            names.append(node.args[0].value)
    return names


def allowed(target: str, rules: set[str]) -> bool:
    """Whether ``target`` (``maths.vectors.truncate_dims``) falls under one of ``rules``."""
    return any(target == rule or target.startswith(rule + ".") for rule in rules)


def violations(package: Path = PACKAGE) -> list[str]:
    """``file: import`` for each import a stage may not make."""
    found = []
    for path in sorted(package.rglob("*.py")):
        stage = stage_of(path, package)
        if stage in ENTRY_POINTS:
            continue
        for name in imported(ast.parse(path.read_text(encoding="utf-8"))):
            top = name.split(".")[0]
            if top == "colbert_viz":
                target = name.removeprefix("colbert_viz").removeprefix(".")
                if target.split(".")[0] != stage and not allowed(target, ALLOWED[stage]):
                    found.append(f"{path.relative_to(package.parent)}: {name}")
            elif stage in LIBRARIES and top not in sys.stdlib_module_names and top not in LIBRARIES[stage]:
                found.append(f"{path.relative_to(package.parent)}: {name}")
    return found


def test_every_stage_imports_only_the_stages_before_it():
    assert violations() == []


def test_every_stage_is_named():
    stages = {stage_of(p) for p in PACKAGE.rglob("*.py")}
    assert stages == set(ALLOWED) | ENTRY_POINTS


def test_a_forbidden_import_is_found(tmp_path):
    """A lazy import of the explorer inside a maths function is caught."""
    package = tmp_path / "colbert_viz"
    (package / "maths").mkdir(parents=True)
    (package / "maths" / "analysis.py").write_text(
        "import numpy\nfrom colbert_viz.records import TokenVectors\n\n"
        "def show(a):\n    from colbert_viz.explorer.html import show\n    import pandas\n    return show(a)\n")
    assert violations(package) == ["colbert_viz/maths/analysis.py: colbert_viz.explorer.html.show",
                                   "colbert_viz/maths/analysis.py: pandas"]


def module_of(path: Path, package: Path = PACKAGE) -> str:
    """``colbert_viz/app/ui.py`` → ``app.ui``; ``colbert_viz/app/__init__.py`` → ``app``."""
    return ".".join(path.relative_to(package).with_suffix("").parts).removesuffix(".__init__")


def cycles(package: Path = PACKAGE) -> list[list[str]]:
    """The import cycles between the package's modules (every import counted, as in ``violations``),
    each as the modules along it."""
    modules = {module_of(p, package): p for p in package.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        targets = set()
        for target in imported(ast.parse(path.read_text(encoding="utf-8"))):
            parts = target.removeprefix("colbert_viz.").split(".") if target.startswith("colbert_viz.") else []
            while parts and ".".join(parts) not in modules:
                parts.pop()  # ``app.ui.status_html`` → the module ``app.ui``
            if parts and ".".join(parts) != name:
                targets.add(".".join(parts))
        edges[name] = targets
    found, done = [], set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            found.append(path[path.index(name):] + [name])
            return
        if name in done:
            return
        for target in sorted(edges[name]):
            visit(target, [*path, name])
        done.add(name)

    for name in sorted(edges):
        visit(name, [])
    return found


def test_no_two_app_modules_import_each_other():
    """The page's tabs share ``app.ui_shared``; neither imports the other back (not even inside a function)."""
    assert [c for c in cycles() if any(m.startswith("app.") for m in c)] == []


def test_an_import_cycle_is_found(tmp_path):
    package = tmp_path / "colbert_viz"
    (package / "app").mkdir(parents=True)
    (package / "app" / "ui.py").write_text("from colbert_viz.app.ui_search import wire\n")
    (package / "app" / "ui_search.py").write_text("def wire():\n    from colbert_viz.app.ui import session_of\n")
    assert cycles(package) == [["app.ui", "app.ui_search", "app.ui"]]
