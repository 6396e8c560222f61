"""Learner copies are generated from the lessons and every check starts out failing.

Executing each English learner's copy proves that the placeholders run without an
error and that every check prints a failure with its hint (the Japanese copies share
their code cells with the English ones: tests/test_parity.py).
"""

from __future__ import annotations

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


def check_cells(notebook) -> list:
    """Code cells that call a check right after an exercise cell with a placeholder."""
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    return [cell for before, cell in zip(cells, cells[1:], strict=False)
            if "= None" in before.source and "check_" in cell.source]


@pytest.mark.slow
@pytest.mark.parametrize("path", LEARNER, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_check_fails_on_the_placeholder(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    checks = check_cells(notebook)
    assert len(checks) >= 2, f"{path.name}: expected at least two checks after placeholders"
    for cell in checks:
        shown = json.dumps(cell.outputs, ensure_ascii=False)
        assert "✘" in shown, f"{path.name}: a check passed on the placeholder:\n{cell.source}\n{shown[:500]}"
