"""Check for lesson 03's write-the-loop exercise: the learner's greedy loop with the cache, against ``model.generate``.

The check runs ``my_greedy_loop(model, input_ids, attention_mask, max_new_tokens, eos_token_id)``
on three prompts and compares its ids with ``model.generate``'s, token for token: a plain
prompt (greedy, no EOS in reach), a chat prompt the model ends with EOS, and a prompt
padded on the left, where only the attention mask tells the model to skip the padding.
The model it is given records every forward pass, so the usual mistakes get their own
hint: the whole sequence fed again with the cache, no attention mask (or one that does
not grow), no cache at all, one token too many or too few, the prompt left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from ..i18n import say
from ..quiet import quiet
from .base import Report, exercise_check, is_function
from .inputs import changed, snapshot
from .values import error_text, show

PLAIN = "A list of colors: red, blue"
QUESTION = "What is the capital of France?"
PADDED = "The capital of France is"
PADDING = 3  # pad tokens put in front of PADDED
USAGE = ("my_greedy_loop(model, input_ids, attention_mask, max_new_tokens, eos_token_id): "
         "input_ids and attention_mask of shape (1, length); return prompt + new ids, as model.generate")
# the line of the lesson's loop that fixes each mistake, shown only with hint=2
FORWARD = "out = model(input_ids=new_ids, attention_mask=attention_mask, cache=cache, use_cache=True)"
NEXT_PASS = "cache, new_ids = out.cache, next_id  # the next pass reads only the new token"
GROW_MASK = "attention_mask = torch.cat([attention_mask, torch.ones_like(next_id)], dim=-1)"
APPEND = "input_ids = torch.cat([input_ids, next_id], dim=-1)  # ... return input_ids"
STOP = "input_ids = torch.cat([input_ids, next_id], dim=-1); if next_id.item() == eos_token_id: break"
COUNT = "for _ in range(max_new_tokens):"
PICK = "next_id = out.logits[:, -1, :].argmax(dim=-1, keepdim=True)"


class Call(NamedTuple):
    """One forward pass of the learner's loop: what it was given."""

    new_tokens: int  # length of input_ids passed
    cached: int  # tokens already in the cache before the pass (0: no cache)
    mask: int | None  # length of the attention mask passed (None: no mask)
    zeros: int  # positions the mask passed leaves out (0 for no mask)


class RecordingModel:
    """The model, passed to the learner's loop in its place: it records each forward pass and runs it."""

    def __init__(self, model: Any) -> None:
        self._model, self.calls = model, []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)
        cached = int(cache.get_seq_length()) if hasattr(cache, "get_seq_length") else 0  # before the pass grows it
        self.calls.append(Call(int(input_ids.shape[-1]) if hasattr(input_ids, "shape") else 0, cached,
                               None if mask is None else int(mask.shape[-1]),
                               0 if mask is None else int((mask == 0).sum())))
        return self._model(*args, **kwargs)

    forward = __call__

    def __getattr__(self, name: str) -> Any:  # device, config, generation_config...
        return getattr(self._model, name)


class Case(NamedTuple):
    """One run of the check: its name, the inputs and what model.generate returns for them."""

    name: str
    input_ids: Any  # (1, length)
    attention_mask: Any  # (1, length)
    max_new_tokens: int
    expected: Any  # (1, length + new) from model.generate


@exercise_check(en="Greedy loop with the cache", ja="キャッシュを使う貪欲デコーディングのループ", answer=is_function)
def check_greedy_loop(report: Report, my_greedy_loop: Callable[..., Any], model: Any, tokenizer: Any) -> None:
    """Lesson 03: the learner's greedy loop returns the ids ``model.generate`` returns, token for token.

    >>> check_greedy_loop(my_greedy_loop, model, tokenizer).passed  # doctest: +SKIP
    True
    """
    recorder, mistakes = RecordingModel(model), []
    for case in _cases(model, tokenizer):
        recorder.calls.clear()
        args = (recorder, case.input_ids.clone(), case.attention_mask.clone(), case.max_new_tokens,
                tokenizer.eos_token_id)
        kept = snapshot(args)
        got, error = _run(my_greedy_loop, args, case)
        mistake = _call_mistake(recorder.calls, int((case.attention_mask == 0).sum()))
        mistakes.append(mistake)
        if error is not None:
            report.add(False, say(en=f"{case.name}: my_greedy_loop raised {error}",
                                  ja=f"{case.name}：my_greedy_loop でエラーが出ました：{error}"),
                       *(mistake if mistake[0] else (USAGE, "")))
            return
        if changed(report, "my_greedy_loop", my_greedy_loop, args, kept):
            return
        same = got is not None and got.shape == case.expected.shape and bool((got == case.expected).all())
        new = case.expected.shape[1] - case.input_ids.shape[1]
        report.add(same, say(en=f"{case.name}: the same {new} new tokens as model.generate",
                             ja=f"{case.name}：model.generate と同じ {new} 個の新しいトークン") if same else
                   say(en=f"{case.name}: returned {_describe(got, tokenizer, case)}; model.generate returns "
                          f"{_text(case.expected, tokenizer, case)}",
                       ja=f"{case.name}：{_describe(got, tokenizer, case)} を返しました。model.generate は "
                          f"{_text(case.expected, tokenizer, case)} を返します"),
                   *(mistake if mistake[0] else _result_hint(got, case, tokenizer.eos_token_id)))
        if not same:
            return
    mistake = next((m for m in mistakes if m[0]), ("", ""))
    report.add(not mistake[0], say(en="after the first pass each pass reads only the new token, with the cache and "
                                   "a mask that grows" if not mistake[0] else
                                   "the same tokens, but not the loop the exercise asks for",
                                ja="最初のフォワードパスの後は、キャッシュと伸びていくマスクとともに新しいトークンだけを"
                                   "読みます" if not mistake[0] else
                                   "トークンは同じですが、演習で求めるループになっていません"), *mistake)


