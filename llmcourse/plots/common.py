"""What the plots share: the names of the two distributions, argument checks, and token bars.

Words are looked up when a figure is drawn (`llmcourse.i18n.say`), so
``set_language("ja")`` changes the next plot. The bars are the next-token bar chart
of lessons 03 and 05: the most likely tokens, then one hatched bar for all the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..applied import ALWAYS_APPLIED, applied_label, default_top_k, joined
from ..errors import CourseError, describe, require_whole_number
from ..generation import Distribution, GenerationResult
from ..i18n import say
from ..sampling import SAMPLING_SETTINGS, require_logits
from ..tokens import show_token, token_labels
from .style import BLUE, LIGHT_GREY, VERMILLION, points, set_token_ticks

WHICH = ("raw", "processed")


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
    'サンプリング分布（温度・top-k・top-p を適用後）'
    >>> set_language("en"); processed_label()
    'sampling distribution (after temperature/top-k/top-p)'
    """
    return say(en="sampling distribution (after temperature/top-k/top-p)",
               ja="サンプリング分布（温度・top-k・top-p を適用後）")


def distribution_label(which: str, settings: dict[str, Any] | None = None) -> str:
    """`raw_label`, or for ``which="processed"`` what was applied (`applied_label`) when the settings are known.

    >>> distribution_label("raw") == raw_label()
    True
    """
    require_which(which)
    if which == "raw":
        return raw_label()
    return processed_label() if settings is None else applied_label(settings)


def other_label() -> str:
    """The label of the last bar: every token not drawn on its own.

    >>> from llmcourse.i18n import set_language
    >>> set_language("en"); other_label()
    'all other tokens'
    """
    return say(en="all other tokens", ja="その他すべてのトークン")


def probability_word() -> str:
    """The y label of a probability axis.

    >>> probability_word() in ("probability", "確率")  # by set_language
    True
    """
    return say(en="probability", ja="確率")


# ---------------------------------------------------------------- argument guards

def require_which(which: str) -> None:
    """Refuse anything but "raw" or "processed".

    >>> require_which("logits")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    llmcourse.errors.CourseError: which must be "raw" (the model distribution) or "processed" (...), got 'logits'.
    """
    if which not in WHICH:
        raise CourseError(say(en=f'which must be "raw" (the model distribution) or "processed" '
                                 f'(the sampling distribution), got {which!r}.',
                              ja=f'which は "raw"（モデルの分布）か "processed"（サンプリング分布）にしてください。'
                                 f'{which!r} が渡されました。'))


def require_result(result: Any) -> None:
    """Refuse anything but a `GenerationResult`, saying what the learner passed and what to pass.

    >>> require_result(None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    llmcourse.errors.CourseError: This plot takes the GenerationResult that generate(...) returns, got None.
    """
    if isinstance(result, GenerationResult):
        return
    if isinstance(result, torch.Tensor):
        what = (f"a tensor of shape {tuple(result.shape)}. For next-token logits use "
                "plot_next_token(logits, tokenizer=tokenizer)")
        what_ja = (f"形状 {tuple(result.shape)} のテンソルが渡されました。次のトークンのロジットには "
                   "plot_next_token(logits, tokenizer=tokenizer) を使ってください")
    elif isinstance(result, (list, tuple)) and result and type(result[0]).__name__ == "Step":
        what = ("the steps of generation_steps(...). Plot the result of generate(...) instead, "
                "or print format_steps(steps)")
        what_ja = ("generation_steps(...) のステップが渡されました。代わりに generate(...) の結果を描くか、"
                   "print(format_steps(steps)) で表示してください")
    else:
        what = describe(result)
        what_ja = f"{describe(result)}が渡されました"
    raise CourseError(say(en=f"This plot takes the GenerationResult that generate(...) returns, got {what}.",
                          ja=f"この図は generate(...) が返す GenerationResult を受け取ります。{what_ja}。"))


def require_position(result: GenerationResult, row: int, step: int | None = None) -> int:
    """Check row (and step) against the result; return how many tokens that row generated."""
    require_result(result)
    rows = result.token_ids.shape[0]
    if not 0 <= row < rows:
        raise CourseError(row_message(row, rows))
    count = int(result.token_mask[row].sum())
    if step is not None and not 0 <= step < count:
        raise CourseError(say(en=f"step must be between 0 and {count - 1} (row {row} generated {count} tokens), "
                                 f"got {step}.",
                              ja=f"step は 0 から {count - 1} までにしてください（行 {row} で生成されたトークンは "
                                 f"{count} 個）。{step} が渡されました。"))
    return count


