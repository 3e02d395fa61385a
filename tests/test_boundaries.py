"""``core/`` is usable with no display: it never imports Qt (DESIGN.md's layer boundary)."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"
QT_PACKAGES = ("PySide6", "PySide2", "PyQt5", "PyQt6", "PyQt4", "qtpy", "qtawesome", "superqt", "pyqtgraph",
               "shiboken6", "shiboken2")


def _is_qt(module: str) -> bool:
    top = module.split(".")[0]
    return top in QT_PACKAGES or top.lower().startswith("pyqt")


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    """Every module an AST imports: import statements anywhere (also inside functions), __import__ and
    importlib.import_module calls with a literal name."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            fn = node.func
            name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
            if name in ("__import__", "import_module"):
                found.append((node.lineno, node.args[0].value))
    return found


def test_scanner_finds_qt_imports():
    """The scanner itself: it must see every form we forbid (else the real test below proves nothing)."""
    src = ("import os\nfrom PySide6.QtCore import QObject\ndef f():\n    import pyqtgraph as pg\n"
           "import importlib\nimportlib.import_module('superqt')\n__import__('qtawesome')\nimport PyQt5.QtGui\n")
    qt = [m for _, m in _imports(ast.parse(src)) if _is_qt(m)]
    assert sorted(qt) == sorted(["PySide6.QtCore", "pyqtgraph", "superqt", "qtawesome", "PyQt5.QtGui"])
    assert not _is_qt("os") and not _is_qt("core.engines.base") and not _is_qt("torch")


def test_no_module_under_core_imports_qt():
    files = sorted(CORE.rglob("*.py"))
    assert len(files) >= 10  # the scan really ran over core/
    offenders = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offenders += [f"{path.relative_to(ROOT)}:{line} imports {mod}" for line, mod in _imports(tree) if _is_qt(mod)]
    assert offenders == []


def test_importing_core_loads_no_qt_module():
    code = (
        "import json, sys\n"
        "import core.cli, core.io, core.masks\n"
        "from core.engines.registry import default_registry\n"
        "reg = default_registry()\n"
        "names = reg.names()\n"
        "for n in names:\n"
        "    reg.get(n)\n"
        f"qt = sorted(m for m in sys.modules if m.split('.')[0] in {QT_PACKAGES!r} or m.lower().startswith('pyqt'))\n"
        "print(json.dumps({'qt': qt, 'engines': names, 'torch': 'torch' in sys.modules}))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True, text=True, timeout=120,
                       env={**os.environ, "REWEAVE_CACHE_DIR": ""})
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout.strip().splitlines()[-1])
    assert report["qt"] == []
    assert {"telea", "ns", "internal"} <= set(report["engines"])  # the engines really were imported
    assert report["torch"]


def _core_module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _core_import_graph() -> dict[str, set[str]]:
    """core module -> the core modules it imports anywhere in its source (function-level imports included: a
    lazy import hides a cycle from Python, not from a reader)."""
    modules = {_core_module(p): p for p in CORE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        imported = [m for _, m in _imports(tree)]
        for node in ast.walk(tree):  # "from core.pkg import submodule" imports the submodule, not the package
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported += [f"{node.module}.{alias.name}" for alias in node.names]
                if all(f"{node.module}.{alias.name}" in modules for alias in node.names):
                    imported.remove(node.module)
        targets = set()
        for target in imported:
            while target and target not in modules:  # "core.a.b.func" -> "core.a.b"
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_core_modules_import_each_other_without_cycles():
    graph = _core_import_graph()
    assert "core.engines.base" in graph and "core.tiling" in graph["core.lowrank"]
    assert _cycles(graph) == []
