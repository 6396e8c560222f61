"""Make the learner's copy of every lesson from its one source, the solutions notebook.

A lesson (``notebooks/NN_name.ipynb``, committed with outputs and tested by nbval) is
the solutions copy. In its exercise cells the answer sits between
``### BEGIN SOLUTION`` and ``### END SOLUTION``, after a placeholder line such as
``my_tokenizer = None``. The learner's copy (``notebooks/exercises/NN_name.ipynb``)
drops those lines and the outputs from the first exercise on, so each check starts
out failing with its hint, and its badge (cell tagged ``colab-badge``) points at the copy.
`python -m scripts.exercises` writes the copies; ``--check`` reports stale ones
(tests/test_exercises.py runs it).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from llmcourse.i18n import in_language, say

from .colab import set_badge
from .normalize_notebooks import dumps, normalize
from .regen import ROOT, parser, regenerate

SOLUTION = re.compile(r"^[ \t]*### BEGIN SOLUTION.*?^[ \t]*### END SOLUTION[^\n]*\n?", re.S | re.M)
NOTE = {  # the note atop a learner's copy: `say`'s arguments
    "en": "> **Your copy.** Fill in each exercise cell (replace the `None`), then run the check below it. "
          "Solutions: [{name}](../{name}).",
    "ja": "> **演習用コピー**：各演習セルの `None` を自分の答えに置き換え、その下のチェックを実行してください。"
          "解答：[{name}](../{name})",
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
    intro = set_badge(notebook, lesson, learner_path(lesson))
    with in_language(language):
        note = say(**NOTE).format(name=lesson.name)
    intro["source"] = ("".join(intro["source"]).rstrip("\n") + "\n\n" + note).splitlines(keepends=True)
    return normalize(notebook)


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, verify) the learner's copy of every lesson that has exercises."""
    args = parser(__doc__).parse_args(argv)
    targets = {learner_path(lesson): dumps(learner_copy(lesson)) for lesson in lessons()
               if not lesson.name.startswith("00_")}  # the setup lesson has no exercises
    return regenerate(targets, args.check, fix="make exercises")


if __name__ == "__main__":
    sys.exit(main())
