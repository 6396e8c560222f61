"""Checks for lesson 07 (controlling the output): token log-probabilities, a format-forcing processor, penalties."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..errors import describe
from ..i18n import say
from ..quiet import quiet
from .base import Report, call, exercise_check, is_function, not_a

FORMAT_CHARACTERS = "0123456789, "  # exercise 2: only digits, commas and spaces
FORMAT = re.compile(r"[0-9, ]*")
FORMAT_QUESTION = "Give three numbers between 1 and 9, separated by commas."
SCORED_PROMPT, SCORED_ANSWER = "The Eiffel Tower is in", " the city of Paris"
PENALTIES = ((0.5, 0.0), (0.0, 0.25), (0.4, 0.3))  # (presence, frequency) pairs the check tries


# ---------------------------------------------------------------- exercise 1: log-probabilities of given tokens


@exercise_check(en="Log-probabilities of a continuation", ja="続きのテキストの対数確率", answer=is_function)
def check_token_logprobs(report: Report, my_token_logprobs: Callable[[Any, Any, int], Any], model: Any,
                         tokenizer: Any) -> None:
    """Lesson 07: ``my_token_logprobs(logits, input_ids, prompt_length)`` equals `llmcourse.scoring.token_logprobs`.

    >>> from llmcourse.scoring import token_logprobs
    >>> check_token_logprobs(token_logprobs, model, tokenizer).passed  # doctest: +SKIP
    True
    """
    import torch

    from ..scoring import token_logprobs

    usage = say(en="it is called as my_token_logprobs(logits, input_ids, prompt_length) with logits (batch, length, "
                   "vocab) and input_ids (batch, length)",
                ja="my_token_logprobs(logits, input_ids, prompt_length) の形で呼ばれます。logits は (batch, length, "
                   "vocab)、input_ids は (batch, length) です")
    generator = torch.Generator().manual_seed(0)
    # 5 new tokens here, 4 in the model's case: an answer that ignores prompt_length fails one of them
    random_case = (torch.randn(2, 7, 11, generator=generator), torch.randint(0, 11, (2, 7), generator=generator), 2)
    prompt_ids = tokenizer(SCORED_PROMPT, return_tensors="pt").input_ids
    ids = torch.cat([prompt_ids, tokenizer(SCORED_ANSWER, add_special_tokens=False, return_tensors="pt").input_ids], 1)
    with torch.no_grad():
        model_case = (model(ids.to(model.device)).logits.float().cpu(), ids, prompt_ids.shape[1])
    names = (say(en="random logits (2, 7, 11), prompt_length=2", ja="乱数のロジット (2, 7, 11)、prompt_length=2"),
             say(en=f"the model's logits for {SCORED_PROMPT!r} + {SCORED_ANSWER!r}",
                 ja=f"{SCORED_PROMPT!r} + {SCORED_ANSWER!r} に対するモデルのロジット"))
    for name, (logits, input_ids, prompt_length) in zip(names, (random_case, model_case), strict=True):
        expected = token_logprobs(logits, input_ids, prompt_length)  # (batch, new)
        ok, out = call(report, "my_token_logprobs", my_token_logprobs,
                       (logits.clone(), input_ids.clone(), prompt_length), usage)
        if not ok:
            return
        same = _close(out, expected)
        report.add(same, say(en=f"{name}: the same log-probabilities, sum {expected[0].sum():.2f}",
                             ja=f"{name}：同じ対数確率（合計 {expected[0].sum():.2f}）") if same else
                   say(en=f"{name}: returned {_first_row(out)}; the log-probabilities are {_first_row(expected)}",
                       ja=f"{name}：{_first_row(out)} を返しました。対数確率は {_first_row(expected)} です"),
                   _logprobs_hint(out, logits, input_ids, prompt_length, expected))
        if not same:
            return


def _first_row(value: Any) -> str:
    """A tensor's first row, rounded, in a message (`describe` of anything else)."""
    import torch

    if not isinstance(value, torch.Tensor) or value.ndim == 0 or value.is_complex():
        return describe(value)
    row = value.detach().float().cpu()
    row = row[0] if row.ndim > 1 else row
    shown = ", ".join(f"{x:.2f}" for x in row.flatten()[:4].tolist()) + (", ..." if row.numel() > 4 else "")
    return say(en=f"shape {tuple(value.shape)}, first row [{shown}]", ja=f"形 {tuple(value.shape)}、1 行目 [{shown}]")


