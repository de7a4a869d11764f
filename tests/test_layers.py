"""The package's layers hold: the import-linter contract in pyproject.toml passes, no module
imports itself back through a cycle, and no private name crosses a package boundary.

Each check is also run on a deliberately broken copy of the package, so a check that could
never fail would fail here.
"""

import ast
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "valuelab"

grimp = pytest.importorskip("grimp", reason="import-linter (and its grimp) are installed by `make setup`")
importlinter_cli = pytest.importorskip("importlinter.cli")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(module: str) -> str:
    """``valuelab.utility.results`` -> ``valuelab.utility``; top-level modules -> ``valuelab.<module>``."""
    return ".".join(module.split(".")[:2])


def private_imports_across_packages(root: Path) -> list[str]:
    """Every ``from X import _name`` where X lies in another package than the importer."""
    found = []
    for path in sorted((root / "valuelab").rglob("*.py")):
        module = _module_name(path, root)
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("valuelab"):
                continue
            for alias in node.names:
                name = alias.name
                if name.startswith("_") and not name.startswith("__") and _package_of(target) != _package_of(module):
                    found.append(f"{module} imports {name} from {target}")
    return found


def import_cycles(package_dir: Path) -> list[list[str]]:
    """Strongly connected components (of more than one module) of the import graph."""
    sys.path.insert(0, str(package_dir.parent))
    try:
        graph = grimp.build_graph(package_dir.name, exclude_type_checking_imports=True, cache_dir=None)
    finally:
        sys.path.pop(0)
    modules = sorted(graph.modules)
    index, low, on_stack, stack, out = {}, {}, set(), [], []

    def visit(v):  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for m in modules:
        if m not in index:
            visit(m)
    return out


def _lint(config: Path, cwd: Path, monkeypatch) -> int:
    monkeypatch.chdir(cwd)
    monkeypatch.syspath_prepend(str(cwd))
    for name in [m for m in sys.modules if m == "valuelab" or m.startswith("valuelab.")]:
        monkeypatch.delitem(sys.modules, name)
    return importlinter_cli.lint_imports(config_filename=str(config), no_cache=True, no_logo=True)


def test_layer_contract_holds(monkeypatch):
    assert _lint(ROOT / "pyproject.toml", ROOT, monkeypatch) == importlinter_cli.EXIT_STATUS_SUCCESS


def test_no_import_cycle():
    assert import_cycles(PACKAGE) == []


def test_no_private_name_imported_across_packages():
    assert private_imports_across_packages(ROOT) == []


@pytest.fixture
def broken_copy(tmp_path):
    """A copy of the package in which utility imports from elicit (up a layer), schema and
    utility import each other (a cycle), and survey takes a private name from schema."""
    shutil.copytree(PACKAGE, tmp_path / "valuelab", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    graph = tmp_path / "valuelab" / "utility" / "graph.py"
    graph.write_text(graph.read_text(encoding="utf-8") + "\n\ndef _up():\n    from ..elicit import prompts\n")
    schema = tmp_path / "valuelab" / "schema.py"
    schema.write_text(schema.read_text(encoding="utf-8") + "\n\ndef _cycle():\n    from .utility import graph\n")
    leakage = tmp_path / "valuelab" / "survey" / "leakage.py"
    leakage.write_text(leakage.read_text(encoding="utf-8") + "\n\ndef _private():\n    from ..schema import _fail\n")
    return tmp_path


def test_the_checks_catch_a_broken_copy(broken_copy, monkeypatch):
    assert _lint(broken_copy / "pyproject.toml", broken_copy, monkeypatch) != importlinter_cli.EXIT_STATUS_SUCCESS
    cycles = import_cycles(broken_copy / "valuelab")
    assert any("valuelab.schema" in c and "valuelab.utility.graph" in c for c in cycles)
    assert private_imports_across_packages(broken_copy) == [
        "valuelab.survey.leakage imports _fail from valuelab.schema"]
