"""Build each Japanese lesson from its English lesson and a translation file.

``notebooks/ja/translations/NN_name.json`` holds
``{"markdown": {english cell: japanese cell}, "code": {english fragment: japanese fragment}}``.
Markdown cells are swapped whole; in code cells each English fragment (a comment,
a display string) is replaced by its Japanese one, so the code itself stays the
English lesson's (tests/test_parity.py proves it). `python scripts/translate.py`
writes ``notebooks/ja/NN_name.ipynb`` without outputs (``make notebooks`` runs them);
it stops with the list of English texts that have no translation yet.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from colab import BADGE, badge
from normalize_notebooks import dumps, normalize

ROOT = Path(__file__).resolve().parents[1]
JA = ROOT / "notebooks" / "ja"


def translate(english: dict, table: dict, target: Path) -> tuple[dict, list[str]]:
    """The Japanese notebook (no outputs) and the English markdown cells lacking a translation.

    The Colab badge is pointed at ``target``, the Japanese lesson's own path.
    """
    notebook = json.loads(json.dumps(english))
    missing = []
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            if source not in table["markdown"]:
                missing.append(source)
            translated = BADGE.sub(lambda _: badge(target), table["markdown"].get(source, source))
            cell["source"] = translated.splitlines(keepends=True)
        elif cell["cell_type"] == "code":
            for fragment in sorted(table["code"], key=len, reverse=True):  # longest first
                source = source.replace(fragment, table["code"][fragment])
            cell["source"] = source.splitlines(keepends=True)
            cell["outputs"], cell["execution_count"] = [], None
    return normalize(notebook), missing


def _sources(path: Path) -> list[list[str]] | None:
    """Cell sources of a committed notebook (None if it does not exist)."""
    if not path.exists():
        return None
    return [cell["source"] for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]]


def main(argv: list[str] | None = None) -> int:
    """Write the Japanese twin of every English lesson that has a translation file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("lessons", nargs="*", help="lesson file names; default: all with a translation")
    parser.add_argument("--check", action="store_true", help="only report Japanese lessons whose sources drifted")
    args = parser.parse_args(argv)
    tables = sorted((JA / "translations").glob("*.json"))
    status = 0
    for table_path in tables:
        name = table_path.stem + ".ipynb"
        if args.lessons and name not in args.lessons:
            continue
        english = json.loads((ROOT / "notebooks" / name).read_text(encoding="utf-8"))
        notebook, missing = translate(english, json.loads(table_path.read_text(encoding="utf-8")), JA / name)
        for text in missing:
            print(f"{name}: no translation for markdown cell:\n{text[:300]}\n", file=sys.stderr)
            status = 1
        if args.check:
            if _sources(JA / name) != [c["source"] for c in notebook["cells"]]:
                print(f"stale: notebooks/ja/{name} (run scripts/translate.py, then make notebooks)")
                status = 1
            continue
        (JA / name).write_text(dumps(notebook), encoding="utf-8")
        print(f"wrote notebooks/ja/{name}")
    return status


if __name__ == "__main__":
    sys.exit(main())
