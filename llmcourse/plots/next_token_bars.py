"""The explorer's state as a picture: what its widget shows, for wherever widgets do not render.

>>> plot_explorer(explore(model, tokenizer, "A list of colors: red, blue").run(2))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..explorer_text import ended_line, new_text, prompt_text, settings_label, token_label, token_line
from ..i18n import say
from .common import probability_word
from .style import BLUE, GREY, ORANGE, VERMILLION, new_figure, plot_style, points, set_token_ticks


def plot_explorer(explorer: Any) -> Figure:
    """The next-token bars of an explorer (model and processed side by side), with the text so far as the title.

    Tokens a filter removed get a × and the filter's name; after "draw 100" the share of the
    draws is drawn as an orange tick across each bar, as in the widget.

    >>> plot_explorer(explore(model, tokenizer, "Once upon a time", do_sample=True, top_k=5))  # doctest: +SKIP
    """
    text = prompt_text(explorer)
    new = new_text(explorer)
    shown = text + (f"⟨{new}⟩" if new else "")
    shown = shown if len(shown) <= 70 else "…" + shown[-69:]
    with plot_style():
        fig, ax = new_figure((11, 4.8))
        if explorer.finished:
            ax.set_axis_off()
            ax.text(0.5, 0.5, ended_line(explorer), ha="center", va="center", fontsize=points(11))
        else:
            _draw_step(ax, explorer)
        fig.suptitle(say(en="Text so far (new tokens in ⟨ ⟩): ", ja="ここまでのテキスト（新しいトークンは ⟨ ⟩ 内）：")
                     + shown + "\n" + say(en="Processed probabilities when taken: ", ja="選ばれたときの処理後の確率：")
                     + token_line(explorer), parse_math=False, fontsize=points(10))
    return fig


def _draw_step(ax: Any, explorer: Any) -> None:
    """Model and processed probabilities of the bars' tokens, removed ones marked, draws as ticks."""
    step = explorer.next_token()
    ids = step.rows(explorer.bars)
    removed = explorer.removed_by(ids)
    raw = np.array([float(step.raw[i]) for i in ids])
    processed = np.array([float(step.processed[i]) for i in ids])
    x = np.arange(len(ids))
    ax.bar(x - 0.2, raw, 0.4, color=GREY, label=say(en="model distribution (raw logits)",
                                                   ja="モデルの分布（生のロジット）"))
    ax.bar(x + 0.2, processed, 0.4, color=BLUE, label=settings_label(explorer.settings))
    for position, token_id in zip(x, ids, strict=True):
        if token_id in removed:
            ax.text(position + 0.2, 0.005, "×\n" + removed[token_id], ha="center", va="bottom", color=VERMILLION,
                    fontsize=points(8))
    shares = [0.0]
    if explorer.draws is not None:
        total = float(explorer.draws.sum())
        shares = [float(explorer.draws[i]) / total for i in ids]
        ax.scatter(x + 0.2, shares, marker="_", s=400, linewidths=3, color=ORANGE, zorder=3,
                   label=say(en=f"share of {int(total)} draws (seed {explorer.seed})",
                             ja=f"{int(total)} 回の抽選での割合（シード {explorer.seed}）"))
    set_token_ticks(ax, x, [token_label(explorer.tokenizer, i) for i in ids], rotation=45)
    ax.set_ylabel(probability_word())
    ax.set_ylim(0, min(1.05, max(raw.max(), processed.max(), max(shares)) * 1.2 + 0.02))
    raw_entropy, processed_entropy = step.entropy
    ax.set_title(say(en=f"Next token · entropy {raw_entropy:.2f} nats (model), {processed_entropy:.2f} (processed)",
                     ja=f"次のトークン · エントロピー {raw_entropy:.2f} nat（モデル）、{processed_entropy:.2f}（処理後）"),
                 fontsize=points(10))
    ax.legend(fontsize=points(8), frameon=False, loc="upper right")
