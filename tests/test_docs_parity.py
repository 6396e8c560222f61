"""README.ja.md and instructor/ja/ say what their English twins say, in Japanese (issue 16).

Each pair in ``TWINS`` is compared piece by piece:

- headings: the same levels in the same order;
- code blocks: the same commands (comments may be translated); in a block without a language
  (the README's layout tree) the same paths, each with its own description;
- links: the same targets, once English paths are mapped to their Japanese twins (``LINK_TWINS``);
- tables: the same shape, row by row, and every number of an English cell in the Japanese cell;
- numbers: every number a section of the English text quotes is quoted in the same section;
- Japanese only: no run of six English words outside code and links, and table headers translated
  (terms, punctuation and line breaks: tests/test_glossary.py, from notebooks/ja/glossary.md).

``test_each_check_can_fail`` breaks a copy of README.ja.md in one way per check and sees that
check fail, so none of them passes vacuously.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TWINS = {"README.md": "README.ja.md",
         **{f"instructor/{p.name}": f"instructor/ja/{p.name}" for p in sorted((ROOT / "instructor").glob("*.md"))}}

# Where the Japanese twin of an English link points (repository paths, checked in this order).
LINK_TWINS = [
    (re.compile(r"^notebooks/((?:exercises/)?\d\d_\w+\.ipynb)$"), r"notebooks/ja/\1"),
    (re.compile(r"^instructor/(\w+\.md)$"), r"instructor/ja/\1"),
    (re.compile(r"^README\.md$"), "README.ja.md"),
    (re.compile(r"^README\.ja\.md$"), "README.md"),  # each README links to the other
    (re.compile(r"^docs/([\w-]+)\.en\.png$"), r"docs/\1.ja.png"),  # a picture of the English UI: the Japanese one
]
# A GitHub or Colab link to a file of the repository: its path is mapped like a relative link.
REPO_URL = re.compile(r"^(https://(?:colab\.research\.google\.com/github|github\.com)/[^/]+/[^/]+/blob/[^/]+/)(.+)$")

LINK = re.compile(r"!?\[((?:[^\[\]]|\[[^\]]*\]\([^)]*\))*)\]\(([^)\s]+)\)")  # [text](url), text may hold a badge
INLINE_CODE = re.compile(r"`[^`\n]+`")
COMMENT = re.compile(r"<!--.*?-->", re.S)
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
ENGLISH_RUN = re.compile(r"[A-Za-z][A-Za-z0-9'’-]*(?:[ ,]+[A-Za-z][A-Za-z0-9'’-]*){5,}")
TREE_ENTRY = re.compile(r"^( *)([\w.-]+(?:/|\.py))(?= |$)")  # a path at the start of a line of a layout tree


@dataclass
class Doc:
    """A Markdown document split into prose lines and fenced code blocks."""

    name: str
    prose: list[str]
    code: list[tuple[str, list[str]]]  # (language, lines without the fence's indentation)

    @classmethod
    def parse(cls, name: str, text: str) -> Doc:
        prose, code, block, indent = [], [], None, 0
        for line in text.splitlines():
            fence = re.match(r"^( *)```(\w*)\s*$", line)
            if block is None and fence:
                indent, block = len(fence.group(1)), (fence.group(2), [])
            elif block is not None and fence:
                code.append(block)
                block = None
            elif block is not None:
                block[1].append(line[indent:] if line[:indent].isspace() else line)
            else:
                prose.append(line)
        assert block is None, f"{name}: a code block is not closed"
        return cls(name, prose, code)

    def headings(self) -> list[str]:
        return [line for line in self.prose if re.match(r"^#{1,6} ", line)]

    def sections(self) -> list[str]:
        """The prose between headings (the text before the first heading is a section too)."""
        parts = [[]]
        for line in self.prose:
            if re.match(r"^#{1,6} ", line):
                parts.append([])
            parts[-1].append(line)
        return ["\n".join(part) for part in parts]

    def tables(self) -> list[list[list[str]]]:
        """Every table as rows of cells (the |---| line left out)."""
        tables, current = [], []
        for line in [*self.prose, ""]:
            if line.startswith("|"):
                current.append(cells(line))
            elif current:
                tables.append([row for row in current if not all(re.fullmatch(r" *:?-+:? *", c) for c in row)])
                current = []
        return tables

    def links(self) -> set[str]:
        """Link targets, relative paths resolved from the document's folder, fragments dropped."""
        folder = posixpath.dirname(self.name)
        targets = set()
        for line in self.prose:
            for match in LINK.finditer(line):
                for url in [match.group(2), *(inner[1] for inner in LINK.findall(match.group(1)))]:
                    if "://" not in url and not url.startswith("mailto:"):
                        url = posixpath.normpath(posixpath.join(folder, url.split("#")[0]))
                    targets.add(url)
        return targets

    def text(self) -> str:
        """The prose without inline code, links and HTML comments: what a reader reads as sentences."""
        return INLINE_CODE.sub(" ", LINK.sub(" ", COMMENT.sub(" ", "\n".join(self.prose))))


