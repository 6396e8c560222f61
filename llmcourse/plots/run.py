"""Plots of one whole generation, step by step: what the model considered and how sure it was.

Lessons 03 and 05. Each reads a `GenerationResult` from `llmcourse.generate` and draws
one row of it (``row=0``), under the model distribution (``which="raw"``) or the
sampling distribution (``which="processed"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import BoundaryNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..errors import CourseError
from ..generation import GenerationResult
from ..i18n import say
from ..tokens import show_token, token_labels
from .common import (
    distribution,
    distribution_label,
    probability_word,
    raw_label,
    require_alternatives,
    require_position,
    settings_text,
)
from .style import (
    BLUE,
    CMAP,
    ORANGE,
    VERMILLION,
    label_chars,
    new_figure,
    plot_style,
    points,
    set_token_ticks,
    text_colour,
)


def plot_generation_heatmap(result: GenerationResult, *, row: int = 0, alternatives: int = 8,
                            which: str = "raw") -> Figure:
    """A step x rank grid: the most likely tokens at each step, coloured by probability, the chosen one outlined.

    >>> plot_generation_heatmap(generate(model, tokenizer, "The capital of France is"))  # doctest: +SKIP
    """
    dist = distribution(result, which)
    steps = require_position(result, row)
    require_alternatives(alternatives, recorded=dist.ids.shape[-1])
    k = alternatives  # columns of the grid
    probs, ids = dist.probs[row, :steps, :k], dist.ids[row, :steps, :k]  # (steps, alternatives) each
    ranks = dist.chosen_rank[row, :steps].tolist()
    cmap, norm = colormaps[CMAP].with_extremes(bad="white"), Normalize(0, 1)
    empty = probs.numpy() == 0  # filtered out: the ids there are arbitrary ties, so the cell stays blank
    with plot_style():
        fig, ax = new_figure((1.05 * k + 3, 0.34 * steps + 1.8))
        image = ax.imshow(np.ma.masked_where(empty, probs.numpy()), cmap=cmap, norm=norm, aspect="auto")
        for (step, rank), p in np.ndenumerate(probs.numpy()):
            if not empty[step, rank]:
                label = token_labels(result.tokenizer, [ids[step, rank]], label_chars(13))[0]
                ax.text(rank, step, label, ha="center", va="center", fontsize=points(8),
                        color=text_colour(cmap(norm(p))), parse_math=False)
        for step, rank in enumerate(ranks):
            if rank < k:
                ax.add_patch(Rectangle((rank - 0.5, step - 0.5), 1, 1, fill=False, edgecolor=VERMILLION, linewidth=2.5))
        chosen = token_labels(result.tokenizer, result.token_ids[row, :steps].tolist())
        names = [f"{s}: {t}" + (say(en=f" (rank {r})", ja=f"（順位 {r}）") if r >= k else "")
                 for s, (t, r) in enumerate(zip(chosen, ranks, strict=True))]
        set_token_ticks(ax, range(steps), names, axis="y", fontsize=points(8))
        ax.set_xticks(range(k))
        ax.set_xlabel(say(en="rank (0 = most likely)", ja="順位（0 = 最も確率が高い）"))
        ax.set_ylabel(say(en="step: chosen token (outlined)", ja="ステップ：選ばれたトークン（枠で囲む）"))
        ax.tick_params(length=0)
        fig.colorbar(image, ax=ax, label=probability_word(), shrink=0.8)
        ax.set_title(say(en=f"Top {k} tokens per step: ", ja=f"各ステップの上位 {k} トークン：")
                     + f"{distribution_label(which, result.settings)}\n{settings_text(result.settings)}"
                     + (say(en="\nblank = probability 0 (filtered out)", ja="\n空欄 = 確率 0（除外）")
                        if empty.any() else ""), fontsize=points(10))
    return fig


def plot_confidence(result: GenerationResult, *, row: int = 0) -> Figure:
    """Probability of each chosen token and the entropy per step; marks where sampling left the top-1.

    >>> plot_confidence(generate(model, tokenizer, "Once upon a time", do_sample=True))  # doctest: +SKIP
    """
    raw, processed = distribution(result, "raw"), distribution(result, "processed")
    steps = require_position(result, row)
    x = np.arange(steps)
    off = np.flatnonzero(raw.chosen_rank[row, :steps].numpy() > 0)  # steps where the pick was not the raw top-1
    with plot_style():
        fig, (top, bottom) = new_figure((10, 6), 2, 1, sharex=True)
        for ax, field_name in ((top, "chosen_prob"), (bottom, "entropy")):
            for dist, style, colour, label in ((raw, "o-", BLUE, raw_label()),
                                               (processed, "s--", ORANGE,
                                                distribution_label("processed", result.settings))):
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
        fig.legend(*top.get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=points(8),
                   frameon=False)
        set_token_ticks(bottom, x, token_labels(result.tokenizer, result.token_ids[row, :steps].tolist()), rotation=60)
        bottom.set_xlabel(say(en="generated token", ja="生成されたトークン"))
        top.set_title(say(en="How sure was the model at each step? ",
                          ja="各ステップでモデルはどれだけ確信していたか？ ")
                      + settings_text(result.settings), fontsize=points(10))
    return fig


def plot_token_shading(result: GenerationResult, *, row: int = 0, by: str = "prob", which: str = "raw") -> Figure:
    """The generated text, each token on a background coloured by its probability (or rank).

    >>> plot_token_shading(generate(model, tokenizer, "Once upon a time", do_sample=True))  # doctest: +SKIP
    """
    if by not in ("prob", "rank"):
        raise CourseError(say(en=f'by must be "prob" or "rank", got {by!r}.',
                              ja=f'by は "prob" か "rank" にしてください。{by!r} が渡されました。'))
    dist = distribution(result, which)
    steps = require_position(result, row)
    if by == "prob":
        values, cmap, norm = dist.chosen_prob[row, :steps].tolist(), colormaps[CMAP], Normalize(0, 1)
    else:  # ranks 0..9 each get a colour, 10 and above share the last one
        values = [min(r, 10) for r in dist.chosen_rank[row, :steps].tolist()]
        cmap, norm = colormaps[CMAP + "_r"], BoundaryNorm(np.arange(-0.5, 11), colormaps[CMAP].N)
    with plot_style():
        fig, _ = new_figure((10, 3), nrows=0)  # placed by hand: tokens wrap like text
        height = _lay_out_tokens(fig, result.token_texts(row), [cmap(norm(v)) for v in values], bottom=1.05)
        colorbar = fig.colorbar(ScalarMappable(norm, cmap), orientation="horizontal",
                                cax=fig.add_axes((0.25, 0.6 / height, 0.5, 0.22 / height)))
        colorbar.set_label(say(en=f"{'probability' if by == 'prob' else 'rank'} of the chosen token: ",
                               ja=f"選ばれたトークンの{'確率' if by == 'prob' else '順位'}：")
                           + distribution_label(which, result.settings))
        if by == "rank":
            colorbar.set_ticks(range(11), labels=[str(r) for r in range(10)] + ["10+"])
        fig.suptitle(say(en="Prompt: ", ja="プロンプト：") + show_token(result.prompts[row], 70), x=0.03, ha="left",
                     fontsize=points(10), parse_math=False)
    return fig


def _lay_out_tokens(fig: Figure, tokens: Sequence[str], colours: Sequence[Any], *, top: float = 0.55,
                    bottom: float = 1.0, line_height: float = 0.36, margin: float = 0.3) -> float:
    """Write shaded tokens left to right, wrapping lines; resize the figure to fit and return its height (inches).

    ``top`` and ``bottom`` are the free space (inches) above and below the text.
    """
    width = fig.get_figwidth()
    renderer = RendererAgg(int(width * fig.dpi), int(3 * fig.dpi), fig.dpi)  # only measures the tokens
    texts, places, x, line = [], [], 0.0, 0
    for token, colour in zip(tokens, colours, strict=True):
        text = fig.text(0, 0, show_token(token, 40), fontsize=points(11), color=text_colour(colour), parse_math=False,
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
    for text, (x, line) in zip(texts, places, strict=True):
        text.set_position(((margin + x) / width, 1 - (top + line * line_height) / height))
    return height

