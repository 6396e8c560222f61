"""Checks for lesson 03 (generating): a greedy next-token function, and decoding only the new text."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..i18n import say
from ..quiet import quiet
from ..tokens import pad_token_id
from .base import Report, call, exercise_check, is_function, is_text_list
from .values import as_float, as_int, show

NEXT_TOKEN_PROMPTS = ["The capital of France is", "1, 2, 3, 4,", "A list of colors: red, blue"]
UNSURE_PROMPTS = ["My favourite food is", "Once upon a time, there was a"]  # no token above 0.15: sampling shows
GREEDY_CODE = "int(model(input_ids).logits[0, -1].argmax())"
NEW_TEXT_PROMPTS = ["1, 2, 3", "A list of colors: red, blue"]
# batches the lesson does not show: other padded lengths (5 and 6 tokens, not 8), new texts that start with a space
UNSEEN_NEW_TEXT = [["Water boils at one hundred degrees", "Two plus two is"], ["My favourite fruit is the", "Hello"]]
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
    # the shown prompts first (the model is sure of them); then prompts where it is unsure, asked three times
    # each, which only add a line when something is wrong: sampling or another token shows there
    for prompt in NEXT_TOKEN_PROMPTS + UNSURE_PROMPTS:
        input_ids = tokenizer(prompt, return_tensors="pt")["input_ids"].to(model.device)  # (1, length)
        with torch.no_grad(), quiet():
            expected = int(model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=1,
                                          do_sample=False, pad_token_id=pad_token_id(tokenizer))[0, -1])
            logits = model(input_ids).logits[0]  # (length, vocab)
        answers = []
        for _ in range(1 if prompt in NEXT_TOKEN_PROMPTS else 3):
            with torch.no_grad():
                ok, answer = call(report, "my_next_token", my_next_token, (model, input_ids.clone()), usage)
            if not ok:
                return
            answers.append(answer)
        got, token, answer = as_int(answers[0]), tokenizer.decode([expected]), answers[0]
        varies = len({as_int(each) for each in answers}) > 1
        right = got == expected and not varies
        if right and prompt in UNSURE_PROMPTS:
            continue
        shown = ", ".join(show(each) for each in answers)
        report.add(right, say(en=f'after "{prompt}": {token!r}', ja=f'"{prompt}" の次：{token!r}') if right else
                   say(en=f'after "{prompt}" it returned {shown}; greedy decoding picks {expected} ({token!r})',
                       ja=f'"{prompt}" の次に {shown} を返しました。貪欲デコーディングでは {expected}'
                          f'（{token!r}）です'),
                   _next_token_hint(answer, varies, logits, input_ids), GREEDY_CODE)


def _next_token_hint(answer: Any, varies: bool, logits: Any, input_ids: Any) -> str:
    """Sampled, text, a logit's or probability's value, not one id; else what the id is (`_wrong_id_hint`)."""
    got, value, last = as_int(answer), as_float(answer), logits[-1]  # last: (vocab,)
    if varies:
        return say(en="it returned different tokens for the same input, so it samples: greedy decoding takes the "
                      "most likely token (argmax), the same every time",
                   ja="同じ入力に違うトークンを返したので、サンプリングしています。貪欲デコーディングは最も確率の高い"
                      "トークン（argmax）を選び、毎回同じになります")
    if isinstance(answer, str):
        return say(en="this is the token's text: return its id, the position of the largest logit",
                   ja="これはトークンのテキストです。ID（最大のロジットの位置）を返します")
    if got is None and value is not None and min(abs(value - float(last.max())),
                                                 abs(value - float(last.softmax(-1).max()))) < 1e-3:
        return say(en="this is the value (max) of the largest logit or probability; the token id is its position "
                      "(argmax)",
                   ja="これは最大のロジットまたは確率の値（max）です。トークン ID はその位置（argmax）です")
    if got is None:
        return say(en="return one token id (an int), the position of the largest logit at the last position",
                   ja="トークン ID（int）を 1 つ返します。最後の位置で最大のロジットの位置です")
    return _wrong_id_hint(got, logits, input_ids[0].tolist())


def _wrong_id_hint(got: int, logits: Any, prompt: list[int]) -> str:
    """An id, but another: the prompt's last token (one position early), a prompt token, the first position, ..."""
    if len(logits) > 1 and got == int(logits[-2].argmax()):
        return say(en="that is what the second-to-last position predicts: the next token is predicted at the last "
                      "position (off by one)",
                   ja="それは最後から 2 番目の位置が予測するトークンです。次のトークンは最後の位置が予測します"
                      "（1 つずれています）")
    if got == prompt[-1]:
        return say(en="that is the prompt's own last token: the next token is the argmax of the logits at the last "
                      "position",
                   ja="それはプロンプト自身の最後のトークンです。次のトークンは最後の位置のロジットの argmax です")
    if got in prompt:
        return say(en="that token is in the prompt: generate returns the prompt followed by the new token, which is "
                      "the last one",
                   ja="そのトークンはプロンプトの中にあります。generate はプロンプトの後に新しいトークンを続けて返すので、"
                      "新しいトークンは最後のものです")
    if got == int(logits[0].argmax()):
        return say(en="that is the most likely token after the first position; the next token comes from the last "
                      "position of the logits",
                   ja="それは最初の位置の次に来る最有力トークンです。次のトークンはロジットの最後の位置から選びます")
    if not 0 <= got < logits.shape[-1]:
        return say(en=f"{got} is not a token id (the vocabulary has {logits.shape[-1]}): the argmax ran over all "
                      "positions at once; take it over the vocabulary of the last position only",
                   ja=f"{got} はトークン ID ではありません（語彙は {logits.shape[-1]} 個）。すべての位置をまとめて "
                      "argmax しています。最後の位置の語彙の中だけで argmax をとります")
    if got == int(logits[-1].argmin()):
        return say(en="that is the least likely token (argmin): greedy decoding takes the most likely one",
                   ja="それは最も確率の低いトークン（argmin）です。貪欲デコーディングは最も確率の高いものを選びます")
    return say(en="one forward pass, then the token with the largest logit at the last position",
               ja="フォワードパスを 1 回行い、最後の位置で最大のロジットを持つトークンを選びます")


