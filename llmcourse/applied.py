"""Which settings of a generate call changed the scores, and the name of the distribution they made.

The plots' titles and the explorer's labels name only what was applied, the hidden default
included: with ``do_sample=True`` and no ``top_k``, generate keeps the 50 most likely tokens.

>>> applied_settings({"do_sample": True, "temperature": 0.7})
['temperature=0.7', 'top_k=50 (default)']
"""

from __future__ import annotations

from typing import Any

from .i18n import say
from .sampling import SAMPLING_SETTINGS

# what generate's logits processors apply, by setting: only while sampling, or always (greedy too)
SAMPLING_ONLY = (*SAMPLING_SETTINGS, "typical_p", "epsilon_cutoff", "eta_cutoff")
ALWAYS_APPLIED = ("repetition_penalty", "no_repeat_ngram_size", "min_new_tokens", "min_length", "bad_words_ids",
                  "suppress_tokens", "begin_suppress_tokens", "sequence_bias", "forced_eos_token_id")
NO_EFFECT = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0,
             "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "min_new_tokens": 0, "min_length": 0}
DEFAULT_TOP_K = 50  # transformers' GenerationConfig default: applied when do_sample=True and top_k is not given


def applied_settings(settings: dict[str, Any]) -> list[str]:
    """The settings of a generate call that changed the scores, as 'name=value', in the order generate applies them.

    With ``do_sample=True`` and no ``top_k``, generate keeps only the 50 most likely tokens
    (``top_k=None`` or ``0`` turns that off); greedy decoding applies no sampling setting.
    Generate applies the penalties first, then temperature, top-k, top-p, min-p
    (``GenerationMixin._get_logits_processor``).

    >>> applied_settings({"do_sample": True, "temperature": 0.7, "max_new_tokens": 5})
    ['temperature=0.7', 'top_k=50 (default)']
    >>> applied_settings({"do_sample": True, "top_k": None, "min_p": 0.1})
    ['min_p=0.1']
    >>> applied_settings({"do_sample": True, "top_p": 0.9, "repetition_penalty": 1.2})
    ['repetition_penalty=1.2', 'top_k=50 (default)', 'top_p=0.9']
    """
    sampling = bool(settings.get("do_sample"))
    always = _applied(settings, ALWAYS_APPLIED)
    by_sampling = _applied(settings, SAMPLING_ONLY) if sampling else []
    if sampling and "top_k" not in settings:
        after_temperature = 1 if settings.get("temperature") not in (None, 1.0) else 0
        by_sampling.insert(after_temperature, default_top_k())
    return always + by_sampling


def default_top_k() -> str:
    """generate's hidden top-k, marked as its default (in Japanese with 〔〕, no parentheses inside the label's).

    >>> from llmcourse.i18n import in_language
    >>> with in_language("ja"):
    ...     default_top_k()
    'top_k=50〔既定値〕'
    """
    return f"top_k={DEFAULT_TOP_K}" + say(en=" (default)", ja="〔既定値〕")


def joined(settings: list[str]) -> str:
    """Settings one after the other: ', ' in English, '、' in Japanese.

    >>> joined(["temperature=0.7", "top_p=0.9"])
    'temperature=0.7, top_p=0.9'
    """
    return say(en=", ", ja="、").join(settings)


def _applied(settings: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    """'name=value' for each of ``names`` set to a value that changes the scores."""
    return [f"{name}={settings[name]}" for name in names
            if settings.get(name) is not None and settings[name] != NO_EFFECT.get(name)]


def applied_label(settings: dict[str, Any]) -> str:
    """The name of the processed distribution under these settings: only what was applied.

    >>> from llmcourse.i18n import set_language
    >>> set_language("en"); applied_label({"do_sample": True, "temperature": 1.5, "min_p": 0.1})
    'sampling distribution (after temperature=1.5, top_k=50 (default), min_p=0.1)'
    >>> applied_label({"repetition_penalty": 1.2})
    'greedy scores (after repetition_penalty=1.2)'
    >>> applied_label({"do_sample": True, "top_k": 0})
    'sampling distribution (nothing applied: the model distribution)'
    >>> set_language("ja"); applied_label({"do_sample": True, "temperature": 1.5})
    'サンプリング分布（temperature=1.5、top_k=50〔既定値〕を適用後）'
    >>> applied_label({"repetition_penalty": 1.2}); set_language("en")
    '貪欲デコーディングのスコア（repetition_penalty=1.2 を適用後）'
    """
    sampling = bool(settings.get("do_sample"))
    applied = joined(applied_settings(settings))
    after_ja = f"{applied}{' ' if applied[-1:].isascii() else ''}を適用後"  # a space after ASCII, as in prose
    if sampling:
        return (say(en=f"sampling distribution (after {applied})", ja=f"サンプリング分布（{after_ja}）")
                if applied
                else say(en="sampling distribution (nothing applied: the model distribution)",
                         ja="サンプリング分布（何も適用されず、モデルの分布のまま）"))
    return (say(en=f"greedy scores (after {applied})", ja=f"貪欲デコーディングのスコア（{after_ja}）") if applied
            else say(en="greedy scores (nothing applied: the model distribution)",
                     ja="貪欲デコーディングのスコア（何も適用されず、モデルの分布のまま）"))
