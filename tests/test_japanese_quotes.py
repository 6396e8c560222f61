"""Japanese text that names an output's words names them as the Japanese output shows them (issue 28).

A lesson's prose quotes a table column, a doctor line or an error message in code spans or 「」; in a
Japanese lesson that quote must be what the Japanese output prints, not the English label it replaced
(「`hub` の行」 where the Japanese doctor prints 「ハブ」). And README.ja.md and instructor/ja quote the
course's messages in Japanese: an English message of the library (a ``say(en=...)`` text) may stand there
only next to its Japanese twin (for searching logs).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# a code span, a 「」 quote, or a bare label named as a line or a column (「hub の行」)
QUOTED = re.compile(r"`([^`\n]{2,40})`|「([^」\n]{2,40})」|(?<![\w`])([A-Za-z][\w-]*) ?の(?:行|列)")
JAPANESE = re.compile(r"[ぁ-んァ-ヶ一-龯]")


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def output_text(notebook: list[dict]) -> str:
    """What the code cells printed: text/plain results and streams."""
    parts = []
    for cell in notebook:
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            parts.append("".join(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def code_text(notebook: list[dict]) -> str:
    return "\n".join("".join(cell["source"]) for cell in notebook if cell["cell_type"] == "code")


def english_labels(prose: str, english_output: str, japanese_output: str, code: str) -> list[str]:
    """Quotes in Japanese prose of words the English output prints and the Japanese output does not."""
    found = []
    for match in QUOTED.finditer(prose):
        quote = match.group(1) or match.group(2) or match.group(3)
        label = match.group(3) or re.match(r" ?の(?:行|列)", prose[match.end():])  # named as a line: not code
        if (not JAPANESE.search(quote) and re.search(r"[A-Za-z]", quote) and shows(english_output, quote)
                and not shows(japanese_output, quote) and (label or not shows(code, quote))):
            found.append(quote)
    return found


def shows(text: str, words: str) -> bool:
    """``words`` in ``text`` as words (``hub`` is not in ``github``)."""
    return re.search(rf"(?<![\w]){re.escape(words)}(?![\w])", text) is not None


@pytest.mark.parametrize("english", LESSONS, ids=lambda path: path.stem)
def test_japanese_prose_quotes_the_japanese_output(english):
    japanese_path = ROOT / "notebooks" / "ja" / english.name
    if not japanese_path.exists():
        pytest.skip("no Japanese twin")
    english_cells, japanese = cells(english), cells(japanese_path)
    english_output, japanese_output, code = output_text(english_cells), output_text(japanese), code_text(japanese)
    problems = [f"{cell['id']}: quotes {quote!r}, which only the English output shows"
                for cell in japanese if cell["cell_type"] == "markdown"
                for quote in english_labels("".join(cell["source"]), english_output, japanese_output, code)]
    assert not problems, "\n".join(problems)


def say_pairs() -> list[tuple[str, str]]:
    """(English, Japanese) constant text of every ``say(en=..., ja=...)`` of the library, fields left out."""
    pairs = []
    for path in sorted((ROOT / "llmcourse").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                words = {k.arg: longest_constant(k.value) for k in node.keywords if k.arg in ("en", "ja")}
                if words.get("en") and words.get("ja"):
                    pairs.append((words["en"], words["ja"]))
    return pairs


def longest_constant(node: ast.AST) -> str:
    """The longest constant piece of a string or f-string expression."""
    pieces = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return max(pieces, key=len, default="")


def english_messages(text: str, pairs: list[tuple[str, str]]) -> list[str]:
    """English course messages quoted in a Japanese document without their Japanese twin."""
    return [en for en, ja in pairs if len(en) >= 20 and en in text and ja[:12] not in text]


def test_japanese_docs_quote_the_japanese_messages():
    pairs = say_pairs()
    docs = [ROOT / "README.ja.md", *sorted((ROOT / "instructor" / "ja").glob("*.md"))]
    problems = [f"{doc.relative_to(ROOT)}: quotes the English message {en!r}; quote its Japanese"
                for doc in docs for en in english_messages(doc.read_text(encoding="utf-8"), pairs)]
    assert not problems, "\n".join(problems)


def test_each_quote_check_can_fail():
    """Planted samples: an English label the Japanese output replaced, an English message alone in a doc."""
    assert english_labels("`hub` の行を見ます。", "hub: reachable", "ハブ：到達できます", "doctor()") == ["hub"]
    assert english_labels("「ハブ」の行を見ます。", "hub: reachable", "ハブ：到達できます", "doctor()") == []
    assert english_labels("`doctor()` を呼びます。", "doctor() ok", "doctor() 完了", "doctor()") == []
    assert english_labels("`model` の行が ✘ になります。", "✘ model  hub", "✘ モデル  ハブ", "model = 1") == ["model"]
    assert english_labels("hub の行の `!` は問題ありません。", "! hub  offline", "! ハブ  オフライン", "github.com") == ["hub"]
    pairs = [("The model is ready to use offline.", "モデルはオフラインで使えます。")]
    assert english_messages("表示：The model is ready to use offline.", pairs)
    assert not english_messages("表示：モデルはオフラインで使えます。（The model is ready to use offline.）", pairs)
