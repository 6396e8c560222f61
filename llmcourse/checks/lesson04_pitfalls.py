"""Checks for lesson 04 (pitfalls): the length setting, reproducible sampling, and a left-padded batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..i18n import say
from .base import Report, call, exercise_check, is_function, is_text, not_a, objects_read
from .observe import SEED_MARK, kept_random_state, observe


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
                      say(en=f"replace the None with a dict of generate's keyword arguments for exactly {n} new tokens "
                             "(section 1 shows both settings)",
                          ja=f"None を、新しいトークンがちょうど {n} 個になる generate のキーワード引数の dict に"
                             "置き換えます（セクション 1 に 2 つの設定があります）")
                      if my_kwargs is None else
                      say(en="a dict of generate's keyword arguments, as dict(name=value, ...)",
                          ja="generate のキーワード引数の dict にします（dict(name=value, ...) の形）"),
                      f"my_kwargs = dict(max_new_tokens={n}, min_new_tokens={n})"):
        return
    my_kwargs = _length_settings(my_kwargs)
    value, long = my_kwargs.get("max_new_tokens"), "max_length" in my_kwargs
    right = _is_count(value, n)
    report.add(right, say(en=f"max_new_tokens is {value!r}" + ("" if right else f", not {n}"),
                          ja=f"max_new_tokens は {value!r} です" + ("" if right else f"（{n} ではありません）"))
               if "max_new_tokens" in my_kwargs else
               say(en="does not set max_new_tokens", ja="max_new_tokens を指定していません"),
               _length_hint(my_kwargs, n), f"my_kwargs = dict(max_new_tokens={n}, min_new_tokens={n})")
    least = my_kwargs.get("min_new_tokens")
    floor = _is_count(least, n)
    if "min_new_tokens" not in my_kwargs:
        said = say(en="does not set min_new_tokens", ja="min_new_tokens を指定していません")
    elif floor:
        said = say(en=f"min_new_tokens is {least!r}: generate cannot stop before {n} tokens",
                   ja=f"min_new_tokens は {least!r} です：{n} トークンより前には止まりません")
    else:
        said = say(en=f"min_new_tokens is {least!r}, not {n}",
                   ja=f"min_new_tokens は {least!r} です（{n} ではありません）")
    report.add(floor, said, _floor_hint(my_kwargs, n), f"my_kwargs = dict(max_new_tokens={n}, min_new_tokens={n})")
    report.add(not long, say(en="sets max_length too" if long else "leaves max_length out",
                             ja="max_length も指定しています" if long else "max_length は指定していません"),
               say(en="max_length counts the prompt tokens too: remove it and let max_new_tokens say how many "
                      "tokens to add",
                   ja="max_length はプロンプトのトークンも数えます。削除して、追加する数は "
                      "max_new_tokens で指定します"), f"my_kwargs = dict(max_new_tokens={n}, min_new_tokens={n})")


def _length_settings(kwargs: dict) -> dict:
    """What the dict asks of generate: its keywords over those a ``generation_config`` inside it sets; None sets nothing.

    >>> from transformers import GenerationConfig
    >>> _length_settings({"generation_config": GenerationConfig(max_new_tokens=40), "max_length": None})
    {'max_new_tokens': 40}
    """
    config = kwargs.get("generation_config")
    merged = dict(config.to_diff_dict()) if hasattr(config, "to_diff_dict") else {}
    merged.update({key: value for key, value in kwargs.items() if key != "generation_config"})
    return {key: value for key, value in merged.items() if value is not None and key != "transformers_version"}


def _is_count(value: Any, n: int) -> bool:
    """A whole number equal to n.

    >>> _is_count(40, 40), _is_count(40.0, 40), _is_whole(True)
    (True, False, False)
    """
    return _is_whole(value) and value == n


def _is_whole(value: Any) -> bool:
    """An int, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def _floor_hint(kwargs: dict, n: int) -> str:
    """max_new_tokens alone is a ceiling; min_length counts the prompt; a floor other than n (the idea, not the line)."""
    if "min_length" in kwargs and "min_new_tokens" not in kwargs:
        return say(en="min_length counts the prompt tokens too: the floor on new tokens alone is min_new_tokens",
                   ja="min_length はプロンプトのトークンも数えます。新しいトークンだけの下限は min_new_tokens です")
    least = kwargs.get("min_new_tokens")
    if _is_whole(least):  # but not n
        return say(en=f"min_new_tokens={least} is the floor: for exactly {n} tokens the floor and the ceiling are the "
                      "same number",
                   ja=f"min_new_tokens={least} は下限です。ちょうど {n} 個にするには、下限と上限を同じ数にします")
    if "min_new_tokens" in kwargs:
        return say(en=f"{least!r} is {type(least).__name__}: generate wants a whole number of tokens for the floor",
                   ja=f"{least!r} は {type(least).__name__} 型です。generate には下限のトークン数を整数で渡します")
    return say(en="max_new_tokens is only a ceiling: generate stops earlier when the model writes its end-of-text "
                  "token (as in lesson 03's run). min_new_tokens sets a floor: it blocks that token until that many "
                  "new tokens are out",
               ja="max_new_tokens は上限にすぎません：モデルが終了トークンを出すと generate はそこで止まります"
                  "（レッスン 03 の実行のように）。min_new_tokens は下限を決めます：その数の新しいトークンが出るまで、"
                  "終了トークンが出なくなります")