def distribution(result: GenerationResult, which: str) -> Distribution:
    """result.raw or result.processed, with a clear error for beam search results."""
    require_result(result)
    require_which(which)
    dist = getattr(result, which)
    if dist is None:
        raise CourseError(say(en="This result comes from beam search, which has no single next-token distribution. "
                                 "Use plot_beam_tree(result), or generate without num_beams.",
                              ja="この結果はビームサーチのもので、次のトークンの分布が 1 つに決まりません。"
                                 "plot_beam_tree(result) を使うか、num_beams なしで generate を呼び出してください。"))
    return dist


def step_logits(result: GenerationResult, which: str, row: int, step: int) -> torch.Tensor:
    """The full-vocabulary logits (raw) or scores (processed) of one row at one step."""
    distribution(result, which)
    source = result.outputs.logits if which == "raw" else result.outputs.scores
    return source[step][row].detach().float().cpu()  # (vocab,)


def logits_row(logits: Any, tokenizer: Any, row: int) -> torch.Tensor:
    """One row of next-token logits ``(batch, vocab)`` as floats on the CPU; a tokenizer must label them.

    >>> logits_row(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), tokenizer="a tokenizer", row=1)
    tensor([3., 4.])
    """
    takes = say(en="", ja="この図は次のトークンのロジット (batch, vocab) を受け取りますが、")
    if isinstance(logits, GenerationResult):
        raise CourseError(say(en="This plot takes next-token logits (batch, vocab), got a GenerationResult: take one "
                                 "step's raw logits with result.outputs.logits[step], or use "
                                 "plot_next_token(result, step=...).",
                              ja=takes + "GenerationResult が渡されました。1 ステップの生のロジットを "
                                 "result.outputs.logits[step] で取り出すか、plot_next_token(result, step=...) を"
                                 "使ってください。"))
    if hasattr(logits, "logits") and not isinstance(logits, torch.Tensor):  # a model's output object
        raise CourseError(say(en=f"This plot takes next-token logits (batch, vocab), got the model's whole output "
                                 f"({type(logits).__name__}): pass outputs.logits[:, -1, :].",
                              ja=takes + f"モデルの出力全体（{type(logits).__name__}）が渡されました。"
                                 "outputs.logits[:, -1, :] を渡してください。"))
    if isinstance(logits, (list, tuple)) and logits and type(logits[0]).__name__ == "Step":
        raise CourseError(say(en="This plot takes next-token logits (batch, vocab) or a GenerationResult, got the steps "
                                 "of generation_steps(...): plot generate(...)'s result instead, or print "
                                 "format_steps(steps).",
                              ja="この図は次のトークンのロジット (batch, vocab) か GenerationResult を受け取りますが、"
                                 "generation_steps(...) のステップが渡されました。代わりに generate(...) の結果を描くか、"
                                 "print(format_steps(steps)) で表示してください。"))
    if hasattr(logits, "generate"):  # the model itself
        raise CourseError(say(en="This plot takes next-token logits (batch, vocab), got the model: run it first, "
                                 "model(**inputs).logits[:, -1, :].",
                              ja=takes + "モデルそのものが渡されました。先にモデルを実行してください："
                                 "model(**inputs).logits[:, -1, :]。"))
    require_logits(logits)  # (batch, vocab): says how to fix a 1-D or 3-D tensor
    if not 0 <= row < logits.shape[0]:
        raise CourseError(row_message(row, logits.shape[0]))
    if tokenizer is None:
        raise CourseError(say(en="Pass tokenizer= as well: it turns token ids into the labels under the bars.",
                              ja="tokenizer= も渡してください。トークン ID を棒の下のラベルに変えるのに使います。"))
    return logits[row].detach().float().cpu()  # (vocab,)


def require_alternatives(alternatives: int, recorded: int | None = None) -> None:
    """``alternatives`` (how many tokens to draw) is a whole number >= 1, at most what generate recorded.

    >>> require_alternatives(12, recorded=10)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    llmcourse.errors.CourseError: alternatives must be between 1 and 10, ...; got 12.
    """
    require_whole_number("alternatives", alternatives)
    if recorded is not None and alternatives > recorded:
        raise CourseError(say(en=f"alternatives must be between 1 and {recorded}, the alternatives generate recorded "
                                 f"(pass alternatives= to generate for more); got {alternatives!r}.",
                              ja=f"alternatives は 1 から、generate が記録した候補の数 {recorded} までにしてください"
                                 f"（もっと多く記録するには generate に alternatives= を渡します）。"
                                 f"{alternatives!r} が渡されました。"))


