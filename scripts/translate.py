"""Build each Japanese lesson from its English lesson and a translation file.

``notebooks/ja/translations/NN_name.json`` holds
``{"markdown": {english cell: japanese cell}, "code": {english fragment: japanese fragment}}``.
Markdown cells are swapped whole; in code cells each English fragment (a comment,
a display string) is replaced by its Japanese one, so the code itself stays the
English lesson's (tests/test_parity.py proves it). Cell tags come from the English lesson.
`python -m scripts.translate` writes ``notebooks/ja/NN_name.ipynb``: when its code cells
are unchanged the committed outputs are kept, otherwise it is written without outputs
(``make notebooks`` runs it). It stops with the list of English texts that have no
translation yet.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .colab import set_badge
from .normalize_notebooks import dumps, normalize
from .regen import ROOT, parser, regenerate

JA = ROOT / "notebooks" / "ja"


def translate(english: dict, table: dict) -> tuple[dict, list[str]]:
    """The Japanese notebook (no outputs) and the English markdown cells lacking a translation."""
    notebook = json.loads(json.dumps(english))
    missing = []
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            if source not in table["markdown"]:
                missing.append(source)
            cell["source"] = table["markdown"].get(source, source).splitlines(keepends=True)
        elif cell["cell_type"] == "code":
            for fragment in sorted(table["code"], key=len, reverse=True):  # longest first
                source = source.replace(fragment, table["code"][fragment])
            cell["source"] = source.splitlines(keepends=True)
            cell["outputs"], cell["execution_count"] = [], None
    return notebook, missing


def keep_outputs(notebook: dict, committed: Path) -> dict:
    """Carry the committed lesson's outputs over if its code cells are the same (only prose or tags changed)."""
    if not committed.exists():
        return notebook
    old = [c for c in json.loads(committed.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    new = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    if ["".join(c["source"]) for c in old] == ["".join(c["source"]) for c in new]:
        for before, cell in zip(old, new, strict=True):
            cell["outputs"], cell["execution_count"] = before["outputs"], before["execution_count"]
    return notebook


def main(argv: list[str] | None = None) -> int:
    """Write the Japanese twin of every English lesson that has a translation file."""
    arguments = parser(__doc__)
    arguments.add_argument("lessons", nargs="*", help="lesson file names; default: all with a translation")
    args = arguments.parse_args(argv)
    targets, status = {}, 0
    for table_path in sorted((JA / "translations").glob("*.json")):
        name = table_path.stem + ".ipynb"
        if args.lessons and name not in args.lessons:
            continue
        english = json.loads((ROOT / "notebooks" / name).read_text(encoding="utf-8"))
        notebook, missing = translate(english, json.loads(table_path.read_text(encoding="utf-8")))
        set_badge(notebook, ROOT / "notebooks" / name, JA / name)
        for text in missing:
            print(f"{name}: no translation for markdown cell:\n{text[:300]}\n", file=sys.stderr)
            status = 1
        targets[JA / name] = dumps(normalize(keep_outputs(notebook, JA / name)))
    return max(status, regenerate(targets, args.check, fix="make translations"))


if __name__ == "__main__":
    sys.exit(main())