def _close(out: Any, expected: Any) -> bool:
    """A tensor of the expected shape with the expected values (to float32 rounding)."""
    import torch

    return (isinstance(out, torch.Tensor) and out.shape == expected.shape
            and torch.allclose(out.detach().float().cpu(), expected, atol=1e-4))


def _logprobs_hint(out: Any, logits: Any, input_ids: Any, prompt_length: int, expected: Any) -> str:
    """The known mistake the output equals (`_logprobs_mistakes`), the prompt included, or else the recipe."""
    import torch

    recipe = say(en="log_softmax over the vocabulary, then gather the token ids: the logits at position t score the "
                    "token at t + 1, so the tokens from prompt_length on are scored by the logits one position "
                    "earlier, up to the last position but one",
                 ja="語彙方向に log_softmax をとり、トークン ID で gather します。位置 t のロジットは t + 1 の"
                    "トークンを評価するので、prompt_length 以降のトークンは 1 つ前の位置のロジット（最後から 2 番目の"
                    "位置まで）で評価されます")
    if not isinstance(out, torch.Tensor):
        return recipe
    if out.ndim == expected.ndim and 0 < out.shape[0] < expected.shape[0]:
        return say(en=f"returned {out.shape[0]} row(s) of a batch of {expected.shape[0]}: score every row",
                   ja=f"{expected.shape[0]} 行のバッチに対して {out.shape[0]} 行を返しました。すべての行を評価します")
    for value, hint in _logprobs_mistakes(logits, input_ids, prompt_length, expected):
        if _close(out, value):
            return hint
    if out.ndim == 2 and out.shape[0] == expected.shape[0] and out.shape[1] > expected.shape[1]:
        return say(en="only the continuation's tokens: from prompt_length on, not the prompt's",
                   ja="続きのトークンだけを返します。プロンプトのトークンではなく prompt_length 以降です")
    return recipe


def _logprobs_mistakes(logits: Any, input_ids: Any, prompt_length: int, expected: Any) -> list[tuple[Any, str]]:
    """(what the answer returns, the hint) for each usual mistake of exercise 1."""
    import torch

    scoring, new_ids = logits[:, prompt_length - 1:-1], input_ids[:, prompt_length:, None]  # (batch, new, vocab)
    one_per_token = say(en="return one value per token (sum them afterwards for the whole continuation)",
                        ja="トークンごとに 1 つの値を返します（続き全体の値は後で合計します）")
    normalize_first = say(en="normalize first: torch.log_softmax(logits, dim=-1), then gather",
                          ja="先に正規化します：torch.log_softmax(logits, dim=-1) の後で gather します")
    return [
        (expected.sum(-1), one_per_token), (expected.mean(-1), one_per_token),
        (expected[0], say(en="return every row of the batch: shape (batch, length - prompt_length)",
                          ja="バッチのすべての行を返します：形は (batch, length - prompt_length) です")),
        (expected.exp(), say(en="return log-probabilities (log_softmax), not probabilities (softmax)",
                             ja="確率（softmax）ではなく対数確率（log_softmax）を返します")),
        (-expected, say(en="return the log-probabilities themselves (at most 0), not their negatives (the surprisal)",
                        ja="対数確率そのもの（0 以下）を返します。符号を反転した値（サプライザル）ではありません")),
        (torch.log_softmax(logits[:, prompt_length:], -1).gather(-1, new_ids).squeeze(-1),
         say(en="one position late: the logits at position t score the token at t + 1, so the token at "
                "prompt_length is scored by the logits at prompt_length - 1",
             ja="位置が 1 つずれています。位置 t のロジットは t + 1 のトークンを評価するので、prompt_length の"
                "トークンを評価するのは prompt_length - 1 の位置のロジットです")),
        (torch.log_softmax(scoring, -1).gather(-1, input_ids[:, prompt_length - 1:-1, None]).squeeze(-1),
         say(en="each position scores the NEXT token: gather the ids one position ahead of the logits, the tokens "
                "from prompt_length on",
             ja="各位置が評価するのは次のトークンです。ロジットより 1 つ先の ID、つまり prompt_length 以降の"
                "トークンで gather します")),
        (torch.log_softmax(scoring, 1).gather(-1, new_ids).squeeze(-1),
         say(en="normalize over the vocabulary, the last dimension (dim=-1), not over the positions",
             ja="位置の方向ではなく、語彙の方向（最後の次元、dim=-1）に正規化します")),
        (scoring.gather(-1, new_ids).squeeze(-1), normalize_first),
        (scoring.gather(-1, new_ids).squeeze(-1).log_softmax(-1), normalize_first),
    ]


