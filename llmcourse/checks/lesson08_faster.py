"""Checks for lesson 08 (faster decoding): prompt lookup's guesses, the speculative sampling rule, the speed-up arithmetic."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..drafts import speculative_distribution
from ..errors import describe
from ..i18n import say
from .base import Report, call, exercise_check, is_function
from .values import show

# (what the case shows, ids, max_ngram, num_tokens): small sequences where the usual slips give other answers
LOOKUP_CASES = [
    (("the last 2 tokens appeared before", "直前の 2 トークンが前にも出てくる"), [5, 6, 7, 8, 9, 5, 6], 2, 3),
    (("the first earlier match wins", "前にある一致のうち最初のものを使う"), [1, 2, 3, 4, 1, 2, 7, 8, 1, 2], 2, 3),
    (("no 2-token match: a 1-token match", "2 トークンの一致がなければ 1 トークンの一致"), [4, 9, 3, 8, 2, 9], 2, 3),
    (("at most num_tokens guesses", "推測は最大 num_tokens 個"), [1, 2, 3, 4, 5, 6, 1, 2], 2, 2),
    (("a continuation cut short by the end", "末尾で途切れる続き"), [7, 3, 7], 2, 10),
    (("nothing matches: no guess", "一致がなければ推測なし"), [1, 2, 3, 4], 2, 10),
]
# checked after those, a line only when wrong (the passing output stays as it was): the only earlier match ends
# where the last token begins, which a search over range(len(ids) - n - 1) misses
EDGE_CASES = [(("a match right before the end", "末尾の直前の一致"), [4, 1, 2, 2], 2, 3)]


def reference_lookup(ids: Sequence[int], max_ngram: int, num_tokens: int) -> list[int]:
    """What transformers' prompt lookup proposes after ``ids`` (EOS and the length limit left aside).

    >>> reference_lookup([1, 2, 3, 4, 1, 2, 7, 8, 1, 2], 2, 3)
    [3, 4, 1]
    """
    import torch
    from transformers.generation.candidate_generator import PromptLookupCandidateGenerator

    finder = PromptLookupCandidateGenerator(num_output_tokens=num_tokens, max_matching_ngram_size=max_ngram,
                                            max_length=len(ids) + num_tokens + 2)
    candidates, _ = finder.get_candidates(torch.tensor([list(ids)]))
    return candidates[0, len(ids):].tolist()


@exercise_check(en="Prompt lookup", ja="プロンプトルックアップ", answer=is_function)
def check_prompt_lookup(report: Report, my_lookup: Callable[..., Any], example_ids: Sequence[int] = ()) -> None:
    """Lesson 08: ``my_lookup(ids, max_ngram, num_tokens)`` proposes the tokens transformers' prompt lookup does.

    ``example_ids`` (the lesson's prompt and answer, say) is checked too.

    >>> check_prompt_lookup(reference_lookup).passed
    True
    """
    usage = say(en="it is called as my_lookup(ids, max_ngram, num_tokens) with a list of ints and two ints",
                ja="my_lookup(ids, max_ngram, num_tokens) の形で呼ばれます。"
                   "ids は int のリスト、残りの 2 つは int です")
    cases = list(LOOKUP_CASES)
    if len(example_ids):
        cases.append((("the lesson's text", "レッスンのテキスト"), [int(i) for i in example_ids], 2, 10))
    for number, ((en, ja), ids, max_ngram, num_tokens) in enumerate(cases + EDGE_CASES):
        if number >= len(cases) and not report.passed:
            return  # the edge cases only once every shown case is right
        ok, out = call(report, "my_lookup", my_lookup, (list(ids), max_ngram, num_tokens), usage)
        if not ok:
            return
        got, expected = _as_ids(out), reference_lookup(ids, max_ngram, num_tokens)
        if number >= len(cases) and got == expected:
            continue  # an edge case adds a line only when wrong
        where = _short(ids)
        if got is None:
            report.add(False, say(en=f"{en}: returned {describe(out)}, not a list of token ids",
                                  ja=f"{ja}：返したのは {describe(out)} で、トークン ID のリストではありません"),
                       say(en="return the list of guessed ids, an empty list [] when nothing matches",
                           ja="推測した ID のリストを返します。一致がなければ空のリスト [] です"))
            return
        right = got == expected
        report.add(right, say(en=f"{en}: {where} -> {expected}", ja=f"{ja}：{where} -> {expected}") if right else
                   say(en=f"{en}: {where} -> {show(got)}, expected {expected}",
                       ja=f"{ja}：{where} -> {show(got)}、正しくは {expected}"),
                   *_lookup_hint(got, ids, max_ngram, num_tokens))


def _as_ids(value: Any) -> list[int] | None:
    """A list or tuple of ints, or a 1-D tensor of them, as a list; None for anything else."""
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) == 1:
        value = value.tolist()
    if isinstance(value, (list, tuple)) and all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        return list(value)
    return None


def _short(ids: Sequence[int]) -> str:
    """A sequence in a message: whole when short, its end otherwise."""
    return str(list(ids)) if len(ids) <= 12 else f"[..., {', '.join(str(i) for i in ids[-4:])}]"


def _lookup_hint(got: list[int], ids: Sequence[int], max_ngram: int, num_tokens: int) -> tuple[str, str]:
    """(idea, code) for the usual slips: the n-gram itself, the last match, no fallback, no cap."""
    ids = list(ids)
    code = ("for n in range(max_ngram, 0, -1): for start in range(len(ids) - n): "
            "if ids[start:start + n] == ids[-n:]: return ids[start + n:start + n + num_tokens]")
    if len(got) > num_tokens:
        return say(en=f"propose at most num_tokens ({num_tokens}) tokens",
                   ja=f"提案は最大 num_tokens（{num_tokens}）個です"), "ids[start + n:start + n + num_tokens]"
    expected = reference_lookup(ids, max_ngram, num_tokens)
    if got and got != expected and any(got == ids[-n:] for n in range(1, max_ngram + 1)):
        return say(en="propose the tokens that FOLLOWED the earlier match, not the matched n-gram itself",
                   ja="一致した n-gram そのものではなく、前の一致の後に続いたトークンを提案します"), code
    if got and len(got) < len(expected) and expected[:len(got)] == got:
        return say(en=f"{len(expected) - len(got)} guess(es) short: propose num_tokens ({num_tokens}) tokens after the "
                      "match, fewer only where ids ends",
                   ja=f"推測が {len(expected) - len(got)} 個足りません。一致の後の num_tokens（{num_tokens}）個を提案"
                      "します（少なくなるのは ids が終わるときだけです）"), code
    if got != reference_lookup(ids, max_ngram, num_tokens) \
            and got == _lookup_variant(ids, max_ngram, num_tokens, last=False, before_end=1):
        return say(en="an earlier match may end right where the last n tokens begin: look at every start in "
                      "range(len(ids) - n), the one just before the end too",
                   ja="前の一致が最後の n トークンの直前で終わることもあります。range(len(ids) - n) のすべての開始"
                      "位置を、末尾の直前も含めて調べます"), code
    later = _lookup_variant(ids, max_ngram, num_tokens, last=True)
    if got == later:
        return say(en="transformers takes the FIRST (leftmost) earlier match, not the most recent one",
                   ja="transformers は最も新しい一致ではなく、最初の（いちばん左の）一致を使います"), code
    if not got and reference_lookup(ids, max_ngram, num_tokens):
        return say(en="when the longest n-gram has no earlier match, try shorter ones: n = max_ngram, ..., 1; "
                      "and skip the match at the very end (it is the n-gram itself, with nothing after it)",
                   ja="いちばん長い n-gram に前の一致がなければ、短いものを試します：n = max_ngram, ..., 1。"
                      "末尾の一致（n-gram 自身で、後ろに何もない）は飛ばします"), code
    return say(en="look for the last n tokens earlier in ids (n from max_ngram down to 1) and return what followed",
               ja="ids の最後の n トークンを前の部分から探し（n は max_ngram から 1 まで）、"
                  "その後に続いたものを返します"), code


def _lookup_variant(ids: list[int], max_ngram: int, num_tokens: int, *, last: bool, before_end: int = 0) -> list[int]:
    """Prompt lookup taking the most recent earlier match (``last``), or missing the ``before_end`` last starts.

    >>> _lookup_variant([4, 1, 2, 2], 2, 3, last=False), _lookup_variant([4, 1, 2, 2], 2, 3, last=False, before_end=1)
    ([2], [])
    """
    for n in range(min(max_ngram, len(ids) - 1), 0, -1):
        starts = [s for s in range(len(ids) - n - before_end) if ids[s:s + n] == ids[-n:]]
        for start in (reversed(starts) if last else starts):
            if start + n < len(ids):
                return ids[start + n:start + n + num_tokens]
    return []


@exercise_check(en="Speculative sampling", ja="投機的サンプリング", answer=is_function)
def check_speculative_sampling(report: Report, my_speculative_step: Callable[[Any, Any], Any],
                               p: Any = None, q: Any = None) -> None:
    """Lesson 08: ``my_speculative_step(p, q)`` gives ``(accept, residual)`` that leave the kept token distributed as p.

    ``p`` and ``q`` (the model's and the draft's next-token probabilities in the lesson) are checked
    after two small examples.

    >>> import torch
    >>> def step(p, q):
    ...     return torch.clamp(p / q, max=1), (p - q).clamp(min=0) / (p - q).clamp(min=0).sum()
    >>> check_speculative_sampling(step).passed
    True
    """
    import torch

    usage = say(en="it is called as my_speculative_step(p, q) with two probability tensors of shape (vocab,) "
                   "and must return (accept, residual)",
                ja="my_speculative_step(p, q) の形で呼ばれます。p と q は形 (vocab,) の確率のテンソルで、"
                   "(accept, residual) を返します")
    cases = [(("3 tokens", "3 トークン"), torch.tensor([0.6, 0.3, 0.1]), torch.tensor([0.3, 0.6, 0.1])),
             (("4 tokens", "4 トークン"), torch.tensor([0.1, 0.2, 0.3, 0.4]), torch.tensor([0.4, 0.3, 0.2, 0.1]))]
    if p is not None and q is not None:
        cases.append((("the lesson's model and draft", "レッスンのモデルとドラフト"),
                      torch.as_tensor(p).detach().flatten().double().cpu(),
                      torch.as_tensor(q).detach().flatten().double().cpu()))
    for (en, ja), target, draft in cases:
        ok, out = call(report, "my_speculative_step", my_speculative_step, (target.clone(), draft.clone()), usage)
        if not ok or not _is_pair(report, out, target):
            return
        accept, residual = (torch.as_tensor(part).double() for part in out)
        kept = speculative_distribution(draft.double(), accept, residual)
        right = (_is_distribution(residual) and bool(((accept >= -1e-9) & (accept <= 1 + 1e-9)).all())
                 and bool(torch.allclose(kept, target.double(), atol=1e-6)))
        chance = float((draft.double() * accept).sum())
        report.add(right, say(en=f"{en}: the token kept is distributed as p (the draft's is kept with probability "
                                 f"{chance:.3f})",
                              ja=f"{ja}：残るトークンは p に従って分布します"
                                 f"（ドラフトのトークンが残る確率 {chance:.3f}）")
                   if right else say(en=f"{en}: the token kept is not distributed as p, or accept and residual are "
                                        "not probabilities",
                                     ja=f"{ja}：残るトークンが p に従って分布しないか、accept と residual が確率に"
                                        "なっていません"),
                   *_speculative_hint(accept, residual, target.double(), draft.double()))
        if not right:
            return


def _is_distribution(values: Any) -> bool:
    """Non-negative numbers that add up to 1."""
    return bool((values >= -1e-9).all()) and abs(float(values.sum()) - 1) <= 1e-6


def _is_pair(report: Report, out: Any, target: Any) -> bool:
    """Two tensors (or lists, or arrays) of the vocabulary's shape; otherwise a failed line with the fix."""
    import torch

    def shape(part: Any) -> Any:
        try:
            return torch.as_tensor(part).shape
        except (TypeError, ValueError, RuntimeError):
            return None

    if isinstance(out, (tuple, list)) and len(out) == 2 and all(shape(part) == target.shape for part in out):
        return True
    report.add(False, say(en=f"my_speculative_step returned {describe(out)}, not (accept, residual), "
                             f"two tensors of shape {tuple(target.shape)}",
                          ja=f"my_speculative_step が返したのは {describe(out)} で、形 {tuple(target.shape)} の"
                             "2 つのテンソル (accept, residual) ではありません"),
               say(en="return both, one probability per token of the vocabulary: return accept, residual",
                   ja="語彙のトークンごとの確率を 2 つとも返します：return accept, residual"))
    return False


ACCEPT = "accept = torch.clamp(p / q, max=1)"
RESIDUAL = "residual = (p - q).clamp(min=0) / (p - q).clamp(min=0).sum()"


def _speculative_hint(accept: Any, residual: Any, p: Any, q: Any) -> tuple[str, str]:
    """(idea, code) for the usual slips: no cap at 1, p/q upside down, residual reversed or not normalized."""
    import torch

    def close(a: Any, b: Any) -> bool:
        return bool(torch.allclose(a, b, atol=1e-6))

    if (accept > 1 + 1e-9).any():
        return say(en="accept is a probability: p(x) / q(x) can exceed 1, cap it there",
                   ja="accept は確率です。p(x) / q(x) は 1 を超えることがあるので、1 で頭打ちにします"), \
            ACCEPT
    if close(accept, torch.clamp(q / p, max=1)):
        return say(en="upside down: keep the draft's token x with probability p(x) / q(x) "
                      "(the model's over the draft's)",
                   ja="逆です。ドラフトのトークン x を確率 p(x) / q(x)（モデル ÷ ドラフト）で残します"), \
            ACCEPT
    if not close(accept, torch.clamp(p / q, max=1)):
        return say(en="keep the draft's token x with probability min(1, p(x) / q(x))",
                   ja="ドラフトのトークン x を確率 min(1, p(x) / q(x)) で残します"), ACCEPT
    if not _is_distribution(residual):
        return say(en="residual must be a distribution: divide max(0, p - q) by its sum",
                   ja="residual は確率分布でなければなりません。max(0, p - q) をその合計で割ります"), \
            RESIDUAL
    if close(residual, (q - p).clamp(min=0) / (q - p).clamp(min=0).sum()):
        return say(en="reversed: after a rejection, draw what p has MORE of than q: max(0, p - q)",
                   ja="逆です。棄却の後は、p が q を上回る分 max(0, p - q) からサンプリングします"), \
            RESIDUAL
    if close(residual, p):
        return say(en="drawing from p again after a rejection gives the tokens the draft already covered a second "
                      "chance: draw from what is left, max(0, p - q), normalized",
                   ja="棄却の後に p からサンプリングし直すと、ドラフトがすでに受け持った分に二度目の機会を与えてしまいます。"
                      "残りの max(0, p - q) を正規化してサンプリングします"), \
            RESIDUAL
    return say(en="after a rejection, draw from max(0, p - q), normalized",
               ja="棄却の後は、max(0, p - q) を正規化した分布からサンプリングします"), RESIDUAL


# (tokens a pass yielded n, draft tokens k, draft step c, check pass v): each usual slip gives another number
# here; c above 1 (a draft slower than the model) and n = 1 (every guess rejected) happen on real machines
SPEEDUP_CASES = [(3, 2, 0.25, 1.2), (5, 4, 1.0, 1.5), (2, 4, 0.1, 1.2), (9, 8, 0.05, 2.0), (5, 4, 1.2, 1.8),
                 (1, 4, 0.1, 1.2)]
CLOSE = 5e-3  # relative: an answer rounded to 3 significant digits still passes
ROUNDED = 0.005 + 1e-9  # absolute: an answer rounded to 2 decimal places, round(x, 2), still passes


def reference_speedup(n: float, k: int, c: float, v: float) -> float:
    """Speculative decoding's speed-up over plain decoding, in model steps: a pass costs k c + v and yields n tokens.

    >>> reference_speedup(3, 2, 0.5, 1.0)   # Leviathan et al.: (k + 1) / (k c + 1) when every guess is kept
    1.5
    """
    return n / (k * c + v)


@exercise_check(en="The speed-up of a draft", ja="ドラフトによる高速化", answer=is_function)
def check_speedup(report: Report, my_speedup: Callable[..., Any]) -> None:
    """Lesson 08: ``my_speedup(n, k, c, v)`` is the speed-up speculative decoding's arithmetic predicts for a pass.

    >>> check_speedup(reference_speedup).passed
    True
    """
    usage = say(en="it is called as my_speedup(n, k, c, v) with four numbers and returns a number",
                ja="my_speedup(n, k, c, v) の形で 4 つの数で呼ばれ、数を返します")
    for n, k, c, v in SPEEDUP_CASES:
        ok, out = call(report, "my_speedup", my_speedup, (n, k, c, v), usage)
        if not ok:
            return
        expected, number = reference_speedup(n, k, c, v), _as_number(out)
        case = f"n={n}, k={k}, c={c}, v={v}"
        if number is None:
            report.add(False, say(en=f"{case}: returned {describe(out)}, not a number",
                                  ja=f"{case}：返したのは {describe(out)} で、数ではありません"), *_not_a_number_hint(out))
            return
        right = abs(number - expected) <= max(CLOSE * expected, ROUNDED)
        report.add(right, say(en=f"{case}: {expected:.4g}x", ja=f"{case}：{expected:.4g} 倍") if right else
                   say(en=f"{case}: returned {number:.4g}, expected {expected:.4g}",
                       ja=f"{case}：返したのは {number:.4g}、正しくは {expected:.4g}"),
                   *_speedup_hint(number, n, k, c, v))
        if not right:
            return


def _as_number(value: Any) -> float | None:
    """A plain number, or a one-element tensor or array, as a float; None for anything else (a bool, a string...).

    >>> import numpy, torch; _as_number(1.5), _as_number(torch.tensor([2.0])), _as_number(numpy.array([0.5]))
    (1.5, 2.0, 0.5)
    >>> _as_number("1.5"), _as_number(True), _as_number((1.5,))
    (None, None, None)
    """
    if isinstance(value, (bool, str, bytes)) or not hasattr(value, "__float__"):
        return None
    size = value.numel() if hasattr(value, "numel") else getattr(value, "size", 1)
    if size != 1:
        return None
    return float(value.item() if hasattr(value, "item") else value)


def _not_a_number_hint(out: Any) -> tuple[str, str]:
    """(idea, code) for an answer that is not one number: nothing returned, text, several values."""
    code = "return n / (k * c + v)"
    if out is None:
        return say(en="your function returns nothing: end it with return (print only shows the value)",
                   ja="関数が何も返していません。return で終えます（print は値を表示するだけです）"), code
    return say(en="return one number, the speed-up (not text, not several values)",
               ja="数を 1 つ、高速化の倍率として返します（文字列や複数の値ではなく）"), code


def _speedup_hint(got: float, n: float, k: int, c: float, v: float) -> tuple[str, str]:
    """(idea, code) naming the slip the returned number matches, measured against its variants."""
    code = "return n / (k * c + v)"
    expected = reference_speedup(n, k, c, v)
    slips = {(k + 1) / (k * c + v): say(en="count the tokens the pass really yielded (n): a rejected guess is not a "
                                           "token, so it may be fewer than k + 1",
                                        ja="パスが実際に生成したトークン数（n）を数えます。棄却された推測はトークンに"
                                           "ならないので、k + 1 より少ないことがあります"),
             n / (k * c + 1): say(en="the check pass over k + 1 tokens costs v one-token steps, not 1",
                                  ja="k + 1 トークンの検証パスは 1 ステップではなく、1 トークンのステップ v 回分です"),
             n / (k + v): say(en="a draft step costs c model steps, not a whole one",
                              ja="ドラフトの 1 ステップはモデルの 1 ステップではなく c ステップ分です"),
             (k * c + v) / n: say(en="that is the time per token, the other way up: a speed-up is the steps plain "
                                     "decoding needs for those tokens over the steps the pass costs",
                                  ja="分子と分母が逆です（それはトークンあたりの時間です）。高速化は、それだけのトークンに通常の"
                                     "デコーディングが要するステップ数を、パスのステップ数で割ったものです"),
             **({float(n // (k * c + v)): say(en="// rounds down to a whole number: divide with /",
                                              ja="// は整数に切り捨てます。割り算は / を使います")}
                if n // (k * c + v) else {})}  # a 0 from // is not told from other zeros
    for value, idea in slips.items():
        if abs(got - value) <= CLOSE * abs(value):
            return idea, code
    for places in (0, 1):
        if got == round(expected, places):
            return say(en=f"{got:g} is {expected:.4g} rounded to {places} decimal place{'s' if places != 1 else ''}: "
                          "return the number itself (round only where you print it)",
                       ja=f"{got:g} は {expected:.4g} を小数点以下 {places} 桁に丸めた値です。数そのものを返します"
                          "（丸めるのは表示するときだけにします）"), code
    return say(en="plain decoding spends one model step per token; a pass spends k draft steps of c model steps "
                  "each and one check of v steps",
               ja="通常のデコーディングは 1 トークンにモデルの 1 ステップを使います。1 回のパスは、モデルの c ステップ分の"
                  "ドラフトのステップ k 回と、v ステップ分の検証 1 回を使います"), code