def row_message(row: int, rows: int) -> str:
    """What a plot says about a ``row`` out of range."""
    return say(en=f"row must be between 0 and {rows - 1}, got {row}.",
               ja=f"row は 0 から {rows - 1} までにしてください。{row} が渡されました。")


# ---------------------------------------------------------------- bars of tokens

def top_with_other(probs: torch.Tensor, alternatives: int,
                   ids: torch.Tensor | None = None) -> tuple[list[int], list[float]]:
    """The ids of the most likely tokens (or the given ids) and their probabilities, plus 1 - their sum last.

    >>> top_with_other(torch.tensor([0.1, 0.6, 0.3]), 2)
    ([1, 2], [0.6000000238418579, 0.30000001192092896, 0.09999996423721313])
    """
    if ids is None:
        ids = probs.topk(min(alternatives, probs.numel())).indices
    heights = probs[ids].tolist()
    return ids.tolist(), heights + [max(0.0, 1.0 - sum(heights))]


def _probability_text(value: float) -> str:
    """Bar labels: two decimals, '<.01' for tiny non-zero values."""
    return "0" if value == 0 else ("<.01" if value < 0.005 else f"{value:.2f}")


def draw_bars(ax: Any, tokenizer: Any, ids: Sequence[int], heights: Sequence[float], *,
              chosen: int | None = None, colours: Sequence[str] | None = None, rotation: float = 45) -> Any:
    """Token bars plus a hatched last bar for all other tokens; the chosen token in vermillion."""
    colours = list(colours or [BLUE] * len(ids)) + [LIGHT_GREY]
    if chosen in ids:
        colours[list(ids).index(chosen)] = VERMILLION
    x = range(len(heights))
    bars = ax.bar(x, heights, color=colours, edgecolor="black", linewidth=0.5)
    bars[-1].set_hatch("//")
    ax.bar_label(bars, labels=[_probability_text(h) for h in heights], fontsize=points(7), padding=1)
    set_token_ticks(ax, x, token_labels(tokenizer, ids) + [other_label()], rotation=rotation)
    ax.set_ylabel(probability_word())
    return bars


def fit_ylim(ax: Any, *heights: Sequence[float]) -> None:
    """A y range from 0 that leaves room for the bar labels (shared axes follow).

    >>> from llmcourse.plots.style import new_figure
    >>> fig, ax = new_figure((4, 3))
    >>> fit_ylim(ax, [0.2, 0.1], [0.3]); [float(y) for y in ax.get_ylim()]
    [0.0, 0.355]
    """
    top = max(max(h) for h in heights)
    ax.set_ylim(0, 1.08 if top > 0.6 else top * 1.15 + 0.01)


def bar_legend(fig: Figure, chosen: int | None, ids: Sequence[int], rank: int | None = None) -> None:
    """Legend under the axes for `draw_bars`: token, chosen token, all other tokens."""
    handles = [Patch(color=BLUE, label=say(en="token", ja="トークン"))]
    if chosen is not None:
        where = "" if chosen in ids else say(en=f" (rank {rank}, inside '{other_label()}')",
                                             ja=f"（順位 {rank}、「{other_label()}」に含まれる）")
        handles.append(Patch(color=VERMILLION, label=say(en="chosen token", ja="選ばれたトークン") + where))
    handles.append(Patch(facecolor=LIGHT_GREY, hatch="//", edgecolor="black",
                         label=say(en=f"{other_label()} (1 − sum of the bars)", ja=f"{other_label()}（1 − 棒の合計）")))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=points(8), frameon=False)


# ---------------------------------------------------------------- texts of a generation

def context(result: GenerationResult, row: int, step: int, chars: int = 50) -> str:
    """The text the model saw before ``step``: prompt plus the tokens generated so far, shortened at the front."""
    shown = show_token(result.prompts[row] + "".join(result.token_texts(row)[:step]))
    return shown if len(shown) <= chars else "…" + shown[-chars:]


def settings_text(settings: dict[str, Any]) -> str:
    """The sampling settings of a generate call, e.g. 'do_sample=True, temperature=0.7'.

    >>> settings_text({"max_new_tokens": 5, "do_sample": True, "temperature": 0.7})
    'do_sample=True, temperature=0.7, top_k=50 (default)'
    """
    keys = ("do_sample", *SAMPLING_SETTINGS, *ALWAYS_APPLIED, "num_beams")
    shown = [f"{key}={settings[key]}" for key in keys if key in settings]
    if settings.get("do_sample") and "top_k" not in settings:  # generate's hidden default, made visible
        shown.append(default_top_k())
    return joined(shown) or say(en="greedy (default settings)", ja="貪欲デコーディング（既定の設定）")
