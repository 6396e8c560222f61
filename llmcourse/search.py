"""Beam search replayed step by step, and seeded samples that branch off greedy (lesson 05).

``generate(..., num_beams=B)`` returns only the winning sequences. `BeamTree` redoes
the search on the log-probabilities generate recorded, so every candidate it
considered, and what became of it (kept, finished, pruned), can be drawn and checked
(`llmcourse.plots.plot_beam_tree`). `Branches` holds one greedy run and one seeded
sample per seed of the same prompt, with the step where each sample leaves greedy
(`llmcourse.plots.plot_branches`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any

import torch

from .errors import CourseError
from .generation import GenerationResult, generate
from .i18n import say

# ---------------------------------------------------------------- seeded branches

@dataclass
class Branches:
    """Greedy and seeded sampled continuations of one prompt (token ids of the new text).

    >>> Branches("Hi", greedy=[5, 6, 7], samples={0: [5, 6, 7], 1: [5, 9]}, settings={}, tokenizer=None).points
    {0: None, 1: 1}
    """

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
        return run.token_ids[0][run.token_mask[0]].tolist()

    greedy = new_ids(do_sample=False)
    samples = {}
    for seed in seeds:
        set_seed(seed)
        samples[seed] = new_ids(do_sample=True, **sampling)
    return Branches(prompt, greedy, samples, {"do_sample": True, **sampling}, tokenizer)


# ---------------------------------------------------------------- beam search

@dataclass
class BeamNode:
    """One candidate continuation that beam search considered at one step."""

    step: int  # 0 = the first new token
    ids: tuple[int, ...]  # the new tokens so far; the last one is this node's token
    cumulative_logprob: float  # sum of the log-probabilities of ids: what beam search ranks
    status: str  # "kept" (a beam at the next step), "finished" (stored as a hypothesis) or "pruned"


@dataclass
class BeamTree:
    """Beam search step by step, replayed from ``generate``'s scores: the candidates and their fate.

    >>> nodes = [BeamNode(0, (5,), -0.1, "kept"), BeamNode(0, (6,), -0.9, "pruned"),
    ...          BeamNode(1, (5, 7), -0.3, "finished")]
    >>> tree = BeamTree([1], 1, nodes, final=(5, 7), final_normalized_logprob=-0.15, tokenizer=None)
    >>> tree.steps, [node.ids for node in tree.at_step(0)]
    (2, [(5,), (6,)])
    """

    prompt_ids: list[int]
    num_beams: int
    nodes: list[BeamNode]
    final: tuple[int, ...]  # the best finished hypothesis: generate's first returned sequence
    final_normalized_logprob: float  # its cumulative_logprob / length ** length_penalty: generate's sequences_scores
    tokenizer: Any = field(repr=False)

    @classmethod
    def from_result(cls, result: GenerationResult, row: int = 0, *, eos_token_ids: Any = None) -> BeamTree:
        """Replay the beam search of a ``generate(..., num_beams=B)`` result from its per-step scores.

        >>> tree = BeamTree.from_result(generate(model, tokenizer, "Hi", num_beams=3))  # doctest: +SKIP
        """
        settings = result.settings
        if settings.get("num_beams", 1) < 2 or result.outputs.scores is None:
            raise CourseError(say(en="This result does not come from beam search: generate with num_beams=3 (or more).",
                                  ja="この結果はビームサーチのものではありません。num_beams=3（以上）で generate を"
                                     "呼び出してください。"))
        if eos_token_ids is None:
            eos_token_ids = settings.get("eos_token_id", result.tokenizer.eos_token_id)
        eos = {eos_token_ids} if isinstance(eos_token_ids, int) else set(eos_token_ids or ())
        nodes, final, normalized = _replay_beam_search(result.outputs.scores, row, eos, settings)
        returned_row = row * settings.get("num_return_sequences", 1)
        tree = cls(result.sequences[returned_row, : result.prompt_length].tolist(), settings["num_beams"], nodes,
                   final, normalized, result.tokenizer)
        if result.sequences[returned_row, result.prompt_length:].tolist()[: len(final)] != list(final):
            raise CourseError(say(en="Replaying beam search did not give generate's first sequence; "
                                     "pass eos_token_ids=model.generation_config.eos_token_id.",
                                  ja="ビームサーチをたどり直しても generate の最初のシーケンスになりませんでした。"
                                     "eos_token_ids=model.generation_config.eos_token_id を渡してください。"))
        return tree

    def at_step(self, step: int) -> list[BeamNode]:
        """The candidates considered at one step, highest cumulative log-probability first."""
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
    finished: list[tuple[float, tuple[int, ...]]] = []  # (cumulative log-prob / length ** penalty, ids), best first
    nodes, open_to_improvement = [], True
    for step, step_scores in enumerate(scores):
        log_probs = step_scores[row * num_beams:(row + 1) * num_beams].float().cpu()  # (beams, vocab)
        totals = log_probs + torch.tensor([logprob for _, logprob in beams])[:, None]  # each beam's sum so far added
        values, flat = totals.flatten().topk(keep)
        vocab = log_probs.shape[-1]
        pairs = zip(flat.tolist(), values.tolist(), strict=True)  # (index into beams x vocab, summed log-prob)
        candidates = [(beams[i // vocab][0] + (i % vocab,), v) for i, v in pairs]
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
