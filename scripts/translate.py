"""Build each Japanese lesson from its English lesson and a translation table.

``notebooks/ja/translations/NN_name.json`` holds one lesson's translations::

    {"markdown": [{"en": "English cell, as it was translated", "ja": "日本語のセル"}, ...],
     "comments": {"# an English comment": "# 日本語のコメント"},
     "strings": {"the text between the quotes of a string literal": "文字列の中身"}}

and ``shared.json`` the comments and strings that several lessons use (one Japanese text each),
plus ``phrases``: English sentences of markdown cells that must read the same Japanese in every lesson.

- A markdown cell is swapped whole for the entry whose ``en`` is its text; a line break that a Japanese
  character ends inside a paragraph is joined (`unwrap`), so English wrapping never reaches the Japanese.
- A markdown cell is matched to the entry whose ``en`` is its text. When the English cell has
  changed since, the entry whose ``en`` is most like it is shown as a diff (what to translate again).
- In a code cell only comments and string literals change, each matched whole (a comment from ``#`` to
  the end of the line, a string by its text between the quotes; an f-string's fields must come back
  unchanged, in any order). The code itself stays the English lesson's (tests/test_parity.py proves it),
  strings that the code compares (``"rest" in label``) are never translated, and ``set_language("en")``
  becomes ``set_language("ja")``. Lines of IPython magics (``%pip``, ``!ls``) are left as they are.

`python -m scripts.translate` writes ``notebooks/ja/NN_name.ipynb`` (``make translations``): when its code
cells run as before (only comments changed) the committed outputs are kept, otherwise it is written without outputs. It refuses,
naming each one, when a markdown cell has no translation or a stale one, or an entry matches nothing;
``--check`` reports the same and the Japanese lessons that are not up to date, and writes nothing.
Cell tags come from the English lesson; the badge and the Colab install cell are scripts/colab.py's.
"""

from __future__ import annotations

import ast
import difflib
import io
import json
import re
import sys
import tokenize
from pathlib import Path

from .colab import INSTALL_TAG, install_cell, lesson_extras, set_badge
from .normalize_notebooks import dumps, normalize, tagged_cell
from .regen import ROOT, parser, regenerate, shown

JA = ROOT / "notebooks" / "ja"
TABLES = JA / "translations"
SHARED = TABLES / "shared.json"
MAGIC = re.compile(r"^[ \t]*[%!]")  # an IPython magic or shell line: not Python
STRING = re.compile(r"(?P<prefix>[A-Za-z]*)(?P<quote>'''|\"\"\"|'|\")(?P<body>.*)(?P=quote)$", re.S)
STALE_RATIO = 0.5  # an English cell at least this similar to an entry's "en" is that entry, edited


SECTIONS = {"markdown": list, "comments": dict, "strings": dict, "phrases": dict}
WIDE = re.compile(r"[\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef]")  # Japanese, with full-width punctuation
BLOCK_START = re.compile(r"^\s*(?:[-*+>|#]|```|\d+[.)]\s|\[!\[|<|$)")  # a line that starts a block, or a blank one
FENCE_LINE = re.compile(r"^\s*```")


def paragraph_breaks(markdown: str) -> list[int]:
    r"""The lines that a line break joins to the line before inside a paragraph, next to a Japanese character.

    Markdown renders such a break as a space: Japanese has none between its characters, nor before a
    full-width bracket (「min-p （0.05」). Bold and code marks (``**``, `` ` ``) count as part of the
    character they close or open.

    >>> paragraph_breaks("トークンを選び、\n付け足します。\n\n- 一つ目\n- 二つ目\n\nmin-p\n（0.1）")
    [1, 7]
    >>> paragraph_breaks("A list of\ncolors")
    []
    """
    lines, breaks, fenced = markdown.split("\n"), [], False
    for index, line in enumerate(lines):
        if FENCE_LINE.match(line):
            fenced = not fenced
            continue
        before = lines[index - 1] if index else ""
        if (index and not fenced and not BLOCK_START.match(line) and before.strip()
                and not before.lstrip().startswith(("#", "|", "```"))
                and (WIDE.match(_last(before)) or WIDE.match(_first(line)))):
            breaks.append(index)
    return breaks


def _last(line: str) -> str:
    return re.sub(r"[*_`]+$", "", line.rstrip())[-1:]


def _first(line: str) -> str:
    return re.sub(r"^[*_`]+", "", line.lstrip())[:1]


TIGHT = re.compile(r"[（「『【、。：）」』】・]")  # full-width punctuation: never a space on its inner side


