"""Normalize committed notebooks: clean metadata, execution counts 1..n, stable cell ids, one block per stream,
no live widget views.

Also where the other scripts read and write notebooks: `normalize`, `dumps`, and
`tagged_cell`, which finds a generated cell by its tag (cell metadata ``tags``, the
only cell metadata kept). `python -m scripts.normalize_notebooks notebooks` rewrites
in place; `--check` only reports the notebooks that would change (tests/test_notebooks.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import rwbase

from .regen import parser, regenerate

NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
    "accelerator": "GPU",  # Colab: open lessons on a GPU runtime by default
    "colab": {"provenance": []},
}
KEPT_CELL_METADATA = ("tags",)
# A live widget's view: it only renders with its kernel, and a committed one shows "model not found" in JupyterLab.
# Dropped, so the output's picture and text (the same state, drawn for static viewers) show instead.
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def normalize(notebook: dict) -> dict:
    """Return a normalized copy of a notebook dict (nbformat 4.5), text split into lines as Jupyter saves it."""
    node = nbformat.from_dict(json.loads(json.dumps(notebook)))
    notebook = json.loads(json.dumps(rwbase.split_lines(rwbase.rejoin_lines(node))))
    notebook["metadata"] = NOTEBOOK_METADATA
    notebook["nbformat"], notebook["nbformat_minor"] = 4, 5
    count = 0
    for index, cell in enumerate(notebook["cells"]):
        cell["id"] = f"cell-{index:03d}"
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k in KEPT_CELL_METADATA}
        if cell["cell_type"] != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            continue
        if cell.get("execution_count") is not None:
            count += 1
            cell["execution_count"] = count
        cell["outputs"] = merge_streams(cell.get("outputs", []))
        for output in cell["outputs"]:
            if output.get("output_type") == "execute_result":
                output["execution_count"] = cell["execution_count"]
            if "metadata" in output:
                output["metadata"] = {}
            output.get("data", {}).pop(WIDGET_VIEW, None)
    return notebook


def merge_streams(outputs: list[dict]) -> list[dict]:
    """Join consecutive outputs of the same stream into one, as a static viewer should show them (nbval does too).

    A streamer prints token by token: 31 stdout outputs in a row become one block.

    >>> merge_streams([{"output_type": "stream", "name": "stdout", "text": ["a"]},
    ...                {"output_type": "stream", "name": "stdout", "text": ["b\\n"]}])
    [{'output_type': 'stream', 'name': 'stdout', 'text': ['ab\\n']}]
    """
    merged: list[dict] = []
    for output in outputs:
        last = merged[-1] if merged else None
        if (output.get("output_type") == "stream" and last is not None and last.get("output_type") == "stream"
                and last.get("name") == output.get("name")):
            text = "".join(last["text"]) + "".join(output["text"])
            last["text"] = text.splitlines(keepends=True)
        else:
            merged.append(dict(output))
    return merged


def dumps(notebook: dict) -> str:
    """Serialize the way Jupyter does (1-space indent, sorted keys, trailing newline)."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def has_tag(cell: dict, tag: str) -> bool:
    """Whether ``cell`` carries ``tag`` in its metadata.

    >>> has_tag({"metadata": {"tags": ["colab-install"]}}, "colab-install")
    True
    """
    return tag in cell.get("metadata", {}).get("tags", [])


def tagged_cell(notebook: dict, tag: str, path: Path) -> dict:
    """The one cell of ``notebook`` (read from ``path``) tagged ``tag``; stop with a message if not exactly one."""
    cells = [cell for cell in notebook["cells"] if has_tag(cell, tag)]
    if len(cells) != 1:
        raise SystemExit(f"{path}: expected one cell tagged {tag!r} (cell metadata \"tags\"), found {len(cells)}")
    return cells[0]


def notebooks(folders: list[Path]) -> list[Path]:
    """Every notebook under ``folders``, Jupyter's checkpoints left out."""
    return sorted(p for folder in folders for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def main(argv: list[str] | None = None) -> int:
    """Normalize every notebook under the given folders; with --check, only report."""
    arguments = parser(__doc__)
    arguments.add_argument("folders", nargs="+", type=Path)
    args = arguments.parse_args(argv)
    targets = {path: dumps(normalize(json.loads(path.read_text(encoding="utf-8")))) for path in notebooks(args.folders)}
    return regenerate(targets, args.check, fix="make normalize")


if __name__ == "__main__":
    sys.exit(main())