def _length_hint(kwargs: dict, n: int) -> str:
    """max_length instead, no length at all, or a wrong number (the idea, not the line)."""
    if "max_new_tokens" not in kwargs and "max_length" in kwargs:
        return say(en=f"max_length={kwargs['max_length']!r} counts the prompt's tokens too, so how many new tokens it "
                      "allows depends on the prompt: count only the new tokens, with max_new_tokens",
                   ja=f"max_length={kwargs['max_length']!r} はプロンプトのトークンも数えるので、新しいトークンが何個に"
                      "なるかはプロンプトによります。新しいトークンだけを max_new_tokens で数えます")
    if "max_new_tokens" not in kwargs:
        return say(en="with no length, generate stops after 20 new tokens (and warns): say how many new tokens "
                      "with max_new_tokens",
                   ja="長さを指定しないと generate は 20 トークンで止まり、警告も出ます。新しいトークンの数を "
                      "max_new_tokens で指定します")
    value = kwargs["max_new_tokens"]
    if _is_whole(value):  # but not n
        return say(en=f"max_new_tokens={value} lets generate add up to {value} new tokens: the exercise asks for {n}",
                   ja=f"max_new_tokens={value} では新しいトークンが最大 {value} 個になります。演習は {n} 個です")
    return say(en=f"{value!r} is {type(value).__name__}: generate wants a whole number of new tokens",
               ja=f"{value!r} は {type(value).__name__} 型です。generate には新しいトークンの数を整数で渡します")


