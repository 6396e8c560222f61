"""Make the learner's copy of every lesson from its one source, the solutions notebook.

A lesson (``notebooks/NN_name.ipynb``, committed with outputs and tested by nbval) is
the solutions copy. In its exercise cells the answer sits between
``### BEGIN SOLUTION`` and ``### END SOLUTION``, after a placeholder line such as
``my_tokenizer = None``. The learner's copy (``notebooks/exercises/NN_name.ipynb``)
drops those lines and the outputs from the first exercise on, so each check starts
out failing with its hint. `python scripts/exercises.py` writes the copies;
``--check`` reports stale ones (tests/test_exercises.py runs it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from colab import BADGE, badge
from normalize_notebooks import dumps, normalize

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = re.compile(r"^[ \t]*### BEGIN SOLUTION.*?^[ \t]*### END SOLUTION[^\n]*\n?", re.S | re.M)
NOTE = {
    "en": "> **Your copy.** Fill in each exercise cell (replace the `None`), then run the check below it. "
          "Solutions: [{name}](../{name}).",
    "ja": "> **演習用コピー**: 各演習セルの `None` を自分の答えに置き換え、その下のチェックを実行してください。"
          "解答: [{name}](../{name})",
}


def lessons() -> list[Path]:
    """Every solutions notebook: ``notebooks/NN_*.ipynb`` and ``notebooks/ja/NN_*.ipynb``."""
    return sorted([*(ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"),
                   *(ROOT / "notebooks" / "ja").glob("[0-9][0-9]_*.ipynb")])


def learner_path(lesson: Path) -> Path:
    """Where the learner's copy of ``lesson`` lives."""
    return lesson.parent / "exercises" / lesson.name


def learner_copy(lesson: Path) -> dict:
    """The learner's copy of one solutions notebook, as a normalized notebook dict."""
    notebook = json.loads(lesson.read_text(encoding="utf-8"))
    cells = notebook["cells"]
    first = next((i for i, c in enumerate(cells) if SOLUTION.search("".join(c["source"]))), None)
    if first is None:
        raise SystemExit(f"{lesson}: no ### BEGIN SOLUTION block: every lesson from 01 on has exercises")
    for cell in cells[first:]:
        if cell["cell_type"] == "code":
            cell["source"] = SOLUTION.sub("", "".join(cell["source"])).splitlines(keepends=True)
            cell["outputs"], cell["execution_count"] = [], None
    language = "ja" if lesson.parent.name == "ja" else "en"
    intro = BADGE.sub(lambda _: badge(learner_path(lesson)), "".join(cells[0]["source"]))
    cells[0]["source"] = (intro.rstrip("\n") + "\n\n" + NOTE[language].format(name=lesson.name)).splitlines(keepends=True)
    return normalize(notebook)


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, verify) the learner's copy of every lesson that has exercises."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = []
    for lesson in lessons():
        if lesson.name.startswith("00_"):
            continue  # the setup lesson has no exercises
        target, text = learner_path(lesson), dumps(learner_copy(lesson))
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            stale.append(target)
            if not args.check:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'}: {path.relative_to(ROOT)}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
