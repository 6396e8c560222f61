"""CONTRIBUTING.md stays true: its architecture table names every module of llmcourse/ and nothing else, the tests
its checklists name exist, and every Colab badge and install cell uses the one repository setting it documents.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from scripts.colab import BADGE, setting

ROOT = Path(__file__).resolve().parents[1]
CONTRIBUTING = ROOT / "CONTRIBUTING.md"
PACKAGE = ROOT / "llmcourse"
NAMED_PATH = re.compile(r"`((?:llmcourse|tests|scripts|notebooks|benchmarks|classroom|instructor)/[^`\s]*)`")
NAMED_TEST = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def architecture_table(text: str) -> str:
    """The markdown of the section ``## Architecture`` up to its first subsection."""
    found = re.search(r"(?ms)^## Architecture\n(.*?)(?=^##)", text)
    assert found, "CONTRIBUTING.md needs its ## Architecture section"
    return found.group(1)


def package_modules() -> set[str]:
    """Every top-level .py file and subpackage of llmcourse/, as ``llmcourse/x.py`` and ``llmcourse/sub/``."""
    files = {f"llmcourse/{p.name}" for p in PACKAGE.glob("*.py")}
    packages = {f"llmcourse/{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    return files | packages


def tabled_order(table: str) -> list[str]:
    """The modules named in the module column of the architecture table's rows (``| layer | module | ... |``), in order."""
    rows = [line.split("|") for line in table.splitlines() if line.startswith("|")]
    return [path for row in rows if len(row) > 3 for path in NAMED_PATH.findall(row[2])]


def tabled_modules(table: str) -> set[str]:
    return set(tabled_order(table))


def home(path: Path) -> str:
    """The table's name for the module a file belongs to: ``llmcourse/x.py`` or ``llmcourse/sub/``."""
    parts = path.relative_to(ROOT).parts
    return f"llmcourse/{parts[1]}/" if len(parts) > 2 else f"llmcourse/{parts[1]}"


def imported_homes(path: Path) -> set[str]:
    """The table's names of the package modules that ``path`` imports."""
    package = list(path.relative_to(ROOT).parent.parts)  # e.g. ["llmcourse", "plots"]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = [*base, *(node.module.split(".") if node.module else [])]
            names = [module] if node.module else [[*module, alias.name] for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name.split(".") for alias in node.names]
        for parts in names:
            if parts[:1] == ["llmcourse"] and len(parts) > 1:
                target = ROOT.joinpath(*parts)
                found.add(f"llmcourse/{parts[1]}/" if target.is_dir() or (ROOT / "llmcourse" / parts[1]).is_dir()
                          else f"llmcourse/{parts[1]}.py")
    return found


def test_the_architecture_table_names_every_module_of_the_package():
    tabled = tabled_modules(architecture_table(CONTRIBUTING.read_text(encoding="utf-8")))
    missing = package_modules() - tabled
    assert not missing, f"add these modules to CONTRIBUTING.md's architecture table: {sorted(missing)}"


def test_imports_run_down_the_architecture_table():
    order = tabled_order(architecture_table(CONTRIBUTING.read_text(encoding="utf-8")))
    rank = {module: row for row, module in enumerate(order)}
    upward = sorted(f"{home(path)} imports {target}" for path in PACKAGE.rglob("*.py")
                    for target in imported_homes(path) - {home(path)}
                    if home(path) in rank and target in rank and rank[target] < rank[home(path)])
    assert not upward, f"move the rows of CONTRIBUTING.md's table so that imports run down it: {upward}"


def test_every_path_contributing_names_exists():
    named = {path.split("::")[0] for path in NAMED_PATH.findall(CONTRIBUTING.read_text(encoding="utf-8"))}
    gone = sorted(path for path in named if "NN" not in path and not (ROOT / path.rstrip("/")).exists())
    assert not gone, f"CONTRIBUTING.md names what does not exist (renamed? update the doc): {gone}"


def test_every_test_a_checklist_names_exists():
    named = NAMED_TEST.findall(CONTRIBUTING.read_text(encoding="utf-8"))
    assert len(named) >= 10
    gone = [f"{path}::{name}" for path, name in named
            if not (ROOT / path).is_file() or not re.search(rf"(?m)^def {name}\(", (ROOT / path).read_text())]
    assert not gone, f"CONTRIBUTING.md names tests that do not exist: {gone}"


def test_the_checks_are_planted_violations():
    """The checks above fail on a table that misses a module, on rows against the imports and on a name that does
    not exist."""
    table = architecture_table(CONTRIBUTING.read_text(encoding="utf-8"))
    without = "\n".join(line for line in table.splitlines() if "`llmcourse/hub.py`" not in line)
    assert "llmcourse/hub.py" in package_modules() - tabled_modules(without)
    order = tabled_order(table)
    assert order.index("llmcourse/i18n.py") > order.index("llmcourse/generation.py")
    assert "llmcourse/i18n.py" in imported_homes(PACKAGE / "generation.py")  # so i18n above generation would be upward
    assert not (ROOT / "llmcourse/nowhere.py").exists() and NAMED_PATH.findall("| | `llmcourse/nowhere.py` | x |")


# ---------------------------------------------------------------- publish your own copy: one setting


BADGED = sorted([ROOT / "README.md", ROOT / "README.ja.md",
                 *(p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)])


def test_contributing_documents_the_setting_and_the_command():
    text = CONTRIBUTING.read_text(encoding="utf-8")
    assert "[tool.llmcourse]" in text and "repository = " in text and "make colab" in text


@pytest.mark.parametrize("path", BADGED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_badge_and_install_cell_uses_the_configured_repository(path):
    repository, ref = setting()
    slug = repository.removeprefix("https://github.com/")
    text = path.read_text(encoding="utf-8")
    badges = BADGE.findall(text)
    if path.suffix == ".ipynb":
        assert len(badges) == 1, f"{path.name}: one Colab badge, in the cell tagged colab-badge"
    for badge in badges:
        assert f"colab.research.google.com/github/{slug}/blob/{ref}/" in badge, f"run `make colab`: {badge}"
    for url in re.findall(r"git\+(https://[^@\s\"\\]+)@([^\s\"\\]+)", text):
        assert url == (repository, ref), f"run `make colab`: the install cell installs from {url}"
