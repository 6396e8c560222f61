"""Every Japanese text of the course uses one term per idea, Japanese punctuation and one register (issue 16).

``notebooks/ja/glossary.md`` is the glossary: a table ``| English | 採用 | 使わない |``. A rejected variant
(「、」-separated; in backticks, a regular expression) fails wherever it appears, except inside the adopted
term itself (トークナイザ inside トークナイザー). The texts, each checked where it lives:

- ``lessons``: the Japanese lessons and learner copies (``notebooks/ja/*.ipynb``, ``notebooks/ja/exercises``):
  markdown cells outside code spans, code blocks and URLs; in code cells, comments and string literals with Japanese;
- ``library``: every ``ja=`` string of ``llmcourse/`` (the ``ja`` keyword argument of any call: its string
  constants and f-string constant parts): check messages, doctor lines, plot labels, CLI help;
- ``docs``: README.ja.md and instructor/ja/*.md.

The checks: rejected terms; half-width ``:`` ``,`` ``.`` right after Japanese (write 「：」「、」「。」); a bold
label ending in a period or colon (「**使い分け.**」); sentences of prose in the です/ます register; every
exercise asks 「…してください」; every objective of a lesson ends 「…できる」.
``test_each_check_can_fail`` shows each check failing on a bad sample, so none passes vacuously.
"""

from __future__ import annotations

import ast
import json
import re
import tokenize
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.translate import paragraph_breaks, parse_python

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "notebooks" / "ja" / "glossary.md"
JA = "ぁ-んァ-ヶー一-龯々〆〜"
JAPANESE = re.compile(f"[{JA}]")
CLOSING = "）」』】"
HALF_WIDTH = re.compile(rf"[{JA}{CLOSING}][*_]*[:,.](?!\.\.)")
BOLD_LABEL = re.compile(rf"\*\*[^*\n]*[{JA}][^*\n]*?(?:[.:]\*\*|\*\*[.:])")
POLITE = re.compile(r"(?:ます|ません|です|でした|ました|ましょう|ください|でしょう|か)$")
NOUN_LIKE = re.compile(r"(?:など|まで|だけ|ほど|のみ|ずつ|ごと|なし|あり|\d ?つ)$")
EXERCISE = re.compile(r"^\*\*演習 \d+", re.M)
FENCE = re.compile(r"^ *```.*?^ *```[^\n]*$", re.S | re.M)
INLINE_CODE = re.compile(r"``.+?``|`[^`\n]+`")
LINK = re.compile(r"\]\([^)\s]*\)")
URL = re.compile(r"<?https?://[^\s)>]+>?")
COMMENT = re.compile(r"<!--.*?-->", re.S)


@dataclass(frozen=True)
class Term:
    english: str
    use: str
    rejected: tuple[re.Pattern, ...]


@dataclass(frozen=True)
class Text:
    where: str
    text: str
    kind: str  # "prose" (markdown), "code" (a comment or string literal), "message" (a library ja= string)
    role: str = ""  # "title" for a lesson's first cell, "exercise" for markdown cells holding an exercise


