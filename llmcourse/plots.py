"""Plots of what a language model considered at each step (lessons 03 and 05).

Every function returns a pyplot `matplotlib.figure.Figure` of a fixed size that
``fig.savefig("x.pdf")`` (or .svg, .png) writes. In a notebook end the cell with
``_ = plot_...(...)`` or ``plt.show()``: a bare call on the last line shows the figure
twice, as with any function that returns a pyplot figure. Titles say which
distribution is drawn:

- the model distribution: the softmax of the raw logits (``which="raw"``);
- the sampling distribution: after temperature/top-k/top-p (``which="processed"``).

Titles, axis labels and legends follow `llmcourse.i18n.set_language` ("en" or "ja"),
read when a figure is drawn: ``set_language("ja")`` and the next plot is in Japanese
(the IPAexGothic fallback of `plotstyle` draws the glyphs).

Most plots read a `GenerationResult` from `llmcourse.generate`; the others take the
logits of one step (a 1-D tensor over the vocabulary) and the tokenizer. Beam search
and seeded branches come with their data as well (`BeamTree`, `Branches`), so the
numbers behind the pictures can be checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any, Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import BoundaryNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from .errors import CourseError
from .generation import Distribution, GenerationResult, generate
from .i18n import say
from .plotstyle import (BLUE, CMAP, GREEN, GREY, LIGHT_GREY, ORANGE, PURPLE, SKY, VERMILLION, new_figure,
                        plot_style, set_token_ticks, show_token, text_colour, token_labels)
from .sampling import process_logits

WHICH = ("raw", "processed")
SAMPLING_KEYS = ("temperature", "top_k", "top_p", "min_p")
LIGHT_GREEN = "#99D8C9"  # finished beam search hypotheses


# ---------------------------------------------------------------- words in the current language

def raw_label() -> str:
    """The name of the model distribution in titles and legends.

    >>> from llmcourse.i18n import set_language
    >>> set_language("en"); raw_label()
    'model distribution (raw logits)'
    """
    return say(en="model distribution (raw logits)", ja="モデルの分布（生のロジット）")


def processed_label() -> str:
    """The name of the sampling distribution in titles and legends.

    >>> from llmcourse.i18n import set_language
    >>> set_language("ja"); processed_label()
    'サンプリング分布（temperature/top-k/top-p 適用後）'
    >>> set_language("en"); processed_label()
    'sampling distribution (after temperature/top-k/top-p)'
    """
    return say(en="sampling distribution (after temperature/top-k/top-p)",
               ja="サンプリング分布（temperature/top-k/top-p 適用後）")


def distribution_label(which: str) -> str:
    """`raw_label` or `processed_label`, by the ``which=`` of a plot."""
    _check_which(which)
    return raw_label() if which == "raw" else processed_label()


def other_label() -> str:
    """The label of the last bar: every token not drawn on its own."""
    return say(en="all other tokens", ja="その他すべてのトークン")


def _probability_word() -> str:
    return say(en="probability", ja="確率")


# ---------------------------------------------------------------- shared pieces

def _check_which(which: str) -> None:
    """Refuse anything but "raw" or "processed"."""
    if which not in WHICH:
        raise CourseError(f'which must be "raw" (the model distribution) or "processed" '
                          f'(the sampling distribution), got {which!r}.')


def _check_position(result: GenerationResult, row: int, step: int | None = None) -> int:
    """Check row (and step) against the result; return how many tokens that row generated."""
    rows = result.token_ids.shape[0]
    if not 0 <= row < rows:
        raise CourseError(f"row must be between 0 and {rows - 1}, got {row}.")
    count = int(result.generated[row].sum())
    if step is not None and not 0 <= step < count:
        raise CourseError(f"step must be between 0 and {count - 1} (row {row} generated {count} tokens), got {step}.")
    return count


def _distribution(result: GenerationResult, which: str) -> Distribution:
    """result.raw or result.processed, with a clear error for beam search results."""
    _check_which(which)
    dist = getattr(result, which)
    if dist is None:
        raise CourseError("This result comes from beam search, which has no single next-token distribution. "
                          "Use plot_beam_tree(result), or generate without num_beams.")
    return dist


def _step_logits(result: GenerationResult, which: str, row: int, step: int) -> torch.Tensor:
    """The full-vocabulary logits (raw) or scores (processed) of one row at one step."""
    _distribution(result, which)
    source = result.outputs.logits if which == "raw" else result.outputs.scores
    return source[step][row].detach().float().cpu()  # (vocab,)


def _check_logits(logits: Any, tokenizer: Any) -> torch.Tensor:
    """Accept a 1-D float tensor over the vocabulary (and a tokenizer to label it)."""
    if not isinstance(logits, torch.Tensor) or logits.ndim != 1 or not logits.is_floating_point():
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise CourseError(f"logits must be a 1-D float tensor over the vocabulary, e.g. "
                          f"model(**inputs).logits[0, -1]; got {shape}.")
    if tokenizer is None:
        raise CourseError("Pass tokenizer= as well: it turns token ids into the labels under the bars.")
    return logits.detach().float().cpu()


def _check_sampling(sampling: dict[str, Any]) -> None:
    """Only temperature, top_k, top_p and min_p change a single distribution."""
    unknown = sorted(set(sampling) - set(SAMPLING_KEYS))
    if unknown:
        raise CourseError(f"unknown sampling setting(s) {unknown}: use {', '.join(SAMPLING_KEYS)}.")


def _top_with_other(probs: torch.Tensor, k: int, ids: torch.Tensor | None = None) -> tuple[list[int], list[float]]:
    """The top-k ids (or the given ids) and their probabilities, plus 1 - their sum last."""
    if ids is None:
        ids = probs.topk(min(k, probs.numel())).indices
    heights = probs[ids].tolist()
    return ids.tolist(), heights + [max(0.0, 1.0 - sum(heights))]


def _probability_text(value: float) -> str:
    """Bar labels: two decimals, '<.01' for tiny non-zero values."""
    return "0" if value == 0 else ("<.01" if value < 0.005 else f"{value:.2f}")


def _draw_bars(ax: Any, tokenizer: Any, ids: Sequence[int], heights: Sequence[float], *,
               chosen: int | None = None, colours: Sequence[str] | None = None, rotation: float = 45) -> Any:
    """Token bars plus a hatched last bar for all other tokens; the chosen token in vermillion."""
    colours = list(colours or [BLUE] * len(ids)) + [LIGHT_GREY]
    if chosen in ids:
        colours[list(ids).index(chosen)] = VERMILLION
    x = range(len(heights))
    bars = ax.bar(x, heights, color=colours, edgecolor="black", linewidth=0.5)
    bars[-1].set_hatch("//")
    ax.bar_label(bars, labels=[_probability_text(h) for h in heights], fontsize=7, padding=1)
    set_token_ticks(ax, x, token_labels(tokenizer, ids) + [other_label()], rotation=rotation)
    ax.set_ylabel(_probability_word())
    return bars


def _fit_ylim(ax: Any, *heights: Sequence[float]) -> None:
    """A y range from 0 that leaves room for the bar labels (shared axes follow)."""
    top = max(max(h) for h in heights)
    ax.set_ylim(0, 1.08 if top > 0.6 else top * 1.15 + 0.01)


def _bar_legend(fig: Figure, chosen: int | None, ids: Sequence[int], rank: int | None = None) -> None:
    """Legend under the axes for `_draw_bars`: token, chosen token, all other tokens."""
    handles = [Patch(color=BLUE, label=say(en="token", ja="トークン"))]
    if chosen is not None:
        where = "" if chosen in ids else say(en=f" (rank {rank}, inside '{other_label()}')",
                                             ja=f"（順位 {rank}、「{other_label()}」に含まれる）")
        handles.append(Patch(color=VERMILLION, label=say(en="chosen token", ja="選ばれたトークン") + where))
    handles.append(Patch(facecolor=LIGHT_GREY, hatch="//", edgecolor="black",
                         label=say(en=f"{other_label()} (1 − sum of the bars)", ja=f"{other_label()}（1 − 棒の合計）")))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)


def _context(result: GenerationResult, row: int, step: int, chars: int = 50) -> str:
    """The text the model saw before ``step``: prompt plus the tokens generated so far, shortened."""
    text = result.prompts[row] + "".join(result.tokens(row)[:step])
    shown = show_token(text, max_chars=10**6)
    return shown if len(shown) <= chars else "…" + shown[-chars:]


def _settings_text(settings: dict[str, Any]) -> str:
    """The sampling settings of a generate call, e.g. 'do_sample=True, temperature=0.7'."""
    keys = ("do_sample",) + SAMPLING_KEYS + ("repetition_penalty", "num_beams")
    return (", ".join(f"{key}={settings[key]}" for key in keys if key in settings)
            or say(en="greedy (default settings)", ja="貪欲デコーディング（既定の設定）"))


# ---------------------------------------------------------------- one step

def plot_next_token(result_or_logits: GenerationResult | torch.Tensor, *, step: int = 0, row: int = 0,
                    k: int = 10, which: str = "raw", tokenizer: Any = None) -> Figure:
    """Bar chart of the k most likely next tokens plus one bar for all the others.

    >>> result = generate(model, tokenizer, "A list of colors: red, blue", max_new_tokens=5)  # doctest: +SKIP
    >>> fig = plot_next_token(result, step=0)                          # doctest: +SKIP
    >>> fig = plot_next_token(logits[0, -1], tokenizer=tokenizer)      # doctest: +SKIP
    """
    _check_which(which)
    chosen = rank = None
    if isinstance(result_or_logits, GenerationResult):
        result = result_or_logits
        _check_position(result, row, step)
        logits, tokenizer = _step_logits(result, which, row, step), result.tokenizer
        chosen = int(result.token_ids[row, step])
        rank = int(getattr(result, which).chosen_rank[row, step])
        subtitle = say(en="\nafter: ", ja="\n直前のテキスト: ") + _context(result, row, step)
    else:
        logits, subtitle = _check_logits(result_or_logits, tokenizer), ""
    ids, heights = _top_with_other(torch.softmax(logits, -1), k)
    with plot_style():
        fig, ax = new_figure((8, 4.8))
        _draw_bars(ax, tokenizer, ids, heights, chosen=chosen)
        _fit_ylim(ax, heights)
        _bar_legend(fig, chosen, ids, rank)
        ax.set_title(say(en=f"Next token at step {step}: ", ja=f"ステップ {step} の次のトークン: ")
                     + distribution_label(which) + subtitle, parse_math=False)
    return fig


def plot_raw_vs_processed(result: GenerationResult, *, step: int = 0, row: int = 0, k: int = 10) -> Figure:
    """The model distribution next to the sampling distribution for one step, same tokens on both.

    >>> result = generate(model, tokenizer, "Once upon a time", do_sample=True, top_k=5)  # doctest: +SKIP
    >>> fig = plot_raw_vs_processed(result, step=0)  # doctest: +SKIP
    """
    _check_position(result, row, step)
    raw = torch.softmax(_step_logits(result, "raw", row, step), -1)
    processed = torch.softmax(_step_logits(result, "processed", row, step), -1)
    ids, raw_heights = _top_with_other(raw, k)
    _, processed_heights = _top_with_other(processed, k, torch.tensor(ids))
    chosen = int(result.token_ids[row, step])
    with plot_style():
        fig, (left, right) = new_figure((12, 5), 1, 2, sharey=True)
        _draw_bars(left, result.tokenizer, ids, raw_heights, chosen=chosen)
        _draw_bars(right, result.tokenizer, ids, processed_heights, chosen=chosen)
        for x, height in enumerate(processed_heights[:-1]):
            if height == 0:
                right.text(x, 0.01, "×", ha="center", va="bottom", color=GREY, fontsize=12)
        _fit_ylim(left, raw_heights, processed_heights)
        _bar_legend(fig, chosen, ids, int(result.raw.chosen_rank[row, step]))
        left.set_title(raw_label())
        right.set_title(processed_label() + say(en="\n× = filtered out (probability 0)", ja="\n× = 除外（確率 0）"))
        fig.suptitle(say(en=f"Step {step} after: ", ja=f"ステップ {step}、直前のテキスト: ")
                     + f"{_context(result, row, step)}\n{_settings_text(result.settings)}", parse_math=False)
    return fig


def temperature_probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(logits / T); T = 0 gives greedy's one-hot without dividing by zero.

    >>> temperature_probs(torch.tensor([1.0, 3.0, 2.0]), 0).tolist()
    [0.0, 1.0, 0.0]
    """
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature < 0:
        raise CourseError(f"temperature must be a number >= 0, got {temperature!r}.")
    if temperature == 0:  # the limit T -> 0: all the probability on the largest logit
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).float()
    return torch.softmax(logits.float() / temperature, dim=-1)


