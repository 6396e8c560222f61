"""Drafts for faster decoding (lesson 08): a draft made from the model itself, and the maths of speculative sampling.

- `truncated_copy`: the model with only its first layers, the cheapest draft one model can make of itself.
- `draft_agreement`: how often the draft's next-token choice is the model's.
- `speculative_distribution`: what the token that speculative sampling keeps is distributed as.

How fast the drafts make decoding is measured with `measure`.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["truncated_copy", "draft_agreement", "speculative_distribution"]


def truncated_copy(model: Any, layers: int) -> Any:
    """A copy of ``model`` that keeps only its first ``layers`` decoder layers (and its embeddings,
    final norm and output head): the cheapest draft one model can make of itself.

    >>> draft = truncated_copy(model, 10)  # doctest: +SKIP
    >>> draft.config.num_hidden_layers     # doctest: +SKIP
    10
    """
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(model.config)
    config.num_hidden_layers = layers
    if getattr(config, "layer_types", None):
        config.layer_types = config.layer_types[:layers]
    draft = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
    kept = {name: tensor for name, tensor in model.state_dict().items()
            if not name.startswith("model.layers.") or int(name.split(".")[2]) < layers}
    draft.load_state_dict(kept, strict=True)
    draft.generation_config = copy.deepcopy(model.generation_config)
    return draft.to(model.device).eval()


def draft_agreement(model: Any, draft: Any, sequence: Any, prompt_length: int) -> tuple[int, int]:
    """At how many positions of ``sequence`` after the prompt the draft's top token is the model's: (agree, total).

    Both read the same text (the model's own greedy continuation, say) in one forward pass each,
    so this is what a draft would get right if every earlier guess had been accepted.

    >>> draft_agreement(model, model, ids, prompt_length=5)  # doctest: +SKIP
    (27, 27)
    """
    import torch

    with torch.no_grad():
        wanted = model(sequence).logits[0, prompt_length - 1:-1].argmax(-1)
        guessed = draft(sequence).logits[0, prompt_length - 1:-1].argmax(-1)
    return int((wanted == guessed).sum()), int(wanted.numel())


def speculative_distribution(q: Any, accept: Any, residual: Any) -> Any:
    """The distribution of the token speculative sampling keeps: the draft's token x (drawn from ``q``),
    kept with probability ``accept[x]``; after a rejection, a token drawn from ``residual``.

    P(x) = q(x) accept(x) + P(reject) residual(x), with P(reject) = 1 - sum_y q(y) accept(y).
    With accept = min(1, p/q) and residual = max(0, p - q) normalized, P is exactly p
    (Leviathan et al. 2023, Theorem 1; Chen et al. 2023).

    >>> import torch
    >>> p, q = torch.tensor([0.6, 0.3, 0.1]), torch.tensor([0.3, 0.6, 0.1])
    >>> accept = torch.clamp(p / q, max=1)
    >>> residual = (p - q).clamp(min=0) / (p - q).clamp(min=0).sum()
    >>> speculative_distribution(q, accept, residual)
    tensor([0.6000, 0.3000, 0.1000])
    """
    kept = q * accept  # (vocab,) the draft proposes x and it stays
    return kept + (1 - kept.sum()) * residual
