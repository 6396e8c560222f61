"""Plots of faster decoding (lesson 08): how many tokens each forward pass made, and the speed-ups.

The numbers come from the learner's own runs: `llmcourse.measure.StepLog` logs the tokens
each forward pass added, `llmcourse.measure.Timing.speedups` pairs the runs of two methods.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure

from ..errors import CourseError, describe
from ..i18n import say
from .style import BLUE, GREY, ORANGE, SKY, new_figure, plot_style, points


def _require_runs(runs: object, example: str) -> None:
    """A non-empty mapping of label -> non-empty list of positive numbers, or a CourseError that says how."""
    if not isinstance(runs, Mapping) or not runs:
        got = describe(runs) if not isinstance(runs, Mapping) else say(en="an empty mapping", ja="空の辞書")
        raise CourseError(say(en=f"give a mapping of label -> numbers, e.g. {example}, got {got}.",
                              ja=f"ラベルから数のリストへの辞書（たとえば {example}）を渡してください。{got}が"
                                 "渡されました。"))
    for label, values in runs.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise CourseError(say(en=f"{label!r} must map to a non-empty list of numbers, e.g. {example}, "
                                     f"got {describe(values)}.",
                                  ja=f"{label!r} の値は空でない数のリスト（たとえば {example}）にしてください。"
                                     f"{describe(values)}が渡されました。"))


def plot_tokens_per_pass(runs: Mapping[str, Sequence[int]]) -> Figure:
    """One row per run: each forward pass of the model is a block as wide as the new tokens it added.

    Plain decoding adds one token per pass (many thin blocks); prompt lookup and a draft model add
    several when the model accepts their guesses (fewer, wider blocks). ``runs`` maps a label to
    `StepLog.tokens_per_pass`.

    >>> plot_tokens_per_pass({"plain greedy": [1, 1, 1, 1], "prompt lookup": [3, 1]})
    <CourseFigure size 800x250 with 1 Axes>
    """
    _require_runs(runs, '{"plain greedy": log.tokens_per_pass}')
    labels = list(runs)
    with plot_style():
        fig, ax = new_figure((8, 1.3 + 0.6 * len(labels)))
        for row, label in enumerate(labels):
            widths = list(runs[label])
            starts = [sum(widths[:i]) for i in range(len(widths))]
            colours = [BLUE if i % 2 == 0 else SKY for i in range(len(widths))]
            ax.barh(row, widths, left=starts, height=0.6, color=colours, edgecolor="white", linewidth=0.8)
            passes = len(widths)
            ax.text(sum(widths), row, say(en=f"  {sum(widths)} tokens in {passes} passes",
                                          ja=f"  {passes} 回のパスで {sum(widths)} トークン"),
                    va="center", fontsize=points(9))
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()  # the first run on top
        longest = max(sum(widths) for widths in runs.values())
        ax.set_xlim(0, 1.45 * longest)  # room for the counts
        ax.set_xlabel(say(en="new tokens (one block = one forward pass of the model)",
                          ja="新しいトークン（1 つのブロック = モデルのフォワードパス 1 回）"))
        ax.set_title(say(en="New tokens added by each forward pass", ja="フォワードパスごとに追加された新しいトークン"))
    return fig


def plot_speedups(speedups: Mapping[str, Sequence[float]], *, xlabel: str = "") -> Figure:
    """Speed-up over plain decoding, one bar per method: the median run, whiskers from the slowest to the fastest.

    ``speedups`` maps a label to `Timing.speedups` (one ratio per run); the dashed line at 1 is
    plain decoding: a bar below it is slower.

    >>> plot_speedups({"prompt lookup": [2.1, 1.8, 2.3]})
    <CourseFigure size 600x300 with 1 Axes>
    """
    _require_runs(speedups, '{"prompt lookup": lookup_time.speedups(plain_time)}')
    labels = list(speedups)
    medians = [statistics.median(speedups[label]) for label in labels]
    low = [median - min(speedups[label]) for label, median in zip(labels, medians, strict=True)]
    high = [max(speedups[label]) - median for label, median in zip(labels, medians, strict=True)]
    runs = max(len(values) for values in speedups.values())
    with plot_style():
        fig, ax = new_figure((6, 3))
        colours = [ORANGE if median >= 1 else GREY for median in medians]
        bars = ax.bar(labels, medians, yerr=[low, high], color=colours, capsize=4, ecolor="black")
        ax.bar_label(bars, labels=[f"{median:.2f}×" for median in medians], label_type="center", fontsize=points(9))
        ax.axhline(1, color="black", linestyle="--", linewidth=1)
        ax.text(1.01, 1, say(en="plain", ja="通常"), transform=ax.get_yaxis_transform(), va="center", fontsize=points(9))
        ax.set_ylim(0, 1.15 * max(1.0, *(max(values) for values in speedups.values())))
        ax.set_ylabel(say(en="speed-up (× plain)", ja="高速化（通常の何倍か）"))
        if xlabel:
            ax.set_xlabel(xlabel)
        ax.set_title(say(en=f"Speed-up over plain greedy decoding (median of {runs} runs, whiskers: min-max)",
                         ja=f"通常の貪欲デコーディングに対する高速化（{runs} 回の中央値、ひげは最小〜最大）"))
    return fig
