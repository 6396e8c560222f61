"""Write every lesson's "Open in Colab" badge, its Colab install cell and the README tables.

All of them come from one setting, ``[tool.llmcourse]`` in pyproject.toml
(repository URL and branch or tag), and the pins in requirements.lock.
`python scripts/colab.py` rewrites them; `--check` reports what is stale
(tests/test_colab.py runs it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

from normalize_notebooks import dumps

ROOT = Path(__file__).resolve().parents[1]
PINNED = ("transformers", "bitsandbytes", "accelerate", "gguf", "matplotlib-fontja")
BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
INSTALL_MARK = "# Runs only on Colab"
README_TABLES = {"README.md": "notebooks", "README.ja.md": "notebooks/ja"}


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


def install_cell() -> str:
    """Source of the Colab-only install cell: this package at the ref, plus the tested pins."""
    repository, ref = setting()
    locked = dict(line.split("==", 1) for line in (ROOT / "requirements.lock").read_text().splitlines()
                  if "==" in line and not line.startswith("#"))
    pins = " ".join(f'"{name}=={locked[name]}"' for name in PINNED)
    return (f"{INSTALL_MARK}: install the course package and its pinned stack.\n"
            "import sys\n"
            'if "google.colab" in sys.modules:\n'
            f'    %pip install -q "llmcourse @ git+{repository}@{ref}" {pins}')


def update_notebook(path: Path) -> str:
    """Return the notebook's text with its badge and install cell regenerated."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    first = "".join(notebook["cells"][0]["source"])
    if not BADGE.search(first):
        raise SystemExit(f"{path}: the first cell has no Open In Colab badge to update")
    notebook["cells"][0]["source"] = BADGE.sub(lambda _: badge(path), first).splitlines(keepends=True)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and "".join(cell["source"]).startswith(INSTALL_MARK):
            cell["source"] = install_cell().splitlines(keepends=True)
    return dumps(notebook)


def lessons_table(folder: str) -> str:
    """Markdown table of the lessons in ``folder``: number, title, Colab badge."""
    rows = ["| # | Lesson | Open |", "|---|---|---|"]
    for path in sorted((ROOT / folder).glob("[0-9][0-9]_*.ipynb")):
        title = "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"]).splitlines()[0]
        number, _, name = title.lstrip("# ").partition("·")
        rows.append(f"| {number.strip()} | [{name.strip()}]({folder}/{path.name}) | {badge(path)} |")
    return "\n".join(rows)


def update_readme(path: Path, folder: str) -> str:
    """Return the README's text with the block between the lessons markers regenerated."""
    text = path.read_text(encoding="utf-8")
    block = f"<!-- lessons:start -->\n{lessons_table(folder)}\n<!-- lessons:end -->"
    return re.sub(r"<!-- lessons:start -->.*?<!-- lessons:end -->", lambda _: block, text, flags=re.S)


def main(argv: list[str] | None = None) -> int:
    """Regenerate (or with --check, verify) badges, install cells and README tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    targets = {p: update_notebook(p) for p in sorted((ROOT / "notebooks").rglob("[0-9][0-9]_*.ipynb"))
               if ".ipynb_checkpoints" not in p.parts}
    for readme, folder in README_TABLES.items():
        if (ROOT / readme).exists():
            targets[ROOT / readme] = update_readme(ROOT / readme, folder)
    stale = [path for path, text in targets.items() if path.read_text(encoding="utf-8") != text]
    for path in stale:
        print(f"{'stale' if args.check else 'updated'}: {path.relative_to(ROOT)}")
        if not args.check:
            path.write_text(targets[path], encoding="utf-8")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
