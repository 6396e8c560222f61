"""How a check shows a learner's value in a message, and reads a number out of one.

>>> from llmcourse.i18n import set_language; set_language("en")
>>> show([1, 2]), show(0.5), as_int(3.0)
('[1, 2]', '0.5', 3)
"""

from __future__ import annotations

from typing import Any

from ..errors import describe, first_line


def show(value: Any) -> str:
    """A learner's return value in a message: a short repr, or `describe` of arrays and long values.

    >>> from llmcourse.i18n import set_language; set_language("en")
    >>> show(2.0 / 3), show("fast"), show(list(range(30)))
    ('0.6667', "'fast'", 'a list of 30')
    """
    if getattr(value, "ndim", 0) > 0 or len(repr(value)) > 40:
        return describe(value)
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def as_int(value: Any) -> int | None:
    """An int, or a one-element tensor or array turned into one; None for anything else.

    >>> as_int(3.0), as_int(True), as_int("3"), as_int(2.5)
    (3, None, None, None)
    """
    if value is None or isinstance(value, (bool, str, bytes)):
        return None
    if hasattr(value, "numel") and value.numel() != 1:  # a tensor of logits, say
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        return None
    return int(number) if number.is_integer() else None


def as_float(value: Any) -> float | None:
    """A float, or a one-element tensor turned into one; None for anything else.

    >>> as_float(3), as_float("fast"), as_float(None)
    (3.0, None, None)
    """
    if value is None or isinstance(value, (bool, str, bytes)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def error_text(error: Exception) -> str:
    """``TypeError: first line of the message``, at most 160 characters.

    >>> error_text(ValueError("bad value\\nmore detail"))
    'ValueError: bad value'
    """
    text = f"{type(error).__name__}: {first_line(error)}" if str(error).strip() else type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."
