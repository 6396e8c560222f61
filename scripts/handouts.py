"""Render every lesson to one standalone HTML file for printing: `make handouts`.

notebooks/NN_name.ipynb    -> handouts/NN_name.html
notebooks/ja/NN_name.ipynb -> handouts/ja/NN_name.html (lang="ja")
plus handouts/index.html, a list of them (when every lesson is rendered).
`python -m scripts.handouts notebooks/01_loading.ipynb` renders just that one.

The handouts show the committed outputs (run `make notebooks` first after a change)
and work offline: nbconvert's "lab" template, minus everything it would fetch from a
CDN (require.js, MathJax, Mermaid, the widgets renderer). CSS is inlined, figures are
data URIs, local Markdown images are embedded. Formulas stay as their TeX source.
The "Open in Colab" badge and the Colab-only install cell (found by their tags,
``colab-badge`` and ``colab-install``) are left out, so are the exercises' answers and the outputs of the
exercise and check cells (a handout is for learners), and a print
stylesheet wraps long lines and keeps figures on one page.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter

from .colab import BADGE, BADGE_TAG, INSTALL_TAG
from .exercises import SOLUTION
from .normalize_notebooks import has_tag
from .regen import ROOT, shown

LESSON_GLOB = "[0-9][0-9]_*.ipynb"
# <script src=...>, <link href=...> (and <img>, <iframe>, <source>) pointing off the page.
REMOTE = re.compile(r"""<(script|link|img|iframe|source|embed)\b[^>]*?\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""",
                    re.IGNORECASE)

PRINT_CSS = """
<style type="text/css">
/* llmcourse handout */
main { max-width: 60rem; margin: 0 auto; }
.jp-InputArea-editor pre, .jp-OutputArea-output pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.jp-RenderedImage img, .jp-RenderedSVG svg { max-width: 100%; height: auto; }
.llmcourse-source { color: #666; font-size: 0.8em; margin: 2em 0 0; }
@page { margin: 15mm 12mm; }
@media print {
  body { font-size: 10.5pt; }
  main { max-width: none; }
  .jp-Cell { padding: 2px 0; }
  .jp-InputArea, .jp-InputArea-editor { overflow: visible; }
  .jp-OutputArea-output { overflow: visible; }
  h1, h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
  .jp-OutputArea-output, .jp-RenderedImage, .jp-RenderedSVG, .jp-InputArea {
    break-inside: avoid; page-break-inside: avoid;
  }
  a { color: inherit; text-decoration: none; }
}
</style>
"""

TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{#- Nothing from a CDN: no require.js, MathJax, Mermaid or widgets renderer. -#}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{#- After the notebook CSS, so these rules win. -#}
{%- block html_head_css -%}{% raw %}""" + PRINT_CSS + """{% endraw %}{%- endblock html_head_css -%}
{% block body_footer %}
<p class="llmcourse-source">{{ resources.handout_source | e }}</p>
</main>
</body>
{% endblock body_footer %}
"""

CHECK_CALL = re.compile(r"^check_\w+\(", re.M)  # a check cell: its output would show the answer passing


def lessons(folder: Path) -> list[Path]:
    """The lessons in ``folder`` and in ``folder/ja``, in course order."""
    return sorted(folder.glob(LESSON_GLOB)) + sorted((folder / "ja").glob(LESSON_GLOB))


def title_of(notebook: nbformat.NotebookNode, fallback: str) -> str:
    """The first Markdown heading (e.g. "01 · Loading a model"), else ``fallback``."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


def prepare(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop what makes no sense on paper (the Colab badge and install cell) and what a learner must not see
    before trying: the answers between ``### BEGIN SOLUTION`` and ``### END SOLUTION``, and the outputs of the
    exercise cells and of the checks under them (a handout is a learner's copy, issue 26)."""
    cells = []
    for cell in notebook.cells:
        if has_tag(cell, INSTALL_TAG):
            continue
        if cell.cell_type == "code" and (SOLUTION.search(cell.source) or CHECK_CALL.search(cell.source)):
            cell.source, cell.outputs = SOLUTION.sub("", cell.source), []
        if has_tag(cell, BADGE_TAG):
            cell.source = BADGE.sub("", cell.source).rstrip()
            if not cell.source:
                continue
        cells.append(cell)
    notebook.cells = cells
    notebook.metadata.pop("widgets", None)  # widget state would pull the renderer from a CDN
    return notebook


def exporter(language: str) -> HTMLExporter:
    """An HTML exporter with the offline handout template."""
    return HTMLExporter(
        template_name="lab",
        template_file="handout.html.j2",
        extra_loaders=[DictLoader({"handout.html.j2": TEMPLATE})],
        embed_images=True,
        language_code=language,
        # Never used by the template above; set anyway so nothing can point at a CDN.
        mathjax_url="", require_js_url="", mermaid_js_url="", mermaid_layout_elk_js_url="",
        jquery_url="", jupyter_widgets_base_url="", widget_renderer_url="",
    )


def remote_references(page: str) -> list[str]:
    """Tags in ``page`` that would load something from the network."""
    found = []
    for match in REMOTE.finditer(page):
        end = page.find(">", match.start())
        found.append(page[match.start():end + 1][:200])
    return found


def not_embedded(page: str) -> list[str]:
    """Local images the page still links to (a missing file, say): blank on paper."""
    return [src for src in re.findall(r"""<img\b[^>]*?\bsrc\s*=\s*["']([^"']*)["']""", page, re.IGNORECASE)
            if not src.startswith("data:")]


def render(path: Path, out: Path, source: str | None = None) -> Path:
    """Render one lesson to ``out`` (a .html file); return ``out``."""
    notebook = nbformat.read(path, as_version=4)
    language = "ja" if path.parent.name == "ja" else "en"
    title = title_of(notebook, path.stem)
    notebook.metadata["title"] = title
    resources = {
        "metadata": {"name": path.stem, "path": str(path.parent)},
        "handout_source": source or path.name,
    }
    page, _ = exporter(language).from_notebook_node(prepare(notebook), resources=resources)
    remote = remote_references(page)
    if remote:
        raise SystemExit(f"{path}: the handout would load from the network, so it is not written:\n  "
                         + "\n  ".join(remote))
    for src in not_embedded(page):
        print(f"{path}: warning: image {src!r} could not be embedded", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def missing_outputs(path: Path) -> int:
    """How many code cells of the lesson were never run (no execution count)."""
    notebook = nbformat.read(path, as_version=4)
    return sum(1 for c in notebook.cells
               if c.cell_type == "code" and c.source.strip() and not has_tag(c, INSTALL_TAG)
               and c.get("execution_count") is None)


def write_index(written: list[tuple[Path, str]], out: Path) -> Path:
    """handouts/index.html: one link per handout."""
    items = "\n".join(f'<li><a href="{html.escape(p.relative_to(out).as_posix())}">{html.escape(t)}</a></li>'
                      for p, t in written)
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n"
            "<title>llmcourse handouts</title>\n"
            "<style>body { font-family: sans-serif; max-width: 40rem; margin: 2rem auto; line-height: 1.6; }</style>\n"
            f"</head>\n<body>\n<h1>llmcourse handouts</h1>\n<ul>\n{items}\n</ul>\n</body>\n</html>\n")
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def main(argv: list[str] | None = None) -> int:
    """Render the given lessons, or every lesson under notebooks/ (and notebooks/ja/)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lessons", nargs="*", type=Path, help="lesson notebooks (default: every lesson)")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", help="the lessons folder")
    parser.add_argument("--out", type=Path, default=ROOT / "handouts", help="where to write (default: handouts/)")
    args = parser.parse_args(argv)
    paths = args.lessons or lessons(args.notebooks)
    if not paths:
        print(f"no lessons found in {args.notebooks}", file=sys.stderr)
        return 1
    written = []
    for path in paths:
        sub = "ja" if path.parent.name == "ja" else ""
        out = args.out / sub / f"{path.stem}.html"
        try:
            source = path.resolve().relative_to(ROOT).as_posix()
        except ValueError:
            source = path.name
        render(path, out, source)
        title = title_of(nbformat.read(path, as_version=4), path.stem)
        written.append((out, title))
        unrun = missing_outputs(path)
        note = f"  (warning: {unrun} code cell(s) never run: `make notebooks` first)" if unrun else ""
        print(f"{shown(out)}{note}")
    if not args.lessons:
        print(shown(write_index(written, args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
