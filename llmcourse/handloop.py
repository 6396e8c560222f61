"""The generation loop written out by hand, and a step-by-step view of it.

Lesson 03 reads `generate_by_hand` line by line: it is what ``model.generate`` does for
greedy decoding and sampling, in a loop of about 30 lines, and returns the same tokens (the
tests check it against ``generate``). `generation_steps` runs that same loop on one
prompt and returns a `Step` per token: what was picked, with what probability, and
what else was likely; `format_steps` prints them as a table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from .errors import CourseError, describe, is_whole_number, require_whole_number
from .generation import GenerationResult, alternatives_message
from .i18n import say
from .limits import MISNAMED, misnamed, require_model, require_room, require_sampling_settings
from .sampling import SAMPLING_SETTINGS, greedy_pick, process_logits, sample_pick
from .tokens import pad_text, show_token, text_width

OnStep = Callable[[torch.Tensor, torch.Tensor], None]  # on_step(logits (batch, vocab), next_id (batch,))


@torch.no_grad()
def generate_by_hand(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *,
                     max_new_tokens: int, do_sample: bool = False, temperature: float = 1.0,
                     top_k: int | None = None, top_p: float | None = None, min_p: float | None = None,
                     eos_token_id: int | list[int] | None = None, pad_token_id: int | None = None,
                     use_cache: bool = True, on_step: OnStep | None = None) -> torch.Tensor:
    """Generate up to ``max_new_tokens`` tokens one at a time; returns prompt + new ids like ``generate``.

    EOS and pad ids default to ``model.generation_config``'s, as in ``generate``;
    ``eos_token_id=[]`` never stops early.
    Unlike ``generate``, top_k defaults to None (no top-k filter), not 50.
    ``on_step(logits, next_id)`` is called at each step with the logits picked from
    (batch, vocab) and the ids picked (batch,); `generation_steps` records them.

    >>> inputs = tokenizer(["A list of colors: red, blue"], return_tensors="pt")  # doctest: +SKIP
    >>> ids = generate_by_hand(model, **inputs, max_new_tokens=3)                   # doctest: +SKIP
    >>> tokenizer.decode(ids[0, inputs.input_ids.shape[1]:])                        # doctest: +SKIP
    ', and green'
    """
    require_model(model, where="generate_by_hand")
    _require_inputs(input_ids, attention_mask, max_new_tokens)
    require_room(model, input_ids.shape[1], max_new_tokens)
    require_sampling_settings(do_sample, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)
    eos_ids, pad_id = _eos_and_pad(model, eos_token_id, pad_token_id, input_ids.device)
    sequences, new_ids, cache = input_ids, input_ids, None  # (batch, prompt_len)
    finished = torch.zeros(len(input_ids), dtype=torch.bool, device=input_ids.device)  # (batch,)
    positions = _positions(input_ids, attention_mask)  # (batch, prompt_len)
    for _ in range(max_new_tokens):
        # run the model on the tokens it has not seen yet; the cache (``past_key_values`` before
        # transformers 5) holds the keys and values of the others
        out = model(input_ids=new_ids, attention_mask=attention_mask, position_ids=positions[:, -new_ids.shape[1]:],
                    cache=cache, use_cache=use_cache, logits_to_keep=1)
        # pluck the logits at the final position, in float32 as generate does
        logits = out.logits[:, -1, :].float()  # (batch, vocab)
        # pick the next token: the most likely one, or a sample from the filtered distribution
        if do_sample:
            logits = process_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)
            next_id = sample_pick(logits)  # (batch,)
        else:
            next_id = greedy_pick(logits)  # (batch,)
        # rows that already emitted EOS get padding instead
        if eos_ids is not None:
            next_id = torch.where(finished, pad_id, next_id)
        # let a watcher see the step (generation_steps records what was picked and what else was likely)
        if on_step is not None:
            on_step(logits, next_id)
        # append the token; it sits one position after the previous one and is attended to
        sequences = torch.cat([sequences, next_id[:, None]], dim=-1)  # (batch, length + 1)
        positions = torch.cat([positions, positions[:, -1:] + 1], dim=-1)
        if attention_mask is not None:
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones(len(sequences), 1)], dim=-1)
        # a row is finished once it emits EOS; stop when all rows are
        if eos_ids is not None:
            finished |= torch.isin(next_id, eos_ids)
            if finished.all():
                break
        # next round: with the cache feed only the new token, without it the whole sequence again
        cache, new_ids = (out.cache, next_id[:, None]) if use_cache else (None, sequences)
    return sequences


@dataclass
class Step:
    """One generation step: the token picked, its probability and the other likely tokens."""

    index: int  # 0 for the first generated token
    token_id: int  # the id that was picked
    token: str  # its text
    prob: float  # its probability in the distribution it was picked from
    most_likely: list[tuple[str, float]]  # the most likely (text, probability) pairs, most likely first
    text: str  # the generated text so far, this token included (prompt left out)


def generation_steps(model: Any, tokenizer: Any, prompt_or_ids: str | list[int] | torch.Tensor, *,
                     max_new_tokens: int, alternatives: int = 5, **sampling: Any) -> list[Step]:
    """Generate from one prompt with `generate_by_hand`, and return a `Step` per new token.

    ``sampling`` takes do_sample, temperature, top_k, top_p and min_p, as `generate_by_hand`.
    Probabilities come from the distribution actually picked from (after temperature and
    filters when sampling); ``alternatives`` is how many of the most likely tokens a step keeps in
    ``most_likely``, leaving out the tokens a filter removed (probability 0).

    >>> steps = generation_steps(model, tokenizer, "A list of colors: red, blue", max_new_tokens=3)  # doctest: +SKIP
    >>> [(s.token, round(s.prob, 2)) for s in steps]                                                # doctest: +SKIP
    [(',', 0.99), (' and', 0.43), (' green', 0.63)]
    """
    require_model(model, tokenizer, "generation_steps")
    ids = _prompt_ids(tokenizer, prompt_or_ids)  # (1, prompt_len)
    settings = _validated_sampling(sampling, alternatives, len(tokenizer))  # checked now, not at the first step
    steps: list[Step] = []

    def record(logits: torch.Tensor, next_id: torch.Tensor) -> None:  # (1, vocab), (1,)
        steps.append(_step(tokenizer, logits[0], int(next_id[0]), steps, alternatives))

    generate_by_hand(model, ids.to(model.device), max_new_tokens=max_new_tokens, on_step=record, **settings)
    return steps


def _step(tokenizer: Any, logits: torch.Tensor, token_id: int, before: list[Step], alternatives: int) -> Step:
    """The `Step` for picking ``token_id`` from ``logits`` (vocab,), after the steps ``before``."""
    probs = torch.softmax(logits, dim=-1)  # (vocab,)
    best = probs.topk(min(alternatives, len(probs)))
    likely = [(tokenizer.decode([int(i)]), float(p)) for i, p in zip(best.indices, best.values, strict=True) if p > 0]
    ids = [step.token_id for step in before] + [token_id]
    return Step(index=len(before), token_id=token_id, token=tokenizer.decode([token_id]),
                prob=float(probs[token_id]), most_likely=likely, text=tokenizer.decode(ids))


def format_steps(steps: Iterable[Step], *, prob_digits: int = 3) -> str:
    """A table of steps: token, its probability and the other likely tokens, whitespace made visible.

    The header follows `set_language`; columns are measured in display columns (a Japanese
    character takes two).

    >>> print(format_steps([Step(0, 11, " red", 0.5, [(" red", 0.5), ("\\n", 0.25)], " red")]))
    step  token  prob   most likely
       0  ␣red   0.500  ␣red 0.500 · ↵ 0.250
    """
    steps = _validated_steps(steps)
    rows = [(str(s.index), show_token(s.token), f"{s.prob:.{prob_digits}f}",
             " · ".join(f"{show_token(t)} {p:.{prob_digits}f}" for t, p in s.most_likely)) for s in steps]
    header = (say(en="step", ja="ステップ"), say(en="token", ja="トークン"), say(en="prob", ja="確率"),
              say(en="most likely", ja="確率の高い候補"))
    widths = [max(text_width(r[i]) for r in [header, *rows]) for i in range(3)]
    lines = [f"{' ' * (widths[0] - text_width(r[0]))}{r[0]}  {pad_text(r[1], widths[1])}  "
             f"{pad_text(r[2], widths[2])}  {r[3]}".rstrip() for r in rows]
    head = "  ".join([*(pad_text(header[i], widths[i]) for i in range(3)), header[3]])
    return "\n".join([head, *lines])


def _positions(input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Position of each prompt token: 0, 1, 2... counting only real (unpadded) tokens, as generate does."""
    if attention_mask is None:
        return torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
    positions = attention_mask.long().cumsum(-1) - 1  # (batch, prompt_len)
    return positions.masked_fill(attention_mask == 0, 0)  # padding gets position 0