# ---------------------------------------------------------------- exercise 2: a format-forcing logits processor


def is_processor(report: Report, value: Any, name: str) -> bool:
    """Something callable, as `is_function`; the placeholder is told to become an instance of the learner's class.

    >>> from llmcourse.i18n import set_language; set_language("en")
    >>> report = Report("Demo"); is_processor(report, None, "my_processor")
    False
    >>> report.failures[0].hint[:60]
    'replace the None in the exercise cell with your processor, a'
    """
    if value is not None:
        return is_function(report, value, name)
    report.add(False, not_a(name, value, en="a logits processor", ja="ロジットプロセッサー"),
               say(en="replace the None in the exercise cell with your processor, an instance of your LogitsProcessor "
                      "class, and run it",
                   ja="演習のセルの None を自分のプロセッサー（自分の LogitsProcessor クラスのインスタンス）に置き換えて、"
                      "そのセルを実行します"))
    return False


@exercise_check(en="Digits and commas only", ja="数字とコンマだけ", answer=is_processor)
def check_digits_processor(report: Report, my_processor: Any, model: Any, tokenizer: Any) -> None:
    """Lesson 07: ``my_processor(input_ids, scores)`` keeps only tokens made of digits, commas and spaces, and EOS.

    >>> check_digits_processor(DigitsAndCommas(tokenizer), model, tokenizer).passed  # doctest: +SKIP
    True
    """
    import torch

    if isinstance(my_processor, type):
        report.add(False, say(en=f"my_processor is the class {my_processor.__name__}, not a processor",
                              ja=f"my_processor はクラス {my_processor.__name__} で、プロセッサーではありません"),
                   say(en=f"make one from the class: call {my_processor.__name__}(...) with the arguments its __init__ "
                          "takes",
                       ja=f"クラスから作ります：{my_processor.__name__}(...) を、その __init__ が受け取る引数で"
                          "呼び出します"))
        return
    allowed = _allowed_ids(tokenizer)
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(2, len(tokenizer), generator=generator)
    input_ids = torch.randint(0, len(tokenizer), (2, 5), generator=generator)
    usage = say(en="a processor is called as my_processor(input_ids, scores), scores (batch, vocab), and returns scores",
                ja="プロセッサーは my_processor(input_ids, scores) の形で呼ばれ（scores は (batch, vocab)）、"
                   "スコアを返します")
    ok, out = call(report, "my_processor", my_processor, (input_ids.clone(), scores.clone()), usage)
    if not ok:
        return
    if not isinstance(out, torch.Tensor) or out.shape != scores.shape:
        report.add(False, say(en=f"my_processor(...) returned {describe(out)}, not scores of shape {tuple(scores.shape)}",
                              ja=f"my_processor(...) が {describe(out)}を返しました。形 {tuple(scores.shape)} の"
                                 "スコアではありません"),
                   say(en="return the scores, a tensor of shape (batch, vocab) (scores.masked_fill(...) returns a new "
                          "tensor; it does not change scores in place)",
                       ja="スコア、つまり形 (batch, vocab) のテンソルを返します（scores.masked_fill(...) は新しい"
                          "テンソルを返し、scores 自体は変えません）"))
        return
    if not (out == float("-inf")).any():
        report.add(False, say(en="no token is forbidden: no score is -inf",
                              ja="禁止されたトークンがありません（-inf のスコアが 1 つもありません）"),
                   say(en='forbid a token by setting its score to float("-inf") (its probability becomes 0); return '
                          'scores, not probabilities',
                       ja='トークンを禁止するにはスコアを float("-inf") にします（確率が 0 になります）。確率ではなく'
                          'スコアを返します'))
        return
    kept = out[0] > float("-inf")  # (vocab,)
    expected = torch.zeros_like(kept)
    expected[allowed] = True
    same = bool(torch.equal(kept, expected) and torch.equal(out[1] > float("-inf"), expected))
    report.add(same, say(en=f"keeps the {len(allowed) - 1} tokens made only of digits, commas and spaces, and EOS",
                         ja=f"数字・コンマ・空白だけでできた {len(allowed) - 1} 個のトークンと EOS を残します") if same else
               say(en=f"keeps {int(kept.sum())} tokens; the format allows {len(allowed)}",
                   ja=f"{int(kept.sum())} 個のトークンを残しています。この形式で許されるのは {len(allowed)} 個です"),
               _kept_hint(kept, expected, tokenizer))
    unchanged = bool(torch.equal(out[:, kept], scores[:, kept]) and not out.isnan().any())  # every row's scores
    report.add(unchanged, say(en="kept tokens keep their scores, the others are -inf",
                              ja="残したトークンのスコアはそのままで、それ以外は -inf です") if unchanged else
               say(en="the kept tokens' scores changed", ja="残したトークンのスコアが変わっています"),
               say(en='only set the other tokens to float("-inf"); the kept tokens keep the scores they came with, '
                      'in every row',
                   ja='ほかのトークンを float("-inf") にするだけにします。残すトークンは、どの行でも受け取ったスコアの'
                      'ままにします'), 'return scores.masked_fill(~self.allowed, float("-inf"))')
    if same and unchanged:
        _generate_with(report, my_processor, model, tokenizer)


