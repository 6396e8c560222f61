"""Checks for lesson 04 (pitfalls): the length setting, reproducible sampling, and a left-padded batch."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from typing import Any

from ..i18n import say
from .base import Report, call, exercise_check, is_function, is_text, is_text_list, not_a
from .lesson02_tokenizing import COUNTING_BATCH


@exercise_check(en="{n} new tokens", ja="新しいトークンを {n} 個")
def check_max_new_tokens(report: Report, my_kwargs: Any, n: int = 40) -> None:
    """Lesson 04: ``my_kwargs`` asks ``generate`` for exactly ``n`` new tokens, with max_new_tokens.

    >>> check_max_new_tokens({"max_new_tokens": 40}).passed
    True
    """
    is_dict = isinstance(my_kwargs, dict)
    if not report.add(is_dict, say(en="my_kwargs is a dict", ja="my_kwargs は dict です") if is_dict else
                      not_a("my_kwargs", my_kwargs, en="a dict", ja="dict "),
                      say(en=f"a dict of generate's keyword arguments: dict(max_new_tokens={n})",
                          ja=f"generate のキーワード引数の dict にします: dict(max_new_tokens={n})")):
        return
    value, long = my_kwargs.get("max_new_tokens"), "max_length" in my_kwargs
    right = isinstance(value, int) and not isinstance(value, bool) and value == n
    report.add(right, say(en=f"max_new_tokens is {value!r}" + ("" if right else f", not {n}"),
                          ja=f"max_new_tokens は {value!r} です" + ("" if right else f"（{n} ではありません）"))
               if "max_new_tokens" in my_kwargs else
               say(en="does not set max_new_tokens", ja="max_new_tokens を指定していません"),
               _length_hint(my_kwargs, n))
    report.add(not long, say(en="sets max_length too" if long else "leaves max_length out",
                             ja="max_length も指定しています" if long else "max_length は指定していません"),
               say(en="max_length counts the prompt tokens too: remove it and let max_new_tokens say how many "
                      "tokens to add",
                   ja="max_length はプロンプトのトークンも数えます。削除して、追加する数は "
                      "max_new_tokens で指定します"))


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
    texts, seeds_seen = [], set()
    with _kept_random_state(), _seed_spy(seeds_seen):
        for seed in (0, 0, 1, 2, 3):
            ok, text = call(report, "my_sample", my_sample, (seed,), usage)
            if not ok or not is_text(report, text, f"my_sample({seed})"):
                return
            texts.append(text)
    # sampled texts stay out of the passing lines: they may differ between CPUs (and notebook outputs are compared)
    same, distinct = texts[0] == texts[1], len(set(texts[1:]))  # texts[1:]: one per seed 0, 1, 2, 3
    report.add(same, say(en="seed 0 gives the same text twice",
                         ja="seed 0 で 2 回とも同じテキストになります") if same else
               say(en=f"seed 0 gave two different texts: {texts[0]!r}, {texts[1]!r}",
                   ja=f"seed 0 で 2 つの異なるテキストになりました: {texts[0]!r}、{texts[1]!r}"),
               say(en="set the seed inside the function, right before generate: torch.manual_seed(seed)",
                   ja="関数の中で generate の直前にシードを設定します: torch.manual_seed(seed)"))
    report.add(distinct > 1, say(en="seeds 0-3 give different texts: it samples",
                                 ja="seed 0〜3 で違うテキストになります: サンプリングしています")
               if distinct > 1 else
               say(en="seeds 0-3 all give the same text", ja="seed 0〜3 がすべて同じテキストになります"),
               _sampling_hint(seeds_seen))


def _sampling_hint(seeds_seen: set) -> str:
    """Every seed gave one text: generate is not sampling, or the seed never reached torch."""
    if {1, 2, 3} <= seeds_seen:
        return say(en="the text does not depend on the seed, so generate is not sampling: pass do_sample=True",
                   ja="テキストがシードに左右されないので、generate はサンプリングしていません: "
                      "do_sample=True を渡します")
    return say(en="the seed argument never reached torch.manual_seed: call torch.manual_seed(seed) (not a fixed "
                  "number) right before generate(..., do_sample=True)",
               ja="引数の seed が torch.manual_seed に渡っていません。generate(..., do_sample=True) の直前に "
                  "torch.manual_seed(seed)（固定の数ではなく）を呼びます")


@contextlib.contextmanager
def _seed_spy(seen: set) -> Iterator[None]:
    """Record the seeds given to torch.manual_seed (transformers.set_seed calls it too) while the block runs.

    >>> import torch; seen = set()
    >>> with _kept_random_state(), _seed_spy(seen):
    ...     _ = torch.manual_seed(7)
    >>> seen
    {7}
    """
    import torch

    original = torch.manual_seed

    def spy(seed: int) -> Any:
        seen.add(seed)
        return original(seed)

    torch.manual_seed = spy
    try:
        yield
    finally:
        torch.manual_seed = original


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
    if not is_text_list(report, my_texts, "my_texts", len(COUNTING_BATCH)):
        return
    # the new texts are asked for, but full texts (prompt + new) are fine too
    texts = [text[len(prompt):] if text.startswith(prompt) else text
             for prompt, text in zip(COUNTING_BATCH, my_texts, strict=True)]
    counting = texts[0].lstrip(" ,\n").startswith("4")
    mixed = [row for row in range(len(COUNTING_BATCH)) if COUNTING_BATCH[1 - row] in texts[row]]
    report.add(counting, say(en=f'"1, 2, 3" continues with {texts[0]!r}' + ("" if counting else ", not with 4"),
                             ja=f'"1, 2, 3" の続きは {texts[0]!r} です'
                                + ("" if counting else "（4 で始まっていません）")),
               say(en='pad on the left (tokenizer.padding_side = "left") and pass the attention mask (**batch): with '
                      'right padding the short row continues after its pad tokens, not after "3"',
                   ja='左パディング（tokenizer.padding_side = "left"）にして attention_mask も渡します（**batch）。'
                      '右パディングだと短い行は "3" ではなくパディングの後ろから続けてしまいます'))
    report.add(not mixed, say(en=f"text {mixed[0]} contains the other row's prompt",
                              ja=f"テキスト {mixed[0]} にもう一方の行のプロンプトが含まれています") if mixed else
               say(en="neither text contains the other row's prompt",
                   ja="どちらのテキストにももう一方の行のプロンプトは含まれません"),
               say(en='decode each row of output_ids after the padded prompt: '
                      'batch_decode(output_ids[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)',
                   ja='output_ids の各行をパディング込みのプロンプトの後ろからデコードします: '
                      'batch_decode(output_ids[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)'))