def plot_temperatures(logits: torch.Tensor, tokenizer: Any, temperatures: Sequence[float] = (0, 0.5, 1.0, 2.0),
                      k: int = 10) -> Figure:
    """The same logits at several temperatures, one panel each, with entropy and top-1 probability.

    >>> fig = plot_temperatures(model(**inputs).logits[0, -1], tokenizer)  # doctest: +SKIP
    """
    logits = _check_logits(logits, tokenizer)
    ids = logits.topk(min(k, logits.numel())).indices  # temperature never changes the order
    ncols = min(len(temperatures), 4)
    nrows = math.ceil(len(temperatures) / ncols)
    with plot_style():
        fig, axes = new_figure((3.4 * ncols, 3.8 * nrows), nrows, ncols, sharey=True, squeeze=False)
        for ax, temperature in zip(axes.flat, temperatures):
            probs = temperature_probs(logits, temperature)
            _, heights = _top_with_other(probs, k, ids)
            _draw_bars(ax, tokenizer, ids.tolist(), heights, rotation=60)
            entropy = float(torch.special.entr(probs).sum())
            name = f"T = {temperature}" + (say(en=" (greedy)", ja="（貪欲）") if temperature == 0 else "")
            ax.set_title(name + say(en=f"\nentropy {entropy:.2f} nats, top-1 {float(probs.max()):.2f}",
                                    ja=f"\nエントロピー {entropy:.2f} nats、top-1 {float(probs.max()):.2f}"),
                         fontsize=10)
            ax.set_ylim(0, 1.1)
        for ax in axes.flat[len(temperatures):]:
            ax.set_visible(False)
        fig.suptitle(say(en=f"One set of logits at {len(temperatures)} temperatures: ",
                         ja=f"同じロジットを {len(temperatures)} 通りの temperature で: ") + processed_label())
    return fig


