"""Write every lesson's "Open in Colab" badge, its Colab install cell and the README tables.

All of them come from one setting, ``[tool.llmcourse]`` in pyproject.toml
(repository URL and branch or tag), and the pins in requirements.lock.
In each notebook the badge sits in the cell tagged ``colab-badge`` (the title cell)
and the install cell is the one tagged ``colab-install``; under ``notebooks/ja`` its
comments and messages are Japanese (`INSTALL_WORDS`, said with `llmcourse.i18n.say`).
`python -m scripts.colab` rewrites them; `--check` reports what is stale
(tests/test_colab.py runs it).
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

from llmcourse.i18n import in_language, say

from .normalize_notebooks import dumps, tagged_cell
from .regen import ROOT, parser, regenerate

PINNED = ("transformers", "bitsandbytes", "accelerate", "gguf", "matplotlib-fontja")
BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
BADGE_TAG = "colab-badge"  # the (title) cell that holds the badge
INSTALL_TAG = "colab-install"  # the Colab-only install cell
README_TABLES = {"README.md": "notebooks", "README.ja.md": "notebooks/ja"}
EXTRAS = {"09_serving": "serving"}  # lessons that need one of pyproject's optional extras on Colab
INSTALL_WORDS = {  # what the install cell says: `say`'s arguments, one per language of the notebooks
    "purpose": {
        "en": "Runs only on Colab: install the course package and its pinned stack, then fetch the offline model.",
        "ja": "Colab でだけ実行されます：コースのパッケージと、バージョンを固定した依存パッケージをインストールし、"
              "オフラインモデルを取得します。",
    },
    "check": {
        "en": "stop unless this session runs what was pinned",
        "ja": "固定したバージョンがこのセッションで動いていなければ止める",
    },
    "not_installed": {
        "en": "pip did not install {name}=={pin} (found {version(name)}): see its messages above.",
        "ja": "pip が {name}=={pin} をインストールしませんでした（見つかったのは {version(name)}）。"
              "上の pip のメッセージを見てください。",
    },
    "in_use": {
        "en": "{name} {running} is still in use: it was imported before this cell installed {pin}. "
              "Choose Runtime > Restart session, then run this cell again.",
        "ja": "{name} {running} がまだ使われています。このセルが {pin} をインストールする前にインポートされました。"
              "「ランタイム > セッションを再起動」を選んでから、このセルをもう一度実行してください。",
    },
    "fetch": {
        "en": "download and convert the offline model: once per runtime (lesson 00)",
        "ja": "オフラインモデルをダウンロードして変換する：ランタイムごとに一度（レッスン 00）",
    },
}


def setting() -> tuple[str, str]:
    """(repository URL, ref) from pyproject.toml's [tool.llmcourse]."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["llmcourse"]
    return config["repository"].rstrip("/"), config["ref"]


def badge(notebook: Path) -> str:
    """The Markdown badge opening ``notebook`` (a path inside the repo) on Colab."""
    repository, ref = setting()
    slug = repository.removeprefix("https://github.com/")
    link = f"https://colab.research.google.com/github/{slug}/blob/{ref}/{notebook.relative_to(ROOT).as_posix()}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({link})"


def set_badge(notebook: dict, path: Path, target: Path) -> dict:
    """Point the badge in ``notebook``'s badge cell (read from ``path``) at ``target``; return that cell."""
    cell = tagged_cell(notebook, BADGE_TAG, path)
    source = "".join(cell["source"])
    if not BADGE.search(source):
        raise SystemExit(f"{path}: the cell tagged {BADGE_TAG!r} has no Open In Colab badge to update")
    cell["source"] = BADGE.sub(lambda _: badge(target), source).splitlines(keepends=True)
    return cell


def notebook_language(path: Path) -> str:
    """"ja" for a notebook under notebooks/ja (lessons and their exercise copies), else "en".

    >>> notebook_language(ROOT / "notebooks/ja/exercises/00_setup.ipynb"), notebook_language(ROOT / "notebooks/00_setup.ipynb")
    ('ja', 'en')
    """
    return "ja" if path.relative_to(ROOT / "notebooks").parts[0] == "ja" else "en"


def lesson_extras(path: Path) -> str:
    """The pyproject extra a lesson needs on Colab ("" for none): lesson 09 starts `transformers serve`.

    >>> lesson_extras(ROOT / "notebooks/ja/09_serving.ipynb"), lesson_extras(ROOT / "notebooks/03_generating.ipynb")
    ('serving', '')
    """
    return EXTRAS.get(path.stem, "")