def unwrap(markdown: str) -> str:
    r"""``markdown`` with every `paragraph_breaks` line joined to the one before.

    Joined with nothing between two Japanese characters or at full-width punctuation, else with a space (the
    course's space between Japanese and Latin text).

    >>> unwrap("トークンを選び、\n付け足します。`generate` が\n`model` を使います。min-p\n（0.1）")
    'トークンを選び、付け足します。`generate` が `model` を使います。min-p（0.1）'
    """
    lines = markdown.split("\n")
    for index in reversed(paragraph_breaks(markdown)):
        before, after = lines[index - 1].rstrip(), lines.pop(index).strip()
        tight = ((WIDE.match(_last(before)) and WIDE.match(_first(after))) or TIGHT.match(_first(after))
                 or TIGHT.match(_last(before)))
        lines[index - 1] = before + ("" if tight else " ") + after
    return "\n".join(lines)


def load_table(path: Path | None) -> dict:
    """A translation table with every section present (a missing section or file is empty)."""
    table = json.loads(path.read_text(encoding="utf-8")) if path and path.exists() else {}
    if unknown := set(table) - set(SECTIONS):
        raise SystemExit(f"{shown(path)}: unknown sections {sorted(unknown)}; a table has {', '.join(SECTIONS)}")
    return {section: table.get(section, kind()) for section, kind in SECTIONS.items()}


def unified(old: str, new: str) -> str:
    """The whole diff from the English an entry was translated from to the English cell now."""
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), "translated from", "English now",
                                 lineterm="", n=1)
    return "\n".join(f"    {line}" for line in lines)


def similarity(a: str, b: str) -> float:
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return matcher.ratio() if matcher.real_quick_ratio() >= STALE_RATIO else 0.0


def match_markdown(cells: list[tuple[str, str]], entries: list[dict]) -> tuple[dict[str, str], list[str]]:
    """The Japanese of each ``(cell id, English text)``, and a problem for each missing, stale or unused entry."""
    by_english = {entry["en"]: entry for entry in entries}
    found, problems, unmatched = {}, [], []
    for cell_id, text in cells:
        if text in by_english:
            found[cell_id] = by_english[text]["ja"]
        else:
            unmatched.append((cell_id, text))
    used = {text for _, text in cells}
    left = [entry for entry in entries if entry["en"] not in used]
    for cell_id, text in unmatched:
        scored = [(similarity(entry["en"], text), index) for index, entry in enumerate(left)]
        score, index = max(scored, default=(0.0, -1))
        if score >= STALE_RATIO:
            entry = left.pop(index)
            problems.append(f"{cell_id}: the English cell changed since it was translated; translate the change "
                            f"and update the entry's \"en\" and \"ja\":\n{unified(entry['en'], text)}")
        else:
            shown_text = "\n".join(f"    {line}" for line in text[:300].splitlines())
            problems.append(f"{cell_id}: no translation for this markdown cell:\n{shown_text}")
    problems += [f"markdown entry matches no cell (delete it): {entry['en'][:120]!r}" for entry in left]
    if len(by_english) < len(entries):
        problems.append("two markdown entries have the same \"en\": keep one")
    return found, problems


def split_string(token: str) -> tuple[str, str, str]:
    """(prefix, quote, text between the quotes) of a string literal token."""
    match = STRING.match(token)
    return match["prefix"], match["quote"], match["body"]