@exercise_check(en="New text only", ja="新しく生成したテキストだけ", answer=is_function)
def check_new_text_only(report: Report, my_decode: Callable[[Any, Any], Any], model: Any, tokenizer: Any) -> None:
    """Lesson 03: ``my_decode(inputs, output_ids)`` decodes only a left-padded batch's new tokens, no special tokens.

    >>> my_decode = lambda inputs, output_ids: tokenizer.batch_decode(
    ...     output_ids[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)  # doctest: +SKIP
    >>> check_new_text_only(my_decode, model, tokenizer).passed                      # doctest: +SKIP
    True
    """
    for number, batch in enumerate([NEW_TEXT_PROMPTS, *UNSEEN_NEW_TEXT]):
        label = say(en="the lesson's batch", ja="レッスンのバッチ") if number == 0 else \
            say(en=f"a batch the lesson does not show ({number})", ja=f"レッスンにないバッチ（{number}）")
        if not _judge_new_text(report, my_decode, model, tokenizer, batch, label):
            return


def _judge_new_text(report: Report, my_decode: Callable[[Any, Any], Any], model: Any, tokenizer: Any,
                    batch: list[str], label: str) -> bool:
    """One batch: no prompt, no special tokens, the new text exactly; True when all held."""
    inputs, output_ids = _left_padded_run(model, tokenizer, batch)
    expected = tokenizer.batch_decode(output_ids[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    usage = say(en="it is called as my_decode(inputs, output_ids): inputs from the tokenizer, output_ids from generate",
                ja="my_decode(inputs, output_ids) の形で呼ばれます。inputs はトークナイザーの出力、"
                   "output_ids は generate の出力です")
    ok, texts = call(report, "my_decode", my_decode, (inputs, output_ids.clone()), usage)
    if not ok or not is_text_list(report, texts, "my_decode(...)", len(expected), _texts_type_hint(texts)):
        return False
    texts = list(texts)  # a tuple of the texts is as good as a list
    start = len(report.lines)
    prompts = [prompt for prompt, text in zip(batch, texts, strict=True) if prompt in text]
    specials = sorted({token for text in texts for token in SPECIAL_TOKEN.findall(text)}
                      | {token for token in tokenizer.all_special_tokens if token and any(token in t for t in texts)})
    report.add(not prompts, say(en=f"includes the prompt {prompts[0]!r}",
                                ja=f"プロンプト {prompts[0]!r} を含んでいます") if prompts else
               say(en="leaves out the prompts", ja="プロンプトを含みません"),
               say(en="output_ids holds each prompt followed by its new tokens: decode only the part after the "
                      "(padded) prompt",
                   ja="output_ids は各プロンプトの後に新しいトークンが続いたものです。（パディング込みの）プロンプトより"
                      "後ろだけをデコードします"),
               f"tokenizer.batch_decode({NEW_IDS}, skip_special_tokens=True)")
    report.add(not specials, say(en=f"contains special tokens {specials}", ja=f"特殊トークン {specials} を含んでいます")
               if specials else say(en="no special tokens", ja="特殊トークンを含みません"),
               say(en="the text keeps the model's special tokens (end of text, padding): have the decoder skip them",
                   ja="テキストにモデルの特殊トークン（終了やパディング）が残っています。デコード時に除きます"),
               "tokenizer.batch_decode(..., skip_special_tokens=True)")
    same = texts == expected
    # len(inputs["input_ids"]) and .shape[0] count the rows: the slice of a learner who took either for the length
    rows = texts == tokenizer.batch_decode(output_ids[:, len(batch):], skip_special_tokens=True)
    report.add(same, say(en=f"{label}: matches the new text {expected!r}",
                         ja=f"{label}：新しいテキスト {expected!r} と一致します") if same
               else say(en=f"{label}: returned {texts!r}; the new text is {expected!r}",
                        ja=f"{label}：{texts!r} を返しました。新しいテキストは {expected!r} です"),
               _new_text_hint(texts, expected, prompts, rows, inputs["input_ids"].shape[1],
                              texts == _sliced_at_mask_sums(tokenizer, inputs, output_ids)),
               f"tokenizer.batch_decode({NEW_IDS}, skip_special_tokens=True)")
    return all(line.passed for line in report.lines[start:])


def _sliced_at_mask_sums(tokenizer: Any, inputs: Any, output_ids: Any) -> list[str]:
    """Each row decoded from its own unpadded prompt length, the attention_mask sum: a slice that forgets the padding."""
    starts = inputs["attention_mask"].sum(-1).tolist()
    return [tokenizer.decode(row[start:], skip_special_tokens=True) for row, start in zip(output_ids, starts, strict=True)]


def _left_padded_run(model: Any, tokenizer: Any, prompts: list[str]) -> tuple[Any, Any]:
    """Left-padded inputs and a short greedy generation whose last token is EOS (a special token to skip)."""
    import torch

    from ..generation import encode_left_padded

    inputs = encode_left_padded(tokenizer, prompts).to(model.device)
    with torch.no_grad(), quiet():
        output_ids = model.generate(**inputs, max_new_tokens=4, do_sample=False, pad_token_id=pad_token_id(tokenizer),
                                    forced_eos_token_id=tokenizer.eos_token_id)  # (batch, padded length + 4)
    return inputs, output_ids


def _new_text_hint(texts: list[str], expected: list[str], prompts: list[str], rows: bool, padded: int,
                   by_mask: bool = False) -> str:
    """Sliced at the number of rows (``rows``), stripped, each row at its own mask sum (``by_mask``), too early,
    cut short, or the recipe.

    ``padded``: the batch's padded prompt length, where its new tokens start (quoted as measured).
    """
    if rows:
        return say(en=f'the slice starts at {len(texts)}, the number of rows (len(inputs["input_ids"]) or .shape[0] '
                      f'count the rows): the new tokens start after the padded prompt, here at {padded}, the width of '
                      'the input ids',
                   ja=f'スライスが {len(texts)}、つまり行数から始まっています（len(inputs["input_ids"]) や .shape[0] は'
                      f'行数です）。新しいトークンはパディング込みのプロンプトの後ろ、ここでは {padded}（入力 ID の幅）から'
                      '始まります')
    if texts == [new.strip() for new in expected] and texts != expected:
        return say(en="the texts were stripped: a new text starts or ends with whitespace of its own (a space, a "
                      "newline), which is part of what the model wrote; return it as decoded",
                   ja="テキストを strip しています。新しいテキストの先頭や末尾の空白（スペースや改行）もモデルが"
                      "書いたものです。デコードしたままを返します")
    if not prompts and by_mask:
        return say(en=f"with left padding the new tokens of every row start at the same index, the padded length "
                      f"(here {padded}, the width of the input ids), not each row's attention_mask sum",
                   ja=f"左パディングでは、どの行も新しいトークンは同じ位置、つまりパディング込みの長さ"
                      f"（ここでは {padded}、入力 ID の幅）から始まります。行ごとの attention_mask の合計ではありません")
    if not prompts and any(text != new and text.endswith(new) for text, new in zip(texts, expected, strict=True)):
        return say(en=f"the slice starts too early, inside the prompt: the new tokens of every row start at the padded "
                      f"length (here {padded}, the width of the input ids)",
                   ja=f"スライスの開始が早すぎて、プロンプトの中から始まっています。どの行も新しいトークンはパディング"
                      f"込みの長さ（ここでは {padded}、入力 ID の幅）から始まります")
    if not prompts and all(new.startswith(text) for text, new in zip(texts, expected, strict=True)):
        return say(en="the new text is cut short: it starts after the padded prompt and runs to the end of the row",
                   ja="新しいテキストが途中で切れています。パディング込みのプロンプトの後ろから行の最後までです")
    if not prompts and all(new.endswith(text) for text, new in zip(texts, expected, strict=True)):
        return say(en="the new text misses its start: it begins right at the padded prompt's length, not after it",
                   ja="新しいテキストの先頭が欠けています。パディング込みのプロンプトの長さの位置からちょうど始まります")
    return say(en="decode, for every row, the tokens after the padded prompt, and leave out special tokens",
               ja="すべての行で、パディング込みのプロンプトより後ろのトークンをデコードし、特殊トークンを除きます")


def _texts_type_hint(value: Any) -> str:
    """One string (one row decoded), ids, or another type."""
    if isinstance(value, str):
        return say(en="this is one string: decode every row of the batch, one string per row (batch_decode)",
                   ja="これは 1 つの文字列です。バッチのすべての行を、行ごとに 1 つの文字列としてデコードします"
                      "（batch_decode）")
    if hasattr(value, "shape") or (isinstance(value, list) and value and not isinstance(value[0], str)):
        return say(en="these are token ids: decode them to text with the tokenizer",
                   ja="これはトークン ID です。トークナイザーでテキストにデコードします")
    return say(en="a list with one string per row of the batch", ja="バッチの行ごとに 1 つの文字列のリストにします")
