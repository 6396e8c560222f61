"""The course's own exceptions: each message says what went wrong and what to do.

Every helper raises one of these instead of letting a traceback from deep inside
transformers reach the learner. The learner sees one line; the original exception
stays reachable for an instructor as ``error.cause``, its traceback as ``error.details``.
The pieces every message shares live here too: `describe` names what the learner passed,
`first_line` shortens an exception, `require_whole_number` is the one rule for counts.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from typing import Any

from .i18n import say


class CourseError(Exception):
    """Base class: a mistake or a missing piece the learner can fix.

    Raise it ``from None`` so a notebook shows one line, and pass ``cause=`` when it
    replaces another exception, so nothing is lost for whoever debugs it.

    >>> str(CourseError("max_new_tokens must be positive"))
    'max_new_tokens must be positive'
    >>> try:
    ...     int("ten")
    ... except ValueError as error:
    ...     course_error = CourseError("max_new_tokens must be a whole number", cause=error)
    >>> course_error.cause
    ValueError("invalid literal for int() with base 10: 'ten'")
    >>> course_error.details.splitlines()[-1]
    "ValueError: invalid literal for int() with base 10: 'ten'"
    """

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause  # the exception this one replaces, or None
        self.details = "".join(traceback.format_exception(cause)) if cause is not None else ""


class ModelNotAvailableError(CourseError):
    """The model asked for cannot be loaded here (no network, no cache, bad path)."""


class SetupError(CourseError):
    """A package or piece of hardware the request needs is missing."""


def describe(value: object) -> str:
    """How a message names what the learner passed: 'None', 'an int', 'a list of 3', "the string 'hi'".

    The one name for a learner's value in every message (guards, plots, checks); in Japanese
    'int 型の値', '要素 3 個の list'.

    >>> from llmcourse.i18n import set_language; set_language("en")
    >>> describe(None), describe(3), describe([1, 2, 3]), describe("hi"), describe(object())
    ('None', 'an int', 'a list of 3', "the string 'hi'", 'an object')
    >>> import torch
    >>> describe(torch.zeros(1, 5)), describe({"role": "user", "content": "hi"})
    ('a Tensor of shape (1, 5)', 'a chat message')
    """
    if value is None:
        return say(en="None", ja="None（値なし）")
    if isinstance(value, str):
        shown = repr(value if len(value) <= 40 else value[:37] + "...")
        return say(en=f"the string {shown}", ja=f"文字列 {shown}")
    name = type(value).__name__
    if isinstance(value, Mapping) and "role" in value:
        return say(en="a chat message", ja="チャットのメッセージ")
    if hasattr(value, "input_ids"):
        return say(en=f"tokenized inputs (a {name}, what tokenizer(...) returns)",
                   ja=f"トークン化済みの入力（tokenizer(...) が返す {name}）")
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return say(en=f"a {name} of shape {tuple(value.shape)}", ja=f"形 {tuple(value.shape)} の {name}")
    if isinstance(value, (list, tuple, dict)):
        return say(en=f"a {name} of {len(value)}", ja=f"要素 {len(value)} 個の {name}")
    return say(en=f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}", ja=f"{name} 型の値")


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none), for a one-line course error.

    >>> first_line(ValueError("bad value\\nmore detail")), first_line(KeyError())
    ('bad value', 'KeyError')
    """
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def is_whole_number(value: Any, most: float = float("inf")) -> bool:
    """A whole number from 1 to ``most``: not a bool, a float, a string, 0...

    >>> is_whole_number(3), is_whole_number(True), is_whole_number(2.0), is_whole_number(0), is_whole_number(5, most=4)
    (True, False, False, False, False)
    """
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= most


def require_whole_number(name: str, value: Any, hint: str = "") -> None:
    """Refuse anything but a whole number >= 1 for the count ``name``; ``hint`` (a `say` result) is appended.

    >>> from llmcourse.i18n import set_language; set_language("en")
    >>> require_whole_number("max_new_tokens", 0)
    Traceback (most recent call last):
    ...
    llmcourse.errors.CourseError: max_new_tokens must be a whole number >= 1, got 0.
    """
    if not is_whole_number(value):
        raise CourseError(say(en=f"{name} must be a whole number >= 1, got {value!r}.",
                              ja=f"{name} は 1 以上の整数にしてください。{value!r} が渡されました。") + hint)
