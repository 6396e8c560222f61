"""Tokens as a learner reads them: one renderer for whitespace, and the pad-id fallback.

Every table (`format_steps`) and every plot label shows a token through `show_token`,
so a newline looks the same everywhere: ``↵``.

>>> show_token(" the\\n")
'␣the↵'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


def token_labels(tokenizer: Any, ids: Sequence[int], max_chars: int | None = 14) -> list[str]:
    """Decode each id on its own and make it printable with `show_token`.

    >>> token_labels(tokenizer, [28, 2114])  # doctest: +SKIP
    ['.', '␣cat']
    """
    return [show_token(tokenizer.decode([int(i)]), max_chars) for i in ids]


def pad_token_id(tokenizer: Any) -> int | None:
    """The tokenizer's pad id, or its EOS id when it has no pad token (what ``generate`` pads with).

    >>> class T: pad_token_id, eos_token_id = None, 2
    >>> pad_token_id(T())
    2
    """
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