def _eos_and_pad(model: Any, eos_token_id: int | list[int] | None, pad_token_id: int | None,
                 device: torch.device) -> tuple[torch.Tensor | None, int | None]:
    """The EOS ids (as a tensor) and the pad id, falling back to the model's generation config."""
    config = model.generation_config
    eos = eos_token_id if eos_token_id is not None else config.eos_token_id
    eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    if not eos:
        return None, pad_token_id  # nothing ends a row early: always max_new_tokens
    pad = pad_token_id if pad_token_id is not None else config.pad_token_id
    pad = eos[0] if pad is None else pad  # generate pads with EOS when there is no pad token
    return torch.tensor(eos, dtype=torch.long, device=device), pad


def _require_inputs(input_ids: Any, attention_mask: Any, max_new_tokens: Any) -> None:
    """Refuse the usual mistakes: a 1-D prompt, a mask of the wrong shape, a bad length."""
    if hasattr(input_ids, "input_ids"):  # the whole BatchEncoding, passed as input_ids
        name = type(input_ids).__name__
        raise CourseError(say(en=f"input_ids must be the ids, got the whole {name} that the tokenizer "
                                 "returned. Unpack it: generate_by_hand(model, **inputs, max_new_tokens=...).",
                              ja=f"input_ids には ID を渡しますが、トークナイザーが返した {name} 全体が渡されました。"
                                 "展開して渡してください：generate_by_hand(model, **inputs, max_new_tokens=...)。"))
    if not isinstance(input_ids, torch.Tensor) or input_ids.ndim != 2:
        shape = tuple(input_ids.shape) if isinstance(input_ids, torch.Tensor) else type(input_ids).__name__
        raise CourseError(say(en=f"input_ids must be a tensor of shape (batch, length), got {shape}. "
                                 "Tokenize with return_tensors='pt', or add a batch dimension with ids[None].",
                              ja=f"input_ids は形状 (batch, length) のテンソルにしてください。渡されたのは {shape} です。"
                                 "return_tensors='pt' を付けてトークン化するか、ids[None] でバッチの次元を加えてください。"))
    if input_ids.shape[1] == 0:
        raise CourseError(say(en="input_ids is empty: the model needs at least one token to continue.",
                              ja="input_ids が空です。モデルが続きを書くには少なくとも 1 トークン必要です。"))
    if attention_mask is not None and attention_mask.shape != input_ids.shape:
        raise CourseError(say(en=f"attention_mask has shape {tuple(attention_mask.shape)} but input_ids has "
                                 f"{tuple(input_ids.shape)}: pass the mask the tokenizer returned with the ids.",
                              ja=f"attention_mask の形状は {tuple(attention_mask.shape)} ですが、input_ids は "
                                 f"{tuple(input_ids.shape)} です。トークナイザーが ID と一緒に返したマスクを渡してください。"))
    require_whole_number("max_new_tokens", max_new_tokens)


