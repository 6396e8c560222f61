"""The inputs a learner's function is handed must come back unchanged (issue 26, rule 2).

A function that divides ``logits`` in place (``logits /= t``, ``logits.div_(t)``) returns the right
values and corrupts its caller's tensor: `generate` would then see the processed scores twice. The
reference functions never change their inputs, so a check snapshots every argument it hands over
(tensors, lists, dicts, and the tensors inside a tokenizer's output or a result dataclass;
not models or tokenizers) and `changed_inputs` says, from the snapshot,
which ones came back different and how much.

>>> import torch
>>> logits = torch.tensor([1.0, 2.0, 3.0])
>>> kept = snapshot((logits, 0.5))
>>> _ = logits.div_(0.5)
>>> changed_inputs((logits, 0.5), kept)
[(0, '3 of 3 values differ')]
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Any

from ..i18n import say

_SKIPPED = object()  # an argument not snapshotted: a model, a tokenizer, a number


def snapshot(args: tuple) -> list[Any]:
    """A copy of every argument the check can compare after the call (tensors, lists, dicts)."""
    return [_copy(value) for value in args]


class _Parts(dict):
    """The snapshot of an object that holds tensors or lists by name: a tokenizer's output, a result dataclass."""


def _copy(value: Any) -> Any:
    if hasattr(value, "clone") and hasattr(value, "shape"):
        return value.detach().clone()
    if isinstance(value, (list, dict, tuple)):
        try:
            return copy.deepcopy(value)
        except Exception:  # something inside cannot be copied: not compared
            return _SKIPPED
    parts = _parts(value)
    return _Parts({name: _copy(part) for name, part in parts.items()}) if parts else _SKIPPED


def _parts(value: Any) -> dict[str, Any]:
    """The tensors and lists inside a mapping that is not a dict (BatchEncoding) or a dataclass, by name.

    >>> import torch
    >>> from transformers import BatchEncoding
    >>> list(_parts(BatchEncoding({"input_ids": torch.ones(1, 3)})))
    ['input_ids']
    """
    import dataclasses
    from collections.abc import Mapping

    if isinstance(value, Mapping):
        items = dict(value.items())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    else:
        return {}
    return {name: part for name, part in items.items()
            if isinstance(part, (list, dict)) or (hasattr(part, "clone") and hasattr(part, "shape"))}


def changed_inputs(args: tuple, kept: list[Any]) -> list[tuple[int, str]]:
    """(position, what differs) for every argument that is not what it was when `snapshot` took it."""
    changes = []
    for position, (value, before) in enumerate(zip(args, kept, strict=True)):
        if before is _SKIPPED:
            continue
        difference = _difference(value, before)
        if difference:
            changes.append((position, difference))
    return changes


def _difference(value: Any, before: Any) -> str:
    """'' when ``value`` equals ``before``; else what differs, in a few words (counts measured here)."""
    import torch

    if isinstance(before, _Parts):
        now = _parts(value)
        for name, part in before.items():
            difference = _difference(now.get(name), part) if part is not _SKIPPED else ""
            if difference:
                return say(en=f"{name}: {difference}", ja=f"{name} で{difference}")
        return ""
    if isinstance(before, torch.Tensor):
        if not isinstance(value, torch.Tensor) or value.shape != before.shape or value.dtype != before.dtype:
            shape = tuple(getattr(value, "shape", ()))
            return say(en=f"shape {tuple(before.shape)} became {shape}",
                       ja=f"形が {tuple(before.shape)} から {shape} に変わっていました")
        same = (value == before) | (torch.isnan(value) & torch.isnan(before)) if value.is_floating_point() \
            else value == before
        differ = int((~same).sum())
        return say(en=f"{differ} of {before.numel()} values differ",
                   ja=f" {before.numel()} 個中 {differ} 個の値が変わっていました") if differ else ""
    try:
        return "" if value == before else _contents_differ()
    except Exception:  # tensors inside a list: compare element by element
        return "" if all(not _difference(a, b) for a, b in zip(value, before, strict=False)) \
            and len(value) == len(before) else _contents_differ()


def _contents_differ() -> str:
    return say(en="its contents differ", ja="中身が変わっていました")


def changed(report: Any, name: str, function: Callable, args: tuple, kept: list) -> bool:
    """Add a failed line for every argument the call changed in place (``kept``: its `snapshot`); True if any.

    >>> import torch
    >>> from llmcourse.i18n import set_language; set_language("en")
    >>> logits = torch.zeros(2); kept = snapshot((logits,)); _ = logits.add_(1)
    >>> from llmcourse.checks.base import Report
    >>> changed(Report("Demo"), "my_fn", lambda logits: logits, (logits,), kept)
    True
    """
    found = changed_inputs(args, kept)
    for position, difference in found:
        argument = _parameter_name(function, position)
        report.add(False, say(en=f"{name} changed its input {argument} in place: {difference} after the call",
                              ja=f"{name} が入力 {argument} をその場で書き換えました。呼び出しの後、{difference.lstrip()}"),
                   say(en=f"leave {argument} as it was and build the result as a new value: /=, +=, .div_(), "
                          "masked_fill_() or x[...] = write into the input (.clone() it first if you need to)",
                       ja=f"{argument} は元のままにし、結果は新しい値として作ります。/=、+=、.div_()、masked_fill_()、"
                          "x[...] = は入力に書き込みます（必要なら先に .clone() でコピーします）"))
    return bool(found)


def _parameter_name(function: Callable, position: int) -> str:
    """The learner's name for the argument at ``position`` (their function's parameter), or 'number N'."""
    try:
        names = [p.name for p in inspect.signature(function).parameters.values()]
        return names[position] if position < len(names) else f"#{position + 1}"
    except (TypeError, ValueError):
        return f"#{position + 1}"