def compared_strings(tree: ast.AST) -> set[str]:
    """The string values the code compares (``==``, ``in``, ``match`` cases): translating them would change what it does."""
    values = set()
    for node in ast.walk(tree):
        operands = [node.left, *node.comparators] if isinstance(node, ast.Compare) else \
            [node.value] if isinstance(node, ast.MatchValue) else []
        for operand in operands:
            values |= {n.value for n in ast.walk(operand) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return values


def language_switches(tree: ast.AST) -> set[tuple[int, int]]:
    """Where ``set_language("en")`` names the language: the Japanese lesson says "ja"."""
    return {(call.args[0].lineno, call.args[0].col_offset) for call in ast.walk(tree)  # col_offset: UTF-8 bytes
            if isinstance(call, ast.Call) and getattr(call.func, "id", getattr(call.func, "attr", None)) == "set_language"
            and call.args and isinstance(call.args[0], ast.Constant) and call.args[0].value == "en"}


def fields(literal: str) -> list[str] | None:
    """An f-string's replacement fields, each with its strings masked and sorted; None for a plain string."""
    node = ast.parse(literal, mode="eval").body
    if not isinstance(node, ast.JoinedStr):
        return None

    def masked(value: ast.AST) -> str:
        value = ast.parse(ast.unparse(value), mode="eval").body  # a copy
        for n in ast.walk(value):
            if isinstance(n, ast.Constant) and isinstance(n.value, str):
                n.value = "STR"
        return ast.dump(value)

    return sorted(f"{masked(part.value)}!{part.conversion}" for part in node.values
                  if isinstance(part, ast.FormattedValue))


def parse_python(source: str) -> tuple[list[tokenize.TokenInfo], ast.AST] | None:
    """Tokens and syntax tree of a code cell with its magic lines blanked out; None if it is not Python."""
    lines = source.splitlines(keepends=True)
    if lines and lines[0].startswith("%%"):  # a cell magic: the whole cell is another language
        return None
    python = "".join(re.sub(r"[%!][^\r\n]*", "pass", line, count=1) if MAGIC.match(line) else line
                     for line in lines)
    try:
        return list(tokenize.generate_tokens(io.StringIO(python).readline)), ast.parse(python)
    except (tokenize.TokenError, SyntaxError):
        return None


def literal_value(literal: str) -> str | None:
    """The value of a plain string literal; None for an f-string."""
    try:
        return ast.literal_eval(literal)
    except ValueError:
        return None


def translate_code(source: str, code: dict, compared: set[str], used: set[tuple[str, str]]) -> tuple[str, list[str]]:
    """``source`` with its comments and string literals found in ``code`` (comments, strings) translated.

    Adds ``("comments" | "strings", key)`` to ``used`` for each entry it applies; returns the new source
    and the problems (a translation that would change the code).
    """
    parsed = parse_python(source)
    if parsed is None:  # not Python: left as it is (an entry meant for it shows up as unused)
        return source, []
    tokens, tree = parsed
    switches, problems, edits = language_switches(tree), [], []
    lines = source.splitlines(keepends=True)
    for token in tokens:
        new = None
        if token.type == tokenize.COMMENT:
            key = token.string.rstrip()
            if key in code["comments"]:
                new = code["comments"][key]
                used.add(("comments", key))
                if not new.startswith("#") or "\n" in new:
                    problems.append(f"comment {key!r}: its translation must be one line starting with '#'")
        elif token.type == tokenize.STRING:
            prefix, quote, body = split_string(token.string)
            row, col = token.start
            if (row, len(lines[row - 1][:col].encode("utf-8"))) in switches:
                new = f"{prefix}{quote}ja{quote}"
            elif body in code["strings"] and "b" not in prefix.lower() and literal_value(token.string) not in compared:
                used.add(("strings", body))
                new = f"{prefix}{quote}{code['strings'][body]}{quote}"
                problems += string_problems(token.string, new)
        if new is not None:
            edits.append((token.start, token.end, new))
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    for (row, col), (end_row, end_col), new in reversed(edits):
        source = source[:starts[row - 1] + col] + new + source[starts[end_row - 1] + end_col:]
    return source, problems


def string_problems(english: str, japanese: str) -> list[str]:
    """Why the translated literal ``japanese`` cannot replace ``english`` (not one literal, other f-string fields)."""
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(japanese).readline)
                  if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)]
        if len(tokens) != 1 or tokens[0].type != tokenize.STRING:
            raise SyntaxError
        if fields(english) != fields(japanese):
            return [f"string {english!r}: the translation {japanese!r} must keep the same {{fields}}"]
    except (tokenize.TokenError, SyntaxError):
        return [f"string {english!r}: the translation {japanese!r} is not one string literal (a quote inside?)"]
    return []


