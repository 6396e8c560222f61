"""Every writer in scripts/ regenerates through one path: `--check` names stale files and exits 1.

The end-to-end checks run on a temporary copy of the repository (scripts, notebooks and
the files they read), never on the repository's own files.
"""

from __future__ import annotations

import doctest
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import regen

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("scripts", "notebooks", "pyproject.toml", "requirements.lock", "README.md", "README.ja.md")


def test_the_doctests_of_the_shared_path_pass():
    assert doctest.testmod(regen, optionflags=doctest.ELLIPSIS).failed == 0


def test_check_names_the_stale_file_with_a_diff_and_writes_nothing(tmp_path, capsys):
    fresh, stale = tmp_path / "fresh.txt", tmp_path / "stale.txt"
    fresh.write_text("same\n")
    stale.write_text("old line\n")
    status = regen.regenerate({fresh: "same\n", stale: "new line\n"}, check=True, fix="make it")
    shown = capsys.readouterr().out
    assert status == 1
    assert f"stale: {stale}" in shown and "fresh.txt" not in shown
    assert "-old line\n+new line" in shown and "run `make it`" in shown
    assert stale.read_text() == "old line\n"


def test_without_check_only_changed_files_are_written(tmp_path, capsys):
    fresh, stale, missing = tmp_path / "fresh.txt", tmp_path / "stale.txt", tmp_path / "sub" / "new.txt"
    fresh.write_text("same\n")
    stale.write_text("old\n")
    assert regen.regenerate({fresh: "same\n", stale: "new\n", missing: "made\n"}, check=False, fix="-") == 0
    assert capsys.readouterr().out.splitlines() == [f"wrote: {stale}", f"wrote: {missing}"]
    assert stale.read_text() == "new\n" and missing.read_text() == "made\n"


def test_a_long_diff_is_cut_short():
    diff = regen.short_diff("".join(f"{i}\n" for i in range(100)), "", limit=5)
    assert len(diff.splitlines()) == 6 and diff.endswith("(96 more diff lines)")


def install_cell(notebook: dict) -> dict:
    return next(c for c in notebook["cells"] if "colab-install" in c["metadata"].get("tags", []))


def hand_edit(notebook: dict) -> None:
    notebook["cells"][0]["source"].append("\nA hand edit.")


def loosen_the_pins(notebook: dict) -> None:
    install_cell(notebook)["source"] = [line.replace("==", ">=") for line in install_cell(notebook)["source"]]


def add_volatile_metadata(notebook: dict) -> None:
    notebook["cells"][0]["metadata"]["collapsed"] = True


STALE = {  # writer: (its arguments, the generated file made stale, how)
    "colab": ([], "notebooks/exercises/01_loading.ipynb", loosen_the_pins),
    "exercises": ([], "notebooks/ja/exercises/02_tokenizing.ipynb", hand_edit),
    "translate": ([], "notebooks/ja/01_loading.ipynb", hand_edit),
    "normalize_notebooks": (["notebooks"], "notebooks/03_generating.ipynb", add_volatile_metadata),
}


@pytest.mark.parametrize("writer", STALE)
def test_check_fails_and_names_a_stale_generated_file(writer, tmp_path):
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        elif source.exists():
            shutil.copy2(source, tmp_path / name)
    arguments, stale, change = STALE[writer]
    notebook = json.loads((tmp_path / stale).read_text(encoding="utf-8"))
    change(notebook)
    before = json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    (tmp_path / stale).write_text(before, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", f"scripts.{writer}", "--check", *arguments], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert [line for line in done.stdout.splitlines() if line.startswith("stale: ")] == [f"stale: {stale}"]
    assert (tmp_path / stale).read_text(encoding="utf-8") == before, "--check must not write"