def read_glossary(text: str) -> list[Term]:
    """The glossary's rows; a rejected variant in backticks is a regular expression, else literal text."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert rows and [c.strip() for c in rows[0].strip("|").split("|")] == ["English", "採用", "使わない"], \
        "the glossary table's header must be | English | 採用 | 使わない |"
    terms = []
    for row in rows[2:]:
        english, use, rejected = (cell.strip().replace(r"\|", "|") for cell in re.split(r"(?<!\\)\|", row.strip("| ")))
        variants = [m.group(1) or m.group(2).strip() for m in re.finditer(r"`([^`]+)`|([^、`]+)", rejected)]
        patterns = tuple(re.compile(v if f"`{v}`" in rejected else re.escape(v)) for v in variants if v)
        terms.append(Term(english, use, patterns))
    return terms


TERMS = read_glossary(GLOSSARY.read_text(encoding="utf-8"))


def prose(markdown: str) -> str:
    """What a reader reads as sentences: code blocks, code spans, link targets, URLs and HTML comments left out."""
    text = COMMENT.sub(" ", FENCE.sub("\n", markdown))
    return URL.sub("URL", LINK.sub("]", INLINE_CODE.sub("CODE", text)))


def literal_text(token: str) -> str:
    """A string literal's text; an f-string's fields stand as X."""
    node = ast.parse(token, mode="eval").body
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "X" for part in node.values)
    return node.value if isinstance(node.value, str) else ""


def notebook_texts(path: Path) -> list[Text]:
    texts = []
    name = path.relative_to(ROOT).as_posix()
    for index, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
        source, where = "".join(cell["source"]), f"{name} {cell.get('id', index)}"
        if cell["cell_type"] == "markdown":
            role = "title" if "colab-badge" in cell.get("metadata", {}).get("tags", []) else \
                "exercise" if EXERCISE.search(source) else ""
            texts.append(Text(where, source, "prose", role))
        elif cell["cell_type"] == "code" and (parsed := parse_python(source)):
            for token in parsed[0]:
                if token.type == tokenize.COMMENT:
                    texts.append(Text(where, token.string.lstrip("#"), "code"))
                elif token.type == tokenize.STRING and JAPANESE.search(token.string):
                    texts.append(Text(where, literal_text(token.string), "code"))
    return texts


def ja_strings(node: ast.AST) -> list[str]:
    """The string constants of a ``ja=`` value, f-string constant parts included, the code of its fields left out."""
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else []
    if isinstance(node, ast.JoinedStr):
        return ["".join(part.value if isinstance(part, ast.Constant) else "X" for part in node.values)]
    return [text for child in ast.iter_child_nodes(node) for text in ja_strings(child)]


def library_texts() -> list[Text]:
    texts = []
    for path in sorted((ROOT / "llmcourse").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "ja":
                where = f"{path.relative_to(ROOT).as_posix()}:{node.value.lineno}"
                texts += [Text(where, text, "message") for text in ja_strings(node.value)]
    return texts


def doc_texts() -> list[Text]:
    paths = [ROOT / "README.ja.md", *sorted((ROOT / "instructor" / "ja").glob("*.md"))]
    return [Text(p.relative_to(ROOT).as_posix(), p.read_text(encoding="utf-8"), "prose") for p in paths if p.exists()]


SOURCES: dict[str, Callable[[], list[Text]]] = {
    "lessons": lambda: [text for path in sorted([*(ROOT / "notebooks" / "ja").glob("[0-9][0-9]_*.ipynb"),
                                                  *(ROOT / "notebooks" / "ja" / "exercises").glob("*.ipynb")])
                        for text in notebook_texts(path)],
    "library": library_texts,
    "docs": doc_texts,
}


def readable(text: Text) -> str:
    return prose(text.text) if text.kind == "prose" else text.text


def around(text: str, start: int, end: int) -> str:
    return text[max(0, start - 12):end + 12].replace("\n", " ")


# Each check returns its problems, one readable line each.

def rejected_terms(text: Text) -> list[str]:
    body = readable(text)
    problems = []
    for term in TERMS:
        adopted = [m.span() for m in re.finditer(re.escape(term.use), body)]
        for pattern in term.rejected:
            for m in pattern.finditer(body):
                if not any(a <= m.start() and m.end() <= b for a, b in adopted):
                    problems.append(f"{m.group(0)!r} ({term.english}): write {term.use!r}, in "
                                    f"{around(body, m.start(), m.end())!r}")
    return problems


def half_width_punctuation(text: Text) -> list[str]:
    body = readable(text)
    problems = [f"half-width {m.group(0)[-1]!r} after Japanese: {around(body, m.start(), m.end())!r}"
                for m in HALF_WIDTH.finditer(body)]
    if text.kind == "prose":
        problems += [f"a bold label ends in a period or colon (write 「**…**：」): {m.group(0)!r}"
                     for m in BOLD_LABEL.finditer(body)]
    return problems


def sentences(body: str) -> list[str]:
    """The sentences of running text (not headings or tables) that end in 「。」."""
    lines = [line for line in body.splitlines() if not re.match(r"^\s*(?:#|\|)", line)]
    return [s for s in re.split(r"(?<=。)", "\n".join(lines)) if s.endswith("。")]


def plain_register(text: Text) -> list[str]:
    """Sentences ending in a plain form (「…する。」); the objectives (「…できる」) and comments are terse by rule."""
    if text.kind == "code":
        return []
    body = re.sub(r"\*\*([^*\n]+)。\*\*", r"**\1**", readable(text))  # a bold label is not a sentence
    if text.role == "title":
        body = re.sub(r"^\*\*目標\*\*\n(?:(?:- |  ).*\n?)+", "", body, flags=re.M)
    problems = []
    for sentence in sentences(body):
        ending = sentence[:-1].rstrip(" *」』")
        while ending.endswith("）") and "（" in ending:  # a closing aside: what counts is the text before it
            ending = ending[:ending.rindex("（")].rstrip()
        if ending and re.match(r"[ぁ-ん]", ending[-1]) and not POLITE.search(ending) and not NOUN_LIKE.search(ending):
            problems.append(f"not です/ます: {sentence.strip()[-60:]!r}")
    return problems


def exercise_not_asked(text: Text) -> list[str]:
    if text.role != "exercise":
        return []
    paragraphs = [p for p in re.split(r"\n\s*\n", text.text) if EXERCISE.match(p.strip())]
    return [f"an exercise that does not ask 「…してください」: {p.strip()[:80]!r}" for p in paragraphs
            if "ください" not in p]


def objectives_in_two_forms(text: Text) -> list[str]:
    if text.role != "title":
        return []
    block = re.search(r"^\*\*目標\*\*\n((?:(?:- |  ).*\n?)+)", text.text, re.M)
    if not block:
        return ["the title cell has no 「**目標**」 list"]
    items = [" ".join(item.split()) for item in re.split(r"^- ", block.group(1), flags=re.M) if item.strip()]
    return [f"an objective that does not end 「…できる」: {item[-50:]!r}" for item in items
            if not item.endswith("できる")]


def broken_lines(text: Text) -> list[str]:
    """A line break after a Japanese character inside a paragraph (bold and code marks included): a stray space."""
    if text.kind != "prose":
        return []
    lines = text.text.split("\n")
    return [f"a paragraph broken across lines (join them): {lines[i - 1][-20:] + '⏎' + lines[i].strip()[:20]!r}"
            for i in paragraph_breaks(text.text)]


BOLD_BEFORE_PARTICLE = re.compile(r"(?<=[ぁ-んァ-ヶー一-龯々])\*\* +(?=[ぁ-ん])")
BOLD_HEADING_PERIOD = re.compile(r"^\s*(?:[-*] )?\*\*[^*\n]+(?:。\*\*|\*\*。)", re.M)
FIELD_COLON = re.compile(r"X[*_]*:(?=\s|$)")


def bold_and_labels(text: Text) -> list[str]:
    """A space between bold text and its particle, a bold heading ending in 「。」, a half-width colon after a field."""
    body = readable(text)
    problems = [f"a space between bold text and its particle (write 「**…**は」): {around(body, m.start(), m.end())!r}"
                for m in BOLD_BEFORE_PARTICLE.finditer(body)] if text.kind == "prose" else []
    problems += [f"a bold heading ending in 「。」 (write 「**…**：」): {m.group(0).strip()!r}"
                 for m in BOLD_HEADING_PERIOD.finditer(body)] if text.kind == "prose" else []
    if text.kind == "message" and JAPANESE.search(body):
        problems += [f"half-width ':' after a value in a Japanese message (write 「：」): {around(body, m.start(), m.end())!r}"
                     for m in FIELD_COLON.finditer(body)]
    return problems


NO_SPACE = re.compile(r"[\u3040-\u309f\u30a0-\u30fa\u30fc-\u30ff\u4e00-\u9fff](?=[A-Za-z0-9`])")


def no_space_before_latin(text: Text) -> list[str]:
    """Kana or kanji run straight into a Latin word, a number or code: the course writes 「モデルの 4 ビット」."""
    if text.kind != "prose":
        return []
    body = URL.sub("", LINK.sub("", text.text))
    return [f"no space between Japanese and {body[m.end()]!r}: {around(body, m.start(), m.end())!r}"
            for m in NO_SPACE.finditer(body)]


CHECKS = [rejected_terms, half_width_punctuation, plain_register, exercise_not_asked, objectives_in_two_forms,
          broken_lines, no_space_before_latin, bold_and_labels]


def test_the_glossary_holds_the_decided_terms():
    decided = {"default": ("既定", "デフォルト"), "sequence": ("シーケンス", "系列"),
               "pad token": ("パディングトークン", "パッドトークン"), "tokenizer": ("トークナイザー", "トークナイザ"),
               "forward pass": ("フォワードパス", "順伝播"), "normalization layer": ("正規化層", "ノルム層"),
               "turn (of a chat)": ("ターン", "アシスタントの番"), "chunk (a streamed piece of text)": ("チャンク", "ピース"),
               "laptop": ("ノートパソコン", "ノート PC"), "temperature (in prose)": ("温度", "temperature"),
               "seed (in prose)": ("シード", "seed"), "exceed": ("超える", "越える"),
               # issue 28's review: each variant the reviewer found, rejected
               "full precision": ("全精度", "完全な精度"), "transcription": ("文字起こし", "書き起こし"),
               "static batching": ("静的バッチング", "静的バッチ処理"),
               "paged KV cache": ("ページド KV キャッシュ", "ページ化された KV キャッシュ"),
               "serving (a model behind an API)": ("サービング", "配信 API"),
               "wheel (a Python package file)": ("ホイール", "the wheel"), "request body": ("ボディ", "JSON の本体"),
               "idle culler": ("idle culler", "アイドルカラー"), "folder": ("フォルダー", "フォルダを開く"),
               "parameter": ("パラメーター", "パラメータの数"), "iterator": ("イテレーター", "イテレータを返す"),
               "server": ("サーバー", "サーバを起動"), "user": ("ユーザー", "ユーザが"),
               "browser": ("ブラウザー", "ブラウザで"),
               "computer": ("コンピューター", "コンピュータの"), "range mark (from … to)": ("〜", "1～3"),
               "likely (a token's probability)": ("確率が高い", "ありそうなトークン"),
               "speak an API (a server that implements it)": ("API に対応する", "API を話します"),
               "comma": ("コンマ", "カンマ"), "draw (a sample)": ("抽選", "100 回抽出"),
               "interface": ("インターフェイス", "インターフェース"),
               "percent (after a number)": ("30%", "30 %"),
               "the sky question (lesson 08: \"Why is the sky blue?\")": ("空の色の質問", "空の質問")}
    terms = {term.english: term for term in TERMS}
    for english, (use, rejected) in decided.items():
        assert terms[english].use == use
        assert any(p.search(rejected) for p in terms[english].rejected), f"{english}: {rejected!r} is not rejected"
    assert len({term.english for term in TERMS}) == len(TERMS), "a term appears twice"


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
@pytest.mark.parametrize("source", SOURCES)
def test_japanese_texts(source, check):
    problems = [f"{text.where}: {problem}" for text in SOURCES[source]() for problem in check(text)]
    problems = list(dict.fromkeys(problems))  # a learner copy repeats its lesson
    if problems:
        pytest.fail(f"{len(problems)} problems:\n" + "\n".join(problems[:80]), pytrace=False)


BAD = {  # check: (a text it must pass, a text it must fail)
    rejected_terms: ("既定のトークナイザーで温度（temperature）を変え、`temperature=0.7` と `set_seed`。",
                     "デフォルトのトークナイザで seed を変える。"),
    half_width_punctuation: ("次のとおりです。`a: b` は https://example.com/a.b にあります：",
                             "**使い分け.** 次のとおりです:"),
    plain_register: ("モデルを読み込みます。トークンは 5 個など。", "モデルを読み込む。"),
    exercise_not_asked: ("**演習 1**：`f` を書いてください。", "**演習 1**：`f` を書く。"),
    objectives_in_two_forms: ("**目標**\n- 読み込むことができる\n- 説明\n  できる\n", "**目標**\n- 読み込みます\n"),
    broken_lines: ("トークンを選びます。\n\n- 次の行です。\n", "トークンを**選び**\n付け足します。"),
    bold_and_labels: ("**温度**は分布を変えます。**「温度」** は括弧で終わります。", "**温度** は分布を変えます。"),
    no_space_before_latin: ("モデルの 4 ビットの `model` です。", "同じ手順で8 ビットになります。"),
}


def test_a_half_width_colon_after_a_value_fails_in_a_japanese_message():
    """Rendered, 「ハブ {state}: …」 reads 「ハブ 到達可能: …」: the colon follows Japanese all the same."""
    assert bold_and_labels(Text("planted", "ハブ X: 到達できます", "message"))
    assert not bold_and_labels(Text("planted", "hub X: reachable", "message"))
    assert not bold_and_labels(Text("planted", "ハブ X：到達できます", "message"))


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_each_check_can_fail(check):
    good, bad = BAD[check]
    role = "exercise" if check is exercise_not_asked else "title" if check is objectives_in_two_forms else ""
    assert check(Text("good", good, "prose", role)) == []
    assert check(Text("bad", bad, "prose", role)), f"{check.__name__} lets {bad!r} through"
