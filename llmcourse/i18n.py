"""The language of messages (check results, doctor): English or Japanese.

Lessons in ``notebooks/ja`` call ``set_language("ja")`` in their first cell;
``$LLMCOURSE_LANG`` sets the default. Messages are written next to the code that
prints them, in both languages: ``say(en="...", ja="...")``. The state is one name, `_chosen`:
`set_language` sets it for the session, `in_language` for one block.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

LANGUAGES = ("en", "ja")
_chosen: str | None = None  # the language set_language chose; None until it is called


def _known(language: str) -> str:
    """``language`` if the course speaks it; a ValueError otherwise."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
    return language


def set_language(language: str) -> None:
    """Choose the language of messages for this session, and for the commands it starts.

    ``$LLMCOURSE_LANG`` is set too, so that ``python -m llmcourse ...`` run from a lesson
    (lesson 00 runs ``fetch`` in a subprocess) answers in the lesson's language.

    >>> set_language("ja"); get_language(), os.environ["LLMCOURSE_LANG"]
    ('ja', 'ja')
    >>> set_language("en")
    """
    global _chosen
    _chosen = _known(language)
    os.environ["LLMCOURSE_LANG"] = language


@contextlib.contextmanager
def in_language(language: str) -> Iterator[None]:
    """Speak ``language`` inside the block only (commands it starts keep ``$LLMCOURSE_LANG``); then as before.

    >>> set_language("ja")
    >>> with in_language("en"):
    ...     say(en="passed", ja="合格")
    'passed'
    >>> get_language()
    'ja'
    >>> set_language("en")
    """
    global _chosen
    before, _chosen = _chosen, _known(language)
    try:
        yield
    finally:
        _chosen = before


def get_language() -> str:
    """The language in use: the last `set_language`, else ``$LLMCOURSE_LANG``, else English.

    >>> get_language() in LANGUAGES
    True
    """
    if _chosen is not None:
        return _chosen
    language = os.environ.get("LLMCOURSE_LANG", "en")
    return language if language in LANGUAGES else "en"


def say(*, en: str, ja: str) -> str:
    """Pick the message in the current language.

    >>> set_language("en"); say(en="passed", ja="合格")
    'passed'
    """
    return ja if get_language() == "ja" else en
