"""The package's shape: imports run one way, lessons use only the public API, modules stay small."""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "llmcourse"
PUBLIC_MODULES = ("llmcourse", "llmcourse.plots", "llmcourse.checks", "llmcourse.sampling", "llmcourse.constrain")
NOTEBOOKS = sorted(ROOT.glob("notebooks/**/*.ipynb"))
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The llmcourse modules one `from ... import ...` statement reads (absolute names)."""
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not target.startswith("llmcourse"):
        return []
    submodules = [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in MODULES]
    return submodules or [target]


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def internal_imports() -> dict[str, set[str]]:
    """Every llmcourse module -> the llmcourse modules it imports (at any depth of the file)."""
    graph = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                targets.update(resolve(name, path.name == "__init__.py", node))
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names if alias.name.startswith("llmcourse"))
        graph[name] = {target for target in targets if target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_package_imports_have_no_cycle():
    assert find_cycle(internal_imports()) is None


def test_no_internal_module_imports_back_up_into_a_public_facade():
    """Internals never import the package root or a facade that re-exports them."""
    facades = {"llmcourse"} | {name for name, path in MODULES.items() if path.name == "__init__.py"}
    for name, targets in internal_imports().items():
        if MODULES[name].name == "__init__.py":
            continue
        up = {target for target in targets if target in facades and not name.startswith(target + ".")}
        up |= {target for target in targets if target == "llmcourse"}
        assert not up, f"{name} imports {sorted(up)}: import the module that defines the name instead"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_small(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it by idea"


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_public_module_declares_and_documents_its_names(name):
    module = importlib.import_module(name)
    assert module.__all__, f"{name} has no __all__"
    for public in module.__all__:
        assert not public.startswith("_")
        assert hasattr(module, public), f"{name}.__all__ lists {public}, which it does not define"
    documented = importlib.import_module("llmcourse").__doc__
    assert name in documented, f"the package docstring does not name the public module {name}"


def notebook_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for each llmcourse import in a notebook's code cells."""
    found = []
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "\n".join(line[: len(line) - len(line.lstrip())] + "pass"  # IPython magics and shell lines
                           if line.lstrip().startswith(("%", "!")) else line
                           for line in "".join(cell["source"]).splitlines())
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("llmcourse"):
                found += [(node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                found += [(alias.name, "") for alias in node.names if alias.name.startswith("llmcourse")]
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT / "notebooks")))
def test_lessons_import_only_the_public_api(path):
    for module, name in notebook_imports(path):
        assert module in PUBLIC_MODULES, f"{module} is not a public module ({', '.join(PUBLIC_MODULES)})"
        if name:
            assert name in importlib.import_module(module).__all__, f"{module}.{name} is not in its __all__"
