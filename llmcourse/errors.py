"""The course's own exceptions: each message says what went wrong and what to do.

Every helper raises one of these instead of letting a traceback from deep inside
transformers reach the learner. The learner sees one line; the original exception
stays reachable for an instructor as ``error.cause``, its traceback as ``error.details``.
"""

from __future__ import annotations

import traceback

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


def a_type(value: object) -> str:
    """How a message names the type of what the learner passed: 'a str', 'an int', 'None' (in Japanese 'str 型の値').

    >>> a_type("hi"), a_type(3), a_type(None)
    ('a str', 'an int', 'None')
    """
    if value is None:
        return say(en="None", ja="None（値なし）")
    name = type(value).__name__
    return say(en=f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}", ja=f"{name} 型の値")