def translate(english: dict, table: dict, shared: dict | None = None) -> tuple[dict, list[str], set[tuple[str, str]]]:
    """The Japanese notebook (code cells without outputs), its problems, and the code entries it used.

    ``table`` is the lesson's, ``shared`` the entries every lesson may use; a problem is a line (or a few) that
    says what to change in the table. An entry of the lesson's own table that matches nothing is a problem here;
    the caller checks the shared entries against all lessons.
    """
    shared = shared or load_table(None)
    notebook = json.loads(json.dumps(english))
    code = {kind: {**shared[kind], **table[kind]} for kind in ("comments", "strings")}
    problems = [f"{kind[:-1]} entry {key!r} is in shared.json too: keep one"
                for kind in ("comments", "strings") for key in table[kind] if key in shared[kind]]
    problems += ["phrases belong in shared.json, not in a lesson's table"] if table["phrases"] else []
    cells = [(cell.get("id", f"cell {index}"), "".join(cell["source"]))
             for index, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "markdown"]
    japanese, markdown_problems = match_markdown(cells, table["markdown"])
    problems += markdown_problems + phrase_problems(cells, japanese, shared["phrases"])
    sources = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    compared = set()
    for parsed in filter(None, map(parse_python, sources)):
        compared |= compared_strings(parsed[1])
    used = {("phrases", english) for english in shared["phrases"] for _, text in cells
            if squeeze(english) in squeeze(text)}
    for index, cell in enumerate(notebook["cells"]):
        cell_id, source = cell.get("id", f"cell {index}"), "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            source = unwrap(japanese.get(cell_id, source))  # never the English wrapping inside a Japanese line
        elif cell["cell_type"] == "code":
            source, cell_problems = translate_code(source, code, compared, used)
            problems += [f"{cell_id}: {problem}" for problem in cell_problems]
            cell["outputs"], cell["execution_count"] = [], None
        cell["source"] = source.splitlines(keepends=True)
    for kind in ("comments", "strings"):
        for key in table[kind]:
            if (kind, key) not in used:
                why = " (the code compares it, so it stays English)" if kind == "strings" and key in compared else ""
                problems.append(f"{kind[:-1]} entry matches nothing in the English lesson{why}: {key!r}")
    return notebook, problems, used


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def phrase_problems(cells: list[tuple[str, str]], japanese: dict[str, str], phrases: dict[str, str]) -> list[str]:
    """A problem for each translated cell whose English holds a shared phrase but whose Japanese lacks its translation."""
    return [f"{cell_id}: the English says {english[:50]!r}…: say it as shared.json does, {ja!r}"
            for cell_id, text in cells if cell_id in japanese
            for english, ja in phrases.items()
            if squeeze(english) in squeeze(text) and re.sub(r"\s", "", ja) not in re.sub(r"\s", "", japanese[cell_id])]


def what_runs(cell: dict) -> list[str] | str | None:
    """A code cell as far as running it goes: its tokens without comments (comments never run).

    None for the Colab install cell, which runs only on Colab (scripts/colab.py rewrites it and keeps outputs too).
    """
    if INSTALL_TAG in cell.get("metadata", {}).get("tags", []):
        return None
    source = "".join(cell["source"])
    parsed = parse_python(source)
    return source if parsed is None else [t.string for t in parsed[0] if t.type not in
                                          (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE)]


def keep_outputs(notebook: dict, committed: Path) -> dict:
    """Carry the committed lesson's outputs over if its code cells run the same (only prose, comments or tags changed)."""
    if not committed.exists():
        return notebook
    old = [c for c in json.loads(committed.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    new = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    if list(map(what_runs, old)) == list(map(what_runs, new)):
        for before, cell in zip(old, new, strict=True):
            cell["outputs"], cell["execution_count"] = before["outputs"], before["execution_count"]
    return notebook


def main(argv: list[str] | None = None) -> int:
    """Write the Japanese twin of every English lesson that has a translation table; refuse on any problem."""
    arguments = parser(__doc__)
    arguments.add_argument("lessons", nargs="*", help="lesson file names; default: all with a translation table")
    args = arguments.parse_args(argv)
    shared = load_table(SHARED)
    targets, status, used = {}, 0, set()
    for table_path in sorted(TABLES.glob("[0-9][0-9]_*.json")):
        name = table_path.stem + ".ipynb"
        if args.lessons and name not in args.lessons:
            continue
        english = json.loads((ROOT / "notebooks" / name).read_text(encoding="utf-8"))
        notebook, problems, lesson_used = translate(english, load_table(table_path), shared)
        used |= lesson_used
        if problems:
            report(shown(table_path), problems)
            status = 1
            continue
        set_badge(notebook, ROOT / "notebooks" / name, JA / name)
        tagged_cell(notebook, INSTALL_TAG, ROOT / "notebooks" / name)["source"] = \
            install_cell("ja", lesson_extras(JA / name)).splitlines(keepends=True)  # as scripts/colab.py writes it
        targets[JA / name] = dumps(normalize(keep_outputs(notebook, JA / name)))
    if not args.lessons:
        unused = [f"{kind[:-1]} entry matches nothing in any lesson: {key!r}"
                  for kind in ("comments", "strings", "phrases") for key in shared[kind] if (kind, key) not in used]
        if unused:
            report(shown(SHARED), unused)
            status = 1
    if status and not args.check:
        print("refused to write the lessons named above; fix their tables and run `make translations` again",
              file=sys.stderr)
    return max(status, regenerate(targets, args.check, fix="make translations"))


def report(where: str, problems: list[str]) -> None:
    print(f"{where}:", *(f"  {problem}" for problem in problems), sep="\n", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
