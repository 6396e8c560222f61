"""Checks for lesson 06 (streaming and performance): streamed chunks, and tokens per second."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..i18n import say
from .base import Report, call, exercise_check, is_function, is_text, is_text_list
from .lesson03_generating import SPECIAL_TOKEN
from .values import as_float, show


@exercise_check(en="Streamed chunks", ja="ストリーミングのチャンク")
def check_streamed_chunks(report: Report, my_chunks: Any, full_text: str) -> None:
    """Lesson 06: ``my_chunks`` from a TextIteratorStreamer came in pieces and join to ``full_text`` (no prompt).

    >>> check_streamed_chunks([", green", ", yellow"], ", green, yellow").passed
    True
    """
    # a streamer itself is never iterated here: a second pass over it would wait forever
    if not is_text_list(report, my_chunks, "my_chunks", None, _chunks_type_hint(my_chunks)):
        return
    if not is_text(report, full_text, "full_text"):
        return
    count, joined = len(my_chunks), "".join(my_chunks)
    report.add(count > 1, say(en=f"arrived in {count} chunks", ja=f"{count} 個のチャンクに分かれて届きました")
               if count > 1 else say(en=f"arrived in only {count} chunk{'s' * (count == 0)}",
                                     ja=f"チャンクが {count} 個しかありません"),
               say(en="keep each piece the streamer yields as its own item while generate runs in a Thread, "
                      "instead of joining them or waiting for generate to end",
                   ja="generate を Thread で実行している間に、ストリーマーが返す断片を 1 つずつ別の要素として集めます"
                      "（つなげたり、generate の終了を待ったりしません）"),
               say(en="Thread(target=model.generate, kwargs=dict(**inputs, streamer=streamer)).start(); "
                      "my_chunks = [chunk for chunk in streamer]",
                   ja="Thread(target=model.generate, kwargs=dict(**inputs, streamer=streamer)).start(); "
                      "my_chunks = [chunk for chunk in streamer]"))
    same = joined == full_text
    report.add(same, say(en="joined, they are the new text", ja="つなげると新しいテキストになります") if same else
               say(en=f"joined, they are {joined!r}, not the new text {full_text!r}",
                   ja=f"つなげると {joined!r} で、新しいテキスト {full_text!r} ではありません"),
               *_joined_hint(joined, full_text))


def _chunks_type_hint(value: Any) -> str:
    """The streamer object itself, the joined text, or another type."""
    if type(value).__name__.endswith("Streamer"):
        return say(en="this is the streamer itself: iterate over it while generate runs and keep the chunks in a "
                      "list, my_chunks = [chunk for chunk in streamer]",
                   ja="これはストリーマーそのものです。generate の実行中に反復してチャンクをリストに集めます："
                      "my_chunks = [chunk for chunk in streamer]")
    if isinstance(value, str):
        return say(en="this is one string, the chunks already joined: keep each chunk the streamer yields as an item "
                      "of a list",
                   ja="これは 1 つの文字列で、チャンクがすでにつながっています。ストリーマーが返すチャンクを 1 つずつ"
                      "リストの要素にします")
    return say(en="a list of the strings the streamer yielded", ja="ストリーマーが返した文字列のリストを渡します")


def _joined_hint(joined: str, full_text: str) -> tuple[str, str]:
    """(idea, code): special tokens kept, the prompt included, or a different generation."""
    hints = []
    cleaned = joined if SPECIAL_TOKEN.search(full_text) else SPECIAL_TOKEN.sub("", joined)
    if cleaned != joined:
        hints.append(say(en="the chunks hold special tokens such as <|im_end|>: let the streamer leave them out",
                         ja="チャンクに <|im_end|> のような特殊トークンが入っています。ストリーマーに除かせます"))
    if cleaned != full_text and cleaned.endswith(full_text):
        hints.append(say(en="the chunks start with the prompt: the streamer must skip it",
                         ja="チャンクがプロンプトから始まっています。ストリーマーにプロンプトを飛ばさせます"))
    if hints:
        return "; ".join(hints), "TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)"
    return (say(en="the chunks are another generation: stream the same prompt with the same settings as full_text "
                   "(greedy, the same number of new tokens)",
                ja="チャンクは別の生成の結果です。full_text と同じプロンプト・同じ設定（貪欲デコーディング、"
                   "同じ新しいトークン数）でストリーミングします"),
            "generate(**inputs, do_sample=False, max_new_tokens=8, streamer=streamer)")


RATE_SECONDS = (3.0, 0.8)  # no usual mistake (one row, padding, seconds per token, no division) gives another's rate


@exercise_check(en="Tokens per second", ja="1 秒あたりのトークン数", answer=is_function)
def check_tokens_per_second(report: Report, my_rate_fn: Callable[[Any, float], Any]) -> None:
    """Lesson 06: ``my_rate_fn(result, seconds)`` counts only really generated tokens, per second.

    >>> check_tokens_per_second(lambda result, seconds: result.token_mask.sum().item() / seconds).passed
    True
    >>> check_tokens_per_second(lambda result, seconds: len(result.token_texts(0) + result.token_texts(1)) / seconds).passed
    True
    """
    result = _finished_early_result()
    count = int(result.token_mask.sum())
    usage = say(en="it is called as my_rate_fn(result, seconds) with a GenerationResult and a float",
                ja="my_rate_fn(result, seconds) の形で呼ばれます。result は GenerationResult、seconds は float です")
    for seconds in RATE_SECONDS:
        ok, rate = call(report, "my_rate_fn", my_rate_fn, (result, seconds), usage)
        if not ok:
            return
        value, expected = as_float(rate), count / seconds
        right = value is not None and math.isclose(value, expected, rel_tol=1e-6)
        report.add(right, say(en=f"{count} generated tokens in {seconds} s: {expected:g} tokens/s",
                              ja=f"{seconds} 秒で {count} トークン生成：毎秒 {expected:g} トークン") if right else
                   say(en=f"returned {show(rate)} for {count} generated tokens in {seconds} s; expected {expected:g}",
                       ja=f"{seconds} 秒で {count} トークン生成に対して {show(rate)} を返しました。"
                          f"正しくは {expected:g} です"),
                   *_rate_hint(value, result, seconds))


def _finished_early_result() -> Any:
    """A GenerationResult of 2 rows and 6 steps; row 1 hit EOS (id 2) at step 2 and was padded after it.

    >>> _finished_early_result().token_mask.sum().item()
    9
    >>> _finished_early_result().token_texts(1)
    ['·20', '·21', '</s>']
    """
    import torch

    from ..generation import GenerationResult

    prompt = torch.tensor([[5, 6, 7, 8], [2, 2, 30, 31]])  # (batch, 4), row 1 left-padded
    token_ids = torch.tensor([[10, 11, 12, 13, 14, 15], [20, 21, 2, 2, 2, 2]])  # (batch, steps)
    token_mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])  # the EOS counts, the padding after it doesn't
    return GenerationResult(
        prompts=["1, 2, 3", "Hi"], texts=[", 4, 5, 6", " there!"], sequences=torch.cat([prompt, token_ids], 1),
        prompt_length=4, token_ids=token_ids, token_mask=token_mask, raw=None, processed=None,
        settings={"max_new_tokens": 6, "do_sample": False}, tokenizer=_IdTokenizer(), outputs=None)


class _IdTokenizer:
    """Just enough of a tokenizer for a made-up GenerationResult: id 7 reads "·7", id 2 is "</s>"."""

    eos_token_id = pad_token_id = 2

    def decode(self, ids: Any, skip_special_tokens: bool = False) -> str:
        return "".join("" if i == 2 and skip_special_tokens else "</s>" if i == 2 else f"·{i}" for i in map(int, ids))

    def batch_decode(self, rows: Any, skip_special_tokens: bool = False) -> list[str]:
        return [self.decode(row, skip_special_tokens) for row in rows]

    def convert_ids_to_tokens(self, ids: Any) -> list[str]:
        return [self.decode([i]) for i in ids]


def _rate_hint(value: float | None, result: Any, seconds: float) -> tuple[str, str]:
    """(idea, code): padding counted, prompt counted, seconds per token, one row only, or not a number."""
    return _rate_idea(value, result, seconds), "result.token_mask.sum().item() / seconds"


def _rate_idea(value: float | None, result: Any, seconds: float) -> str:
    """What went wrong, in words."""
    if value is None:
        return say(en="return a number (a float), the tokens generated divided by the seconds",
                   ja="数値（float）を返します。生成したトークン数を秒数で割った値です")

    def rate_of(count: float) -> bool:
        return math.isclose(value, count / seconds, rel_tol=1e-6)

    generated, with_padding = int(result.token_mask.sum()), result.token_ids.numel()
    prompt = result.sequences[:, :result.prompt_length]
    if rate_of(with_padding):
        return say(en="the padding after EOS was counted: count only the positions where result.token_mask is True "
                      "(where a token was really generated)",
                   ja="EOS の後のパディングまで数えています。"
                      "result.token_mask（本当に生成した位置が True）だけを数えます")
    read_counts = (prompt.numel(), int((prompt != 2).sum()))  # the prompt with and without its padding
    if any(rate_of(new + read) for new in (generated, with_padding) for read in read_counts):
        return say(en="the prompt tokens were read, not generated: count only the new tokens, where "
                      "result.token_mask is True",
                   ja="プロンプトのトークンは読んだだけで生成していません。新しいトークン"
                      "（result.token_mask が True の位置）だけを数えます")
    if any(math.isclose(value, count * factor, rel_tol=1e-6)  # the count itself, or multiplied by the seconds
           for count in (generated, with_padding) for factor in (1, seconds)):
        return say(en="that is not per second: divide the number of tokens by the seconds",
                   ja="それは 1 秒あたりではありません。トークン数を秒数で割ります")
    return _miscount_idea(value, result, seconds)


def _miscount_idea(value: float, result: Any, seconds: float) -> str:
    """A rate of the wrong count: EOS left out, seconds per token, one row, characters or words.

    >>> from llmcourse.i18n import set_language; set_language("en")
    >>> _miscount_idea(8 / 4, _finished_early_result(), 4.0)[:26]  # 9 tokens, one of them EOS
    'the EOS token was left out'
    """
    def rate_of(count: float) -> bool:
        return math.isclose(value, count / seconds, rel_tol=1e-6)

    generated = int(result.token_mask.sum())
    if rate_of(int((result.token_mask & (result.token_ids != result.tokenizer.eos_token_id)).sum())):
        return say(en="the EOS token was left out, but the model generated it too (result.token_mask is True there): "
                      "count every position where result.token_mask is True",
                   ja="EOS トークンを除いていますが、それもモデルが生成したトークンです（result.token_mask は True）。"
                      "result.token_mask が True の位置をすべて数えます")
    if math.isclose(value, seconds / generated, rel_tol=1e-6):
        return say(en="that is seconds per token: divide the tokens by the seconds",
                   ja="それは 1 トークンあたりの秒数です。トークン数を秒数で割ります")
    if rate_of(result.steps) or rate_of(int(result.token_mask[0].sum())):
        return say(en="that counts one row (or the steps) only: count the tokens of every row of the batch",
                   ja="1 行（またはステップ数）しか数えていません。バッチのすべての行のトークンを数えます")
    if any(rate_of(len(text)) or rate_of(len(text.split())) for text in ("".join(result.texts), " ".join(result.texts))):
        return say(en="that counts characters or words of the text, not tokens: count the generated tokens",
                   ja="それはテキストの文字数か単語数で、トークン数ではありません。生成したトークンを数えます")
    return say(en="count the tokens really generated in every row (result.token_mask), then divide by the seconds",
               ja="すべての行で本当に生成したトークン（result.token_mask）を数え、秒数で割ります")