def plot_truncation(logits: torch.Tensor, tokenizer: Any, *, top_k: int | None = None, top_p: float | None = None,
                    min_p: float | None = None, temperature: float = 1.0, k: int = 20) -> Figure:
    """Which tokens top-k/top-p/min-p keep (sorted bars, cumulative line) and the renormalized result.

    >>> fig = plot_truncation(model(**inputs).logits[0, -1], tokenizer, top_p=0.9)  # doctest: +SKIP
    """
    logits = _check_logits(logits, tokenizer)
    probs = torch.softmax(process_logits(logits[None], temperature=temperature)[0], -1)  # (vocab,)
    kept = torch.isfinite(process_logits(logits[None], temperature=temperature, top_k=top_k, top_p=top_p,
                                         min_p=min_p)[0])  # (vocab,) what generate would keep
    renormalized = torch.where(kept, probs, 0.0) / probs[kept].sum()
    order = probs.argsort(descending=True)[: min(k, probs.numel())]
    colours = [BLUE if kept[i] else LIGHT_GREY for i in order]
    x = np.arange(len(order))
    with plot_style():
        fig, (left, right) = new_figure((12, 5.2), 1, 2)
        for ax, heights in ((left, probs[order].tolist()), (right, renormalized[order].tolist())):
            ax.bar(x, heights, color=colours, edgecolor="black", linewidth=0.5)
            set_token_ticks(ax, x, token_labels(tokenizer, order.tolist()), rotation=60)
            _fit_ylim(ax, heights)
            ax.set_ylabel(_probability_word())
        lines = _mark_thresholds(left, probs, probs[order].cumsum(0).tolist(), top_k, top_p, min_p)
        handles = [Patch(color=BLUE, label=say(en="kept", ja="残る")),
                   Patch(color=LIGHT_GREY, label=say(en="dropped", ja="除外")), *lines]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
        left.set_title(say(en="Before: ", ja="適用前: ") + raw_label()
                       + ("" if temperature == 1 else say(en=", ", ja="、") + f"temperature {temperature}"))
        right.set_title(say(en=f"After: {processed_label()},\nrenormalized over the kept tokens",
                            ja=f"適用後: {processed_label()}、\n残ったトークンで正規化し直したもの"))
        hidden = int(kept.sum()) - int(kept[order].sum())
        more = say(en=f" ({hidden} kept tokens beyond the {len(order)} shown)",
                   ja=f"（表示した {len(order)} 個のほかに {hidden} 個が残る）") if hidden else ""
        settings = {"top_k": top_k, "top_p": top_p, "min_p": min_p}
        fig.suptitle(", ".join(f"{key}={value}" for key, value in settings.items() if value is not None)
                     + say(en=f": keeps {int(kept.sum())} of {probs.numel()} tokens{more}",
                           ja=f": {probs.numel()} トークン中 {int(kept.sum())} 個が残る{more}"))
    return fig


