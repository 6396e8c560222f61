"""Checks for lesson 04 (pitfalls): the length setting, reproducible sampling, and a left-padded batch."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from typing import Any

from ..i18n import say
from .base import Report, call, exercise_check, is_function, is_text, is_text_list, not_a
from .lesson02_tokenizing import COUNTING_BATCH
from .lesson03_generating import SPECIAL_TOKEN


@exercise_check(en="Exactly {n} new tokens", ja="ちょうど {n} 個の新しいトークン")
def check_max_new_tokens(report: Report, my_kwargs: Any, n: int = 40) -> None:
    """Lesson 04: ``my_kwargs`` asks ``generate`` for exactly ``n`` new tokens: max_new_tokens and min_new_tokens.

    ``max_new_tokens`` is only a ceiling: generate stops earlier when the model writes its
    end-of-text token. ``min_new_tokens`` forbids that token until ``n`` tokens are out.

    >>> check_max_new_tokens({"max_new_tokens": 40, "min_new_tokens": 40}).passed
    True
    >>> check_max_new_tokens({"max_new_tokens": 40}).passed
    False
    """
    is_dict = isinstance(my_kwargs, dict)
    if not report.add(is_dict, say(en="my_kwargs is a dict", ja="my_kwargs は dict です") if is_dict else
                      not_a("my_kwargs", my_kwargs, en="a dict", ja="dict "),
                      say(en=f"a dict of generate's keyword arguments: dict(max_new_tokens={n}, min_new_tokens={n})",
                          ja="generate のキーワード引数の dict にします: "
                             f"dict(max_new_tokens={n}, min_new_tokens={n})")):
        return
    value, long = my_kwargs.get("max_new_tokens"), "max_length" in my_kwargs
    right = _is_count(value, n)
    report.add(right, say(en=f"max_new_tokens is {value!r}" + ("" if right else f", not {n}"),
                          ja=f"max_new_tokens は {value!r} です" + ("" if right else f"（{n} ではありません）"))
               if "max_new_tokens" in my_kwargs else
               say(en="does not set max_new_tokens", ja="max_new_tokens を指定していません"),
               _length_hint(my_kwargs, n))
    least = my_kwargs.get("min_new_tokens")
    floor = _is_count(least, n)
    if "min_new_tokens" not in my_kwargs:
        said = say(en="does not set min_new_tokens", ja="min_new_tokens を指定していません")
    elif floor:
        said = say(en=f"min_new_tokens is {least!r}: generate cannot stop before {n} tokens",
                   ja=f"min_new_tokens は {least!r} です: {n} トークンより前には止まりません")
    else:
        said = say(en=f"min_new_tokens is {least!r}, not {n}",
                   ja=f"min_new_tokens は {least!r} です（{n} ではありません）")
    report.add(floor, said, _floor_hint(my_kwargs, n))
    report.add(not long, say(en="sets max_length too" if long else "leaves max_length out",
                             ja="max_length も指定しています" if long else "max_length は指定していません"),
               say(en="max_length counts the prompt tokens too: remove it and let max_new_tokens say how many "
                      "tokens to add",
                   ja="max_length はプロンプトのトークンも数えます。削除して、追加する数は "
                      "max_new_tokens で指定します"))


def _is_count(value: Any, n: int) -> bool:
    """A whole number (not a bool) equal to n."""
    return isinstance(value, int) and not isinstance(value, bool) and value == n


def _floor_hint(kwargs: dict, n: int) -> str:
    """max_new_tokens alone is a ceiling; min_length counts the prompt."""
    if "min_length" in kwargs and "min_new_tokens" not in kwargs:
        return say(en=f"min_length counts the prompt tokens too: use min_new_tokens={n}",
                   ja=f"min_length はプロンプトのトークンも数えます: min_new_tokens={n} を使います")
    return say(en=f"max_new_tokens is only a ceiling: generate stops earlier when the model writes its end-of-text "
                  f"token (lesson 03 stopped after 8 of 30). Add min_new_tokens={n}, which blocks that token until "
                  f"{n} tokens are out",
               ja=f"max_new_tokens は上限にすぎません: モデルが終了トークンを出すと generate はそこで止まります"
                  f"（レッスン 03 では 30 個中 8 個で止まりました）。min_new_tokens={n} を加えると、{n} 個に"
                  f"なるまでそのトークンが出なくなります")


def _length_hint(kwargs: dict, n: int) -> str:
    """max_length instead, no length at all, or a wrong number."""
    if "max_new_tokens" not in kwargs and "max_length" in kwargs:
        return say(en=f"max_length={kwargs['max_length']!r} counts the prompt too, so fewer than {n} tokens are "
                      f"added: use max_new_tokens={n}",
                   ja=f"max_length={kwargs['max_length']!r} はプロンプトも数えるので、追加されるのは {n} 個より"
                      f"少なくなります: max_new_tokens={n} を使います")
    if "max_new_tokens" not in kwargs:
        return say(en=f"with no length, generate stops after 20 new tokens (and warns): add max_new_tokens={n}",
                   ja="長さを指定しないと generate は 20 トークンで止まり、警告も出ます: "
                      f"max_new_tokens={n} を加えます")
    return say(en=f"max_new_tokens={n}, a whole number", ja=f"max_new_tokens={n}（整数）とします")


@exercise_check(en="Reproducible sampling", ja="再現できるサンプリング", answer=is_function)
def check_reproducible_sampling(report: Report, my_sample: Callable[[int], Any]) -> None:
    """Lesson 04: ``my_sample(seed)`` samples: the same seed gives the same text, other seeds other texts.

    It calls ``my_sample`` five times (it uses whatever model it closes over) and
    leaves the session's random state as it was.

    >>> check_reproducible_sampling(my_sample).passed   # doctest: +SKIP
    True
    """
    usage = say(en="it is called as my_sample(seed) with seed 0, 1, 2, 3 and must return the text",
                ja="my_sample(seed) の形で seed = 0, 1, 2, 3 で呼ばれ、テキストを返す必要があります")
    texts, calls = [], []  # calls: for each call of my_sample, what it did (seeds set, generate called)
    with _kept_random_state():
        for seed in (0, 0, 1, 2, 3):
            events: list = []
            with _spy(events):
                ok, text = call(report, "my_sample", my_sample, (seed,), usage)
            if not ok or not is_text(report, text, f"my_sample({seed})"):
                return
            texts.append(text)
            calls.append(events)
    # sampled texts stay out of the passing lines: they may differ between CPUs (and notebook outputs are compared)
    same, distinct = texts[0] == texts[1], len(set(texts[1:]))  # texts[1:]: one per seed 0, 1, 2, 3
    code = "torch.manual_seed(seed)  # right before model.generate(..., do_sample=True)"
    report.add(same, say(en="seed 0 gives the same text twice",
                         ja="seed 0 で 2 回とも同じテキストになります") if same else
               say(en=f"seed 0 gave two different texts: {texts[0]!r}, {texts[1]!r}",
                   ja=f"seed 0 で 2 つの異なるテキストになりました: {texts[0]!r}、{texts[1]!r}"),
               _seed_hint(calls), code)
    report.add(distinct > 1, say(en="seeds 0-3 give different texts: it samples",
                                 ja="seed 0〜3 で違うテキストになります: サンプリングしています")
               if distinct > 1 else
               say(en="seeds 0-3 all give the same text", ja="seed 0〜3 がすべて同じテキストになります"),
               _sampling_hint(calls), code)
    prompt = _prompt_of(my_sample, calls[0])
    if prompt and texts[0].startswith(prompt):  # a line only when wrong: the passing output stays as it was
        report.add(False, say(en=f"my_sample(0) starts with the prompt {prompt!r}",
                              ja=f"my_sample(0) がプロンプト {prompt!r} から始まっています"),
                   say(en="generate returns the prompt followed by the new tokens: decode only the new tokens",
                       ja="generate はプロンプトの後に新しいトークンを続けて返します。新しいトークンだけをデコードします"),
                   "tokenizer.decode(output_ids[0, inputs.input_ids.shape[1]:], skip_special_tokens=True)")


def _seed_hint(calls: list[list]) -> str:
    """The same seed gave two texts: the seed set after generate, only Python's seed set, or not set inside."""
    torch_seeds = [[at for at, event in enumerate(events) if event[0] == "seed"] for events in calls]
    generates = [[at for at, event in enumerate(events) if event[0] == "generate"] for events in calls]
    if any(seeds and gens and gens[0] < seeds[0] for seeds, gens in zip(torch_seeds, generates, strict=True)):
        return say(en="the seed is set after generate has already drawn its tokens: set it first, right before generate",
                   ja="generate がトークンを引いた後でシードを設定しています。generate の直前、先に設定します")
    if not any(torch_seeds) and any(event[0] == "other seed" for events in calls for event in events):
        return say(en="random.seed and numpy's seed set other generators; generate draws from torch's: seed that one",
                   ja="random.seed や numpy のシードは別の乱数生成器のものです。generate は torch の乱数を使うので、"
                      "そちらにシードを設定します")
    return say(en="the seed must be set inside the function, every time, right before generate",
               ja="シードは関数の中で、呼ばれるたびに、generate の直前に設定します")


