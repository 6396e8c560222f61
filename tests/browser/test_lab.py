"""The course as learners open it: `make lab`, open a lesson, Run > Run All Cells.

One lesson is run through JupyterLab's own UI in headless Chromium: every code cell
must get an execution count, no cell may show an error, and a figure must render.
The lesson is copied to a temporary folder first (with its outputs cleared, so what
is checked is what this run produced); the committed notebook is never touched.

Which lesson: $LLMCOURSE_BROWSER_LESSON (a path under notebooks/, e.g. 01_loading.ipynb),
else the lesson with a committed figure and the fewest code cells, else (while no
lesson draws a figure yet) the first lesson. A lesson without a committed figure gets
one plotting cell appended to its copy; with no lesson at all, a throwaway notebook
loads the model and plots.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from lab_ui import cell_errors, executed, finished, start_run_all, wait_for, wait_until_open

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
RUN_TIMEOUT_S = float(os.environ.get("LLMCOURSE_BROWSER_TIMEOUT", "75"))  # Run All, seconds
FIGURE_MIME = ("image/png", "image/svg+xml")

def _code(source: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": source}


# Appended to a lesson that draws no figure, so the figure path is checked all the same.
FIGURE_CELL = _code("# Added by tests/browser: this lesson draws no figure yet.\n"
                    "import matplotlib.pyplot as plt\n\nfig, ax = plt.subplots(figsize=(5, 2.5))\n"
                    "ax.bar(['a', 'b', 'c'], [0.6, 0.3, 0.1])\nax.set_title('Browser check')\nplt.show()")
# While there is no lesson at all: load the model and plot, as a lesson would.
THROWAWAY = {
    "cells": [
        {"cell_type": "markdown", "metadata": {},
         "source": "# Browser check\n\nLoad the model, plot one distribution."},
        _code("import torch\nfrom llmcourse import load_model\n\nmodel, tokenizer = load_model()"),
        _code("ids = tokenizer('The capital of France is', return_tensors='pt').input_ids\n"
              "with torch.no_grad():\n    top = model(ids).logits[0, -1].softmax(-1).topk(5)\n"
              "labels = [repr(tokenizer.decode(i)) for i in top.indices]\nlabels"),
        _code("import matplotlib.pyplot as plt\n\nfig, ax = plt.subplots(figsize=(5, 2.5))\n"
              "ax.bar(labels, top.values)\nax.set_title('Next-token probabilities')\nplt.show()"),
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                 "language_info": {"name": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _has_figure(path: Path) -> bool:
    return any(mime in output.get("data", {}) for cell in _cells(path) if cell["cell_type"] == "code"
               for output in cell.get("outputs", []) for mime in FIGURE_MIME)


def choose_lesson() -> Path | None:
    """The lesson to run (None: the throwaway notebook)."""
    chosen = os.environ.get("LLMCOURSE_BROWSER_LESSON")
    if chosen:
        path = Path(chosen) if Path(chosen).is_absolute() else NOTEBOOKS / chosen
        if not path.is_file():
            raise FileNotFoundError(f"LLMCOURSE_BROWSER_LESSON={chosen}: no such lesson")
        return path
    lessons = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    with_figure = [p for p in lessons if _has_figure(p)]
    if with_figure:
        return min(with_figure, key=lambda p: sum(c["cell_type"] == "code" for c in _cells(p)))
    return lessons[0] if lessons else None


LESSON = choose_lesson()
ADD_FIGURE = LESSON is not None and not _has_figure(LESSON)
# Where the lesson sits in the served copy of notebooks/ (ja/ lessons keep their folder).
LESSON_PATH = ("browser_check.ipynb" if LESSON is None else
               LESSON.relative_to(NOTEBOOKS).as_posix() if LESSON.is_relative_to(NOTEBOOKS) else LESSON.name)


def prepare(folder: Path) -> tuple[Path, str]:
    """Copy notebooks/ into ``folder`` (lesson outputs cleared); return (served root, lesson path in it)."""
    root = folder / "notebooks"
    if NOTEBOOKS.is_dir():
        shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    else:
        root.mkdir()
    relative = LESSON_PATH
    notebook = json.loads(json.dumps(THROWAWAY) if LESSON is None else LESSON.read_text(encoding="utf-8"))
    if ADD_FIGURE:
        notebook["cells"].append(dict(FIGURE_CELL))
    for index, cell in enumerate(notebook["cells"]):
        cell.setdefault("id", f"browser-check-{index}")
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    (root / relative).parent.mkdir(parents=True, exist_ok=True)
    (root / relative).write_text(json.dumps(notebook, indent=1, ensure_ascii=False), encoding="utf-8")
    return root, relative


FIGURES_JS = """() => [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedImage img, '
  + '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedSVG img')]
  .map(img => ({width: img.naturalWidth, height: img.naturalHeight, complete: img.complete}))"""


@pytest.mark.browser
@pytest.mark.parametrize("lesson", ["throwaway" if LESSON is None else LESSON_PATH + ("+figure" if ADD_FIGURE else "")])
def test_a_lesson_runs_in_jupyterlab_and_shows_a_figure(lesson, lab_server, browser_page, tmp_path):
    root, relative = prepare(tmp_path)
    cells = json.loads((root / relative).read_text(encoding="utf-8"))["cells"]
    expected_cells = len(cells)
    lab = lab_server(root)
    page = browser_page
    screenshot = tmp_path / "lab.png"
    try:
        page.goto(lab.lab_url(relative))
        wait_until_open(page, expected_cells)  # every cell rendered and the kernel started and idle
        started = time.monotonic()
        start_run_all(page)
        state = wait_for(page, finished, RUN_TIMEOUT_S, "every code cell to run")
        seconds = time.monotonic() - started

        figures = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedImage img, "
                               ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedSVG img")
        if figures.count():
            figures.first.scroll_into_view_if_needed()
            page.wait_for_function(f"({FIGURES_JS})().some(f => f.complete && f.width > 0)", timeout=10_000)
    finally:
        page.screenshot(path=str(screenshot))
        print(f"\nscreenshot: {screenshot}")

    # A cell tagged raises-exception shows its error on purpose (nbval and Run All accept it).
    expected = {i for i, c in enumerate(cells) if "raises-exception" in c.get("metadata", {}).get("tags", [])}
    errors = cell_errors(state, expected)
    assert not errors, f"{relative}: cell {errors[0][0]} shows an error:\n{errors[0][1]}"
    not_run = [i for i, c in enumerate(state["cells"]) if c["code"] and not executed(c["prompt"])]
    assert not not_run, f"{relative}: cells {not_run} have no execution count"
    shown = page.evaluate(FIGURES_JS)
    assert any(f["width"] > 0 for f in shown), f"{relative}: no figure rendered (images: {shown})"
    print(f"{relative}: {sum(c['code'] for c in state['cells'])} code cells ran in {seconds:.1f} s, "
          f"{len(shown)} figure(s)")
