"""Checks for lesson 06 (streaming and performance): streamed chunks, and tokens per second.

``my_stream_chunks(prompt)`` must stream 8 new tokens (greedy) with a `TextIteratorStreamer`
(no prompt, no special tokens) while ``model.generate`` runs in a Thread, and return the list of
pieces it yielded. The check runs it on the lesson's prompt and on two prompts it has not seen,
chosen so that each mistake shows on one of them (measured on the offline model), and compares
with the pieces the reference streams. A hint names the variant the learner's pieces turned out
to equal, computed on the same prompt.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..i18n import say
from ..quiet import quiet
from .base import Report, call, exercise_check, is_function, not_a
from .lesson03_generating import SPECIAL_TOKEN
from .observe import generate_calls
from .values import as_float, show

COLOR_PROMPT = "A list of colors: red, blue"  # the lesson's prompt
UNSEEN_PROMPTS = [  # measured on the offline model, greedy, 8 new tokens:
    "Is the sky blue? Answer yes or no:",  # ends at <|im_end|> within 8 tokens: special tokens kept show here
    "The days of the week: Monday, Tuesday",  # runs the 8 tokens: another length or the lesson's pieces show here
]
NEW_TOKENS = 8
PATIENCE_S = 60  # the check waits at least this long for one call of the learner's function
CODE = ("streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True); "
        "thread = Thread(target=model.generate, kwargs=dict(**tokenizer(prompt, return_tensors=\"pt\"), "
        "max_new_tokens=8, do_sample=False, streamer=streamer)); thread.start(); "
        "chunks = [chunk for chunk in streamer]; thread.join(); return chunks")


def stream_chunks(model: Any, tokenizer: Any, prompt: str, *, skip_prompt: bool = True,
                  skip_special_tokens: bool = True, new_tokens: int = NEW_TOKENS) -> list[str]:
    """The pieces a TextIteratorStreamer yields for a greedy generation of ``prompt``, the empty ones left out.

    The reference (no prompt, no special tokens), or a mistake's variant. A TextStreamer that
    keeps the pieces it is handed yields the very same ones as a TextIteratorStreamer, with no
    thread to start or join.

    >>> stream_chunks(model, tokenizer, COLOR_PROMPT)  # doctest: +SKIP
    [', ', 'and green', '\\n', '\\n', 'The', ' user', ' will']
    """
    import torch
    from transformers import TextStreamer

    pieces: list[str] = []

    class Keep(TextStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            pieces.append(text)

    streamer = Keep(tokenizer, skip_prompt=skip_prompt, skip_special_tokens=skip_special_tokens)
    inputs = tokenizer(prompt, return_tensors="pt").to(model.device)
    with torch.no_grad(), quiet():
        model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False, streamer=streamer)
    return [piece for piece in pieces if piece]


@exercise_check(en="Streamed chunks", ja="ストリーミングのチャンク", answer=is_function)
def check_streamed_chunks(report: Report, my_stream_chunks: Callable[[str], Any], model: Any, tokenizer: Any) -> None:
    """Lesson 06: ``my_stream_chunks(prompt)`` returns the pieces a TextIteratorStreamer yields (no prompt, no
    special tokens) while ``model.generate`` runs greedy for 8 new tokens in a Thread.

    An empty piece counts for nothing (the streamer yields some); a tuple does as well as a list.

    >>> check_streamed_chunks(lambda prompt: stream_chunks(model, tokenizer, prompt), model, tokenizer)  # doctest: +SKIP
    """
    usage = say(en="it is called as my_stream_chunks(prompt) with a prompt string, and returns the list of chunks "
                   "the streamer yielded",
                ja="my_stream_chunks(prompt) の形でプロンプトの文字列を渡して呼ばれ、ストリーマーが返したチャンクの"
                   "リストを返します")
    from transformers import TextIteratorStreamer

    lesson: list[str] = []
    for number, prompt in enumerate([COLOR_PROMPT, *UNSEEN_PROMPTS]):
        started = time.perf_counter()
        expected = stream_chunks(model, tokenizer, prompt)
        lesson = lesson or expected
        label = say(en="the lesson's prompt", ja="レッスンのプロンプト") if number == 0 else \
            say(en="a prompt it has not seen", ja="見せていないプロンプト")
        calls: list = []
        with generate_calls(calls):
            ok, chunks = _call_in_time(report, my_stream_chunks, prompt, usage,
                                       _patience(time.perf_counter() - started))
        if not ok:
            return
        if not (isinstance(chunks, (list, tuple)) and all(isinstance(chunk, str) for chunk in chunks)):
            report.add(False, say(en=f"{label} {prompt!r}: ", ja=f"{label} {prompt!r}：")
                       + not_a("my_stream_chunks(prompt)", chunks, en="a list of strings", ja="文字列のリスト"),
                       _chunks_type_hint(chunks), CODE)
            return
        pieces, joined = [chunk for chunk in chunks if chunk], "".join(chunks)
        right = pieces == expected
        report.add(right, say(en=f"{label} {prompt!r}: {len(chunks)} chunks, joined {joined!r}",
                              ja=f"{label} {prompt!r}：チャンク {len(chunks)} 個、つなげると {joined!r}") if right else
                   say(en=f"{label} {prompt!r}: returned {list(chunks)}, expected {expected} (empty chunks aside)",
                       ja=f"{label} {prompt!r}：返したのは {list(chunks)}、正しくは {expected}（空のチャンクは数えません）"),
                   _chunks_hint(model, tokenizer, prompt, pieces, expected, lesson, my_stream_chunks, usage), CODE)
        if not right:
            return
        if any(thread == WORKER and isinstance(streamer, TextIteratorStreamer) for thread, _, streamer in calls):
            report.add(False, say(en="generate ran in the function's own thread, so the streamer was read only after "
                                     "the generation had ended: the pieces came all at once, not as they were made",
                                  ja="generate が関数自身のスレッドで動いたので、ストリーマーを読んだのは生成が終わった後"
                                     "です。チャンクは作られるたびではなく、まとめて届きました"),
                       say(en="start generate in a Thread of its own, then read the streamer while it runs (or use a "
                              "TextStreamer whose on_finalized_text keeps each piece as it is made)",
                           ja="generate を別の Thread で開始し、実行中にストリーマーを読みます（または、作られたチャンクを"
                              "on_finalized_text で受け取る TextStreamer を使います）"), CODE)
            return


WORKER = "my_stream_chunks"  # the thread the check runs the learner's function in

def _patience(seconds: float) -> float:
    """How long to wait for one call of the learner's function: the reference took ``seconds`` on the same prompt."""
    return max(PATIENCE_S, 20 * seconds)


