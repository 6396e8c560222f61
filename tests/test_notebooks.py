"""Static checks on the committed lessons: normalized, run in order, few ignored outputs.

nbval itself (``make test``) re-runs every notebook and compares outputs; these
checks catch what nbval does not look at.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.normalize_notebooks import normalize

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
LESSONS = [p for p in NOTEBOOKS if "exercises" not in p.parts]  # learner copies are checked in test_exercises
IGNORE = "NBVAL_IGNORE_OUTPUT"


def code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]


def test_there_are_lessons():
    assert len(NOTEBOOKS) >= 1


def test_notebooks_are_normalized():
    done = subprocess.run([sys.executable, "-m", "scripts.normalize_notebooks", "--check", "notebooks"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, f"run `make normalize`:\n{done.stdout}{done.stderr}"


def test_normalizing_keeps_cell_tags_and_drops_other_cell_metadata():
    cell = {"cell_type": "code", "source": "1", "execution_count": 7, "outputs": [],
            "metadata": {"tags": ["colab-install"], "collapsed": True, "id": "abc"}}
    normalized = normalize({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 4})
    assert normalized["cells"][0]["metadata"] == {"tags": ["colab-install"]}
    assert normalized["cells"][0]["execution_count"] == 1


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_code_cell_ran_in_order(path):
    counts = [c["execution_count"] for c in code_cells(path) if "".join(c["source"]).strip()]
    assert counts == list(range(1, len(counts) + 1)), "re-run the notebook top to bottom: `make notebooks`"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_errors_in_committed_outputs(path):
    for cell in code_cells(path):
        source = "".join(cell["source"])
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                assert "NBVAL_RAISES_EXCEPTION" in source, f"unexpected error in cell:\n{source[:200]}"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_few_ignored_outputs_each_with_a_reason(path):
    with_output = [c for c in code_cells(path) if c.get("outputs")]
    ignored = [c for c in with_output if IGNORE in "".join(c["source"])]
    assert len(ignored) <= 0.15 * len(with_output), f"{len(ignored)}/{len(with_output)} cells ignored"
    for cell in ignored:
        lines = "".join(cell["source"]).splitlines()
        at = next(i for i, line in enumerate(lines) if IGNORE in line)
        assert lines[at].strip() == f"# {IGNORE}", "nbval reads the marker only when it stands alone on its line"
        reason = lines[at + 1].strip() if at + 1 < len(lines) else ""
        assert re.match(r"#\s*why:\s*\w+", reason), f"say why on the next line (# why: ...), got {reason!r}"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_stderr_noise(path):
    for cell in code_cells(path):
        for output in cell.get("outputs", []):
            if output.get("name") == "stderr":
                assert "NBVAL_RAISES_EXCEPTION" in "".join(cell["source"]) or "stderr" in "".join(cell["source"]), \
                    f"stderr output should be silenced at its source: {''.join(output['text'])[:200]}"