def _prompt_ids(tokenizer: Any, prompt_or_ids: str | list[int] | torch.Tensor) -> torch.Tensor:
    """One prompt as ids of shape (1, length), from text, a list of ids or a tensor."""
    if isinstance(prompt_or_ids, str):
        return tokenizer(prompt_or_ids, return_tensors="pt").input_ids
    if hasattr(prompt_or_ids, "input_ids"):
        name = type(prompt_or_ids).__name__
        raise CourseError(say(en=f"generation_steps takes one prompt as text or ids, got the whole "
                                 f"{name} that the tokenizer returned: pass inputs.input_ids "
                                 "(or the text itself).",
                              ja=f"generation_steps は 1 つのプロンプトをテキストか ID で受け取りますが、トークナイザーが"
                                 f"返した {name} 全体が渡されました。inputs.input_ids（またはテキストそのもの）を"
                                 "渡してください。"))
    if isinstance(prompt_or_ids, (list, tuple)) and prompt_or_ids and isinstance(prompt_or_ids[0], str):
        raise CourseError(say(en=f"generation_steps follows one prompt, got {len(prompt_or_ids)} texts. Pass one "
                                 "string; for a batch use generate(model, tokenizer, prompts).",
                              ja=f"generation_steps が追うのは 1 つのプロンプトですが、{len(prompt_or_ids)} 個のテキストが"
                                 "渡されました。文字列を 1 つ渡してください。バッチには generate(model, tokenizer, "
                                 "prompts) を使います。"))
    try:
        ids = torch.as_tensor(prompt_or_ids, dtype=torch.long)
    except (TypeError, ValueError, RuntimeError) as error:
        raise CourseError(say(en=f"generation_steps takes one prompt as text or token ids, got "
                                 f"{describe(prompt_or_ids)}: pass a string such as 'A list of colors: red, blue'.",
                              ja=f"generation_steps は 1 つのプロンプトをテキストかトークン ID で受け取りますが、"
                                 f"{describe(prompt_or_ids)}が渡されました。'A list of colors: red, blue' のような文字列を"
                                 "渡してください。"),
                          cause=error) from None
    if ids.ndim == 1:
        ids = ids[None]
    if ids.ndim != 2 or ids.shape[0] != 1:
        raise CourseError(say(en=f"generation_steps follows one prompt, got ids of shape {tuple(ids.shape)}. "
                                 "Pass one text or one row of ids; use generate_by_hand for a batch.",
                              ja=f"generation_steps が追うのは 1 つのプロンプトですが、形状 {tuple(ids.shape)} の ID が"
                                 "渡されました。テキスト 1 つか ID 1 行を渡してください。バッチには generate_by_hand を"
                                 "使います。"))
    if ids.shape[1] == 0:
        raise CourseError(say(en="The prompt is empty: the model needs at least one token to continue.",
                              ja="プロンプトが空です。モデルが続きを書くには少なくとも 1 トークン必要です。"))
    return ids


