"""The explorer's settings: their ranges (the sliders' and the methods' alike) and what generate is told.

A value out of its range is refused with the range, whether it comes from a method call or a
slider (the widget's sliders cannot go past the same bounds). "Off" values turn a filter off
exactly as generate reads them: ``top_k=0``, ``top_p=1.0``, ``min_p=0``, ``repetition_penalty=1.0``, or None.

>>> generation_settings({"do_sample": True, "temperature": 0.7, "top_k": 50, "top_p": 1.0, "min_p": 0.0,
...                      "repetition_penalty": 1.0})
{'do_sample': True, 'temperature': 0.7, 'top_k': 50, 'top_p': 1.0, 'min_p': None, 'repetition_penalty': 1.0}
"""

from __future__ import annotations

from typing import Any

from .errors import CourseError
from .i18n import say

# transformers' own defaults (GenerationConfig), used where the model's generation config sets nothing
DEFAULTS = {"do_sample": False, "temperature": 1.0, "top_k": 50, "top_p": 1.0, "min_p": 0.0,
            "repetition_penalty": 1.0}
# name: (lowest, highest, slider step); whole numbers where the step is 1
RANGES: dict[str, tuple[float, float, float]] = {
    "temperature": (0.05, 2.0, 0.05),
    "top_k": (0, 200, 1),
    "top_p": (0.05, 1.0, 0.01),
    "min_p": (0.0, 0.5, 0.01),
    "repetition_penalty": (0.5, 2.0, 0.05),
    "seed": (0, 2**31 - 1, 1),
    "bars": (3, 30, 1),
    "steps": (1, 200, 1),
    "draws": (1, 10_000, 1),
}
WHOLE = {"top_k", "seed", "bars", "steps", "draws"}


ARGUMENTS = (*DEFAULTS, "seed", "bars")  # what explore() and Explorer.set() accept
OFF = {"top_k": 0, "top_p": 1.0, "min_p": 0.0, "repetition_penalty": 1.0, "temperature": 1.0}  # changes nothing


def validated(settings: dict[str, Any], vocabulary: int, accepted: tuple[str, ...] | None = None) -> dict[str, Any]:
    """``settings`` checked against `RANGES` (and do_sample a bool); a course error names the range.

    None turns a setting off, as generate reads it (``top_k=None`` keeps every token). Only the names
    in ``accepted`` are settings, when it is given.

    >>> validated({"temperature": 0.7, "top_k": None}, vocabulary=100)
    {'temperature': 0.7, 'top_k': 0}
    >>> validated({"temperature": 0}, vocabulary=100)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    llmcourse.errors.CourseError: temperature must be a number from 0.05 to 2.0 (temperature 0 is greedy decoding...
    """
    checked = {name: OFF[name] if value is None and name in OFF else value for name, value in settings.items()}
    for name, value in checked.items():
        if name not in (accepted or (*DEFAULTS, *RANGES)):
            known = ", ".join(accepted or (*DEFAULTS, *RANGES))
            raise CourseError(say(en=f"The explorer has no setting {name!r}; it has: {known}.",
                                  ja=f"エクスプローラーに {name!r} という設定はありません。あるのは {known} です。"))
        if name == "do_sample":
            if not isinstance(value, bool):
                raise CourseError(say(en=f"do_sample must be True or False, got {value!r}.",
                                      ja=f"do_sample は True か False にしてください。{value!r} が渡されました。"))
        else:
            _require_in_range(name, value)
    return checked


def _require_in_range(name: str, value: Any) -> None:
    """Refuse a value of the wrong type or outside `RANGES`, with the range and what the ends mean."""
    low, high, _ = RANGES[name]
    whole = name in WHOLE
    number = isinstance(value, int) if whole else isinstance(value, (int, float))
    if isinstance(value, bool) or not number or not low <= value <= high:
        kind = say(en="a whole number", ja="整数") if whole else say(en="a number", ja="数")
        hint = say(en=f" ({OFF[name]} turns it off)", ja=f"（{OFF[name]} でオフ）") if name in OFF else ""
        if name == "temperature" and value == 0:
            hint = say(en=" (temperature 0 is greedy decoding: do_sample=False)",
                       ja="（温度 0 は貪欲デコーディングのことです。do_sample=False にしてください）")
        raise CourseError(say(en=f"{name} must be {kind} from {low} to {high}{hint}, got {value!r}.",
                              ja=f"{name} は {low} から {high} までの{kind}にしてください{hint}。"
                                 f"{value!r} が渡されました。"))


def model_defaults(generation_config: Any) -> dict[str, Any]:
    """`DEFAULTS`, overridden by what the model's generation config sets, as generate reads it.

    >>> from transformers import GenerationConfig
    >>> model_defaults(GenerationConfig(do_sample=True, top_k=20))["top_k"]
    20
    """
    defaults = dict(DEFAULTS)
    for name in DEFAULTS:
        value = getattr(generation_config, name, None)
        if value is not None:
            defaults[name] = value
    return defaults


def generation_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``generate`` for these settings (the sampling ones only when sampling)."""
    penalty = {"repetition_penalty": settings["repetition_penalty"]}
    if not settings["do_sample"]:
        return {"do_sample": False, **penalty}
    min_p = settings["min_p"] or None  # generate adds a min-p filter for any value that is not None
    return {"do_sample": True, "temperature": settings["temperature"], "top_k": settings["top_k"],
            "top_p": settings["top_p"], "min_p": min_p, **penalty}