def _allowed_ids(tokenizer: Any) -> list[int]:
    """Every token whose text is only digits, commas and spaces, and the EOS token."""
    from ..constrain import vocabulary_texts

    ids = [i for i, text in enumerate(vocabulary_texts(tokenizer)) if text and set(text) <= set(FORMAT_CHARACTERS)]
    return sorted(set(ids) | {tokenizer.eos_token_id})


def _kept_hint(kept: Any, expected: Any, tokenizer: Any) -> str:
    """Inverted, EOS missing, spaces missing (the raw vocabulary's 'Ġ'), a token that does not belong, or one missing."""
    import torch

    eos = tokenizer.eos_token_id
    if torch.equal(kept, ~expected):
        return say(en='inverted: keep the allowed tokens and set all the others to float("-inf")',
                   ja='逆になっています。許すトークンを残し、それ以外をすべて float("-inf") にします')
    if not kept[eos] and torch.equal(kept | (torch.arange(len(kept)) == eos), expected):
        return say(en="keep the EOS token too (tokenizer.eos_token_id): without it the model can never stop",
                   ja="EOS トークン（tokenizer.eos_token_id）も残します。残さないとモデルは止まれません")
    missing = [tokenizer.decode([i]) for i in (expected & ~kept).nonzero().flatten().tolist()]
    spaced = [" " in tokenizer.decode([i]) for i in kept.nonzero().flatten().tolist()]
    if missing and not (kept & ~expected).any() and all(" " in text for text in missing) and not any(spaced):
        return say(en=f"the tokens with a space, such as {missing[0]!r}, are missing: the vocabulary's own strings "
                      "(get_vocab, convert_ids_to_tokens) write a space as 'Ġ'; test the text tokenizer.decode([i])",
                   ja=f"{missing[0]!r} のような空白を含むトークンが抜けています。語彙そのものの文字列（get_vocab や "
                      "convert_ids_to_tokens）では空白が 'Ġ' と書かれます。tokenizer.decode([i]) のテキストで調べます")
    extra = (kept & ~expected).nonzero().flatten().tolist()
    if extra:
        text = tokenizer.decode([extra[0]])
        return say(en=f"{text!r} (id {extra[0]}) is not made only of digits, commas and spaces: keep a token only "
                      "if every character of tokenizer.decode([i]) is one of them",
                   ja=f"{text!r}（ID {extra[0]}）は数字・コンマ・空白だけでできていません。tokenizer.decode([i]) の"
                      "すべての文字がそのどれかであるトークンだけを残します")
    missing = (expected & ~kept).nonzero().flatten().tolist()
    text = tokenizer.decode([missing[0]]) if missing else ""
    return say(en=f"{text!r} (id {missing[0] if missing else '?'}) is missing: test every token of the vocabulary, "
                  "longer ones such as '  ' or ',,' too: for i in range(len(tokenizer))",
               ja=f"{text!r}（ID {missing[0] if missing else '?'}）が抜けています。'  ' や ',,' のような長いトークンも"
                  "含めて、語彙のすべてのトークンを調べます：for i in range(len(tokenizer))")