def _cases(model: Any, tokenizer: Any) -> list[Case]:
    """Greedy, then with EOS, then left-padded; each with model.generate's ids."""
    import torch

    from ..tokens import pad_token_id

    plain = tokenizer(PLAIN, return_tensors="pt")
    chat = tokenizer.apply_chat_template([{"role": "user", "content": QUESTION}], add_generation_prompt=True,
                                         return_tensors="pt", return_dict=True)
    prompt = tokenizer(PADDED, return_tensors="pt")
    pad = torch.full((1, PADDING), pad_token_id(tokenizer), dtype=prompt.input_ids.dtype)
    padded = (torch.cat([pad, prompt.input_ids], 1), torch.cat([torch.zeros_like(pad), prompt.attention_mask], 1))
    cases = []
    for name, (ids, mask, new) in {
        say(en="greedy", ja="貪欲デコーディング"): (plain.input_ids, plain.attention_mask, 6),
        say(en="with EOS", ja="EOS あり"): (chat.input_ids, chat.attention_mask, 12),
        say(en="padded on the left", ja="左パディング"): (*padded, 5),
    }.items():
        ids, mask = ids.to(model.device), mask.to(model.device)
        with torch.no_grad(), quiet():
            expected = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new, do_sample=False,
                                      eos_token_id=tokenizer.eos_token_id, pad_token_id=pad_token_id(tokenizer))
        cases.append(Case(name, ids, mask, new, expected))
    return cases


def _run(my_greedy_loop: Callable[..., Any], args: tuple, case: Case) -> tuple[Any, str | None]:
    """The learner's ids as a (1, length) tensor on the CPU side of the comparison, or the error it raised."""
    import torch

    try:
        with torch.no_grad(), quiet():
            got = my_greedy_loop(*args)
    except Exception as error:
        return None, error_text(error)
    if isinstance(got, (list, tuple)) and got and isinstance(got[0], int):
        got = torch.tensor([got])
    if not isinstance(got, torch.Tensor):
        return got, None
    got = got.to(case.expected.device)
    return got[None] if got.ndim == 1 else got, None


def _call_mistake(calls: list[Call], padding: int = 0) -> tuple[str, str]:
    """(hint, code line) from the forward passes, for the mistakes that show there; ("", "") when they look right.

    ``padding``: the pad positions the given attention mask leaves out (zeros), which every pass must keep.
    """
    if not calls:
        return say(en="call model(...) once per new token (the model passed to your function)",
                   ja="新しいトークンごとに model(...) を 1 回呼びます（関数に渡されたモデルを使います）"), FORWARD
    later = calls[1:]
    if any(call.cached and call.new_tokens > 1 for call in later):
        return say(en="with the cache, feed only the new token: the cache already holds the keys and values of "
                      "the others (the new token only, not the whole sequence)",
                   ja="キャッシュを使うときは新しいトークンだけを入力します。ほかのトークンのキーと値はキャッシュに"
                      "入っています（シーケンス全体ではなく新しいトークンだけ）"), NEXT_PASS
    if any(call.mask is None for call in calls):
        return say(en="pass attention_mask=... to every call: with padding (the third prompt) the mask is what tells "
                      "the model to skip the pad tokens; append a 1 to it per new token",
                   ja="毎回 attention_mask=... を渡します。パディングがあると（3 つ目のプロンプト）、パディング"
                      "トークンを無視させるのはマスクです。新しいトークンごとに 1 を 1 つ足して伸ばします"), FORWARD
    lost = next((call for call in calls if call.zeros != padding), None)
    if padding and lost is not None:
        return say(en=f"the attention_mask you were given leaves out {padding} pad tokens (zeros), but a pass got a "
                      f"mask with {lost.zeros}: start from the given mask and only append to it",
                   ja=f"渡された attention_mask は {padding} 個のパディングトークンを 0 で除外していますが、"
                      f"{lost.zeros} 個しか 0 のないマスクを受け取ったパスがありました。渡されたマスクから始め、"
                      "後ろに足していくだけにします"), GROW_MASK
    if any(call.mask != call.cached + call.new_tokens for call in calls):
        return say(en="the mask must cover the cached tokens and the new one: after each step, append a 1 for the "
                      "new token, so that the mask is as long as the ids so far",
                   ja="マスクはキャッシュ済みのトークンと新しいトークンの両方を覆う必要があります。各ステップの後に"
                      "新しいトークンの分の 1 を足し、マスクをそれまでの ID と同じ長さにします"), GROW_MASK
    if later and all(call.cached == 0 for call in later):
        return say(en="use the cache: pass cache=out.cache back in and feed only the new token, instead of the "
                      "whole sequence each time",
                   ja="キャッシュを使います。out.cache を cache= で渡し直し、毎回シーケンス全体ではなく新しいトークン"
                      "だけを入力します"), NEXT_PASS
    return "", ""