def _mark_thresholds(ax: Any, probs: torch.Tensor, cumulative: list[float], top_k: int | None,
                     top_p: float | None, min_p: float | None) -> list[Any]:
    """The cumulative line (right axis) and dashed lines where each filter cuts; returns them for a legend."""
    twin = ax.twinx()
    twin.set_ylim(0, 1.05)
    twin.set_ylabel(say(en="cumulative probability", ja="累積確率"), color=ORANGE)
    twin.spines["right"].set_visible(True)
    lines = twin.plot(range(len(cumulative)), cumulative, color=ORANGE, marker="o", markersize=3,
                      label=say(en="cumulative probability (right axis)", ja="累積確率（右軸）"))
    if top_k and top_k < len(cumulative):
        lines.append(ax.axvline(top_k - 0.5, color=VERMILLION, linestyle="--", label=f"top_k = {top_k}"))
    if top_p is not None and top_p < 1:
        lines.append(twin.axhline(top_p, color=GREEN, linestyle="--",
                                  label=f"top_p = {top_p}" + say(en=" (right axis)", ja="（右軸）")))
    if min_p is not None:
        top1 = float(probs.max())
        lines.append(ax.axhline(min_p * top1, color=PURPLE, linestyle=":",
                                label=f"min_p × top-1 = {min_p} × {top1:.2f}"))
    return lines


