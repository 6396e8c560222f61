"""Checks for lesson 03 (generating): a greedy next-token function, and decoding only the new text."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..i18n import say
from ..tokens import pad_token_id
from .base import Report, as_int, call, exercise_check, is_function, is_text_list, quiet, show

NEXT_TOKEN_PROMPTS = ["The capital of France is", "1, 2, 3, 4,", "A list of colors: red, blue"]
NEW_TEXT_PROMPTS = ["1, 2, 3", "A list of colors: red, blue"]
SPECIAL_TOKEN = re.compile(r"<\|[^<>|]*\|>|</?s>|<unk>|<pad>")  # <|im_end|>, </s>, ... (lessons 03 and 06)
NEW_IDS = 'output_ids[:, inputs["input_ids"].shape[1]:]'  # the new tokens of a left-padded batch


@exercise_check(en="Greedy next token", ja="貪欲デコーディングの次のトークン", answer=is_function)
def check_next_token_fn(report: Report, my_next_token: Callable[[Any, Any], Any], model: Any, tokenizer: Any) -> None:
    """Lesson 03: ``my_next_token(model, input_ids)`` returns the next token greedy decoding picks, as ``generate``.

    >>> my_next_token = lambda model, input_ids: int(model(input_ids).logits[0, -1].argmax())  # doctest: +SKIP
    >>> check_next_token_fn(my_next_token, model, tokenizer).passed                             # doctest: +SKIP
    True
    """
    import torch

    usage = say(en="it is called as my_next_token(model, input_ids), input_ids of shape (1, length)",
                ja="my_next_token(model, input_ids) の形で呼ばれます。input_ids の形は (1, 長さ) です")
    for prompt in NEXT_TOKEN_PROMPTS:
        input_ids = tokenizer(prompt, return_tensors="pt")["input_ids"].to(model.device)  # (1, length)
        with torch.no_grad(), quiet():
            expected = int(model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=1,
                                          do_sample=False, pad_token_id=pad_token_id(tokenizer))[0, -1])
            logits = model(input_ids).logits[0]  # (length, vocab)
        with torch.no_grad():
            ok, answer = call(report, "my_next_token", my_next_token, (model, input_ids.clone()), usage)
        if not ok:
            return
        got, token = as_int(answer), tokenizer.decode([expected])
        report.add(got == expected, say(en=f'after "{prompt}": {token!r}', ja=f'"{prompt}" の次: {token!r}')
                   if got == expected else
                   say(en=f'after "{prompt}" it returned {show(answer)}; greedy decoding picks {expected} ({token!r})',
                       ja=f'"{prompt}" の次に {show(answer)} を返しました。貪欲デコーディングでは {expected}'
                          f'（{token!r}）です'),
                   _next_token_hint(got, int(logits[0].argmax()), logits.shape[-1]))


def _next_token_hint(got: int | None, first_position: int, vocab: int) -> str:
    """Not one id, the first position's argmax, a flat argmax, or another mistake."""
    if got is None:
        return say(en="return one token id, e.g. int(logits[0, -1].argmax())",
                   ja="トークン ID を 1 つ返します。例: int(logits[0, -1].argmax())")
    if got == first_position:
        return say(en="that is the most likely token after the first position; the next token comes from the last "
                      "one: logits[0, -1]",
                   ja="それは最初の位置の次に来る最有力トークンです。次のトークンは最後の位置から選びます: "
                      "logits[0, -1]")
    if not 0 <= got < vocab:
        return say(en=f"{got} is not a token id (the vocabulary has {vocab}): take the argmax over the last "
                      "dimension, logits[0, -1].argmax()",
                   ja=f"{got} はトークン ID ではありません（語彙は {vocab} 個）。最後の次元で argmax をとります: "
                      "logits[0, -1].argmax()")
    return say(en="one forward pass, then the largest logit at the last position: "
                  "int(model(input_ids).logits[0, -1].argmax())",
               ja="順伝播を 1 回行い、最後の位置で最大のロジットを選びます: "
                  "int(model(input_ids).logits[0, -1].argmax())")


