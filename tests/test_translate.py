"""scripts/translate.py refuses what would let English back into a Japanese lesson, and never changes code.

The end-to-end checks run `python -m scripts.translate --check` on a temporary copy holding one lesson
(its English notebook, its Japanese twin and its table), never on the repository's own files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.translate import keep_outputs, load_table, translate, translate_code

ROOT = Path(__file__).resolve().parents[1]
LESSON = "03_generating"
COPIED = ("scripts", "pyproject.toml", "requirements.lock", f"notebooks/{LESSON}.ipynb",
          f"notebooks/ja/{LESSON}.ipynb", f"notebooks/ja/translations/{LESSON}.json",
          "notebooks/ja/translations/shared.json")


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for name in COPIED:
        source, target = ROOT / name, tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, target)
    return tmp_path


def run(root: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scripts.translate", *arguments, f"{LESSON}.ipynb"], cwd=root,
                          capture_output=True, text=True, timeout=120)


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def first_prose(notebook: dict) -> dict:
    """The first markdown cell after the title cell."""
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "markdown"][1]


def test_the_copy_is_clean(copy):
    done = run(copy, "--check")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_changed_english_cell_shows_the_diff_since_its_translation(copy):
    english = copy / f"notebooks/{LESSON}.ipynb"
    edit_json(english, lambda nb: first_prose(nb)["source"].append(" A sentence added later."))
    done = run(copy, "--check")
    assert done.returncode == 1
    assert "changed since it was translated" in done.stderr
    assert "+" in done.stderr and "A sentence added later." in done.stderr, done.stderr
    assert "no translation" not in done.stderr and "matches no cell" not in done.stderr


def test_a_missing_translation_is_named_and_nothing_is_written(copy):
    table, japanese = copy / f"notebooks/ja/translations/{LESSON}.json", copy / f"notebooks/ja/{LESSON}.ipynb"
    before = japanese.read_text(encoding="utf-8")
    english = json.loads((copy / f"notebooks/{LESSON}.ipynb").read_text(encoding="utf-8"))
    dropped = "".join(first_prose(english)["source"])
    edit_json(table, lambda t: t.update(markdown=[e for e in t["markdown"] if e["en"] != dropped]))
    for arguments in (["--check"], []):
        done = run(copy, *arguments)
        assert done.returncode == 1
        assert "no translation for this markdown cell" in done.stderr and dropped.splitlines()[0] in done.stderr
    assert japanese.read_text(encoding="utf-8") == before, "a lesson with a missing translation must not be written"


@pytest.mark.parametrize("kind, key", [("comments", "# a comment no lesson has"), ("strings", "no lesson says this")])
def test_an_entry_that_matches_nothing_is_named(copy, kind, key):
    edit_json(copy / f"notebooks/ja/translations/{LESSON}.json", lambda t: t[kind].update({key: "使われない"}))
    done = run(copy, "--check")
    assert done.returncode == 1
    assert "matches nothing" in done.stderr and repr(key) in done.stderr


def test_a_markdown_entry_that_matches_no_cell_is_named(copy):
    entry = {"en": "A cell the lesson no longer has, about something else entirely.", "ja": "もうないセル。"}
    edit_json(copy / f"notebooks/ja/translations/{LESSON}.json", lambda t: t["markdown"].append(entry))
    done = run(copy, "--check")
    assert done.returncode == 1 and "matches no cell" in done.stderr


def code_table(**strings: str) -> dict:
    return {"comments": {"# say it": "# 言う"}, "strings": strings}


def test_only_comments_and_whole_string_literals_are_translated():
    used = set()
    source = 'print("rest of it", "rest")  # say it\nx = "the rest"'
    translated, problems = translate_code(source, code_table(**{"rest of it": "残り"}), set(), used)
    assert translated == 'print("残り", "rest")  # 言う\nx = "the rest"'
    assert not problems and used == {("comments", "# say it"), ("strings", "rest of it")}


def test_a_string_the_code_compares_is_not_translated():
    notebook = {"cells": [{"cell_type": "code", "id": "c", "source": 'label = "rest"\nif "rest" in label:\n    print("rest")',
                           "outputs": [], "execution_count": None, "metadata": {}}]}
    table = {**load_table(None), "strings": {"rest": "残り"}}
    translated, problems, _ = translate(notebook, table)
    assert "".join(translated["cells"][0]["source"]) == 'label = "rest"\nif "rest" in label:\n    print("rest")'
    assert problems == ["string entry matches nothing in the English lesson (the code compares it, so it stays "
                        "English): 'rest'"]


def test_an_f_string_keeps_its_fields_in_any_order():
    source = 'print(f"{n} new tokens in {s:.1f} s")'
    good = code_table(**{"{n} new tokens in {s:.1f} s": "{s:.1f} 秒で新しいトークン {n} 個"})
    assert translate_code(source, good, set(), set()) == ('print(f"{s:.1f} 秒で新しいトークン {n} 個")', [])
    bad = code_table(**{"{n} new tokens in {s:.1f} s": "新しいトークン {n + 1} 個"})
    assert "must keep the same {fields}" in translate_code(source, bad, set(), set())[1][0]


def test_a_translation_cannot_end_the_literal():
    problems = translate_code('x = "done"', code_table(done='終わり" + "'), set(), set())[1]
    assert problems and "not one string literal" in problems[0]


def test_magic_lines_and_the_language_switch():
    source = 'import sys\n%pip install -q "a>=1"  # say it\nset_language("en")  # say it'
    translated, problems = translate_code(source, code_table(), set(), set())
    assert translated == 'import sys\n%pip install -q "a>=1"  # say it\nset_language("ja")  # 言う'
    assert translate_code("%%bash\necho hi  # say it", code_table(), set(), set())[0] == "%%bash\necho hi  # say it"


def test_outputs_survive_a_comment_change_only(tmp_path):
    def notebook(source: str, outputs: list) -> dict:
        return {"cells": [{"cell_type": "code", "source": source, "metadata": {}, "outputs": outputs,
                           "execution_count": 1 if outputs else None}]}

    committed = tmp_path / "lesson.ipynb"
    shown = [{"output_type": "stream", "name": "stdout", "text": "探す場所：x\n"}]
    committed.write_text(json.dumps(notebook('print("探す場所：", x)  # 古いコメント', shown)), encoding="utf-8")
    comment_only = keep_outputs(notebook('print("探す場所：", x)  # 新しいコメント', []), committed)
    assert comment_only["cells"][0]["outputs"] == shown
    string_changed = keep_outputs(notebook('print("場所：", x)  # 古いコメント', []), committed)
    assert string_changed["cells"][0]["outputs"] == []


def test_the_english_wrapping_never_reaches_a_japanese_line():
    """A table entry typed with the English line breaks comes out with its paragraphs on one line (issue 28)."""
    english = {"cells": [{"cell_type": "markdown", "id": "m", "source": "Pick a token,\nthen append it (`generate`)."}],
               "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    table = {"markdown": [{"en": "Pick a token,\nthen append it (`generate`).",
                           "ja": "トークンを選び、\n付け足します（`generate`\n）。\n\n- 一つ目の\n  項目"}],
             "comments": {}, "strings": {}, "phrases": {}}
    notebook, problems, _ = translate(english, table)
    assert not problems
    assert "".join(notebook["cells"][0]["source"]) == "トークンを選び、付け足します（`generate`）。\n\n- 一つ目の項目"