def sample_frequencies(probs: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Draw n tokens from probs (with replacement) and return how often each came up, as fractions.

    >>> sample_frequencies(torch.tensor([0.0, 1.0]), n=10).tolist()
    [0.0, 1.0]
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise CourseError(f"n must be a whole number >= 1, got {n!r}.")
    generator = torch.Generator().manual_seed(seed)
    draws = torch.multinomial(probs, n, replacement=True, generator=generator)  # (n,)
    return torch.bincount(draws, minlength=probs.numel()).float() / n  # (vocab,), sums to 1


def plot_empirical_vs_model(logits: torch.Tensor, tokenizer: Any, *, n: int = 1000, seed: int = 0, k: int = 10,
                            **sampling: Any) -> Figure:
    """n seeded samples from the distribution: their frequencies next to the probabilities.

    >>> fig = plot_empirical_vs_model(logits[0, -1], tokenizer, n=500, temperature=0.8)  # doctest: +SKIP
    """
    logits = _check_logits(logits, tokenizer)
    _check_sampling(sampling)
    probs = torch.softmax(process_logits(logits[None], **sampling)[0], -1)
    which = "processed" if any(sampling.get(key) not in (None, 1.0) for key in SAMPLING_KEYS) else "raw"
    ids, model_heights = _top_with_other(probs, k)
    _, sample_heights = _top_with_other(sample_frequencies(probs, n, seed), k, torch.tensor(ids))
    p = np.array(model_heights)
    x = np.arange(len(p))
    label = distribution_label(which)
    with plot_style():
        fig, ax = new_figure((10, 4.6))
        ax.bar(x - 0.2, model_heights, 0.4, color=BLUE, label=say(en=f"probability ({label})", ja=f"確率（{label}）"))
        ax.bar(x + 0.2, sample_heights, 0.4, color=ORANGE, hatch="..", edgecolor="white",
               label=say(en=f"frequency in {n} samples (seed {seed})", ja=f"{n} 回のサンプルでの頻度（seed {seed}）"))
        ax.errorbar(x - 0.2, p, yerr=2 * np.sqrt(p * (1 - p) / n), fmt="none", ecolor="black", capsize=3,
                    linewidth=1, label=say(en="expected spread of the frequency (±2 standard errors)",
                                           ja="頻度の想定されるばらつき（±2 標準誤差）"))
        set_token_ticks(ax, x, token_labels(tokenizer, ids) + [other_label()], rotation=45)
        ax.set_ylabel(say(en="probability / frequency", ja="確率 / 頻度"))
        ax.legend(fontsize=8, frameon=False)
        ax.set_title(say(en=f"{n} draws with torch.multinomial from the {label}",
                         ja=f"{label}から torch.multinomial で {n} 回抽出"))
    return fig


# ---------------------------------------------------------------- a whole generation

def plot_generation_heatmap(result: GenerationResult, *, row: int = 0, k: int = 8, which: str = "raw") -> Figure:
    """A step x rank grid: the k most likely tokens at each step, coloured by probability, chosen outlined.

    >>> fig = plot_generation_heatmap(generate(model, tokenizer, "The capital of France is"))  # doctest: +SKIP
    """
    dist = _distribution(result, which)
    steps = _check_position(result, row)
    if not 1 <= k <= dist.ids.shape[-1]:
        raise CourseError(f"k must be between 1 and {dist.ids.shape[-1]}, the alternatives generate recorded "
                          "(pass alternatives= to generate for more).")
    probs, ids = dist.probs[row, :steps, :k], dist.ids[row, :steps, :k]  # (steps, k) each
    ranks = dist.chosen_rank[row, :steps].tolist()
    cmap, norm = colormaps[CMAP], Normalize(0, 1)
    with plot_style():
        fig, ax = new_figure((1.05 * k + 3, 0.34 * steps + 1.8))
        image = ax.imshow(probs.numpy(), cmap=cmap, norm=norm, aspect="auto")
        for (step, rank), p in np.ndenumerate(probs.numpy()):
            ax.text(rank, step, token_labels(result.tokenizer, [ids[step, rank]], 10)[0], ha="center", va="center",
                    fontsize=8, color=text_colour(cmap(norm(p))), parse_math=False)
        for step, rank in enumerate(ranks):
            if rank < k:
                ax.add_patch(Rectangle((rank - 0.5, step - 0.5), 1, 1, fill=False, edgecolor=VERMILLION, linewidth=2.5))
        chosen = token_labels(result.tokenizer, result.token_ids[row, :steps].tolist(), 10)
        set_token_ticks(ax, range(steps), [f"{s}: {t}" + (say(en=f" (rank {r})", ja=f"（順位 {r}）") if r >= k else "")
                                           for s, (t, r) in enumerate(zip(chosen, ranks))], axis="y", fontsize=8)
        ax.set_xticks(range(k))
        ax.set_xlabel(say(en="rank (0 = most likely)", ja="順位（0 = 最も確率が高い）"))
        ax.set_ylabel(say(en="step: chosen token (outlined)", ja="ステップ: 選ばれたトークン（枠で囲む）"))
        ax.tick_params(length=0)
        fig.colorbar(image, ax=ax, label=_probability_word(), shrink=0.8)
        ax.set_title(say(en=f"Top {k} tokens per step: ", ja=f"各ステップの上位 {k} トークン: ")
                     + f"{distribution_label(which)}\n{_settings_text(result.settings)}", fontsize=10)
    return fig


def plot_confidence(result: GenerationResult, *, row: int = 0) -> Figure:
    """Probability of each chosen token and the entropy per step; marks where sampling left the top-1.

    >>> fig = plot_confidence(generate(model, tokenizer, "Once upon a time", do_sample=True))  # doctest: +SKIP
    """
    raw, processed = _distribution(result, "raw"), _distribution(result, "processed")
    steps = _check_position(result, row)
    x = np.arange(steps)
    off = np.flatnonzero(raw.chosen_rank[row, :steps].numpy() > 0)  # steps where the pick was not the raw top-1
    with plot_style():
        fig, (top, bottom) = new_figure((10, 6), 2, 1, sharex=True)
        for ax, field_name in ((top, "chosen_prob"), (bottom, "entropy")):
            for dist, style, colour, label in ((raw, "o-", BLUE, raw_label()),
                                               (processed, "s--", ORANGE, processed_label())):
                ax.plot(x, getattr(dist, field_name)[row, :steps].numpy(), style, color=colour, label=label,
                        markersize=4)
            for step in off:
                ax.axvspan(step - 0.5, step + 0.5, color=VERMILLION, alpha=0.12, linewidth=0)
        top.scatter(off, raw.chosen_prob[row, off].numpy(), marker="X", s=90, color=VERMILLION, zorder=3,
                    label=say(en="chosen token was not the top-1 of the model distribution",
                              ja="選ばれたトークンがモデルの分布の 1 位ではなかった"))
        top.set_ylim(0, 1.05)
        top.set_ylabel(say(en="probability of\nthe chosen token", ja="選ばれた\nトークンの確率"))
        bottom.set_ylabel(say(en="entropy (nats)", ja="エントロピー（nats）"))
        fig.legend(*top.get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=8, frameon=False)
        set_token_ticks(bottom, x, token_labels(result.tokenizer, result.token_ids[row, :steps].tolist()), rotation=60)
        bottom.set_xlabel(say(en="generated token", ja="生成されたトークン"))
        top.set_title(say(en="How sure was the model at each step? ", ja="各ステップでモデルはどれだけ確信していたか？ ")
                      + _settings_text(result.settings), fontsize=10)
    return fig


def plot_token_shading(result: GenerationResult, *, row: int = 0, by: str = "prob", which: str = "raw") -> Figure:
    """The generated text, each token on a background coloured by its probability (or rank).

    >>> fig = plot_token_shading(generate(model, tokenizer, "Once upon a time", do_sample=True))  # doctest: +SKIP
    """
    if by not in ("prob", "rank"):
        raise CourseError(f'by must be "prob" or "rank", got {by!r}.')
    dist = _distribution(result, which)
    steps = _check_position(result, row)
    if by == "prob":
        values, cmap, norm = dist.chosen_prob[row, :steps].tolist(), colormaps[CMAP], Normalize(0, 1)
    else:  # ranks 0..9 each get a colour, 10 and above share the last one
        values = [min(r, 10) for r in dist.chosen_rank[row, :steps].tolist()]
        cmap, norm = colormaps[CMAP + "_r"], BoundaryNorm(np.arange(-0.5, 11), colormaps[CMAP].N)
    with plot_style():
        fig, _ = new_figure((10, 3), nrows=0)  # placed by hand: tokens wrap like text
        height = _lay_out_tokens(fig, result.tokens(row), [cmap(norm(v)) for v in values], bottom=1.05)
        colorbar = fig.colorbar(ScalarMappable(norm, cmap), orientation="horizontal",
                                cax=fig.add_axes((0.25, 0.6 / height, 0.5, 0.22 / height)))
        colorbar.set_label(say(en=f"{'probability' if by == 'prob' else 'rank'} of the chosen token: ",
                               ja=f"選ばれたトークンの{'確率' if by == 'prob' else '順位'}: ") + distribution_label(which))
        if by == "rank":
            colorbar.set_ticks(range(11), labels=[str(r) for r in range(10)] + ["10+"])
        fig.suptitle(say(en="Prompt: ", ja="プロンプト: ") + show_token(result.prompts[row], 70), x=0.03, ha="left",
                     fontsize=10, parse_math=False)
    return fig


def _lay_out_tokens(fig: Figure, tokens: Sequence[str], colours: Sequence[Any], *, top: float = 0.55,
                    bottom: float = 1.0, line_height: float = 0.36, margin: float = 0.3) -> float:
    """Write shaded tokens left to right, wrapping lines; resize the figure to fit and return its height (inches).

    ``top`` and ``bottom`` are the free space (inches) above and below the text.
    """
    width = fig.get_figwidth()
    renderer = RendererAgg(int(width * fig.dpi), int(3 * fig.dpi), fig.dpi)  # only measures the tokens
    texts, places, x, line = [], [], 0.0, 0
    for token, colour in zip(tokens, colours):
        text = fig.text(0, 0, show_token(token, 40), fontsize=11, color=text_colour(colour), parse_math=False,
                        va="top", bbox=dict(boxstyle="square,pad=0.15", facecolor=colour, edgecolor="white"))
        size = text.get_window_extent(renderer).width / fig.dpi + 0.08  # inches, with a small gap
        if x > 0 and x + size > width - 2 * margin:
            x, line = 0.0, line + 1
        texts.append(text)
        places.append((x, line))
        x += size
        if "\n" in token:  # a newline token ends the line, as it does in the text
            x, line = 0.0, line + 1
    lines = line + (1 if x > 0 else 0)
    height = top + bottom + line_height * max(lines, 1)
    fig.set_size_inches(width, height)
    for text, (x, line) in zip(texts, places):
        text.set_position(((margin + x) / width, 1 - (top + line * line_height) / height))
    return height


# ---------------------------------------------------------------- several runs

@dataclass
class Branches:
    """Greedy and seeded sampled continuations of one prompt (token ids of the new text)."""

    prompt: str
    greedy: list[int]
    samples: dict[int, list[int]]  # seed -> ids
    settings: dict[str, Any]
    tokenizer: Any = field(repr=False)

    @property
    def points(self) -> dict[int, int | None]:
        """The first step where each seed's sample differs from greedy (None: never)."""
        return branch_points(self.greedy, self.samples)


def branch_points(greedy: Sequence[int], samples: dict[int, Sequence[int]]) -> dict[int, int | None]:
    """The first step at which each sample differs from the greedy run (None if it never does).

    >>> branch_points([5, 6, 7], {0: [5, 6, 7], 1: [5, 9, 7], 2: [5, 6]})
    {0: None, 1: 1, 2: 2}
    """
    return {seed: next((step for step, (a, b) in enumerate(zip_longest(greedy, ids)) if a != b), None)
            for seed, ids in samples.items()}


def sample_branches(model: Any, tokenizer: Any, prompt: str, *, seeds: Sequence[int] = (0, 1, 2, 3),
                    max_new_tokens: int = 12, **sampling: Any) -> Branches:
    """Run greedy once and sampling once per seed (``transformers.set_seed``) on the same prompt.

    >>> sample_branches(model, tokenizer, "Once upon a time", seeds=(0, 1)).points  # doctest: +SKIP
    {0: 2, 1: 0}
    """
    from transformers import set_seed

    def new_ids(**settings: Any) -> list[int]:
        run = generate(model, tokenizer, prompt, max_new_tokens=max_new_tokens, alternatives=1, **settings)
        return run.token_ids[0][run.generated[0]].tolist()

    greedy = new_ids(do_sample=False)
    samples = {}
    for seed in seeds:
        set_seed(seed)
        samples[seed] = new_ids(do_sample=True, **sampling)
    return Branches(prompt, greedy, samples, {"do_sample": True, **sampling}, tokenizer)


def plot_branches(model: Any, tokenizer: Any, prompt: str, *, seeds: Sequence[int] = (0, 1, 2, 3),
                  max_new_tokens: int = 12, **sampling: Any) -> Figure:
    """Greedy and one sample per seed, token by token, with the step where each sample branches off.

    >>> fig = plot_branches(model, tokenizer, "Once upon a time", temperature=0.8)  # doctest: +SKIP
    """
    return plot_branch_runs(sample_branches(model, tokenizer, prompt, seeds=seeds, max_new_tokens=max_new_tokens,
                                            **sampling))


def plot_branch_runs(branches: Branches) -> Figure:
    """Draw `Branches`: one row per run, one cell per token; the branching token outlined.

    >>> fig = plot_branch_runs(sample_branches(model, tokenizer, "Hello"))  # doctest: +SKIP
    """
    runs = [(say(en="greedy", ja="貪欲"), branches.greedy, None)] + [
        (say(en=f"seed {seed}", ja=f"シード {seed}"), ids, branches.points[seed])
        for seed, ids in branches.samples.items()]
    steps = max(len(ids) for _, ids, _ in runs)
    with plot_style():
        fig, ax = new_figure((0.85 * steps + 2.4, 0.5 * len(runs) + 1.5))
        for y, (name, ids, split) in enumerate(runs):
            for step, label in enumerate(token_labels(branches.tokenizer, ids, 9)):
                branched = split is not None and step >= split
                ax.add_patch(Rectangle((step - 0.45, y - 0.35), 0.9, 0.7, facecolor=ORANGE if branched else LIGHT_GREY,
                                       edgecolor=VERMILLION if step == split else "none", linewidth=2.5))
                ax.text(step, y, label, ha="center", va="center", fontsize=8, parse_math=False)
        names = [name + ("" if y == 0 else say(en=" (same as greedy)", ja="（貪欲と同じ）") if split is None
                         else say(en=f" (branches at {split})", ja=f"（ステップ {split} で分岐）"))
                 for y, (name, _, split) in enumerate(runs)]
        set_token_ticks(ax, range(len(runs)), names, axis="y")
        ax.set_xticks(range(steps))
        ax.set_xlim(-0.6, steps - 0.4)
        ax.set_ylim(len(runs) - 0.5, -0.5)
        ax.set_xlabel(say(en="step", ja="ステップ"))
        ax.tick_params(length=0)
        ax.spines[["left", "bottom"]].set_visible(False)
        prompt, settings = show_token(branches.prompt, 60), _settings_text(branches.settings)
        ax.set_title(say(en=f"Prompt: {prompt}   sampling: {settings}\n"
                            "grey = same token as greedy so far, orange = after the branch point (outlined)",
                         ja=f"プロンプト: {prompt}   サンプリング: {settings}\n"
                            "灰色 = ここまで貪欲と同じトークン、橙 = 分岐点（枠で囲む）から後"),
                     fontsize=10, parse_math=False)
    return fig


# ---------------------------------------------------------------- beam search

@dataclass
class BeamNode:
    """One candidate continuation that beam search considered at one step."""

    step: int  # 0 = the first new token
    ids: tuple[int, ...]  # the new tokens so far; the last one is this node's token
    score: float  # sum of the log-probabilities of ids: what beam search ranks
    status: str  # "kept" (a beam at the next step), "finished" (stored as a hypothesis) or "pruned"


@dataclass
class BeamTree:
    """Beam search step by step, replayed from ``generate``'s scores: the candidates and their fate."""

    prompt_ids: list[int]
    num_beams: int
    nodes: list[BeamNode]
    final: tuple[int, ...]  # the best finished hypothesis: generate's first returned sequence
    final_score: float  # its score / length ** length_penalty, generate's sequences_scores
    tokenizer: Any = field(repr=False)

    @classmethod
    def from_result(cls, result: GenerationResult, row: int = 0, *, eos_token_ids: Any = None) -> "BeamTree":
        """Replay the beam search of a ``generate(..., num_beams=B)`` result from its per-step scores.

        >>> tree = BeamTree.from_result(generate(model, tokenizer, "Hi", num_beams=3))  # doctest: +SKIP
        """
        settings = result.settings
        if settings.get("num_beams", 1) < 2 or result.outputs.scores is None:
            raise CourseError("This result does not come from beam search: generate with num_beams=3 (or more).")
        if eos_token_ids is None:
            eos_token_ids = settings.get("eos_token_id", result.tokenizer.eos_token_id)
        eos = {eos_token_ids} if isinstance(eos_token_ids, int) else set(eos_token_ids or ())
        nodes, final, score = _replay_beam_search(result.outputs.scores, row, eos, settings)
        returned_row = row * settings.get("num_return_sequences", 1)
        tree = cls(result.sequences[returned_row, : result.prompt_length].tolist(), settings["num_beams"], nodes,
                   final, score, result.tokenizer)
        if result.sequences[returned_row, result.prompt_length:].tolist()[: len(final)] != list(final):
            raise CourseError("Replaying beam search did not give generate's first sequence; "
                              "pass eos_token_ids=model.generation_config.eos_token_id.")
        return tree

    def at_step(self, step: int) -> list[BeamNode]:
        """The candidates considered at one step, best score first."""
        return [node for node in self.nodes if node.step == step]

    @property
    def steps(self) -> int:
        """How many steps the search ran."""
        return 1 + max(node.step for node in self.nodes)


def _replay_beam_search(scores: Sequence[torch.Tensor], row: int, eos: set[int],
                        settings: dict[str, Any]) -> tuple[list[BeamNode], tuple[int, ...], float]:
    """Redo generate's beam search (transformers 5, ``_beam_search``) on its recorded log-probabilities."""
    num_beams, max_new_tokens = settings["num_beams"], settings["max_new_tokens"]
    penalty, early_stopping = settings.get("length_penalty", 1.0), settings.get("early_stopping", False)
    keep = max(2, 1 + len(eos)) * num_beams  # generate looks at this many candidates per step
    beams = [((), 0.0)] + [((), -1e9)] * (num_beams - 1)  # only the first beam is live at the start
    finished: list[tuple[float, tuple[int, ...]]] = []  # (score / length ** penalty, ids), best first
    nodes, open_to_improvement = [], True
    for step, step_scores in enumerate(scores):
        log_probs = step_scores[row * num_beams:(row + 1) * num_beams].float().cpu()  # (beams, vocab)
        totals = log_probs + torch.tensor([score for _, score in beams])[:, None]  # add each beam's score so far
        values, flat = totals.flatten().topk(keep)
        vocab = log_probs.shape[-1]
        candidates = [(beams[i // vocab][0] + (i % vocab,), v) for i, v in zip(flat.tolist(), values.tolist())]
        ends = [ids[-1] in eos or step + 1 >= max_new_tokens for ids, _ in candidates]
        # the best candidates that did not end become the next beams
        alive = ([j for j in range(keep) if not ends[j]] + [j for j in range(keep) if ends[j]])[:num_beams]
        # among the top num_beams candidates, those that ended become finished hypotheses
        can_store = open_to_improvement and not (early_stopping is True and len(finished) == num_beams)
        stored = {j for j in range(num_beams) if ends[j] and can_store}
        finished += [(candidates[j][1] / (step + 1) ** penalty, candidates[j][0]) for j in stored]
        finished = sorted(finished, key=lambda item: -item[0])[:num_beams]
        for j, (ids, value) in enumerate(candidates):
            status = "finished" if j in stored else "kept" if j in alive and not ends[j] else "pruned"
            nodes.append(BeamNode(step, ids, value, status))
        beams = [(candidates[j][0], candidates[j][1] - 1e9 * ends[j]) for j in alive]
        # stop when no running beam can beat the worst stored hypothesis any more
        length = max_new_tokens if early_stopping == "never" and penalty > 0 else step + 1
        worst = finished[-1][0] if len(finished) == num_beams else -1e9
        open_to_improvement = open_to_improvement and beams[0][1] / length ** penalty > worst
        if not open_to_improvement:
            break
    return nodes, finished[0][1], finished[0][0]


def beam_search_tree(model: Any, tokenizer: Any, prompt: str, num_beams: int = 3, max_new_tokens: int = 6,
                     **generate_kwargs: Any) -> BeamTree:
    """Run a real beam search with ``generate`` and rebuild its tree of candidates.

    >>> tree = beam_search_tree(model, tokenizer, "A list of colors: red, blue")  # doctest: +SKIP
    >>> tokenizer.decode(tree.final)                                            # doctest: +SKIP
    ', green, and yellow.'
    """
    result = generate(model, tokenizer, prompt, num_beams=num_beams, max_new_tokens=max_new_tokens,
                      do_sample=False, alternatives=1, **generate_kwargs)
    return BeamTree.from_result(result, eos_token_ids=model.generation_config.eos_token_id)


def plot_beam_tree(tree_or_result: BeamTree | GenerationResult) -> Figure:
    """The beam search tree: kept beams, pruned and finished candidates, scores, the returned sequence in bold.

    >>> fig = plot_beam_tree(beam_search_tree(model, tokenizer, "A list of colors: red, blue"))  # doctest: +SKIP
    """
    tree = tree_or_result if isinstance(tree_or_result, BeamTree) else BeamTree.from_result(tree_or_result)
    rows = max(len(tree.at_step(step)) for step in range(tree.steps))
    place = {(): (0.0, (rows - 1) / 2)}  # node ids -> (x, y); the prompt is the root
    with plot_style():
        fig, ax = new_figure((1.75 * tree.steps + 2.6, 0.75 * rows + 1.6))
        for step in range(tree.steps):  # children sit in the order of their parents, best score first
            nodes = sorted(tree.at_step(step), key=lambda node: (place[node.ids[:-1]][1], -node.score))
            for y, node in enumerate(nodes):
                place[node.ids] = (step + 1.0, float(y))
                _draw_beam_node(ax, tree, node, place)
        prompt = show_token(tree.tokenizer.decode(tree.prompt_ids, skip_special_tokens=True), 10**6)
        prompt = prompt if len(prompt) <= 18 else "…" + prompt[-17:]
        for step in range(tree.steps):
            ax.text(step + 1, -0.55, say(en=f"step {step}", ja=f"ステップ {step}"), ha="center", va="bottom",
                    fontsize=9, color=GREY)
        ax.text(*place[()], prompt, ha="center", va="center", fontsize=8, parse_math=False, zorder=3,
                bbox=dict(boxstyle="round", facecolor="white", edgecolor="black"))
        ax.set_xlim(-0.6, tree.steps + 0.5)
        ax.set_ylim(rows - 0.4, -0.8)
        ax.set_axis_off()
        ax.legend(handles=[Patch(facecolor=SKY, edgecolor=BLUE,
                                 label=say(en="kept: a beam at the next step", ja="残る: 次のステップのビーム")),
                           Patch(facecolor=LIGHT_GREEN, edgecolor=GREY,
                                 label=say(en="finished hypothesis", ja="完了した仮説")),
                           Patch(facecolor="white", edgecolor=GREY, linestyle="--",
                                 label=say(en="pruned", ja="枝刈り")),
                           Patch(facecolor="white", edgecolor=VERMILLION, linewidth=2.5,
                                 label=say(en="returned sequence", ja="返される系列"))],
                  loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=4, fontsize=8, frameon=False)
        final = show_token(tree.tokenizer.decode(tree.final), 60)
        ax.set_title(say(en=f"Beam search, {tree.num_beams} beams: scores are summed log-probabilities; returned: "
                            f"{final} (score/length {tree.final_score:.3f})",
                         ja=f"ビームサーチ（ビーム数 {tree.num_beams}）: スコアは対数確率の和。返される系列: "
                            f"{final}（スコア/長さ {tree.final_score:.3f}）"),
                     fontsize=10, parse_math=False)
    return fig


def _draw_beam_node(ax: Any, tree: BeamTree, node: BeamNode, place: dict[tuple[int, ...], tuple[float, float]]) -> None:
    """One candidate: an edge from its parent and a box with its token and summed log-probability."""
    final = node.ids == tree.final[: len(node.ids)]
    (x0, y0), (x1, y1) = place[node.ids[:-1]], place[node.ids]
    ax.plot([x0, x1], [y0, y1], color=VERMILLION if final else GREY, zorder=1,
            linewidth=2.5 if final else 0.8, linestyle="-" if node.status != "pruned" else ":")
    face = {"kept": SKY, "finished": LIGHT_GREEN, "pruned": "white"}[node.status]
    ax.text(x1, y1, f"{token_labels(tree.tokenizer, node.ids[-1:], 10)[0]}\n{node.score:.2f}", ha="center",
            va="center", fontsize=8, parse_math=False, color="black" if node.status != "pruned" else GREY, zorder=3,
            bbox=dict(boxstyle="round", facecolor=face, linewidth=2.5 if final else 1,
                      edgecolor=VERMILLION if final else BLUE if node.status == "kept" else GREY,
                      linestyle="--" if node.status == "pruned" else "-"))