@exercise_check(en="Reproducible sampling", ja="再現できるサンプリング", answer=is_function)
def check_reproducible_sampling(report: Report, my_sample: Callable[[int], Any]) -> None:
    """Lesson 04: ``my_sample(seed)`` samples: the same seed gives the same text, other seeds other texts.

    It calls ``my_sample`` five times (it uses whatever model it closes over) and
    leaves the session's random state as it was. Seeds are read off the generators' state; transformers'
    ``generate`` is wrapped only while ``my_sample`` runs and put back after, even on an error (`observe`).

    >>> check_reproducible_sampling(my_sample).passed   # doctest: +SKIP
    True
    """
    usage = say(en="it is called as my_sample(seed) with seed 0, 1, 2, 3 and must return the text",
                ja="my_sample(seed) の形で seed = 0, 1, 2, 3 で呼ばれ、テキストを返す必要があります")
    texts, calls = [], []  # calls: for each call of my_sample, what it did (seeds set, generate called)
    with kept_random_state():
        for seed in (0, 0, 1, 2, 3):
            events: list = []
            with observe(events, mark=SEED_MARK + len(calls)):
                ok, text = call(report, "my_sample", my_sample, (seed,), usage)
            if not ok or not is_text(report, text, f"my_sample({seed})"):
                return
            texts.append(text)
            calls.append(events)
    # sampled texts stay out of the passing lines: they may differ between CPUs (and notebook outputs are compared)
    same, distinct = texts[0] == texts[1], len(set(texts[1:]))  # texts[1:]: one per seed 0, 1, 2, 3
    code = "torch.manual_seed(seed)  # right before model.generate(..., do_sample=True)"
    report.add(same, say(en="seed 0 gives the same text twice",
                         ja="シード 0 で 2 回とも同じテキストになります") if same else
               say(en=f"seed 0 gave two different texts: {texts[0]!r}, {texts[1]!r}",
                   ja=f"シード 0 で 2 つの異なるテキストになりました：{texts[0]!r}、{texts[1]!r}"),
               _seed_hint(calls), code)
    report.add(distinct > 1, say(en="seeds 0-3 give different texts: it samples",
                                 ja="シード 0〜3 で違うテキストになります：サンプリングしています")
               if distinct > 1 else
               say(en="seeds 0-3 all give the same text", ja="シード 0〜3 がすべて同じテキストになります"),
               _sampling_hint(calls, texts), code)
    # lines only when wrong, so that the passing output stays as it was
    _judge_prompt(report, my_sample, calls[0])
    _judge_new_text(report, my_sample, texts[0], calls[0])
    _judge_length(report, calls[0])


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


def _sampling_hint(calls: list[list], texts: list[str]) -> str:
    """Every seed gave one text: all empty, generate is not sampling, or the seed never reached torch."""
    samples = [event[1] for events in calls for event in events if event[0] == "generate"]
    seeds = {event[1] for events in calls for event in events if event[0] == "seed"}
    if not any(text.strip() for text in texts):
        return say(en="my_sample returned an empty text for every seed: the slice starts after the new tokens (a "
                      "prompt length from other inputs?), or the prompt is not the exercise's, and the model ends "
                      "its answer at once",
                   ja="my_sample がどのシードでも空のテキストを返しました。スライスが新しいトークンより後から始まっている"
                      "（ほかの入力のプロンプト長？）か、プロンプトが演習のものではなく、モデルがすぐに答えを終えています")
    if samples and not any(samples):
        return say(en="generate was called without do_sample=True, so it is greedy: the text cannot depend on the seed",
                   ja="generate を do_sample=True なしで呼んでいるので貪欲デコーディングです。テキストはシードに左右されません")
    if {1, 2, 3} <= seeds:
        return say(en="the text does not depend on the seed, so generate is not sampling",
                   ja="テキストがシードに左右されないので、generate はサンプリングしていません")
    return say(en="the seed argument never reached torch's generator (a fixed number was used, or none): seed it "
                  "with the function's argument",
               ja="引数のシードが torch の乱数生成器に渡っていません（固定の数か、未設定です）。関数の引数で"
                  "シードを設定します")


SAMPLED_TOKENS = 8  # exercise 2: 8 new tokens after PROMPT
PROMPT = "I am a cat."
DECODE_NEW = "tokenizer.decode(output_ids[0, inputs.input_ids.shape[1]:], skip_special_tokens=True)"


def _judge_prompt(report: Report, my_sample: Callable, events: list) -> None:
    """Add a failed line when my_sample(0)'s generate call did not start from the exercise's prompt."""
    run = _decoded_run(my_sample, events)
    if run is None or PROMPT in run[0]:  # a chat template around the prompt is fine
        return
    report.add(False, say(en=f"my_sample(0) samples after {run[0]!r}, not after {PROMPT!r}",
                          ja=f"my_sample(0) は {PROMPT!r} ではなく {run[0]!r} の続きをサンプリングしています"),
               say(en=f"tokenize the exercise's prompt {PROMPT!r} inside the function (inputs from an earlier cell "
                      "hold another text)",
                   ja=f"演習のプロンプト {PROMPT!r} を関数の中でトークン化します（前のセルの inputs には別のテキストが"
                      "入っています）"),
               f'inputs = tokenizer("{PROMPT}", return_tensors="pt")')