@exercise_check(en="New text only", ja="新しく生成したテキストだけ", answer=is_function)
def check_new_text_only(report: Report, my_decode: Callable[[Any, Any], Any], model: Any, tokenizer: Any) -> None:
    """Lesson 03: ``my_decode(inputs, output_ids)`` decodes only a left-padded batch's new tokens, no special tokens.

    >>> my_decode = lambda inputs, output_ids: tokenizer.batch_decode(
    ...     output_ids[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)  # doctest: +SKIP
    >>> check_new_text_only(my_decode, model, tokenizer).passed                      # doctest: +SKIP
    True
    """
    inputs, output_ids = _left_padded_run(model, tokenizer, NEW_TEXT_PROMPTS)
    expected = tokenizer.batch_decode(output_ids[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    usage = say(en="it is called as my_decode(inputs, output_ids): inputs from the tokenizer, output_ids from generate",
                ja="my_decode(inputs, output_ids) の形で呼ばれます。inputs はトークナイザーの出力、"
                   "output_ids は generate の出力です")
    ok, texts = call(report, "my_decode", my_decode, (inputs, output_ids.clone()), usage)
    if not ok or not is_text_list(report, texts, "my_decode(...)", len(expected)):
        return
    prompts = [prompt for prompt, text in zip(NEW_TEXT_PROMPTS, texts, strict=True) if prompt in text]
    specials = sorted({token for text in texts for token in SPECIAL_TOKEN.findall(text)}
                      | {token for token in tokenizer.all_special_tokens if token and any(token in t for t in texts)})
    report.add(not prompts, say(en=f"includes the prompt {prompts[0]!r}",
                                ja=f"プロンプト {prompts[0]!r} を含んでいます") if prompts else
               say(en="leaves out the prompts", ja="プロンプトを含みません"),
               say(en=f"output_ids holds prompt + new tokens: keep {NEW_IDS}",
                   ja=f"output_ids はプロンプトと新しいトークンを含みます: {NEW_IDS} だけを使います"))
    report.add(not specials, say(en=f"contains special tokens {specials}", ja=f"特殊トークン {specials} を含んでいます")
               if specials else say(en="no special tokens", ja="特殊トークンを含みません"),
               say(en="batch_decode(..., skip_special_tokens=True)",
                   ja="batch_decode(..., skip_special_tokens=True) とします"))
    same = texts == expected
    report.add(same, say(en=f"matches the new text {expected!r}",
                         ja=f"新しいテキスト {expected!r} と一致します") if same
               else say(en=f"returned {texts!r}; the new text is {expected!r}",
                        ja=f"{texts!r} を返しました。新しいテキストは {expected!r} です"),
               _new_text_hint(texts, expected, prompts))


def _left_padded_run(model: Any, tokenizer: Any, prompts: list[str]) -> tuple[Any, Any]:
    """Left-padded inputs and a short greedy generation whose last token is EOS (a special token to skip)."""
    import torch

    from ..generation import encode_left_padded

    inputs = encode_left_padded(tokenizer, prompts).to(model.device)
    with torch.no_grad(), quiet():
        output_ids = model.generate(**inputs, max_new_tokens=4, do_sample=False, pad_token_id=pad_token_id(tokenizer),
                                    forced_eos_token_id=tokenizer.eos_token_id)  # (batch, padded length + 4)
    return inputs, output_ids


def _new_text_hint(texts: list[str], expected: list[str], prompts: list[str]) -> str:
    """A row cut at its own unpadded length, or the general recipe."""
    if not prompts and any(text != new and text.endswith(new) for text, new in zip(texts, expected, strict=True)):
        return say(en='with left padding the new tokens of every row start at the same index, the padded length '
                      'inputs["input_ids"].shape[1] (not each row\'s attention_mask sum)',
                   ja='左パディングでは、どの行も新しいトークンは同じ位置、つまりパディング込みの長さ '
                      'inputs["input_ids"].shape[1] から始まります（行ごとの attention_mask の合計ではありません）')
    return say(en=f"tokenizer.batch_decode({NEW_IDS}, skip_special_tokens=True)",
               ja=f"tokenizer.batch_decode({NEW_IDS}, skip_special_tokens=True) とします")