def _sampling_hint(calls: list[list]) -> str:
    """Every seed gave one text: generate is not sampling, or the seed never reached torch."""
    samples = [event[1] for events in calls for event in events if event[0] == "generate"]
    seeds = {event[1] for events in calls for event in events if event[0] == "seed"}
    if samples and not any(samples):
        return say(en="generate was called without do_sample=True, so it is greedy: the text cannot depend on the seed",
                   ja="generate を do_sample=True なしで呼んでいるので貪欲法です。テキストはシードに左右されません")
    if {1, 2, 3} <= seeds:
        return say(en="the text does not depend on the seed, so generate is not sampling",
                   ja="テキストがシードに左右されないので、generate はサンプリングしていません")
    return say(en="the seed argument never reached torch's generator (a fixed number was used, or none): seed it "
                  "with the function's argument",
               ja="引数の seed が torch の乱数生成器に渡っていません（固定の数か、未設定です）。関数の引数で"
                  "シードを設定します")


def _prompt_of(function: Any, events: list) -> str:
    """The prompt generate was given, decoded with a tokenizer the function uses ('' when either is unknown)."""
    ids = next((event[2] for event in events if event[0] == "generate" and event[2] is not None), None)
    code = getattr(function, "__code__", None)
    if ids is None or code is None:
        return ""
    closure = dict(zip(code.co_freevars, (cell.cell_contents for cell in function.__closure__ or ()), strict=False))
    used = [closure.get(name, function.__globals__.get(name)) for name in (*code.co_freevars, *code.co_names)]
    tokenizer = next((value for value in used if hasattr(value, "decode") and hasattr(value, "padding_side")), None)
    return tokenizer.decode(ids[0], skip_special_tokens=True).strip() if tokenizer is not None else ""