def _judge_new_text(report: Report, my_sample: Callable, text: str, events: list) -> None:
    """Add a failed line for each mistake my_sample(0) shows against its own generate call; nothing when right."""
    run = _decoded_run(my_sample, events)
    if run is None:  # no generate call seen, or no tokenizer found: nothing to compare with
        return
    prompt, new, raw = run
    extra = text[:len(text) - len(new)] if new and text.endswith(new) else ""
    if prompt and text.startswith(prompt):
        report.add(False, say(en=f"my_sample(0) starts with the prompt {prompt!r}",
                              ja=f"my_sample(0) がプロンプト {prompt!r} から始まっています"),
                   say(en="generate returns the prompt followed by the new tokens: decode only the new tokens",
                       ja="generate はプロンプトの後に新しいトークンを続けて返します。新しいトークンだけをデコードします"),
                   DECODE_NEW)
    elif extra.strip() and prompt.endswith(extra.strip()):
        report.add(False, say(en=f"my_sample(0) starts with the end of the prompt, {extra!r}",
                              ja=f"my_sample(0) がプロンプトの末尾 {extra!r} から始まっています"),
                   say(en="the slice starts inside the prompt: the new tokens start at the prompt's length in tokens, the "
                          "width of inputs.input_ids (len(inputs) counts its keys, len(inputs.input_ids) its rows)",
                       ja="スライスがプロンプトの中から始まっています。新しいトークンはプロンプトのトークン数、つまり "
                          "inputs.input_ids の幅の位置から始まります（len(inputs) はキーの数、len(inputs.input_ids) は"
                          "行数です）"),
                   DECODE_NEW)
    elif text != new and text == raw:
        report.add(False, say(en=f"my_sample(0) keeps special tokens: {text!r}",
                              ja=f"my_sample(0) に特殊トークンが残っています：{text!r}"),
                   say(en="the new text leaves out the model's special tokens (end of text, padding): have the "
                          "decoder skip them",
                       ja="新しいテキストにはモデルの特殊トークン（終了やパディング）を入れません。デコード時に除きます"),
                   DECODE_NEW)


def _judge_length(report: Report, events: list) -> None:
    """Add a failed line when generate was not asked for `SAMPLED_TOKENS` new tokens; nothing when it was."""
    asked = next((event[4] for event in reversed(events) if event[0] == "generate"), SAMPLED_TOKENS)
    if asked != SAMPLED_TOKENS:
        report.add(False, say(en=f"generate was asked for max_new_tokens={asked}, not {SAMPLED_TOKENS}",
                              ja=f"generate に max_new_tokens={asked} を渡しています（{SAMPLED_TOKENS} ではありません）")
                   if asked is not None else say(en="generate was not given max_new_tokens",
                                                 ja="generate に max_new_tokens を渡していません"),
                   say(en=f"the exercise samples {SAMPLED_TOKENS} new tokens: say so with max_new_tokens (without it "
                          "the length comes from max_length, or from generate's default of 20 new tokens; pitfall 1)",
                       ja=f"演習では新しいトークンを {SAMPLED_TOKENS} 個サンプリングします。max_new_tokens で指定します"
                          "（指定しないと、長さは max_length か、generate の既定値である新しいトークン 20 個で決まります。"
                          "落とし穴 1）"),
                   f"model.generate(**inputs, do_sample=True, max_new_tokens={SAMPLED_TOKENS})")


def _decoded_run(function: Any, events: list) -> tuple[str, str, str] | None:
    """(prompt, new text, new text with special tokens) of the last generate call, by the function's tokenizer."""
    run = next((event for event in reversed(events) if event[0] == "generate" and event[2] is not None), None)
    tokenizer = next((value for value in objects_read(function)
                      if hasattr(value, "decode") and hasattr(value, "padding_side")), None)
    if run is None or tokenizer is None:
        return None
    input_ids, output_ids = run[2], run[3]
    new_ids = output_ids[0, input_ids.shape[-1]:]
    return (tokenizer.decode(input_ids[0], skip_special_tokens=True).strip(),
            tokenizer.decode(new_ids, skip_special_tokens=True), tokenizer.decode(new_ids))
