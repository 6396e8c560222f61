"""Plots of one generation step: which tokens could come next, and what sampling does to them.

Lessons 03 and 05. Each takes either a `GenerationResult` (and a step) or the
next-token logits of a forward pass, ``(batch, vocab)`` with ``row=0`` drawn:
``model(**inputs).logits[:, -1, :]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..applied import applied_label
from ..generation import GenerationResult
from ..i18n import say
from ..sampling import SAMPLING_SETTINGS, process_logits, sample_frequencies, sampling_probs, temperature_probs
from ..tokens import token_labels
from .common import (
    bar_legend,
    context,
    distribution_label,
    draw_bars,
    fit_ylim,
    logits_row,
    other_label,
    probability_word,
    raw_label,
    require_alternatives,
    require_position,
    require_which,
    settings_text,
    step_logits,
    top_with_other,
)
from .style import (
    BLUE,
    GREEN,
    GREY,
    LIGHT_GREY,
    ORANGE,
    PURPLE,
    VERMILLION,
    new_figure,
    plot_style,
    points,
    set_token_ticks,
)


def plot_next_token(result_or_logits: GenerationResult | torch.Tensor, *, step: int = 0, row: int = 0,
                    alternatives: int = 10, which: str = "raw", tokenizer: Any = None) -> Figure:
    """Bar chart of the most likely next tokens plus one bar for all the others.

    >>> result = generate(model, tokenizer, "A list of colors: red, blue", max_new_tokens=5)  # doctest: +SKIP
    >>> plot_next_token(result, step=0)                                                      # doctest: +SKIP
    >>> plot_next_token(model(**inputs).logits[:, -1, :], tokenizer=tokenizer)               # doctest: +SKIP
    """
    require_which(which)
    require_alternatives(alternatives)
    chosen = rank = None
    if isinstance(result_or_logits, GenerationResult):
        result = result_or_logits
        require_position(result, row, step)
        logits, tokenizer = step_logits(result, which, row, step), result.tokenizer
        chosen = int(result.token_ids[row, step])
        rank = int(getattr(result, which).chosen_rank[row, step])
        subtitle = say(en="\nafter: ", ja="\n直前のテキスト：") + context(result, row, step)
        name = distribution_label(which, result.settings)
    else:
        logits, subtitle = logits_row(result_or_logits, tokenizer, row), ""
        name = distribution_label(which)
    ids, heights = top_with_other(torch.softmax(logits, -1), alternatives)
    with plot_style():
        fig, ax = new_figure((8, 4.8))
        draw_bars(ax, tokenizer, ids, heights, chosen=chosen)
        fit_ylim(ax, heights)
        bar_legend(fig, chosen, ids, rank)
        ax.set_title(say(en=f"Next token at step {step}: ", ja=f"ステップ {step} の次のトークン：")
                     + name + subtitle, parse_math=False)
    return fig


def plot_raw_vs_processed(result: GenerationResult, *, step: int = 0, row: int = 0, alternatives: int = 10) -> Figure:
    """The model distribution next to the sampling distribution for one step, same tokens on both.

    >>> result = generate(model, tokenizer, "Once upon a time", do_sample=True, top_k=5)  # doctest: +SKIP
    >>> plot_raw_vs_processed(result, step=0)                                            # doctest: +SKIP
    """
    require_position(result, row, step)
    require_alternatives(alternatives)
    raw = torch.softmax(step_logits(result, "raw", row, step), -1)
    processed = torch.softmax(step_logits(result, "processed", row, step), -1)
    ids, raw_heights = top_with_other(raw, alternatives)
    _, processed_heights = top_with_other(processed, alternatives, torch.tensor(ids))
    chosen = int(result.token_ids[row, step])
    with plot_style():
        fig, (left, right) = new_figure((12, 5), 1, 2, sharey=True)
        draw_bars(left, result.tokenizer, ids, raw_heights, chosen=chosen)
        draw_bars(right, result.tokenizer, ids, processed_heights, chosen=chosen)
        for x, height in enumerate(processed_heights[:-1]):
            if height == 0:
                right.text(x, 0.01, "×", ha="center", va="bottom", color=GREY, fontsize=points(12))
        fit_ylim(left, raw_heights, processed_heights)
        bar_legend(fig, chosen, ids, int(result.raw.chosen_rank[row, step]))
        left.set_title(raw_label())
        filtered = any(height == 0 for height in processed_heights[:-1])
        right.set_title(distribution_label("processed", result.settings)
                        + (say(en="\n× = filtered out (probability 0)", ja="\n× = 除外（確率 0）") if filtered else ""))
        fig.suptitle(say(en=f"Step {step} after: ", ja=f"ステップ {step}、直前のテキスト：")
                     + f"{context(result, row, step)}\n{settings_text(result.settings)}", parse_math=False)
    return fig


def plot_temperatures(logits: torch.Tensor, tokenizer: Any, temperatures: Sequence[float] = (0, 0.5, 1.0, 2.0), *,
                      alternatives: int = 10, row: int = 0) -> Figure:
    """The same logits at several temperatures, one panel each, with entropy and top-1 probability.

    >>> plot_temperatures(model(**inputs).logits[:, -1, :], tokenizer)  # doctest: +SKIP
    """
    logits = logits_row(logits, tokenizer, row)
    require_alternatives(alternatives)
    ids = logits.topk(min(alternatives, logits.numel())).indices  # temperature never changes the order
    ncols = min(len(temperatures), 4)
    nrows = math.ceil(len(temperatures) / ncols)
    with plot_style():
        fig, axes = new_figure((3.4 * ncols, 3.8 * nrows), nrows, ncols, sharey=True, squeeze=False)
        for ax, temperature in zip(axes.flat, temperatures, strict=False):
            probs = temperature_probs(logits[None], temperature)[0]  # (vocab,)
            _, heights = top_with_other(probs, alternatives, ids)
            draw_bars(ax, tokenizer, ids.tolist(), heights, rotation=60)
            entropy = float(torch.special.entr(probs).sum())
            name = f"T = {temperature}" + (say(en=" (greedy)", ja="（貪欲）") if temperature == 0 else "")
            ax.set_title(name + say(en=f"\nentropy {entropy:.2f} nats, top-1 {float(probs.max()):.2f}",
                                    ja=f"\nエントロピー {entropy:.2f} nats、top-1 {float(probs.max()):.2f}"),
                         fontsize=points(10))
            ax.set_ylim(0, 1.1)
        for ax in axes.flat[len(temperatures):]:
            ax.set_visible(False)
        fig.suptitle(say(en=f"One set of logits at {len(temperatures)} temperatures: softmax(logits / T), "
                            "no truncation",
                         ja=f"同じロジットを {len(temperatures)} 通りの温度で：softmax(logits / T)、"
                            "切り捨てなし"))
    return fig


def plot_truncation(logits: torch.Tensor, tokenizer: Any, *, top_k: int | None = None, top_p: float | None = None,
                    min_p: float | None = None, temperature: float = 1.0, alternatives: int = 20,
                    row: int = 0) -> Figure:
    """Which tokens top-k/top-p/min-p keep (sorted bars, cumulative line) and the renormalized result.

    ``alternatives`` is how many of the most likely tokens get a bar; ``top_k`` is the filter.

    >>> plot_truncation(model(**inputs).logits[:, -1, :], tokenizer, top_p=0.9)  # doctest: +SKIP
    """
    logits = logits_row(logits, tokenizer, row)[None]  # (1, vocab)
    require_alternatives(alternatives)
    probs = sampling_probs(logits, temperature=temperature)[0]  # (vocab,)
    processed = process_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)[0]
    kept = torch.isfinite(processed)  # (vocab,) what generate would keep
    order = probs.argsort(descending=True)[: min(alternatives, probs.numel())]
    colours = [BLUE if kept[i] else LIGHT_GREY for i in order]
    x = np.arange(len(order))
    with plot_style():
        fig, (left, right) = new_figure((12, 5.2), 1, 2)
        for ax, heights in ((left, probs[order].tolist()), (right, torch.softmax(processed, -1)[order].tolist())):
            ax.bar(x, heights, color=colours, edgecolor="black", linewidth=0.5)
            set_token_ticks(ax, x, token_labels(tokenizer, order.tolist()), rotation=60)
            fit_ylim(ax, heights)
            ax.set_ylabel(probability_word())
        lines = _mark_thresholds(left, probs, probs[order].cumsum(0).tolist(), top_k, top_p, min_p)
        handles = [Patch(color=BLUE, label=say(en="kept", ja="残る")),
                   Patch(color=LIGHT_GREY, label=say(en="dropped", ja="除外")), *lines]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=points(8), frameon=False)
        left.set_title(say(en="Before: ", ja="適用前：") + raw_label()
                       + ("" if temperature == 1 else say(en=f", temperature {temperature}", ja=f"、温度 {temperature}")))
        applied = applied_label({"do_sample": True, "temperature": temperature, "top_k": top_k, "top_p": top_p,
                                 "min_p": min_p})  # top_k=None here: no top-k, as in generate(top_k=None)
        right.set_title(say(en=f"After: {applied},\nrenormalized over the kept tokens",
                            ja=f"適用後：{applied}\n（残ったトークンで正規化し直したもの）"))
        fig.suptitle(_truncation_summary(kept, order, {"top_k": top_k, "top_p": top_p, "min_p": min_p}))
    return fig


def _truncation_summary(kept: torch.Tensor, shown: torch.Tensor, filters: dict[str, Any]) -> str:
    """'top_p=0.9: keeps 12 of 49152 tokens', and how many kept tokens are not among the ``shown`` ids."""
    hidden = int(kept.sum()) - int(kept[shown].sum())
    more = say(en=f" ({hidden} kept tokens beyond the {len(shown)} shown)",
               ja=f"（表示した {len(shown)} 個のほかに {hidden} 個が残る）") if hidden else ""
    return (", ".join(f"{key}={value}" for key, value in filters.items() if value is not None)
            + say(en=f": keeps {int(kept.sum())} of {kept.numel()} tokens{more}",
                  ja=f"：{kept.numel()} トークン中 {int(kept.sum())} 個が残る{more}"))


def _mark_thresholds(ax: Any, probs: torch.Tensor, cumulative: list[float], top_k: int | None,
                     top_p: float | None, min_p: float | None) -> list[Any]:
    """The cumulative line (right axis) and dashed lines where each filter cuts; returns them for a legend."""
    twin = ax.twinx()
    twin.set_ylim(0, 1.05)
    twin.set_ylabel(say(en="cumulative probability", ja="累積確率"), color=ORANGE)
    twin.spines["right"].set_visible(True)
    twin.spines["right"].set_color(ORANGE)  # the right axis is the cumulative line's, in its colour
    twin.tick_params(axis="y", colors=ORANGE)
    lines = twin.plot(range(len(cumulative)), cumulative, color=ORANGE, marker="o", markersize=3,
                      label=say(en="cumulative probability (right axis)", ja="累積確率（右軸）"))
    if top_k and top_k < len(cumulative):
        lines.append(ax.axvline(top_k - 0.5, color=VERMILLION, linestyle="--", label=f"top_k = {top_k}"))
    if top_p is not None and top_p < 1:
        lines.append(twin.axhline(top_p, color=GREEN, linestyle="--",
                                  label=f"top_p = {top_p}" + say(en=" (right axis)", ja="（右軸）")))
        before = [0.0, *cumulative[:-1]]  # probability of the tokens ranked above each token
        cut = sum(1 for total in before if total < top_p)  # kept: the tokens ranked above p and the one crossing it
        if cut < len(cumulative):
            ax.axvline(cut - 0.5, color=GREEN, linestyle="--")  # where top-p cuts the bars
    if min_p is not None:
        top1 = float(probs.max())
        lines.append(ax.axhline(min_p * top1, color=PURPLE, linestyle=":",
                                label=f"min_p × top-1 = {min_p} × {top1:.2f}"))
    return lines


def plot_empirical_vs_model(logits: torch.Tensor, tokenizer: Any, *, n: int = 1000, seed: int = 0,
                            alternatives: int = 10, row: int = 0, **sampling: Any) -> Figure:
    """n seeded samples from the distribution: their frequencies next to the probabilities.

    >>> plot_empirical_vs_model(model(**inputs).logits[:, -1, :], tokenizer, n=500, temperature=0.8)  # doctest: +SKIP
    """
    logits = logits_row(logits, tokenizer, row)[None]  # (1, vocab)
    require_alternatives(alternatives)
    probs = sampling_probs(logits, **sampling)  # (1, vocab)
    which = "processed" if any(sampling.get(key) not in (None, 1.0) for key in SAMPLING_SETTINGS) else "raw"
    settings = {"do_sample": True, "top_k": None, **sampling}  # sampling_probs applies no default top-k
    ids, model_heights = top_with_other(probs[0], alternatives)
    _, sample_heights = top_with_other(sample_frequencies(probs, n, seed)[0], alternatives, torch.tensor(ids))
    p = np.array(model_heights)
    x = np.arange(len(p))
    label = distribution_label(which, settings)
    with plot_style():
        fig, ax = new_figure((10, 4.6))
        ax.bar(x - 0.2, model_heights, 0.4, color=BLUE, label=say(en=f"probability ({label})", ja=f"確率（{label}）"))
        ax.bar(x + 0.2, sample_heights, 0.4, color=ORANGE, hatch="..", edgecolor="white",
               label=say(en=f"frequency in {n} samples (seed {seed})", ja=f"{n} 回のサンプルでの頻度（シード {seed}）"))
        ax.errorbar(x - 0.2, p, yerr=2 * np.sqrt(p * (1 - p) / n), fmt="none", ecolor="black", capsize=3,
                    linewidth=1, label=say(en="expected spread of the frequency (±2 standard errors)",
                                           ja="頻度の想定されるばらつき（±2 標準誤差）"))
        set_token_ticks(ax, x, token_labels(tokenizer, ids) + [other_label()], rotation=45)
        ax.set_ylabel(say(en="probability / frequency", ja="確率 / 頻度"))
        ax.legend(fontsize=points(8), frameon=False)
        ax.set_title(say(en=f"{n} draws with torch.multinomial from the {label}",
                         ja=f"{label}から torch.multinomial で {n} 回抽選"))
    return fig
