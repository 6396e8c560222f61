"""Where the time of a ``generate`` call goes: every forward pass of each model, timed (lesson 08).

`ForwardClock` hooks the forward passes of one or more models while ``generate`` runs and logs,
for each pass, which model ran it, how many tokens it fed and how long it took. The rest of the
call's time is everything else: the decoding loop itself (choosing tokens; with a draft, the
draft's own ``generate`` call per pass, comparing its guesses, trimming caches). `assisted_verdict`
sets an assisted run's log against a plain run's: where the time went, and whether the draft paid.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from .i18n import say
from .verdicts import SAME

__all__ = ["Pass", "ForwardClock", "AssistedCosts", "assisted_verdict"]


@dataclass(frozen=True)
class Pass:
    """One forward pass: the model's name in the clock, how many tokens it fed (per row), its seconds."""

    model: str
    fed: int  # tokens per row the pass was given
    seconds: float


class ForwardClock:
    """Time every forward pass of the named models inside a ``with`` block, and the block itself.

    >>> import torch
    >>> layer = torch.nn.Linear(4, 4)
    >>> with ForwardClock(layer=layer) as clock:
    ...     _ = layer(torch.ones(1, 3, 4)); _ = layer(torch.ones(1, 1, 4))
    >>> [(p.model, p.fed) for p in clock.passes], clock.other <= clock.seconds
    ([('layer', 3), ('layer', 1)], True)
    """

    def __init__(self, **models: Any) -> None:
        self.models = models  # name -> module whose forward passes are timed
        self.passes: list[Pass] = []  # every pass, in order
        self.seconds = 0.0  # the whole block
        self._hooks: list[Any] = []

    def __enter__(self) -> ForwardClock:
        for name, module in self.models.items():
            started: list[float] = []
            self._hooks.append(module.register_forward_pre_hook(
                lambda *_, started=started: started.append(time.perf_counter()), with_kwargs=True))
            self._hooks.append(module.register_forward_hook(
                lambda _m, args, kwargs, _out, name=name, started=started: self.passes.append(
                    Pass(name, _fed(args, kwargs), time.perf_counter() - started.pop())), with_kwargs=True))
        self._began = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._began
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()

    def of(self, model: str) -> list[Pass]:
        """The passes of one model, in order."""
        return [p for p in self.passes if p.model == model]

    def spent(self, model: str) -> float:
        """Seconds of all the passes of one model."""
        return sum(p.seconds for p in self.of(model))

    @property
    def other(self) -> float:
        """Seconds of the block outside every forward pass: the decoding loop's own work."""
        return self.seconds - sum(p.seconds for p in self.passes)


def _fed(args: tuple, kwargs: dict) -> int:
    """Tokens per row that a forward pass was given (its input ids, or its input embeddings)."""
    for value in (kwargs.get("input_ids"), kwargs.get("inputs_embeds"), *args[:1]):
        if value is not None and hasattr(value, "shape") and len(value.shape) >= 2:
            return int(value.shape[1])
    return 0


@dataclass(frozen=True)
class AssistedCosts:
    """What an assisted run's passes cost, in the unit of the model's one-token step (from two `ForwardClock` s).

    ``c``: a draft step over a model step; ``v``: a check pass (the model over k + 1 tokens) over a
    model step; ``prefill``: the draft's first pass, over the prompt, in model steps. Speculative
    decoding's arithmetic: a pass that yields n tokens costs k c + v steps instead of n.
    """

    step: float  # seconds of the model's one-token step (plain run, median)
    check_tokens: int  # tokens a full check pass fed: k + 1
    c: float
    v: float
    prefill: float

    @classmethod
    def of(cls, plain: ForwardClock, assisted: ForwardClock) -> AssistedCosts:
        """The costs measured by a plain clock (``model``) and an assisted one (``model`` and ``draft``)."""
        step = statistics.median(p.seconds for p in plain.of("model")[1:])
        checks, drafted = assisted.of("model")[1:], assisted.of("draft")
        widest = max(p.fed for p in checks)  # the passes that checked all k guesses
        check = statistics.median(p.seconds for p in checks if p.fed == widest)
        draft_step = statistics.median(p.seconds for p in drafted[1:] if p.fed == 1)
        return cls(step, widest, draft_step / step, check / step, drafted[0].seconds / step)


