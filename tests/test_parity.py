"""The Japanese track cannot drift: its code cells equal the English ones but for display strings.

Two code cells match when their Python tokens are equal after every string literal
and every comment is replaced by a marker: translated prose, comments, plot titles and
messages may differ; names, calls, numbers and the structure may not.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGLISH = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
STRING_TYPES = {getattr(tokenize, name) for name in ("STRING", "FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
                if hasattr(tokenize, name)}  # f-strings are one STRING token before Python 3.12


def code_shape(source: str) -> list[str]:
    """Token stream of a cell with strings, f-string parts and comments masked.

    IPython magics (``%pip``) are compared verbatim as lines.
    """
    lines = [line if not line.lstrip().startswith(("%", "!")) else f"MAGIC({line.strip()!r})"
             for line in source.splitlines()]
    shape = []
    for token in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
        if token.type in STRING_TYPES:
            shape.append("STR")
        elif token.type not in {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER}:
            shape.append(token.string)
    return shape


def code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def test_every_english_lesson_has_a_japanese_twin():
    assert ENGLISH, "no lessons found"
    missing = [p.name for p in ENGLISH if not (ROOT / "notebooks" / "ja" / p.name).exists()]
    assert not missing, f"no Japanese twin for {missing}"


def test_masking_ignores_strings_and_comments_only():
    assert code_shape('print("hello")  # say it') == code_shape("print('こんにちは')  # 言う")
    assert code_shape('x = f"{a:.2f} ok"') == code_shape('x = f"{a:.2f} です"')
    assert code_shape("print(x)") != code_shape("print(y)")


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.name)
def test_code_cells_match_apart_from_display_strings(english):
    japanese = ROOT / "notebooks" / "ja" / english.name
    if not japanese.exists():
        pytest.fail(f"missing Japanese twin {japanese.relative_to(ROOT)}")
    en_cells, ja_cells = code_cells(english), code_cells(japanese)
    assert len(en_cells) == len(ja_cells), "the two tracks have different numbers of code cells"
    for number, (en, ja) in enumerate(zip(en_cells, ja_cells, strict=True), start=1):
        assert code_shape(en) == code_shape(ja), f"code cell {number} differs beyond strings:\n{en}\n---\n{ja}"


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.name)
def test_japanese_twin_sets_the_language(english):
    japanese = ROOT / "notebooks" / "ja" / english.name
    assert 'set_language("ja")' in "".join(code_cells(japanese)) if japanese.exists() else True
    assert 'set_language("en")' in "".join(code_cells(english))



def test_japanese_lessons_are_built_from_their_translation_files():
    """The committed Japanese lessons are what `python -m scripts.translate` makes (no hand edits, no drift)."""
    tables = {p.stem for p in (ROOT / "notebooks" / "ja" / "translations").glob("*.json")}
    assert tables >= {p.stem for p in ENGLISH}, "every lesson needs notebooks/ja/translations/NN_name.json"
    done = subprocess.run([sys.executable, "-m", "scripts.translate", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
