"""How likely the model finds a given text: per-token log-probabilities of a continuation (lesson 07).

One forward pass over prompt + continuation gives, at every position, the model's
distribution over the next token; the log-probability of each continuation token is
read at the position just before it. Their sum is the log-likelihood of the whole
continuation, their mean the per-token average that does not favour short texts, and
``exp(-mean)`` its perplexity. `llmcourse.plots.plot_token_surprisal` draws them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .errors import CourseError, describe
from .generation import require_model
from .i18n import say

__all__ = ["ContinuationLogprobs", "score_continuations", "token_logprobs"]


@dataclass
class ContinuationLogprobs:
    """One continuation of a prompt, with the log-probability (natural log) of each of its tokens."""

    prompt: str
    text: str  # the continuation
    ids: list[int]  # its token ids, tokenized on their own and appended to the prompt's
    logprobs: torch.Tensor  # (tokens,) log p(token | prompt and the tokens before it)
    tokenizer: Any = field(repr=False)

    @property
    def token_texts(self) -> list[str]:
        """The text of each token."""
        return [self.tokenizer.decode([i]) for i in self.ids]

    @property
    def log_likelihood(self) -> float:
        """The log-likelihood of the whole continuation: the sum over its tokens (closer to 0 is likelier)."""
        return float(self.logprobs.sum())

    @property
    def mean(self) -> float:
        """The mean log-probability per token: the sum without its bias towards short texts."""
        return float(self.logprobs.mean())

    @property
    def perplexity(self) -> float:
        """exp(-mean): how many equally likely tokens the model was choosing between, on average."""
        return math.exp(-self.mean)


def token_logprobs(logits: torch.Tensor, input_ids: torch.Tensor, prompt_length: int) -> torch.Tensor:
    """The log-probability of each token from ``prompt_length`` on, from a forward pass's logits.

    The logits at position t score the token at t + 1, so the first continuation token is
    read at ``prompt_length - 1``.

    >>> logits = torch.log(torch.tensor([[[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]]]))  # (batch, length, vocab)
    >>> token_logprobs(logits, torch.tensor([[0, 1, 0]]), prompt_length=1).exp()
    tensor([[0.5000, 0.9000]])
    """
    if logits.ndim != 3 or input_ids.shape != logits.shape[:2]:
        raise CourseError(say(en=f"logits must be (batch, length, vocab) and input_ids (batch, length), got "
                                 f"{tuple(logits.shape)} and {tuple(input_ids.shape)}.",
                              ja=f"logits の形状は (batch, length, vocab)、input_ids は (batch, length) にしてください。"
                                 f"渡されたのは {tuple(logits.shape)} と {tuple(input_ids.shape)} です。"))
    if not 1 <= prompt_length < input_ids.shape[1]:
        raise CourseError(say(en=f"prompt_length must be between 1 and {input_ids.shape[1] - 1}, got {prompt_length}.",
                              ja=f"prompt_length は 1 から {input_ids.shape[1] - 1} までにしてください。"
                                 f"{prompt_length} が渡されました。"))
    log_probs = torch.log_softmax(logits[:, prompt_length - 1:-1].float(), dim=-1)  # (batch, new, vocab)
    return log_probs.gather(-1, input_ids[:, prompt_length:, None]).squeeze(-1)  # (batch, new)


@torch.no_grad()
def score_continuations(model: Any, tokenizer: Any, prompt: str,
                        continuations: Sequence[str]) -> list[ContinuationLogprobs]:
    """Score each continuation of ``prompt`` with one forward pass: the log-probability of each of its tokens.

    A continuation is tokenized on its own and appended to the prompt's tokens, so a
    leading space belongs to it: ``" Paris"``, not ``"Paris"``.

    >>> [round(s.log_likelihood, 2) for s in score_continuations(model, tokenizer, "The capital of France is",
    ...                                                           [" Paris", " London"])]  # doctest: +SKIP
    [-0.26, -4.42]
    """
    require_model(model, tokenizer, "score_continuations")
    if not isinstance(prompt, str) or not prompt:
        raise CourseError(say(en=f"prompt must be a non-empty string, got {describe(prompt)}.",
                              ja=f"prompt は空でない文字列にしてください。{describe(prompt)}が渡されました。"))
    if isinstance(continuations, str) or not continuations or not all(isinstance(c, str) and c for c in continuations):
        raise CourseError(say(en="continuations must be a list of non-empty strings, e.g. [' positive', ' negative'].",
                              ja="continuations は空でない文字列のリスト（たとえば [' positive', ' negative']）に"
                                 "してください。"))
    prompt_ids = tokenizer(prompt, return_tensors="pt").input_ids  # (1, prompt length)
    scored = []
    for text in continuations:
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids  # (1, tokens)
        input_ids = torch.cat([prompt_ids, ids], dim=1).to(model.device)
        logits = model(input_ids).logits  # (1, length, vocab)
        logprobs = token_logprobs(logits, input_ids, prompt_ids.shape[1])[0].cpu()  # (tokens,)
        scored.append(ContinuationLogprobs(prompt, text, ids[0].tolist(), logprobs, tokenizer))
    return scored
