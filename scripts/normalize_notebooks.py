"""Normalize committed notebooks: clean metadata, execution counts 1..n, stable cell ids.

`python scripts/normalize_notebooks.py notebooks` rewrites in place;
`--check` only reports the notebooks that would change (tests/test_notebooks.py uses it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import rwbase

NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
    "accelerator": "GPU",  # Colab: open lessons on a GPU runtime by default
    "colab": {"provenance": []},
}
KEPT_CELL_METADATA = ("tags",)


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
        for output in cell.get("outputs", []):
            if output.get("output_type") == "execute_result":
                output["execution_count"] = cell["execution_count"]
            if "metadata" in output:
                output["metadata"] = {}
    return notebook


def dumps(notebook: dict) -> str:
    """Serialize the way Jupyter does (1-space indent, sorted keys, trailing newline)."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Normalize every notebook under the given folders; with --check, only report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    changed = []
    for path in sorted(p for folder in args.folders for p in folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        wanted = dumps(normalize(json.loads(text)))
        if wanted != text:
            changed.append(path)
            if not args.check:
                path.write_text(wanted, encoding="utf-8")
    for path in changed:
        print(f"{'would change' if args.check else 'normalized'}: {path}")
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