@contextlib.contextmanager
def _spy(events: list) -> Iterator[None]:
    """Record, in order, the seeds set and the generate calls made while the block runs.

    Events: ("seed", value) for torch.manual_seed (transformers.set_seed calls it too),
    ("other seed", value) for random.seed and numpy's, ("generate", samples, input_ids).

    >>> import torch; events = []
    >>> with _kept_random_state(), _spy(events):
    ...     _ = torch.manual_seed(7)
    >>> events
    [('seed', 7)]
    """
    import numpy
    import torch
    from transformers import GenerationMixin

    originals = torch.manual_seed, random.seed, numpy.random.seed, GenerationMixin.generate

    def recorder(kind: str, original: Callable) -> Callable:
        def spy(seed: Any = None, *args: Any, **kwargs: Any) -> Any:
            events.append((kind, seed))
            return original(seed, *args, **kwargs)
        return spy

    def generate(self: Any, *args: Any, **kwargs: Any) -> Any:
        config = kwargs.get("generation_config") or getattr(self, "generation_config", None)
        samples = kwargs.get("do_sample", getattr(config, "do_sample", False))
        events.append(("generate", bool(samples), kwargs.get("input_ids", args[0] if args else None)))
        return originals[3](self, *args, **kwargs)

    torch.manual_seed, random.seed = recorder("seed", originals[0]), recorder("other seed", originals[1])
    numpy.random.seed, GenerationMixin.generate = recorder("other seed", originals[2]), generate
    try:
        yield
    finally:
        torch.manual_seed, random.seed, numpy.random.seed, GenerationMixin.generate = originals


