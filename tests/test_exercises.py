"""Learner copies are generated from the lessons and every check starts out failing.

Executing each English learner's copy proves that the placeholders run without an
error and that every check prints a failure with its hint (the Japanese copies share
their code cells with the English ones: tests/test_parity.py). Only the exercises run,
with the earlier cells whose names they use: the lesson's other cells are the English
lesson's own (`test_learner_copies_are_generated_not_hand_edited`), which nbval runs.
"""

from __future__ import annotations

import ast
import builtins
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
LEARNER = sorted((ROOT / "notebooks" / "exercises").glob("[0-9][0-9]_*.ipynb"))


def test_learner_copies_are_generated_not_hand_edited():
    done = subprocess.run([sys.executable, "-m", "scripts.exercises", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, f"run `make exercises`:\n{done.stdout}{done.stderr}"


def test_every_lesson_from_01_has_a_learner_copy_with_two_exercises():
    lessons = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb") if not p.name.startswith("00_"))
    assert [p.name for p in lessons] == [p.name for p in LEARNER]
    for lesson in lessons:
        text = lesson.read_text(encoding="utf-8")
        assert text.count("### BEGIN SOLUTION") >= 2, f"{lesson.name} needs at least two exercises"


@pytest.mark.parametrize("path", LEARNER, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_learner_copy_hides_solutions(path):
    text = path.read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text


def cells_calling_checks(notebook) -> list:
    """Code cells that call a check right after an exercise cell with a placeholder."""
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    return [cell for before, cell in zip(cells, cells[1:], strict=False)
            if "= None" in before.source and "check_" in cell.source]


def names(source: str) -> tuple[set[str], set[str]]:
    """The names a cell defines, and the names it uses that it does not define itself."""
    from IPython.core.inputtransformer2 import TransformerManager

    defined, used = set(), set()
    for node in ast.walk(ast.parse(TransformerManager().transform_cell(source))):  # %pip lines become Python
        if isinstance(node, ast.Name):
            (defined if isinstance(node.ctx, (ast.Store, ast.Del)) else used).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return defined, used - defined - set(dir(builtins))


def exercise_slice(notebook):
    """The notebook cut to its exercises (from the cell that imports the checks) and the earlier cells they need."""
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    start = next(i for i, cell in enumerate(cells) if "llmcourse.checks import" in cell.source)
    kept, needed = [], set()
    for index in range(len(cells) - 1, -1, -1):  # backwards: a cell is kept if a kept later cell uses its names
        defined, used = names(cells[index].source)
        if index >= start or defined & needed:
            kept.insert(0, cells[index])
            needed = (needed - defined) | used
    notebook.cells = kept
    return notebook


def test_the_exercise_slice_keeps_what_the_checks_use():
    cells = ["import torch\nx = 1", "y = torch.ones(2)", "slow = expensive()", "from llmcourse.checks import c",
             "my = None", "c(my, y)"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    assert [cell.source for cell in exercise_slice(notebook).cells] == [cells[0], cells[1], *cells[3:]]


@pytest.mark.slow
@pytest.mark.parametrize("path", LEARNER, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_check_fails_on_the_placeholder(path, tmp_path):
    notebook = exercise_slice(nbformat.read(path, as_version=4))
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    checks = cells_calling_checks(notebook)
    assert len(checks) >= 2, f"{path.name}: expected at least two checks after placeholders"
    for cell in checks:
        shown = json.dumps(cell.outputs, ensure_ascii=False)
        assert "✘" in shown, f"{path.name}: a check passed on the placeholder:\n{cell.source}\n{shown[:500]}"