def _call_in_time(report: Report, function: Callable, prompt: str, usage: str, limit: float) -> tuple[bool, Any]:
    """`call` the learner's function on ``prompt`` in a thread of its own; (False, None) with a line if it raised
    or did not return within ``limit`` seconds (a loop over a streamer that no generate feeds waits forever)."""
    inner, outcome = Report(""), []
    worker = threading.Thread(target=lambda: outcome.append(call(inner, "my_stream_chunks", function, (prompt,), usage)),
                              daemon=True, name=WORKER)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        report.add(False, say(en=f"my_stream_chunks({prompt!r}) did not return within {limit:.0f} s",
                              ja=f"my_stream_chunks({prompt!r}) が {limit:.0f} 秒たっても戻りませんでした"),
                   say(en="a loop over the streamer waits for the pieces a running generate puts there: start generate "
                          "in a Thread before the loop, give each call a new streamer, and restart the kernel to stop "
                          "the waiting call",
                       ja="ストリーマーを反復するループは、実行中の generate が入れるチャンクを待ちます。ループの前に "
                          "generate を Thread で開始し、呼び出しごとに新しいストリーマーを作ります。待ち続けている"
                          "呼び出しは、カーネルを再起動すると止まります"), CODE)
        return False, None
    report.lines.extend(inner.lines)
    if not outcome:  # it ended with something that is not an Exception (SystemExit, say)
        report.add(False, say(en="my_stream_chunks stopped without returning",
                              ja="my_stream_chunks が値を返さずに止まりました"), usage)
        return False, None
    return outcome[0]


def _chunks_type_hint(value: Any) -> str:
    """The streamer object itself, the joined text, an iterator, or another type."""
    if type(value).__name__.endswith("Streamer"):
        return say(en="this is the streamer itself: iterate over it while generate runs and return the chunks it "
                      "yields in a list",
                   ja="これはストリーマーそのものです。generate の実行中に反復し、返されたチャンクをリストにして返します")
    if isinstance(value, str):
        return say(en="this is one string, the chunks already joined: return each chunk the streamer yields as an "
                      "item of a list",
                   ja="これは 1 つの文字列で、チャンクがすでにつながっています。ストリーマーが返すチャンクを 1 つずつ"
                      "リストの要素にして返します")
    if isinstance(value, Iterator):
        return say(en="this is an iterator, not yet run: collect its chunks in a list inside the function",
                   ja="これはまだ実行していないイテレーターです。関数の中でチャンクをリストに集めます")
    return say(en="return a list of the strings the streamer yielded",
               ja="ストリーマーが返した文字列のリストを返します")