def cells(row: str) -> list[str]:
    """The cells of a table row; a `|` inside backticks does not split."""
    parts, current, in_code = [], "", False
    for char in row.strip().strip("|"):
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()]


def twin_path(path: str) -> str:
    for pattern, replacement in LINK_TWINS:
        if pattern.match(path):
            return pattern.sub(replacement, path)
    return path


def twin_link(target: str) -> str:
    """Where the Japanese twin of a document should link instead of ``target``."""
    if url := REPO_URL.match(target):
        return url.group(1) + twin_path(url.group(2))
    return target if "://" in target else twin_path(target)


def commands(language: str, lines: list[str]) -> list[str]:
    """What must not change in a code block: the code without comments, or a layout tree's paths."""
    if not language:
        return [f"{m.group(1)}{m.group(2)}" for line in lines if (m := TREE_ENTRY.match(line))]
    if language in ("bash", "sh", "python"):
        code = (re.sub(r"\s+#\s.*$", "", line).rstrip() for line in lines if not line.lstrip().startswith("#"))
        return [line for line in code if line]
    return lines


def numbers(text: str) -> set[str]:
    """The numbers a text quotes; a link counts by its text, not its target."""
    while (shown := LINK.sub(lambda m: m.group(1), text)) != text:
        text = shown
    return set(NUMBER.findall(text))


# Each check returns its problems, one readable line each; the tests assert there are none.

def headings_differ(en: Doc, ja: Doc) -> list[str]:
    levels = [[heading.split()[0] for heading in doc.headings()] for doc in (en, ja)]
    if levels[0] == levels[1]:
        return []
    pairs = list(zip(*levels, strict=False))
    first = next((i for i, (a, b) in enumerate(pairs) if a != b), len(pairs))
    at = [doc.headings()[first] if first < len(doc.headings()) else "(none)" for doc in (en, ja)]
    return [f"{len(levels[0])} headings in English, {len(levels[1])} in Japanese; heading {first + 1} differs: "
            f"{at[0]!r} vs {at[1]!r}"]


def code_differs(en: Doc, ja: Doc) -> list[str]:
    if len(en.code) != len(ja.code):
        return [f"{len(en.code)} code blocks in English, {len(ja.code)} in Japanese"]
    return [f"code block {i + 1} ({a[0] or 'text'}) differs:\n  {commands(*a)}\n  {commands(*b)}"
            for i, (a, b) in enumerate(zip(en.code, ja.code, strict=True)) if (a[0], commands(*a)) != (b[0], commands(*b))]


def links_differ(en: Doc, ja: Doc) -> list[str]:
    wanted = {twin_link(target) for target in en.links()}
    problems = [f"missing link to {t}" for t in sorted(wanted - ja.links())]
    problems += [f"link to {t} has no English counterpart" for t in sorted(ja.links() - wanted)]
    return problems + [f"link to a missing file: {t}" for t in sorted(ja.links())
                       if "://" not in t and not (ROOT / t).exists()]


def tables_differ(en: Doc, ja: Doc) -> list[str]:
    shapes = [[[len(row) for row in table] for table in doc.tables()] for doc in (en, ja)]
    if shapes[0] != shapes[1]:
        return [f"table shapes (cells per row) differ: {shapes[0]} != {shapes[1]}"]
    return [f"table {t + 1}, row {r + 1}, column {c + 1}: {sorted(numbers(a) - numbers(b))} "
            f"missing from {b!r}"
            for t, (x, y) in enumerate(zip(en.tables(), ja.tables(), strict=True))
            for r, (row_en, row_ja) in enumerate(zip(x, y, strict=True))
            for c, (a, b) in enumerate(zip(row_en, row_ja, strict=True)) if numbers(a) - numbers(b)]


