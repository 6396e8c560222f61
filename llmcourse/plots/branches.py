"""Plots of several continuations of one prompt: seeded samples next to greedy, and beam search.

Lesson 05. The runs come from `llmcourse.search` (`sample_branches`, `beam_search_tree`),
which keeps the numbers behind each picture so that tests can check them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from ..generation import GenerationResult
from ..i18n import say
from ..search import BeamNode, BeamTree, Branches, sample_branches
from ..tokens import show_token, token_labels
from .common import settings_text
from .style import (
    BLUE,
    GREY,
    LIGHT_GREY,
    ORANGE,
    SKY,
    VERMILLION,
    label_chars,
    new_figure,
    plot_style,
    points,
    set_token_ticks,
)

LIGHT_GREEN = "#99D8C9"  # finished beam search hypotheses


# ---------------------------------------------------------------- seeded samples

def plot_branches(model: Any, tokenizer: Any, prompt: str, *, seeds: Sequence[int] = (0, 1, 2, 3),
                  max_new_tokens: int = 12, **sampling: Any) -> Figure:
    """Greedy and one sample per seed, token by token, with the step where each sample branches off.

    >>> plot_branches(model, tokenizer, "Once upon a time", temperature=0.8)  # doctest: +SKIP
    """
    return plot_branch_runs(sample_branches(model, tokenizer, prompt, seeds=seeds, max_new_tokens=max_new_tokens,
                                            **sampling))


def plot_branch_runs(branches: Branches) -> Figure:
    """Draw `Branches`: one row per run, one cell per token; the branching token outlined.

    >>> plot_branch_runs(sample_branches(model, tokenizer, "Hello"))  # doctest: +SKIP
    """
    runs = [(say(en="greedy", ja="貪欲"), branches.greedy, None)] + [
        (say(en=f"seed {seed}", ja=f"シード {seed}"), ids, branches.points[seed])
        for seed, ids in branches.samples.items()]
    steps = max(len(ids) for _, ids, _ in runs)
    with plot_style():
        fig, ax = new_figure((0.85 * steps + 2.4, 0.5 * len(runs) + 1.5))
        for y, (_, ids, split) in enumerate(runs):
            for step, label in enumerate(token_labels(branches.tokenizer, ids, label_chars(12))):
                branched = split is not None and step >= split
                ax.add_patch(Rectangle((step - 0.45, y - 0.35), 0.9, 0.7, facecolor=ORANGE if branched else LIGHT_GREY,
                                       edgecolor=VERMILLION if step == split else "none", linewidth=2.5))
                ax.text(step, y, label, ha="center", va="center", fontsize=points(8), parse_math=False)
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
        prompt, settings = show_token(branches.prompt, 60), settings_text(branches.settings)
        ax.set_title(say(en=f"Prompt: {prompt}   sampling: {settings}\n"
                            "grey = same token as greedy so far, orange = after the branch point (outlined)",
                         ja=f"プロンプト：{prompt}   サンプリング：{settings}\n"
                            "灰色 = ここまで貪欲と同じトークン、橙 = 分岐点（枠で囲む）から後"),
                     fontsize=points(10), parse_math=False)
    return fig



# ---------------------------------------------------------------- beam search

def plot_beam_tree(tree_or_result: BeamTree | GenerationResult) -> Figure:
    """The beam search tree: kept beams, pruned and finished candidates, scores, the returned sequence in bold.

    >>> plot_beam_tree(beam_search_tree(model, tokenizer, "A list of colors: red, blue"))  # doctest: +SKIP
    """
    tree = tree_or_result if isinstance(tree_or_result, BeamTree) else BeamTree.from_result(tree_or_result)
    rows = max(len(tree.at_step(step)) for step in range(tree.steps))
    place = {(): (0.0, (rows - 1) / 2)}  # node ids -> (x, y); the prompt is the root
    with plot_style():
        fig, ax = new_figure((1.75 * tree.steps + 2.6, 0.75 * rows + 1.6))
        for step in range(tree.steps):  # children sit in the order of their parents, best first
            nodes = sorted(tree.at_step(step), key=lambda node: (place[node.ids[:-1]][1], -node.cumulative_logprob))
            for y, node in enumerate(nodes):
                place[node.ids] = (step + 1.0, float(y))
                _draw_beam_node(ax, tree, node, place)
        prompt = show_token(tree.tokenizer.decode(tree.prompt_ids, skip_special_tokens=True))
        prompt = prompt if len(prompt) <= 18 else "…" + prompt[-17:]
        for step in range(tree.steps):
            ax.text(step + 1, -0.55, say(en=f"step {step}", ja=f"ステップ {step}"), ha="center", va="bottom",
                    fontsize=points(9), color=GREY)
        ax.text(*place[()], prompt, ha="center", va="center", fontsize=points(8), parse_math=False, zorder=3,
                bbox=dict(boxstyle="round", facecolor="white", edgecolor="black"))
        ax.set_xlim(-0.6, tree.steps + 0.5)
        ax.set_ylim(rows - 0.4, -0.8)
        ax.set_axis_off()
        ax.legend(handles=_beam_legend(), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=4, fontsize=points(8),
                  frameon=False)
        final = show_token(tree.tokenizer.decode(tree.final), 60)
        ax.set_title(say(en=f"Beam search, {tree.num_beams} beams: scores are summed log-probabilities; returned: "
                            f"{final} (score/length {tree.final_normalized_logprob:.3f})",
                         ja=f"ビームサーチ（ビーム数 {tree.num_beams}）。スコアは対数確率の和。返されるシーケンス："
                            f"{final}（スコア/長さ {tree.final_normalized_logprob:.3f}）"),
                     fontsize=points(10), parse_math=False)
    return fig


def _beam_legend() -> list[Patch]:
    """What the boxes of `plot_beam_tree` mean: kept, finished, pruned, returned."""
    return [Patch(facecolor=SKY, edgecolor=BLUE,
                  label=say(en="kept: a beam at the next step", ja="残る：次のステップのビーム")),
            Patch(facecolor=LIGHT_GREEN, edgecolor=GREY, label=say(en="finished hypothesis", ja="完了した仮説")),
            Patch(facecolor="white", edgecolor=GREY, linestyle="--", label=say(en="pruned", ja="枝刈り")),
            Patch(facecolor="white", edgecolor=VERMILLION, linewidth=2.5,
                  label=say(en="returned sequence", ja="返されるシーケンス"))]


def _draw_beam_node(ax: Any, tree: BeamTree, node: BeamNode, place: dict[tuple[int, ...], tuple[float, float]]) -> None:
    """One candidate: an edge from its parent and a box with its token and summed log-probability."""
    final = node.ids == tree.final[: len(node.ids)]
    (x0, y0), (x1, y1) = place[node.ids[:-1]], place[node.ids]
    ax.plot([x0, x1], [y0, y1], color=VERMILLION if final else GREY, zorder=1,
            linewidth=2.5 if final else 0.8, linestyle="-" if node.status != "pruned" else ":")
    face = {"kept": SKY, "finished": LIGHT_GREEN, "pruned": "white"}[node.status]
    label = token_labels(tree.tokenizer, node.ids[-1:], label_chars(14))[0]
    ax.text(x1, y1, f"{label}\n{node.cumulative_logprob:.2f}", ha="center", va="center", fontsize=points(8),
            parse_math=False, color="black" if node.status != "pruned" else GREY, zorder=3,
            bbox=dict(boxstyle="round", facecolor=face, linewidth=2.5 if final else 1,
                      edgecolor=VERMILLION if final else BLUE if node.status == "kept" else GREY,
                      linestyle="--" if node.status == "pruned" else "-"))
