"""Tokens as a learner reads them: one renderer for whitespace, and the pad-id fallback.

Every table (`format_steps`) and every plot label shows a token through `show_token`,
so a newline looks the same everywhere: ``↵``.

>>> show_token(" the\\n")
'␣the↵'

`format_batch` lines a padded batch up as a table (token, id, mask), one column per position.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from typing import Any

from .i18n import say

WHITESPACE = {" ": "␣", "\n": "↵", "\t": "→", "\r": "␍"}


def show_token(text: str, max_chars: int | None = None) -> str:
    """Token text with whitespace made visible (␣ ↵ → ␍), other controls escaped, shortened to ``max_chars``.

    >>> show_token(" the\\n"), show_token(""), show_token("abcdefghij", max_chars=5)
    ('␣the↵', '∅', 'abcd…')
    """
    shown = "".join(WHITESPACE.get(c, c if c.isprintable() else f"\\x{ord(c):02x}") for c in text)
    if not shown:
        return "∅"  # an empty token (some tokenizers decode pieces of a character to nothing)
    return shown if max_chars is None or len(shown) <= max_chars else shown[: max_chars - 1] + "…"


@functools.cache
def _byte_level_chars() -> dict[str, int]:
    """GPT-2's byte-level alphabet (used by SmolLM2, Llama 3, Qwen...): the character each byte is written as."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    chars = {chr(b): b for b in printable}
    chars.update({chr(256 + n): b for n, b in enumerate(others)})
    return chars


def token_bytes(tokenizer: Any, token_id: int) -> bytes | None:
    """The bytes of a byte-level BPE token (None for other tokenizers), e.g. a piece of a Japanese character.

    >>> token_bytes(tokenizer, 41017)  # doctest: +SKIP
    b'\\xe3\\x81'
    """
    piece = tokenizer.convert_ids_to_tokens(int(token_id))
    chars = _byte_level_chars()
    if not isinstance(piece, str) or not piece or any(c not in chars for c in piece):
        return None
    return bytes(chars[c] for c in piece)


def token_labels(tokenizer: Any, ids: Sequence[int], max_chars: int | None = 14) -> list[str]:
    """Decode each id on its own and make it printable with `show_token`.

    >>> token_labels(tokenizer, [28, 2114])  # doctest: +SKIP
    ['.', '␣cat']
    """
    return [show_token(tokenizer.decode([int(i)]), max_chars) for i in ids]


def format_batch(tokenizer: Any, batch: Any, max_chars: int = 12) -> str:
    """A tokenized batch as a table aligned by position: each row's tokens, their ids and the attention mask.

    ``batch`` is what the tokenizer returned (``input_ids``, and ``attention_mask`` when it has one);
    a column is as wide as its widest cell in any row, so a pad token sits above its id and its 0.
    The labels follow `set_language`.

    >>> print(format_batch(tokenizer, tokenizer(["1, 2", "A, B, C"], padding=True)))  # doctest: +SKIP
    row 0  token  1  ,  ␣   2  <|im_end|>
           id     33 28 216 34 2
           mask   1  1  1   1  0
    row 1  token  A  ,  ␣B  ,  ␣C
           id     49 28 389 28 340
           mask   1  1  1   1  1
    """
    masks = batch.get("attention_mask") if hasattr(batch, "get") else None
    tables = []
    for number, ids in enumerate([int(i) for i in row] for row in batch["input_ids"]):
        table = [token_labels(tokenizer, ids, max_chars), [str(i) for i in ids]]
        if masks is not None:
            table.append([str(int(m)) for m in masks[number]])
        tables.append(table)
    widths = [max(text_width(line[k]) for table in tables for line in table) for k in range(len(tables[0][0]))]
    names = [say(en="token", ja="トークン"), say(en="id", ja="ID"), say(en="mask", ja="マスク")]
    heads = [say(en=f"row {number}", ja=f"行 {number}") for number in range(len(tables))]
    name_width, head_width = max(map(text_width, names)), max(map(text_width, heads))
    lines = []
    for number, table in enumerate(tables):
        for line, (name, cells) in enumerate(zip(names, table, strict=False)):  # no mask row: two lines
            head = pad_text(heads[number] if line == 0 else "", head_width)
            body = " ".join(pad_text(cell, width) for cell, width in zip(cells, widths, strict=True))
            lines.append(f"{head}  {pad_text(name, name_width)}  {body}".rstrip())
    return "\n".join(lines)


def text_width(text: str) -> int:
    """Columns the text takes in a monospaced font: 2 for a wide (CJK) character.

    >>> text_width("token"), text_width("トークン")
    (5, 8)
    """
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad_text(text: str, width: int) -> str:
    """The text followed by spaces up to ``width`` columns (a table's column, Japanese labels included).

    >>> pad_text("確率", 6) + "|"
    '確率  |'
    """
    return text + " " * (width - text_width(text))


def pad_token_id(tokenizer: Any) -> int | None:
    """The tokenizer's pad id, or its EOS id when it has no pad token (what ``generate`` pads with).

    >>> class T: pad_token_id, eos_token_id = None, 2
    >>> pad_token_id(T())
    2
    """
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