def assisted_verdict(plain: ForwardClock, assisted: ForwardClock) -> str:
    """Where the time of a plain and an assisted run of the same tokens went, and whether the draft paid.

    ``plain`` timed ``model`` alone; ``assisted`` timed ``model`` and ``draft`` (the names in the clocks).
    The model's first pass reads the prompt (in an assisted run, with the first guesses), the
    draft's first pass reads the prompt too (its prefill); the later passes are the decode steps.
    """
    costs = AssistedCosts.of(plain, assisted)
    model_passes, drafted = len(assisted.of("model")), len(assisted.of("draft"))
    lines = [
        say(en=f"plain:    {len(plain.of('model'))} passes of the model, {plain.seconds:.2f} s in all; "
               f"a one-token step {1000 * costs.step:.0f} ms",
            ja=f"通常：    モデルのパス {len(plain.of('model'))} 回、合計 {plain.seconds:.2f} 秒。"
               f"1 トークンのステップは {1000 * costs.step:.0f} ミリ秒"),
        say(en=f"assisted: {model_passes} passes of the model, {assisted.seconds:.2f} s in all; "
               f"a check pass over {costs.check_tokens} tokens (k + 1) costs v = {costs.v:.2f} one-token steps",
            ja=f"アシスト：モデルのパス {model_passes} 回、合計 {assisted.seconds:.2f} 秒。"
               f"{costs.check_tokens} トークン（k + 1）の検証パスは 1 トークンのステップ v = {costs.v:.2f} 回分"),
        say(en=f"          the draft: {drafted} passes, {assisted.spent('draft'):.2f} s; a step costs "
               f"c = {costs.c:.2f} model steps, its first pass over the prompt {costs.prefill:.1f} model steps",
            ja=f"          ドラフト：パス {drafted} 回、{assisted.spent('draft'):.2f} 秒。1 ステップはモデルの "
               f"c = {costs.c:.2f} ステップ分、プロンプトを読む最初のパスはモデルの {costs.prefill:.1f} ステップ分"),
    ]
    return "\n".join(lines + _where_the_time_went(plain, assisted))


def _where_the_time_went(plain: ForwardClock, assisted: ForwardClock) -> list[str]:
    """The seconds the model's passes saved against what the draft and the loop added; the verdict."""
    saved = plain.spent("model") - assisted.spent("model")
    loop = assisted.other - plain.other
    drafted = assisted.of("draft")
    costs = {say(en="the draft's prefill", ja="ドラフトのプリフィル"): drafted[0].seconds if drafted else 0.0,
             say(en="the draft's steps", ja="ドラフトのステップ"): sum(p.seconds for p in drafted[1:]),
             say(en="the assisted loop's own work", ja="アシスト付きループ自体の処理"): loop}
    speedup = plain.seconds / assisted.seconds
    lines = [say(en=f"time in the model's passes: {assisted.spent('model'):.2f} s (plain: {plain.spent('model'):.2f} s), "
                    f"saved {saved:.2f} s; the draft's passes added {assisted.spent('draft'):.2f} s, the loop's own "
                    f"work {loop:.2f} s",
                 ja=f"モデルのパス：通常の {plain.spent('model'):.2f} 秒に対して {assisted.spent('model'):.2f} 秒"
                    f"（節約 {saved:.2f} 秒）。ドラフトが {assisted.spent('draft'):.2f} 秒、ループ自体の処理が "
                    f"{loop:.2f} 秒を加えました")]
    if speedup >= 1 + SAME:
        lines.append(say(en=f"The draft paid ({speedup:.2f}x): the model's passes saved more than the draft and the "
                            "loop added.",
                         ja=f"ドラフトは元が取れました（{speedup:.2f} 倍）。モデルのパスで節約した時間が、ドラフトと"
                            "ループが加えた時間を上回っています。"))
    elif speedup <= 1 - SAME:
        largest = max(costs, key=costs.get)
        lines.append(say(en=f"The draft did not pay ({speedup:.2f}x): the draft and the loop added more than the "
                            f"model's passes saved; the largest cost: {largest}.",
                         ja=f"ドラフトは元が取れませんでした（{speedup:.2f} 倍）。ドラフトとループが加えた時間が、"
                            f"モデルのパスで節約した時間を上回っています。最大のコストは{largest}です。"))
    else:
        lines.append(say(en=f"About even ({speedup:.2f}x): what the model's passes saved, the draft and the loop "
                            "spent.",
                         ja=f"ほぼ差がありません（{speedup:.2f} 倍）。モデルのパスで節約した分を、ドラフトとループが"
                            "使っています。"))
    return lines