def _generate_with(report: Report, my_processor: Any, model: Any, tokenizer: Any) -> None:
    """Sample four answers with the processor: each must be made of digits, commas and spaces."""
    import torch
    from transformers import LogitsProcessorList, set_seed

    inputs = tokenizer.apply_chat_template([{"role": "user", "content": FORMAT_QUESTION}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True).to(model.device)
    set_seed(0)
    with torch.no_grad(), quiet():
        ids = model.generate(**inputs, do_sample=True, num_return_sequences=4, max_new_tokens=8,
                             logits_processor=LogitsProcessorList([my_processor]))
    texts = tokenizer.batch_decode(ids[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    fits = all(FORMAT.fullmatch(text) for text in texts)
    report.add(fits, say(en=f"4 samples with it are all digits, commas and spaces: {texts}",
                         ja=f"これを使った 4 つのサンプルはすべて数字・コンマ・空白だけです：{texts}") if fits else
               say(en=f"4 samples with it: {texts}", ja=f"これを使った 4 つのサンプル：{texts}"),
               say(en="inside generate (4 samples, called once per step) the processor let other tokens through: it must "
                      "forbid the same tokens at every call, whatever input_ids and batch size it is given",
                   ja="generate の中で 4 つのサンプルを作ると（プロセッサーはステップごとに 1 回呼ばれます）、ほかの"
                      "トークンが通りました。input_ids やバッチの大きさがどうであっても、呼ばれるたびに同じトークンを"
                      "禁止します"))


# ---------------------------------------------------------------- exercise 3: presence and frequency penalties


@exercise_check(en="Presence and frequency penalties", ja="presence と frequency のペナルティ", answer=is_function)
def check_presence_frequency(report: Report, my_penalize: Callable[[Any, Any, float, float], Any]) -> None:
    """Lesson 07: ``my_penalize(scores, generated_ids, presence, frequency)`` as `PresenceFrequencyPenalty` does.

    >>> from llmcourse.constrain import PresenceFrequencyPenalty
    >>> check_presence_frequency(lambda scores, ids, p, f: PresenceFrequencyPenalty(p, f, prompt_length=0)(
    ...     ids, scores)).passed
    True
    """
    import torch

    from ..constrain import PresenceFrequencyPenalty

    usage = say(en="it is called as my_penalize(scores, generated_ids, presence, frequency): scores (batch, vocab), "
                   "generated_ids (batch, tokens so far)",
                ja="my_penalize(scores, generated_ids, presence, frequency) の形で呼ばれます。scores は "
                   "(batch, vocab)、generated_ids は (batch, それまでのトークン数) です")
    scores = torch.randn(2, 12, generator=torch.Generator().manual_seed(0))
    generated = torch.tensor([[3, 3, 3, 5, 7, 7], [1, 2, 4, 6, 8, 9]])  # row 0 repeats tokens, row 1 does not
    for presence, frequency in PENALTIES:
        expected = PresenceFrequencyPenalty(presence, frequency, prompt_length=0)(generated, scores.clone())
        ok, out = call(report, "my_penalize", my_penalize, (scores.clone(), generated.clone(), presence, frequency),
                       usage)
        if not ok:
            return
        same = _close(out, expected)
        report.add(same, say(en=f"presence={presence}, frequency={frequency}: the same scores",
                             ja=f"presence={presence}、frequency={frequency}：同じスコア") if same else
                   say(en=f"presence={presence}, frequency={frequency}: returned {describe(out)}, not the penalized scores",
                       ja=f"presence={presence}、frequency={frequency}：{describe(out)}を返しました。ペナルティを"
                          "引いたスコアではありません"),
                   _penalty_hint(out, scores, generated, presence, frequency))
        if not same:
            return


def _penalty_hint(out: Any, scores: Any, generated: Any, presence: float, frequency: float) -> str:
    """Which known mistake the output equals: counted once, per occurrence, across rows, multiplied, added."""
    import torch

    counts = torch.zeros_like(scores).scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
    seen = (counts > 0).float()
    shared = counts.sum(0, keepdim=True).expand_as(counts)  # counted over the whole batch
    variants = [
        (scores - (presence + frequency) * seen,
         say(en="frequency counts every occurrence, not once: indexing with repeated ids subtracts only once, so "
                "count them with torch.bincount or scatter_add_",
             ja="frequency は 1 回ではなく出現ごとに数えます。重複した ID で添字付けすると 1 回しか引かれないので、"
                "torch.bincount か scatter_add_ で数えます")),
        (scores - (presence + frequency) * counts,
         say(en="presence counts once per token, however often it appears: (counts > 0) * presence",
             ja="presence は、何回出てきてもトークンごとに 1 回だけ引きます：(counts > 0) * presence")),
        (scores - frequency * shared - presence * (shared > 0).float(),
         say(en="count per row: each row has its own generated tokens (scatter_add_ along dim=1)",
             ja="行ごとに数えます。各行にはそれぞれの生成トークンがあります（dim=1 に沿って scatter_add_）")),
        (scores + frequency * counts + presence * seen,
         say(en="subtract the penalties: they make repeated tokens less likely",
             ja="ペナルティは足さずに引きます。繰り返すトークンの確率を下げるためのものです")),
    ]
    for value, hint in variants:
        if _close(out, value):
            return hint
    changed = out != scores if isinstance(out, torch.Tensor) and out.shape == scores.shape else None
    if changed is not None and torch.equal(changed, seen.bool()) and (out.sign() == scores.sign()).all():
        return say(en="subtract, do not divide or multiply: these penalties are additive, "
                      "scores - counts * frequency - (counts > 0) * presence (repetition_penalty is the one that divides)",
                   ja="割ったり掛けたりせずに引きます。これらのペナルティは加算的です："
                      "scores - counts * frequency - (counts > 0) * presence（割るのは repetition_penalty です）")
    return say(en="scores - counts * frequency - (counts > 0) * presence, with counts per row from scatter_add_",
               ja="scores - counts * frequency - (counts > 0) * presence（counts は scatter_add_ で行ごとに数えます）")