def _result_hint(got: Any, case: Case, eos_token_id: int) -> tuple[str, str]:
    """(hint, code line) comparing the returned ids with generate's: prompt left out, one token off, EOS not kept
    or not stopped at."""
    import torch

    if not isinstance(got, torch.Tensor) or got.ndim != 2:
        return USAGE, ""
    expected, prompt = case.expected, case.input_ids.shape[1]
    new = expected[:, prompt:]
    if got.shape == new.shape and torch.equal(got, new):
        return say(en="return the prompt too: model.generate returns prompt + new tokens, so keep appending to "
                      "input_ids and return it",
                   ja="プロンプトも返します。model.generate はプロンプトと新しいトークンを返すので、input_ids に"
                      "足していき、それを返します"), APPEND
    ends_with_eos = int(expected[0, -1]) == eos_token_id and expected.shape[1] - prompt < case.max_new_tokens
    if got.shape[1] > expected.shape[1] and torch.equal(got[:, :expected.shape[1]], expected):
        if ends_with_eos:
            return say(en="stop after the EOS token: once the token just appended is eos_token_id, leave the loop",
                       ja="EOS トークンで止めます。追加したトークンが eos_token_id なら、ループを抜けます"), STOP
        return say(en=f"one token too many: make exactly max_new_tokens = {case.max_new_tokens} new tokens, "
                      "for _ in range(max_new_tokens) (count new tokens, not the prompt length)",
                   ja=f"トークンが多すぎます。新しいトークンをちょうど max_new_tokens = {case.max_new_tokens} 個"
                      "作ります：for _ in range(max_new_tokens)（プロンプトの長さではなく新しいトークンを数えます）"), COUNT
    if got.shape[1] == expected.shape[1] - 1 and torch.equal(got, expected[:, :-1]):
        if ends_with_eos:
            return say(en="append the EOS token before you stop: model.generate keeps it at the end",
                       ja="止める前に EOS トークンを追加します。model.generate は最後に EOS を残します"), STOP
        return say(en="one token short: make exactly max_new_tokens new tokens, for _ in range(max_new_tokens) "
                      "(the prompt has input_ids.shape[1] tokens; new ones start after it)",
                   ja="トークンが 1 つ足りません。新しいトークンをちょうど max_new_tokens 個作ります："
                      "for _ in range(max_new_tokens)（プロンプトは input_ids.shape[1] 個で、その後から新しい"
                      "トークンです）"), COUNT
    if got.shape[1] >= prompt and not torch.equal(got[:, :prompt], case.input_ids):
        return say(en="the returned ids do not start with the prompt: return input_ids with the new tokens appended",
                   ja="返した ID がプロンプトで始まっていません。input_ids に新しいトークンを足したものを返します"), APPEND
    return say(en="at each step take the argmax, over the vocabulary, of the logits at the last position only",
               ja="各ステップで、最後の位置のロジットだけについて、語彙方向の argmax をとります"), PICK


def _text(ids: Any, tokenizer: Any, case: Case) -> str:
    """The new text of a (1, length) id tensor, for a message."""
    return repr(tokenizer.decode(ids[0, case.input_ids.shape[1]:]))


def _describe(got: Any, tokenizer: Any, case: Case) -> str:
    """The learner's return value in a message: its new text when it is ids starting with the prompt."""
    import torch

    if isinstance(got, torch.Tensor) and got.ndim == 2 and got.shape[1] >= case.input_ids.shape[1] \
            and not got.is_floating_point():
        count, text = got.shape[1] - case.input_ids.shape[1], _text(got, tokenizer, case)
        return say(en=f"{count} new tokens {text}", ja=f"{count} 個の新しいトークン {text}")
    return show(got)
