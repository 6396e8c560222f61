"""Logits processors that shape what `generate` may write: a format given as a regex, and serving-style penalties.

Lesson 07 passes them to ``generate(..., logits_processor=LogitsProcessorList([...]))``;
lessons import them from here. A processor is called at every step with the ids so
far ``(batch, length)`` and the scores ``(batch, vocab)``, and returns new scores: a token
it forbids gets ``-inf`` (probability 0). generate runs it after its own processors
(repetition penalty, bans, ``min_new_tokens``) and before the sampling ones (temperature,
top-k, top-p), which then choose among the tokens it allows.

- `RegexLogitsProcessor` keeps only the tokens after which the new text can still grow
  into a full match of a pattern, and allows EOS only once it matches: the output
  always parses. It checks the vocabulary at each step (the ``regex`` module's partial
  matching), which is slow; outlines, xgrammar and llguidance compile the pattern once
  into an index over the vocabulary instead.
- `PresenceFrequencyPenalty`: the ``presence_penalty`` and ``frequency_penalty`` of
  serving APIs (OpenAI, vLLM), which transformers lacks: subtract a flat amount from
  every token already generated, and an amount per occurrence.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import Any

import torch
from transformers import LogitsProcessor

from .errors import CourseError
from .i18n import say

__all__ = ["RegexLogitsProcessor", "PresenceFrequencyPenalty"]


@functools.lru_cache(maxsize=4)
def vocabulary_texts(tokenizer: Any) -> tuple[str, ...]:
    """The text of every token id on its own (special tokens too), decoded once per tokenizer.

    >>> vocabulary_texts(tokenizer)[28]  # doctest: +SKIP
    ','
    """
    return tuple(tokenizer.batch_decode([[i] for i in range(len(tokenizer))]))


@functools.lru_cache(maxsize=4)
def _by_first_character(tokenizer: Any) -> dict[str, list[int]]:
    """Ordinary token ids grouped by their first character (tokens that are not whole characters left out)."""
    special = set(tokenizer.all_special_ids)
    groups: dict[str, list[int]] = defaultdict(list)
    for token_id, text in enumerate(vocabulary_texts(tokenizer)):
        if text and "\ufffd" not in text and token_id not in special:  # '\ufffd': part of a multi-byte character
            groups[text[0]].append(token_id)
    return dict(groups)


class RegexLogitsProcessor(LogitsProcessor):
    """Let generate write only text that matches ``pattern`` in full, from ``prompt_length`` on.

    At each step a token is kept if the new text plus that token can still become a
    match; EOS is kept only when the new text already is one. A pattern of bounded
    length (``[0-9]{1,3}``, not ``[0-9]+``) also ends in time: once nothing can extend
    the match, EOS is the only token left.

    >>> processor = RegexLogitsProcessor(tokenizer, r"[0-9]{1,2}, [0-9]{1,2}", prompt_length=5)  # doctest: +SKIP
    >>> model.generate(**inputs, logits_processor=LogitsProcessorList([processor]))               # doctest: +SKIP
    """

    def __init__(self, tokenizer: Any, pattern: str, prompt_length: int) -> None:
        import regex  # transformers' own tokenizers depend on it: partial matching, which `re` lacks

        if isinstance(prompt_length, bool) or not isinstance(prompt_length, int) or prompt_length < 0:
            raise CourseError(say(en=f"prompt_length must be the number of prompt tokens, inputs.input_ids.shape[1]; "
                                     f"got {prompt_length!r}.",
                                  ja=f"prompt_length にはプロンプトのトークン数（inputs.input_ids.shape[1]）を渡します。"
                                     f"{prompt_length!r} が渡されました。"))
        try:
            self.pattern = regex.compile(pattern)
        except regex.error as error:
            raise CourseError(say(en=f"pattern is not a valid regular expression: {error}",
                                  ja=f"pattern が正しい正規表現ではありません：「{error}」"), cause=error) from None
        if tokenizer.eos_token_id is None:
            raise CourseError(say(en="The tokenizer has no EOS token, so generation could never end on a full match.",
                                  ja="トークナイザーに EOS トークンがないので、パターン全体に一致したところで生成を"
                                     "終えられません。"))
        self.tokenizer, self.prompt_length = tokenizer, prompt_length
        self.eos_token_id = tokenizer.eos_token_id
        self._allowed: dict[str, torch.Tensor] = {}  # new text -> allowed ids, shared by rows and steps

    def allowed_ids(self, text: str) -> torch.Tensor:
        """The ids that may follow ``text`` (the new text so far): prefixes of a match, and EOS after a full one.

        >>> RegexLogitsProcessor(tokenizer, r"[0-9]{2}", 0).allowed_ids("4").tolist()  # doctest: +SKIP
        [32, 33, 34, 35, 36, 37, 38, 39, 40, 41]
        """
        if text not in self._allowed:
            texts, ids = vocabulary_texts(self.tokenizer), []
            for first, group in _by_first_character(self.tokenizer).items():
                if self.pattern.fullmatch(text + first, partial=True):  # most groups fail here, on one character
                    ids += [i for i in group if self.pattern.fullmatch(text + texts[i], partial=True)]
            if self.pattern.fullmatch(text) or not ids:  # a full match may end; a dead end must (never all -inf)
                ids.append(self.eos_token_id)
            self._allowed[text] = torch.tensor(sorted(ids), dtype=torch.long)
        return self._allowed[text]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Scores with every token that would break the pattern at -inf, row by row."""
        blocked = torch.ones_like(scores, dtype=torch.bool)  # (batch, vocab)
        for row, ids in enumerate(input_ids):
            text = self.tokenizer.decode(ids[self.prompt_length:], skip_special_tokens=True)
            blocked[row, self.allowed_ids(text).to(scores.device)] = False
        return scores.masked_fill(blocked, float("-inf"))


class PresenceFrequencyPenalty(LogitsProcessor):
    """Subtract ``presence_penalty`` once from every token already generated, and ``frequency_penalty`` per time.

    Serving APIs (OpenAI, vLLM) define them this way, on the generated tokens only:
    ``score - count * frequency_penalty - (count > 0) * presence_penalty``.

    >>> penalty = PresenceFrequencyPenalty(presence_penalty=0.5, frequency_penalty=1.0, prompt_length=1)
    >>> penalty(torch.tensor([[0, 2, 2, 1]]), torch.zeros(1, 4))  # prompt: token 0; generated: 2, 2, 1
    tensor([[ 0.0000, -1.5000, -2.5000,  0.0000]])
    """

    def __init__(self, presence_penalty: float = 0.0, frequency_penalty: float = 0.0, *, prompt_length: int) -> None:
        for name, value in (("presence_penalty", presence_penalty), ("frequency_penalty", frequency_penalty)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CourseError(say(en=f"{name} must be a number (OpenAI allows -2.0 to 2.0), got {value!r}.",
                                      ja=f"{name} は数にしてください（OpenAI では -2.0〜2.0）。{value!r} が渡されました。"))
        self.presence, self.frequency, self.prompt_length = float(presence_penalty), float(frequency_penalty), prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """The scores minus each row's penalties."""
        generated = input_ids[:, self.prompt_length:]  # (batch, new tokens so far)
        counts = torch.zeros_like(scores).scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
        return scores - self.frequency * counts - self.presence * (counts > 0).to(scores.dtype)  # (batch, vocab)
