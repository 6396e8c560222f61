"""How likely the model finds given texts: each token's surprisal, one bar per candidate answer (lesson 07).

Reads the `ContinuationLogprobs` of `llmcourse.scoring.score_continuations`. Each bar is
made of one segment per token, as long as that token's surprisal ``-log p`` (nats):
the whole bar is ``-log P(answer)``, so a longer answer tends to get a longer bar even
when each of its tokens is likely. That is the length bias of summed log-probabilities,
and why answers are often ranked by the mean per token instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from ..errors import CourseError, describe
from ..i18n import say
from ..scoring import ContinuationLogprobs
from ..tokens import show_token
from .style import BLUE, SKY, new_figure, plot_style, points, set_token_ticks, text_colour

SEGMENT_COLOURS = (BLUE, SKY)  # neighbouring tokens alternate, so that each segment stands out


def plot_token_surprisal(scored: Sequence[ContinuationLogprobs]) -> Figure:
    """One horizontal bar per answer, a segment per token as long as its surprisal -log p; sum and mean at the end.

    >>> plot_token_surprisal(score_continuations(model, tokenizer, "The capital of France is",
    ...                                          [" Paris", " the city of Paris"]))  # doctest: +SKIP
    """
    scored = _validated_scored(scored)
    longest = max(float(-s.logprobs.sum()) for s in scored)
    with plot_style():
        fig, ax = new_figure((10, 0.75 * len(scored) + 1.9))
        for row, answer in enumerate(scored):
            left = 0.0
            for index, (token, logprob) in enumerate(zip(answer.token_texts, answer.logprobs.tolist(), strict=True)):
                colour = SEGMENT_COLOURS[index % 2]
                width = -logprob
                ax.barh(row, width, left=left, height=0.6, color=colour, edgecolor="white", linewidth=1)
                if width > 0.06 * longest:  # room for the token's text inside its segment
                    ax.text(left + width / 2, row, show_token(token, 12), ha="center", va="center",
                            fontsize=points(8), color=text_colour(to_rgba(colour)), parse_math=False)
                left += width
            ax.text(left + 0.01 * longest, row, _summary(answer), va="center", fontsize=points(8))
        set_token_ticks(ax, range(len(scored)), [show_token(s.text, 24) for s in scored], axis="y")
        ax.invert_yaxis()  # the first answer on top
        ax.set_xlim(0, longest * 1.45 + 1e-9)
        ax.set_xlabel(say(en="surprisal −log p of each token (nats); the whole bar is −log P(answer)",
                          ja="各トークンのサプライザル −log p（nat）。棒全体が −log P（答え）"))
        ax.set_title(say(en="Prompt: ", ja="プロンプト：") + show_token(scored[0].prompt, 70), loc="left",
                     fontsize=points(10), parse_math=False)
    return fig


def _summary(answer: ContinuationLogprobs) -> str:
    """The numbers at the end of a bar: sum, mean per token and the number of tokens."""
    count = len(answer.ids)
    return say(en=f"sum {answer.log_likelihood:.2f} · mean {answer.mean:.2f} ({count} token{'s' if count > 1 else ''})",
               ja=f"合計 {answer.log_likelihood:.2f} · 平均 {answer.mean:.2f}（{count} トークン）")


def _validated_scored(scored: object) -> list[ContinuationLogprobs]:
    """A non-empty list of `ContinuationLogprobs` answers of one prompt; say what to pass otherwise."""
    if isinstance(scored, ContinuationLogprobs):
        scored = [scored]
    if not isinstance(scored, (list, tuple)) or not scored or not all(isinstance(s, ContinuationLogprobs) for s in scored):
        raise CourseError(say(en="plot_token_surprisal takes what score_continuations(model, tokenizer, prompt, "
                                 f"answers) returns, got {describe(scored)}.",
                              ja="plot_token_surprisal は score_continuations(model, tokenizer, prompt, answers) が"
                                 f"返すものを受け取ります。{describe(scored)}が渡されました。"))
    if len({s.prompt for s in scored}) > 1:
        raise CourseError(say(en="plot_token_surprisal compares answers to one prompt; these come from several "
                                 "prompts.",
                              ja="plot_token_surprisal が比べるのは 1 つのプロンプトへの答えですが、渡された答えは"
                                 "複数のプロンプトのものです。"))
    return list(scored)