def numbers_differ(en: Doc, ja: Doc) -> list[str]:
    return [f"section {i + 1} ({a.splitlines()[0] if a.strip() else 'top'}): "
            f"{sorted(numbers(a) - numbers(b))} not quoted in Japanese"
            for i, (a, b) in enumerate(zip(en.sections(), ja.sections(), strict=False)) if numbers(a) - numbers(b)]


def english_left(en: Doc, ja: Doc) -> list[str]:
    return [f"English sentence: {m.group(0)!r}" for m in ENGLISH_RUN.finditer(ja.text())]


def headers_untranslated(en: Doc, ja: Doc) -> list[str]:
    def words(cell: str) -> bool:  # an English header cell: not a command, a symbol or a name such as TLJH
        return bool(re.fullmatch(r"[A-Za-z][A-Za-z ()'-]*", cell)) and not cell.isupper()

    return [f"table {t + 1} header still English: {a!r}"
            for t, (x, y) in enumerate(zip(en.tables(), ja.tables(), strict=False))
            for a, b in zip(x[0], y[0], strict=False) if words(a) and a == b]


CHECKS: list[Callable[[Doc, Doc], list[str]]] = [headings_differ, code_differs, links_differ, tables_differ,
                                                 numbers_differ, english_left]


def pair(english: str) -> tuple[Doc, Doc]:
    japanese = TWINS[english]
    return (Doc.parse(english, (ROOT / english).read_text(encoding="utf-8")),
            Doc.parse(japanese, (ROOT / japanese).read_text(encoding="utf-8")))


def test_every_english_document_has_a_japanese_twin():
    japanese = {p.relative_to(ROOT).as_posix() for p in (ROOT / "instructor" / "ja").glob("*.md")}
    assert japanese == {v for k, v in TWINS.items() if k.startswith("instructor/")}
    assert all((ROOT / name).is_file() for name in TWINS.values())


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("english", sorted(TWINS))
def test_japanese_twin_matches(english, check):
    problems = check(*pair(english))
    assert not problems, f"{TWINS[english]} vs {english}:\n" + "\n".join(problems)


@pytest.mark.parametrize("english", sorted(TWINS))
def test_table_headers_are_translated(english):
    problems = headers_untranslated(*pair(english))
    assert not problems, f"{TWINS[english]}:\n" + "\n".join(problems)


BREAKS = {  # check: (what to replace in README.ja.md, by what)
    headings_differ: ("\n### ", "\n#### "),
    code_differs: ("make test   #", "make tests  #"),
    links_differ: ("(instructor/ja/sizing.md)", "(instructor/sizing.md)"),
    tables_differ: ("| `make lab TORCH=cpu` |", "| `make lab TORCH=cpu` | |"),
    numbers_differ: ("540 MB", "504 MB"),
    english_left: ("\n## ", "\nThis sentence was left in English by mistake.\n\n## "),
    headers_untranslated: ("| 環境 |", "| where |"),
}


@pytest.mark.parametrize("check", [*CHECKS, headers_untranslated], ids=lambda c: c.__name__)
def test_each_check_can_fail(check):
    """A copy of README.ja.md broken in one place fails the check meant to catch it."""
    english, japanese = pair("README.md")
    old, new = BREAKS[check]
    text = (ROOT / "README.ja.md").read_text(encoding="utf-8")
    assert old in text, f"update BREAKS: {old!r} is no longer in README.ja.md"
    broken = Doc.parse("README.ja.md", text.replace(old, new, 1))
    assert len(check(english, broken)) > len(check(english, japanese)), f"{check.__name__} missed {old!r} -> {new!r}"


def test_translated_comments_are_not_a_difference():
    english, _ = pair("README.md")
    text = (ROOT / "README.ja.md").read_text(encoding="utf-8")
    assert not code_differs(english, Doc.parse("README.ja.md", re.sub(r"(make lab +#).*", r"\1 違うコメント", text)))