@contextlib.contextmanager
def _kept_random_state() -> Iterator[None]:
    """Restore the random state of torch, Python and numpy after the block."""
    import numpy
    import torch

    python_state, numpy_state = random.getstate(), numpy.random.get_state()
    with torch.random.fork_rng():
        try:
            yield
        finally:
            random.setstate(python_state)
            numpy.random.set_state(numpy_state)


@exercise_check(en="Padded batch", ja="パディングしたバッチ")
def check_padded_batch(report: Report, my_texts: Any) -> None:
    """Lesson 04: ``my_texts``, the new texts for ["1, 2, 3", "A, B, C, D, E"], come from a left-padded batch.

    >>> check_padded_batch([", 4, 5, ", ", F, G, H, I"]).passed
    True
    """
    if not is_text_list(report, my_texts, "my_texts", len(COUNTING_BATCH),
                        _texts_type_hint(my_texts)):
        return
    # judge the new text even where the prompt was left in (that is a mistake of its own, below)
    texts = [text.split(prompt, 1)[1] if prompt in text else text
             for prompt, text in zip(COUNTING_BATCH, my_texts, strict=True)]
    counting = texts[0].lstrip(" ,\n").startswith("4")
    mixed = [row for row in range(len(COUNTING_BATCH)) if COUNTING_BATCH[1 - row] in texts[row]]
    decode = 'left_tokenizer.batch_decode(output_ids[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)'
    report.add(counting, say(en=f'"1, 2, 3" continues with {texts[0]!r}' + ("" if counting else ", not with 4"),
                             ja=f'"1, 2, 3" の続きは {texts[0]!r} です'
                                + ("" if counting else "（4 で始まっていません）")),
               say(en='the short row does not continue after "3": it was padded on the right (or without its '
                      'attention mask), so generation went on after its pad tokens; pad on the left and pass the mask',
                   ja='短い行が "3" の後から続いていません。右にパディングした（または attention_mask を渡さなかった）'
                      'ので、パディングの後ろから生成が続きました。左にパディングし、マスクも渡します'),
               'batch = left_tokenizer(prompts, padding=True, return_tensors="pt"); model.generate(**batch, ...)')
    report.add(not mixed, say(en=f"text {mixed[0]} contains the other row's prompt",
                              ja=f"テキスト {mixed[0]} にもう一方の行のプロンプトが含まれています") if mixed else
               say(en="neither text contains the other row's prompt",
                   ja="どちらのテキストにももう一方の行のプロンプトは含まれません"),
               say(en="each text must come from its own row of output_ids, after the padded prompt",
                   ja="それぞれのテキストは output_ids の自分の行の、パディング込みのプロンプトより後ろから取ります"),
               decode)
    # lines added only when wrong, so that the passing output stays as it was
    prompts = [row for row, (prompt, text) in enumerate(zip(COUNTING_BATCH, my_texts, strict=True)) if prompt in text]
    if prompts:
        report.add(False, say(en=f"text {prompts[0]} includes its prompt {COUNTING_BATCH[prompts[0]]!r}",
                              ja=f"テキスト {prompts[0]} にプロンプト {COUNTING_BATCH[prompts[0]]!r} が入っています"),
                   say(en="the exercise asks for the new text only: decode what comes after the padded prompt",
                       ja="演習が求めるのは新しいテキストだけです。パディング込みのプロンプトより後ろをデコードします"),
                   decode)
    specials = sorted({token for text in my_texts for token in SPECIAL_TOKEN.findall(text)})
    if specials:
        report.add(False, say(en=f"contains special tokens {specials}", ja=f"特殊トークン {specials} を含んでいます"),
                   say(en="the texts keep pad or end-of-text tokens: have the decoder skip special tokens",
                       ja="テキストにパディングや終了のトークンが残っています。デコード時に特殊トークンを除きます"),
                   decode)


def _texts_type_hint(value: Any) -> str:
    """One string, token ids, or another type."""
    if isinstance(value, str):
        return say(en="this is one string: decode every row of the batch, one string per row (batch_decode)",
                   ja="これは 1 つの文字列です。バッチのすべての行を、行ごとに 1 つの文字列としてデコードします"
                      "（batch_decode）")
    if hasattr(value, "shape"):
        return say(en="these are token ids: decode them to text", ja="これはトークン ID です。テキストにデコードします")
    return say(en="a list with one string per row of the batch", ja="バッチの行ごとに 1 つの文字列のリストにします")
