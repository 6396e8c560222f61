"""`generate`: `model.generate` plus a record of what the model considered at each step.

Lesson 03 introduces it; the plots (lesson 05) read its `GenerationResult`. For
every generated token it keeps the ``alternatives`` most likely tokens under two
distributions:

- ``raw``: the model's own next-token distribution, softmax of the raw logits;
- ``processed``: the distribution actually picked from, after generate's logits
  processors (temperature, top-k, top-p, min-p, repetition penalty...).

Batches are always left-padded and the attention mask is always passed. A request
that cannot work fails before the model runs, with the numbers (`llmcourse.limits`):
a prompt longer than the model's context, more new tokens than the course's cap, a
batch whose record would not fit in memory, a setting that would be ignored or
rejected deep inside transformers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from .errors import CourseError, describe, first_line, is_whole_number, require_whole_number
from .i18n import say
from .limits import (
    MISNAMED,
    misnamed,
    require_model,
    require_record_size,
    require_room,
    require_sampling_settings,
)
from .sampling import SAMPLING_SETTINGS
from .tokens import pad_token_id

DEFAULT_MAX_NEW_TOKENS = 20  # the same as generate's own default, but said out loud


@dataclass
class Distribution:
    """The most likely tokens per step under one distribution; tensors are (batch, steps[, alternatives])."""

    ids: torch.Tensor  # (batch, steps, alternatives) token ids, most likely first
    probs: torch.Tensor  # (batch, steps, alternatives) their probabilities (full-vocabulary softmax)
    chosen_prob: torch.Tensor  # (batch, steps) probability of the token that was picked
    chosen_rank: torch.Tensor  # (batch, steps) its rank, 0 = most likely
    entropy: torch.Tensor  # (batch, steps) entropy in nats

    @classmethod
    def from_logits(cls, logits: torch.Tensor, chosen: torch.Tensor, alternatives: int) -> Distribution:
        """Summarize logits (batch, steps, vocab) given the chosen ids (batch, steps).

        >>> d = Distribution.from_logits(torch.tensor([[[0.0, 1.0, -1.0]]]), torch.tensor([[1]]), alternatives=2)
        >>> d.ids.tolist(), d.chosen_rank.tolist()
        ([[[1, 0]]], [[0]])
        """
        probs = torch.softmax(logits.float(), dim=-1)  # -inf (filtered out) -> probability 0
        top = probs.topk(alternatives, dim=-1)
        chosen_prob = probs.gather(-1, chosen.unsqueeze(-1)).squeeze(-1)
        chosen_rank = (probs > chosen_prob.unsqueeze(-1)).sum(-1)
        entropy = torch.special.entr(probs).sum(-1)
        return cls(top.indices, top.values, chosen_prob, chosen_rank, entropy)


@dataclass
class GenerationResult:
    """What `generate` returns: the texts, the ids and the per-step distributions.

    Rows of a batch stop at different lengths: after its EOS a row is padded, and
    ``token_mask`` says which positions of ``token_ids`` hold real new tokens. The
    tokens of one row, as text: ``result.token_texts(row)``; how many were generated in
    all: ``int(result.token_mask.sum())``.
    """

    prompts: list[str]  # as given
    texts: list[str]  # the new text only, special tokens skipped
    sequences: torch.Tensor  # (batch, prompt_length + steps) left-padded prompt + new tokens
    prompt_length: int  # padded prompt length: new tokens start here
    token_ids: torch.Tensor  # (batch, steps) the generated ids
    token_mask: torch.Tensor  # (batch, steps) bool, like an attention mask: False for the padding after EOS
    raw: Distribution | None  # the model's distribution (None for beam search)
    processed: Distribution | None  # the distribution sampled from (None for beam search)
    settings: dict[str, Any]  # the generate settings used
    tokenizer: Any = field(repr=False)
    outputs: Any = field(repr=False)  # transformers' own GenerateOutput (scores, logits, beam_indices...)

    @property
    def steps(self) -> int:
        """Number of generation steps (the longest new sequence)."""
        return int(self.token_ids.shape[1])

    def token_texts(self, row: int = 0) -> list[str]:
        """The text of each generated token of one row (padding after EOS left out).

        >>> generate(model, tokenizer, "A list of colors: red, blue", max_new_tokens=3).token_texts(0)  # doctest: +SKIP
        [',', ' and', ' green']
        """
        ids = self.token_ids[row][self.token_mask[row]].tolist()
        return [self.tokenizer.decode([i]) for i in ids]

    def token_text(self, token_id: int) -> str:
        """Decode one token id, e.g. ``result.token_text(result.raw.ids[0, 0, 0])``."""
        return self.tokenizer.decode([int(token_id)])


def generate(model: Any, tokenizer: Any, prompts: str | list[str], *, alternatives: int = 10,
             chat: bool = False, **generate_kwargs: Any) -> GenerationResult:
    """Run ``model.generate`` on ``prompts`` and record each step's top alternatives.

    ``chat=True`` wraps each prompt as a user message with the chat template.
    Other keyword arguments go to ``model.generate`` (``max_new_tokens`` defaults to 20).

    >>> result = generate(model, tokenizer, "A list of colors: red, blue", max_new_tokens=8)  # doctest: +SKIP
    >>> result.texts                                                                         # doctest: +SKIP
    [', green, yellow, orange, purple']
    """
    require_model(model, tokenizer, "generate")
    prompts = _validated_prompts(prompts)
    settings = _validated_settings(generate_kwargs, alternatives, tokenizer, model)
    inputs = encode_left_padded(tokenizer, prompts, chat=chat).to(model.device)
    new_tokens = _validated_length(settings, model, inputs["input_ids"].shape[1])
    require_record_size(model, tokenizer, len(prompts), new_tokens, settings)
    needs_tokenizer = {"tokenizer": tokenizer} if "stop_strings" in settings else {}  # generate asks for it then
    try:
        with torch.inference_mode():
            outputs = model.generate(**inputs, **settings, **needs_tokenizer, return_dict_in_generate=True,
                                     output_scores=True, output_logits=True)
    except (ValueError, TypeError) as error:  # transformers' own message is quoted as it is
        raise CourseError(say(en=f"generate rejected these settings: {first_line(error)}",
                              ja=f"generate がこの設定を受け付けませんでした：「{first_line(error)}」"),
                          cause=error) from None
    except torch.OutOfMemoryError as error:
        raise CourseError(say(en=f"generate ran out of memory with {len(prompts):,} prompts: pass fewer prompts at a "
                                 "time, or fewer max_new_tokens.",
                              ja=f"{len(prompts):,} 個のプロンプトで generate のメモリが足りなくなりました。一度に渡す"
                                 "プロンプトを減らすか、max_new_tokens を小さくしてください。"),
                          cause=error) from None
    return _build_result(prompts, tokenizer, inputs, outputs, settings, alternatives, _eos_ids(model, settings))


def encode_left_padded(tokenizer: Any, prompts: list[str], *, chat: bool = False) -> Any:
    """Tokenize a batch padded on the left, with its attention mask; the tokenizer is left as it was.

    >>> encode_left_padded(tokenizer, ["1, 2, 3", "A, B, C, D, E"]).attention_mask  # doctest: +SKIP
    tensor([[0, 0, 0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1, 1]])
    """
    if chat and not getattr(tokenizer, "chat_template", None):
        raise CourseError(say(
            en="chat=True needs the tokenizer's chat template, and this tokenizer has none (it belongs to "
               "a base model, not a chat or instruct one). Use chat=False to continue plain text, or load "
               "an instruct model, e.g. load_model() (SmolLM2-135M-Instruct).",
            ja="chat=True にはトークナイザーのチャットテンプレートが必要ですが、このトークナイザーにはありません"
               "（チャット用や instruct 用ではなく、ベースモデルのものです）。ただのテキストの続きを書かせるなら "
               "chat=False を使い、そうでなければ instruct モデル（たとえば load_model() の "
               "SmolLM2-135M-Instruct）を読み込んでください。"))
    if chat:
        prompts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                                 add_generation_prompt=True) for p in prompts]
    with _padding_left(tokenizer):
        return tokenizer(prompts, padding=True, return_tensors="pt", add_special_tokens=not chat)


@contextmanager
def _padding_left(tokenizer: Any) -> Iterator[None]:
    """Temporarily pad on the left (and with EOS if there is no pad token, as `tokens.pad_token_id` says)."""
    side, pad = tokenizer.padding_side, tokenizer.pad_token
    tokenizer.padding_side = "left"
    if pad is None:
        tokenizer.pad_token = tokenizer.eos_token
    try:
        yield
    finally:
        tokenizer.padding_side = side
        if pad is None:
            tokenizer.pad_token = None


def _validated_prompts(prompts: Any) -> list[str]:
    """Accept one string or a non-empty list of non-empty strings; say what to pass instead of anything else."""
    if prompts is None:
        raise CourseError(say(en="prompts is None: pass a string, e.g. generate(model, tokenizer, 'A list of colors: "
                                 "red, blue'), or a list of strings.",
                              ja="prompts が None です。文字列（たとえば generate(model, tokenizer, 'A list of colors: "
                                 "red, blue')）か、文字列のリストを渡してください。"))
    if isinstance(prompts, str):
        prompts = [prompts]
    if isinstance(prompts, (Mapping, torch.Tensor)) or hasattr(prompts, "input_ids"):
        raise CourseError(say(
            en=f"generate takes text and tokenizes it itself, but got {_what_prompt(prompts)}. "
               "Pass the text: generate(model, tokenizer, 'A list of colors: red, blue'). To start from "
               "token ids, use model.generate(**inputs) or generate_by_hand(model, **inputs, ...).",
            ja=f"generate はテキストを受け取って自分でトークン化しますが、{_what_prompt(prompts)}が渡されました。"
               "テキストを渡してください：generate(model, tokenizer, 'A list of colors: red, blue')。トークン ID "
               "から始めるなら model.generate(**inputs) か generate_by_hand(model, **inputs, ...) を使います。"))
    if not isinstance(prompts, (list, tuple)) or len(prompts) == 0:
        empty = isinstance(prompts, (list, tuple))
        what = "empty" if empty else describe(prompts)
        raise CourseError(say(
            en=f"prompts is {what}: pass a string or a list of strings, e.g. ['A list of colors:'].",
            ja=("prompts が空です。" if empty else f"prompts として、{describe(prompts)}が渡されました。")
            + "文字列か文字列のリスト（たとえば ['A list of colors:']）を渡してください。"))
    for index, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise CourseError(say(en=f"prompt {index} is {_what_prompt(prompt)}, not a string. "
                                     "Pass text; generate tokenizes it for you.",
                                  ja=f"プロンプト {index} が文字列ではありません。{_what_prompt(prompt)}が"
                                     "渡されました。テキストを渡してください。トークン化は generate が行います。"))
        if not prompt.strip():
            raise CourseError(say(en=f"prompt {index} is empty: the model needs at least one token to continue.",
                                  ja=f"プロンプト {index} が空です。モデルが続きを書くには少なくとも 1 トークン必要です。"))
    return list(prompts)


def _what_prompt(value: Any) -> str:
    """`describe` of what a learner passed instead of text, with the fix when it is a chat message."""
    if isinstance(value, Mapping) and "role" in value:
        return describe(value) + say(en=" (pass its text with chat=True: generate applies the chat template)",
                                     ja="（そのテキストを chat=True で渡せば、generate がチャットテンプレートを適用します）")
    return describe(value)


def _validated_settings(kwargs: dict[str, Any], alternatives: int, tokenizer: Any, model: Any) -> dict[str, Any]:
    """Validate the settings a learner is most likely to get wrong; fill in the pad id."""
    settings = dict(kwargs)
    for banned in ("input_ids", "attention_mask", "return_dict_in_generate", "output_scores", "output_logits"):
        if banned in settings:
            raise CourseError(say(en=f"generate sets {banned} itself; leave it out.",
                                  ja=f"{banned} は generate が自分で設定します。渡さないでください。"))
    for name in MISNAMED:
        if name in settings:
            raise CourseError(say(en=f"generate has no setting {name!r}: did you mean {misnamed(name)}?",
                                  ja=f"generate に {name!r} という設定はありません。{misnamed(name)} のことでしょうか。"))
    if not is_whole_number(alternatives, most=len(tokenizer)):
        raise CourseError(alternatives_message(alternatives, len(tokenizer)))
    for name in ("max_new_tokens", "max_length", "num_beams", "num_return_sequences"):
        if name in settings:
            require_whole_number(name, settings[name])
    if "max_new_tokens" in settings and "max_length" in settings:
        new, length = settings["max_new_tokens"], settings["max_length"]
        raise CourseError(say(
            en=f"Give max_new_tokens or max_length, not both: transformers would use max_new_tokens={new} "
               f"and ignore max_length={length}. max_new_tokens counts new tokens only, max_length the "
               "prompt too.",
            ja=f"max_new_tokens と max_length はどちらか一方だけを指定してください。両方あると transformers は "
               f"max_new_tokens={new} を使い、max_length={length} を無視します。max_new_tokens は新しいトークンだけを、"
               "max_length はプロンプトも含めて数えます。"))
    do_sample = settings.get("do_sample", bool(getattr(model.generation_config, "do_sample", None)))  # None: unset
    require_sampling_settings(do_sample, **{name: settings[name] for name in SAMPLING_SETTINGS if name in settings})
    _require_repetition_penalty(settings.get("repetition_penalty"))
    settings.setdefault("pad_token_id", pad_token_id(tokenizer))
    return settings


def _require_repetition_penalty(penalty: Any) -> None:
    """A repetition penalty divides (or multiplies) the logits of tokens already seen: it must be a number above 0.

    >>> _require_repetition_penalty(0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    llmcourse.errors.CourseError: repetition_penalty must be a number above 0, got 0: 1.0 changes nothing...
    """
    if penalty is None:
        return
    if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not penalty > 0:
        raise CourseError(say(
            en=f"repetition_penalty must be a number above 0, got {penalty!r}: 1.0 changes nothing, above 1 (e.g. "
               "1.2) makes tokens already in the text less likely, below 1 more likely.",
            ja=f"repetition_penalty は 0 より大きい数にしてください。{penalty!r} が渡されました。1.0 なら何も変わらず、"
               "1 より大きい値（たとえば 1.2）ではテキストにすでにあるトークンが出にくく、1 より小さい値では"
               "出やすくなります。"))


def _validated_length(settings: dict[str, Any], model: Any, prompt_tokens: int) -> int:
    """Fill in max_new_tokens unless the learner gave max_length; refuse what cannot fit; return the new tokens."""
    if "max_length" in settings:  # the learner's own length: never overridden by the course's default
        new_tokens = settings["max_length"] - prompt_tokens
        if new_tokens < 1:
            raise CourseError(say(
                en=f"max_length={settings['max_length']} counts the prompt too, and the prompt already has "
                   f"{prompt_tokens} tokens: there is no room for new tokens. To ask for new tokens only, "
                   "use max_new_tokens=..., e.g. max_new_tokens=20.",
                ja=f"max_length={settings['max_length']} はプロンプトも含めて数えますが、プロンプトだけで "
                   f"{prompt_tokens} トークンあるので、新しいトークンの入る余地がありません。新しいトークンの数だけを"
                   "指定するには max_new_tokens=...（たとえば max_new_tokens=20）を使ってください。"))
    else:
        settings.setdefault("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
        new_tokens = settings["max_new_tokens"]
    require_room(model, prompt_tokens, new_tokens)
    return new_tokens


def _build_result(prompts: list[str], tokenizer: Any, inputs: Any, outputs: Any,
                  settings: dict[str, Any], alternatives: int, eos_ids: list[int]) -> GenerationResult:
    """Collect texts, ids and both distributions from generate's output."""
    prompt_length = inputs["input_ids"].shape[1]
    sequences = outputs.sequences.cpu()
    token_ids = sequences[:, prompt_length:]  # (batch, steps)
    beams = settings.get("num_beams", 1) > 1
    raw = processed = None
    if not beams:
        raw = Distribution.from_logits(torch.stack(outputs.logits, 1).cpu(), token_ids, alternatives)
        processed = Distribution.from_logits(torch.stack(outputs.scores, 1).cpu(), token_ids, alternatives)
    return GenerationResult(
        prompts=prompts,
        texts=tokenizer.batch_decode(token_ids, skip_special_tokens=True),
        sequences=sequences, prompt_length=prompt_length, token_ids=token_ids,
        token_mask=_token_mask(token_ids, eos_ids),
        raw=raw, processed=processed, settings=settings, tokenizer=tokenizer, outputs=outputs,
    )


def _eos_ids(model: Any, settings: dict[str, Any]) -> list[int]:
    """The ids that end a row, as generate reads them: the setting, else the model's generation config."""
    eos = settings.get("eos_token_id", model.generation_config.eos_token_id)
    return [] if eos is None else [int(eos)] if isinstance(eos, int) else [int(i) for i in eos]


def _token_mask(token_ids: torch.Tensor, eos_ids: list[int]) -> torch.Tensor:
    """True up to and including each row's first EOS; False for the padding after it.

    >>> _token_mask(torch.tensor([[5, 2, 2], [5, 6, 7]]), eos_ids=[2])
    tensor([[ True,  True, False],
            [ True,  True,  True]])
    """
    is_eos = torch.isin(token_ids, torch.tensor(eos_ids, dtype=token_ids.dtype))  # (batch, steps)
    after_eos = (is_eos.cumsum(1) - is_eos.long()) > 0  # strictly after the first EOS
    return ~after_eos


def alternatives_message(alternatives: object, vocabulary: int) -> str:
    """What `generate` and `generation_steps` say about an ``alternatives`` out of range."""
    return say(en=f"alternatives must be between 1 and the vocabulary size ({vocabulary}), got {alternatives!r}.",
               ja=f"alternatives は 1 から語彙数（{vocabulary}）までの整数にしてください。{alternatives!r} が渡されました。")
