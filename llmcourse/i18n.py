"""The language of messages (check results, doctor): English or Japanese.

Lessons in ``notebooks/ja`` call ``set_language("ja")`` in their first cell;
``$LLMCOURSE_LANG`` sets the default. Messages are written next to the code that
prints them, in both languages: ``say(en="...", ja="...")``.
"""

from __future__ import annotations

import os

LANGUAGES = ("en", "ja")
_chosen: list[str] = []  # empty until set_language is called


def set_language(language: str) -> None:
    """Choose the language of messages for this session, and for the commands it starts.

    ``$LLMCOURSE_LANG`` is set too, so that ``python -m llmcourse ...`` run from a lesson
    (lesson 00 runs ``fetch`` in a subprocess) answers in the lesson's language.

    >>> set_language("ja"); get_language(), os.environ["LLMCOURSE_LANG"]
    ('ja', 'ja')
    >>> set_language("en")
    """
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
    _chosen[:] = [language]
    os.environ["LLMCOURSE_LANG"] = language


def get_language() -> str:
    """The language in use: the last `set_language`, else ``$LLMCOURSE_LANG``, else English.

    >>> get_language() in LANGUAGES
    True
    """
    if _chosen:
        return _chosen[0]
    language = os.environ.get("LLMCOURSE_LANG", "en")
    return language if language in LANGUAGES else "en"


def say(*, en: str, ja: str) -> str:
    """Pick the message in the current language.

    >>> set_language("en"); say(en="passed", ja="合格")
    'passed'
    """
    return ja if get_language() == "ja" else en