def _validated_sampling(sampling: dict[str, Any], alternatives: int, vocabulary: int) -> dict[str, Any]:
    """generation_steps' extra settings: known names, ``alternatives`` in range, then `require_sampling_settings`."""
    known = ("do_sample", *SAMPLING_SETTINGS)
    unknown = sorted(set(sampling) - set(known))
    if unknown:
        meant = "".join(f" For {name}, did you mean {misnamed(name)}?" for name in unknown if name in MISNAMED)
        meant_ja = "".join(f"{name} は {misnamed(name)} のことでしょうか。" for name in unknown if name in MISNAMED)
        raise CourseError(say(en=f"generation_steps does not know {', '.join(unknown)}; it takes {', '.join(known)} "
                                 f"(and max_new_tokens, alternatives).{meant}",
                              ja=f"generation_steps は {', '.join(unknown)} を受け付けません。受け付けるのは "
                                 f"{', '.join(known)}（と max_new_tokens、alternatives）です。{meant_ja}"))
    if not is_whole_number(alternatives, most=vocabulary):
        raise CourseError(alternatives_message(alternatives, vocabulary))
    require_sampling_settings(sampling.get("do_sample", False), **{k: v for k, v in sampling.items() if k != "do_sample"})
    return dict(sampling)


def _validated_steps(steps: Any) -> list[Step]:
    """format_steps takes what generation_steps returns: a list of `Step`."""
    if isinstance(steps, Step):
        raise CourseError(say(en="format_steps takes a list of steps, got one Step: format_steps([step]), "
                                 "or format_steps(steps) for all of them.",
                              ja="format_steps はステップのリストを受け取りますが、Step が 1 つだけ渡されました。"
                                 "format_steps([step]) とするか、全部なら format_steps(steps) としてください。"))
    if isinstance(steps, (GenerationResult, str)) or not isinstance(steps, Iterable):
        result = isinstance(steps, GenerationResult)
        what = ("a GenerationResult (from generate): for its tokens use result.token_texts(0), or plot it"
                if result else describe(steps))
        what_ja = ("generate が返す GenerationResult が渡されました。そのトークンには result.token_texts(0) を使うか、"
                   "図に描いてください" if result else f"{describe(steps)}が渡されました")
        raise CourseError(say(en=f"format_steps takes the list that generation_steps(...) returns, got {what}.",
                              ja=f"format_steps は generation_steps(...) が返すリストを受け取ります。{what_ja}。"))
    steps = list(steps)
    for index, step in enumerate(steps):
        if not isinstance(step, Step):
            raise CourseError(say(en=f"format_steps takes the list that generation_steps(...) returns; item {index} "
                                     f"is {describe(step)}, not a Step.",
                                  ja=f"format_steps は generation_steps(...) が返すリストを受け取りますが、要素 {index} が "
                                     f"Step ではありません（{describe(step)}）。"))
    return steps
