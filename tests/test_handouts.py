"""`make handouts`: each lesson becomes one standalone HTML file that works offline."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from scripts import handouts

ROOT = Path(__file__).resolve().parents[1]
HANDOUTS = [sys.executable, "-m", "scripts.handouts"]  # run with cwd=ROOT
LESSONS = sorted(ROOT.glob("notebooks/[0-9][0-9]_*.ipynb")) + sorted(ROOT.glob("notebooks/ja/[0-9][0-9]_*.ipynb"))
TAG = re.compile(r"<(script|link)\b[^>]*>", re.IGNORECASE)
URL_ATTRIBUTE = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def png_bytes() -> bytes:
    """A small real matplotlib figure, as PNG."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1.5), dpi=50)
    figure.add_subplot().bar(["a", "b"], [0.7, 0.3])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def small_lesson(folder: Path) -> Path:
    """A lesson shaped like the real ones: tagged title + Colab badge and install cell, code, a figure."""
    badge = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
             "(https://colab.research.google.com/github/llmcourse/llmcourse/blob/main/notebooks/07_tiny.ipynb)")
    figure = new_code_cell("plt.bar(['a', 'b'], [0.7, 0.3])", execution_count=2, outputs=[
        new_output("display_data", data={"image/png": base64.b64encode(png_bytes()).decode(),
                                         "text/plain": "<Figure size 100x75 with 1 Axes>"}),
    ])
    notebook = new_notebook(cells=[
        new_markdown_cell(f"# 07 · A tiny lesson\n\n{badge}\n\nTemperature: $p_i \\propto e^{{z_i / T}}$",
                          metadata={"tags": ["colab-badge"]}),
        new_code_cell('# Runs only on Colab: install the course package and its pinned stack.\n'
                      'import sys\nif "google.colab" in sys.modules:\n    %pip install -q llmcourse',
                      metadata={"tags": ["colab-install"]}),
        new_code_cell("1 + 1", execution_count=1,
                      outputs=[new_output("execute_result", data={"text/plain": "2"}, execution_count=1)]),
        figure,
    ])
    # Widget state in the metadata makes nbconvert add the widgets renderer from a CDN.
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2,
                                                                                   "version_minor": 0}}
    path = folder / "07_tiny.ipynb"
    nbformat.write(notebook, path)
    return path


def render(lesson: Path, out: Path) -> str:
    done = subprocess.run([*HANDOUTS, str(lesson), "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    page = out / ("ja" if lesson.parent.name == "ja" else "") / f"{lesson.stem}.html"
    assert page.is_file(), f"{page} was not written:\n{done.stdout}"
    return page.read_text(encoding="utf-8")


def assert_offline(page: str) -> None:
    remote = [tag for tag in (m.group(0) for m in TAG.finditer(page)) if URL_ATTRIBUTE.search(tag)]
    assert not remote, f"script/link tags load from the network: {remote}"


def title_of(lesson: Path) -> str:
    first = "".join(json.loads(lesson.read_text(encoding="utf-8"))["cells"][0]["source"])
    return next(line.lstrip("#").strip() for line in first.splitlines() if line.startswith("#"))


def test_a_small_lesson_renders_to_a_standalone_page(tmp_path):
    lesson = small_lesson(tmp_path)
    page = render(lesson, tmp_path / "handouts")
    assert "07 · A tiny lesson" in page
    assert "<title>07 · A tiny lesson</title>" in page
    assert "data:image/png;base64" in page
    assert_offline(page)
    for word in ("mathjax", "require.js", "require.min.js", "cdnjs", "unpkg.com", "jsdelivr", "<script"):
        assert word not in page.lower(), f"{word!r} in the handout"
    assert "colab-badge.svg" not in page, "the Colab badge is a remote image: left out of the handout"
    assert "google.colab" not in page, "the Colab install cell is left out of the handout"
    assert "@media print" in page


def test_every_lesson_english_and_japanese_with_an_index(tmp_path):
    notebooks = tmp_path / "notebooks"
    (notebooks / "ja").mkdir(parents=True)
    small_lesson(notebooks)
    small_lesson(notebooks / "ja")
    (notebooks / "scratch.ipynb").write_text((notebooks / "07_tiny.ipynb").read_text())  # not a lesson
    out = tmp_path / "handouts"
    done = subprocess.run([*HANDOUTS, "--notebooks", str(notebooks), "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html")) == [
        "07_tiny.html", "index.html", "ja/07_tiny.html"]
    assert '<html lang="en">' in (out / "07_tiny.html").read_text(encoding="utf-8")
    assert '<html lang="ja">' in (out / "ja" / "07_tiny.html").read_text(encoding="utf-8")
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="07_tiny.html"' in index and 'href="ja/07_tiny.html"' in index


def test_the_check_refuses_a_page_that_would_load_from_the_network():
    assert handouts.remote_references('<script src="https://cdn.example/x.js"></script>')
    assert handouts.remote_references("<link rel=stylesheet href=//cdn.example/x.css>")
    assert not handouts.remote_references('<a href="https://example.org">a link to read</a>')
    assert not handouts.remote_references('<img src="data:image/png;base64,AAAA">')


WITH_FIGURE = [p for p in LESSONS if '"image/png"' in p.read_text(encoding="utf-8")]


@pytest.mark.skipif(not WITH_FIGURE, reason="no committed lesson has a PNG figure yet")
def test_a_real_lesson_with_a_figure(tmp_path):
    lesson = min(WITH_FIGURE, key=lambda p: p.stat().st_size)  # the smallest, to stay fast
    page = render(lesson, tmp_path / "handouts")
    assert html.escape(title_of(lesson), quote=False) in page
    assert "data:image/png;base64" in page
    assert_offline(page)


def test_the_badge_and_install_cell_are_found_by_their_tags_not_their_text():
    notebook = new_notebook(cells=[
        new_markdown_cell("# 07 · 小さなレッスン\n\n[![Open In Colab](https://x/b.svg)](https://x/l)",
                          metadata={"tags": ["colab-badge"]}),
        new_code_cell("# Colab でだけ実行されます\n%pip install -q llmcourse", metadata={"tags": ["colab-install"]}),
        new_code_cell("# Runs only on Colab, says this comment, but the cell is not tagged\n1 + 1"),
    ])
    cells = handouts.prepare(notebook).cells
    assert [c.source for c in cells] == ["# 07 · 小さなレッスン",
                                         "# Runs only on Colab, says this comment, but the cell is not tagged\n1 + 1"]


def test_a_handout_is_a_learners_copy_without_the_answers(tmp_path):
    """Issue 26: printed handouts are what learners get; the answers and the checks' verdicts on them stay out."""
    lesson = ROOT / "notebooks" / "04_pitfalls.ipynb"
    prepared = handouts.prepare(nbformat.read(lesson, as_version=4))
    sources = [cell.source for cell in prepared.cells if cell.cell_type == "code"]
    assert not any("def my_batch_texts" in source for source in sources)
    assert any("my_batch_texts = None" in source for source in sources)  # the learner's starting point stays
    assert not any(cell.outputs for cell in prepared.cells if cell.cell_type == "code"
                   and cell.source.startswith("check_"))
    page = render(lesson, tmp_path / "handouts")
    assert "BEGIN SOLUTION" not in page and "All checks passed" not in page