def install_cell(language: str = "en", extras: str = "") -> str:
    """Source of the Colab-only install cell: this package at the ref and the tested pins, checked; the model.

    Checked because `%pip` never stops a notebook: when pip fails, or when a pinned package
    was imported before it was replaced (Python keeps the module it already has until the
    session restarts), the cell stops with what to do instead of letting the lesson fail later.
    A Colab runtime starts empty, so the cell also fetches the offline model (`make lab` does
    that on a course machine). tests/colab runs it on Colab-like runtimes (`make test-colab`).
    Its comments and error messages are in ``language`` ("en" or "ja"); the code is the same.
    ``extras`` names the package's optional extras to install with it (`lesson_extras`).
    """
    with in_language(language):
        words = {key: say(**words) for key, words in INSTALL_WORDS.items()}
    repository, ref = setting()
    package = f"llmcourse[{extras}]" if extras else "llmcourse"
    locked = dict(line.split("==", 1) for line in (ROOT / "requirements.lock").read_text().splitlines()
                  if "==" in line and not line.startswith("#"))
    pins = " ".join(f'"{name}=={locked[name]}"' for name in PINNED)
    modules = ", ".join(f'"{name.replace("-", "_")}": "{locked[name]}"' for name in PINNED)
    return (f"# {words['purpose']}\n"
            "import sys\n"
            'if "google.colab" in sys.modules:\n'
            f'    %pip install -q "{package} @ git+{repository}@{ref}" {pins}\n'
            "    from importlib.metadata import version\n"
            f"    pinned = {{{modules}}}\n"
            f"    for name, pin in pinned.items():  # {words['check']}\n"
            '        running = getattr(sys.modules.get(name), "__version__", version(name))\n'
            "        if version(name) != pin:\n"
            f'            raise RuntimeError(f"{words["not_installed"]}")\n'
            "        if running != pin:\n"
            f'            raise RuntimeError(f"{words["in_use"]}")\n'
            "    from llmcourse import fetch\n"
            f"    fetch()  # {words['fetch']}")


def update_notebook(path: Path) -> str:
    """Return the notebook's text with its badge and install cell regenerated."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    set_badge(notebook, path, path)
    cell = install_cell(notebook_language(path), lesson_extras(path))
    tagged_cell(notebook, INSTALL_TAG, path)["source"] = cell.splitlines(keepends=True)
    return dumps(notebook)


def lessons_table(folder: str) -> str:
    """Markdown table of the lessons in ``folder``: number, the learner's copy (with its Colab badge), the solutions.

    A learner starts from the copy with the exercises to do (``exercises/``); the lesson with every
    answer filled in is one click away and says what it is.
    """
    with in_language("ja" if folder.endswith("/ja") else "en"):
        header = say(en="| # | Lesson: your copy, exercises to do | Open in Colab | Solutions (answers filled in) |",
                     ja="| # | レッスン（演習用コピー） | Colab で開く | 解答（答えを記入済み） |")
        answers = say(en="solutions", ja="解答")
    rows = [header, "|---|---|---|---|"]
    for path in sorted((ROOT / folder).glob("[0-9][0-9]_*.ipynb")):
        title = "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"]).splitlines()[0]
        number, _, name = title.lstrip("# ").partition("·")
        copy = path.parent / "exercises" / path.name
        if not copy.exists():  # lesson 00: nothing to solve, the lesson is the learner's copy
            rows.append(f"| {number.strip()} | [{name.strip()}]({folder}/{path.name}) | {badge(path)} | — |")
            continue
        rows.append(f"| {number.strip()} | [{name.strip()}]({folder}/exercises/{path.name}) | {badge(copy)} | "
                    f"[{answers}]({folder}/{path.name}) |")
    return "\n".join(rows)


def update_readme(path: Path, folder: str) -> str:
    """Return the README's text with the block between the lessons markers regenerated."""
    text = path.read_text(encoding="utf-8")
    block = f"<!-- lessons:start -->\n{lessons_table(folder)}\n<!-- lessons:end -->"
    return re.sub(r"<!-- lessons:start -->.*?<!-- lessons:end -->", lambda _: block, text, flags=re.S)


def main(argv: list[str] | None = None) -> int:
    """Regenerate (or with --check, verify) badges, install cells and README tables."""
    args = parser(__doc__).parse_args(argv)
    targets = {p: update_notebook(p) for p in sorted((ROOT / "notebooks").rglob("[0-9][0-9]_*.ipynb"))
               if ".ipynb_checkpoints" not in p.parts}
    for readme, folder in README_TABLES.items():
        if (ROOT / readme).exists():
            targets[ROOT / readme] = update_readme(ROOT / readme, folder)
    return regenerate(targets, args.check, fix="make colab")


if __name__ == "__main__":
    sys.exit(main())