def _chunks_hint(model: Any, tokenizer: Any, prompt: str, pieces: list[str], expected: list[str], lesson: list[str],
                 my_stream_chunks: Callable, usage: str) -> str:
    """The mistake whose pieces, streamed here from the same prompt, equal the learner's; else what differs."""
    prompt_kept = say(en="the chunks start with the prompt: the streamer must skip it",
                      ja="チャンクがプロンプトから始まっています。ストリーマーにプロンプトを飛ばさせます")
    specials_kept = say(en="the chunks hold special tokens such as <|im_end|>: let the streamer leave them out",
                        ja="チャンクに <|im_end|> のような特殊トークンが入っています。ストリーマーに除かせます")
    variants = [(dict(skip_prompt=False), prompt_kept), (dict(skip_special_tokens=False), specials_kept),
                (dict(skip_prompt=False, skip_special_tokens=False), f"{prompt_kept}; {specials_kept}")]
    for settings, idea in variants:
        if pieces == stream_chunks(model, tokenizer, prompt, **settings):
            return idea
    joined, right = "".join(pieces), "".join(expected)
    if joined == right:
        if len(pieces) == 1:
            return say(en="the new text arrived as one chunk: keep each piece the streamer yields as its own item, "
                          "while generate runs in a Thread, instead of joining them or waiting for generate to end",
                       ja="新しいテキストが 1 つのチャンクになっています。generate を Thread で実行している間に、"
                          "ストリーマーが返す断片を 1 つずつ別の要素として集めます（つなげたり、generate の終了を"
                          "待ったりしません）")
        return say(en="joined, the chunks are the new text, but they are not cut where the streamer cuts it (it "
                      "holds a word back until the word is complete): return the chunks as the streamer yields them",
                   ja="つなげると新しいテキストになりますが、ストリーマーが区切る位置で区切られていません（ストリーマー"
                      "は単語が完成するまで待ってから返します）。ストリーマーが返すとおりのチャンクを返します")
    if prompt != COLOR_PROMPT and pieces == lesson:
        return say(en="these are the chunks of the lesson's prompt, for another prompt: stream the prompt the function "
                      "is given",
                   ja="これはレッスンのプロンプトのチャンクで、別のプロンプトに対して返されています。関数に渡された"
                      "プロンプトをストリーミングします")
    cleaned = SPECIAL_TOKEN.sub("", joined)
    if cleaned != right and cleaned.endswith(right) and cleaned.startswith(prompt[:8]):
        return prompt_kept + ("" if cleaned == joined else f"; {specials_kept}")
    if cleaned == right:
        return specials_kept
    if (joined and right.startswith(joined)) or joined.startswith(right):
        return say(en=f"the new text {'stops early' if len(joined) < len(right) else 'runs on'}: stream exactly "
                      f"{NEW_TOKENS} new tokens (max_new_tokens)",
                   ja=f"新しいテキストが{'途中で終わって' if len(joined) < len(right) else '長すぎて'}います。"
                      f"新しいトークンをちょうど {NEW_TOKENS} 個（max_new_tokens）ストリーミングします")
    again = _call_in_time(Report(""), my_stream_chunks, prompt, usage, _patience(0))
    if again[0] and isinstance(again[1], (list, tuple)) and [chunk for chunk in again[1] if chunk] != pieces:
        return say(en="two calls on the same prompt gave different chunks: that is sampling; the exercise streams "
                      "greedy decoding (do_sample=False)",
                   ja="同じプロンプトで 2 回呼ぶと別のチャンクになりました。これはサンプリングです。演習は貪欲"
                      "デコーディング（do_sample=False）でストリーミングします")
    return say(en=f"the chunks are another generation: stream the prompt the function is given, as it is (no chat "
                  f"template), greedy, {NEW_TOKENS} new tokens",
               ja=f"チャンクは別の生成の結果です。関数に渡されたプロンプトをそのまま（チャットテンプレートなしで）、"
                  f"貪欲デコーディングで、新しいトークン {NEW_TOKENS} 個ストリーミングします")


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
    if value == generated // seconds and not rate_of(generated):
        return say(en="// rounds the rate down to a whole number: divide with /",
                   ja="// は割った結果を整数に切り捨てます。割り算は / を使います")
    if any(value == round(generated / seconds, places) for places in (0, 1, 2)) and not rate_of(generated):
        return say(en="the rate was rounded: return the number itself (round only where you print it)",
                   ja="割った結果を丸めています。数そのものを返します（丸めるのは表示するときだけにします）")
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
