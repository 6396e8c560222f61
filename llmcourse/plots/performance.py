"""Plots of what a model costs: memory (lesson 01) and speed (lesson 06).

The numbers come from the learner's own measurements (``get_memory_footprint()``,
a streamer's clock), so every function takes plain numbers, not a model.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from matplotlib.figure import Figure

from ..errors import CourseError, describe
from ..i18n import say
from ..offline import MODEL_NAME
from .style import BLUE, GREY, ORANGE, VERMILLION, new_figure, plot_style

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def plot_memory(footprints: Mapping[str, float], *, grey: Collection[str] = (), model: str = MODEL_NAME) -> Figure:
    """The memory footprint of each way of loading a model: one bar each, the first on top (lesson 01).

    ``footprints`` maps a label to bytes (``model.get_memory_footprint()``); the labels
    in ``grey`` get a grey bar instead of a blue one.

    >>> plot_memory({"fp32": 538e6, "bf16": 269e6, "bf16, fp32 norms": 270e6}, grey=["bf16, fp32 norms"])
    <CourseFigure size 700x280 with 1 Axes>
    """
    if not isinstance(footprints, Mapping):
        raise CourseError(say(en=f'footprints must map a label to bytes, e.g. {{"fp32": model.get_memory_footprint()}}, '
                                 f"got {describe(footprints)}.",
                              ja=f'footprints はラベルからバイト数への辞書（たとえば {{"fp32": model.get_memory_footprint()}}）'
                                 f"にしてください。{describe(footprints)}が渡されました。"))
    if not footprints:
        raise CourseError(say(en='footprints is empty: give {label: bytes}, e.g. {"fp32": model.get_memory_footprint()}.',
                              ja='footprints が空です。ラベルからバイト数への辞書（たとえば '
                                 '{"fp32": model.get_memory_footprint()}）を渡してください。'))
    labels = list(footprints)[::-1]  # barh draws the first label at the bottom
    megabytes = [footprints[label] / 1e6 for label in labels]
    count = len(labels)
    with plot_style():
        fig, ax = new_figure((7, 2.8))
        bars = ax.barh(labels, megabytes, color=[GREY if label in grey else BLUE for label in labels])
        ax.bar_label(bars, fmt="%.0f MB", padding=3)
        ax.set_xlabel(say(en="memory footprint of the weights (MB)", ja="重みのメモリ使用量 (MB)"))
        ax.set_xlim(0, 1.15 * max(megabytes))  # room for the labels
        words = NUMBER_WORDS[count] if count < len(NUMBER_WORDS) else str(count)
        ax.set_title(say(en=f"{model} loaded {words} ways", ja=f"{model} を {count} 通りに読み込んだ場合"))
    return fig


def plot_kv_cache_timing(cached: Sequence[float], uncached: Sequence[float]) -> Figure:
    """Seconds from the prompt to each new token, with and without the KV cache (lesson 06).

    >>> plot_kv_cache_timing(cached=[0.1, 0.2, 0.3], uncached=[0.2, 0.5, 0.9])
    <CourseFigure size 700x300 with 1 Axes>
    """
    steps = max(len(cached), len(uncached))
    with plot_style():
        fig, ax = new_figure((7, 3))
        for seconds, label, colour in [(uncached, "use_cache=False", VERMILLION), (cached, "use_cache=True", BLUE)]:
            ax.plot(range(1, len(seconds) + 1), seconds, marker="o", markersize=3, color=colour, label=label)
        ax.set_xlabel(say(en="new tokens", ja="新しいトークン数"))
        ax.set_ylabel(say(en="seconds since the start", ja="開始からの秒数"))
        ax.set_xlim(0, steps + 1)
        ax.set_ylim(bottom=0)
        ax.set_title(say(en=f"Generating {steps} tokens with and without the KV cache (one run on this machine)",
                         ja=f"KV キャッシュあり・なしで {steps} トークンを生成（このマシンでの 1 回の実行）"))
        ax.legend()
    return fig


def plot_throughput(batch_rates: Mapping[int, float], precision_rates: Mapping[str, float]) -> Figure:
    """New tokens per second by batch size (left) and by precision (right), one bar each (lesson 06).

    >>> plot_throughput({1: 11.5, 4: 40.2}, {"fp32": 11.5, "bf16": 20.9})
    <CourseFigure size 800x300 with 2 Axes>
    """
    with plot_style():
        fig, (by_batch, by_precision) = new_figure((8, 3), ncols=2)
        panels = [(by_batch, batch_rates, BLUE, say(en="batch size (fp32)", ja="バッチサイズ（fp32）"),
                   say(en="Throughput by batch size", ja="バッチサイズ別のスループット")),
                  (by_precision, precision_rates, ORANGE,
                   say(en="precision (batch size 1)", ja="精度（バッチサイズ 1）"),
                   say(en="Throughput by precision", ja="精度別のスループット"))]
        for ax, rates, colour, xlabel, title in panels:
            bars = ax.bar([str(key) for key in rates], list(rates.values()), color=colour)
            ax.bar_label(bars, fmt="%.3g", padding=2)
            ax.set_xlabel(xlabel)
            ax.set_title(title)
            ax.margins(y=0.15)
        by_batch.set_ylabel(say(en="new tokens per second", ja="1 秒あたりの新しいトークン数"))
    return fig
