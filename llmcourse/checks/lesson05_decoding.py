"""Checks for lesson 05 (decoding strategies): a top-p filter and temperature, against transformers' warpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import describe
from ..i18n import say
from .base import Report, call, exercise_check, is_function


@exercise_check(en="Top-p filter", ja="top-p フィルター", answer=is_function)
def check_top_p_filter(report: Report, my_top_p: Callable[[Any, float], Any]) -> None:
    """Lesson 05: ``my_top_p(logits, p)`` keeps the same tokens as ``TopPLogitsWarper(p)``, the rest set to -inf.

    >>> from llmcourse.sampling import top_p_filter
    >>> check_top_p_filter(top_p_filter).passed
    True
    """
    import torch
    from transformers import TopPLogitsWarper

    usage = say(en="it is called as my_top_p(logits, p) with logits of shape (2, 20) and must return logits",
                ja="my_top_p(logits, p) の形で呼ばれます。logits の形は (2, 20) で、ロジットを返す必要があります")
    wrong_set = wrong_values = None
    for seed, p in [(seed, p) for seed in range(3) for p in (0.5, 0.8, 0.95)]:
        logits = _random_logits(seed)  # (2, 20)
        ok, out = call(report, "my_top_p", my_top_p, (logits.clone(), p), usage)
        if not ok or not _is_logits(report, out, logits, "my_top_p(...)"):
            return
        expected = TopPLogitsWarper(p)(torch.zeros(2, 1, dtype=torch.long), logits.clone())
        # a large negative number counts as removed for the set; the values line says it should be -inf
        kept, kept_expected = out > -1e4, expected > float("-inf")
        if wrong_set is None and not torch.equal(kept, kept_expected):
            wrong_set = (_unsorted_hint(logits, out, expected) or _no_inf_hint(out, expected)
                         or _top_p_hint(logits, kept, kept_expected))
        if wrong_values is None and not _only_kept_or_inf(out, logits):
            wrong_values = (_unsorted_hint(logits, out, expected) or _no_inf_hint(out, expected)
                            or _filtered_value_hint(out))
    same_set, right_values = wrong_set is None, wrong_values is None
    report.add(same_set, say(en=f"keeps {'the same tokens as' if same_set else 'other tokens than'} "
                                "TopPLogitsWarper(p) for p = 0.5, 0.8, 0.95 (3 random batches)",
                             ja="p = 0.5, 0.8, 0.95（乱数のバッチ 3 つ）で TopPLogitsWarper(p) と"
                                f"{'同じ' if same_set else '違う'}トークンを残します"), *(wrong_set or ("", "")))
    report.add(right_values, say(en="kept tokens keep their logits, the others are -inf",
                                 ja="残したトークンのロジットはそのままで、それ以外は -inf です") if right_values else
               say(en="the output is not the kept logits unchanged with -inf elsewhere",
                   ja="出力が「残したロジットはそのまま、それ以外は -inf」になっていません"), *(wrong_values or ("", "")))


def _unsorted_hint(logits: Any, out: Any, expected: Any) -> tuple[str, str] | None:
    """(idea, code) when the filter's answer is still in sorted order (not scattered back), else None."""
    import torch

    kept, kept_expected = out > float("-inf"), expected > float("-inf")
    in_sorted_order = gathered = False
    for order in (logits.argsort(-1, descending=True), logits.argsort(-1)):  # (batch, vocab) token ids
        in_sorted_order |= torch.equal(out, expected.gather(-1, order))  # the sorted logits returned
        in_sorted_order |= torch.equal(kept, kept_expected.gather(-1, order))  # the sorted mask on unsorted logits
        gathered |= torch.equal(kept, kept_expected.gather(-1, order).gather(-1, order))  # "put back" with gather
    if gathered and not in_sorted_order:
        return (say(en="gather with the sorted ids reorders the sorted decision once more instead of putting it back: "
                       "scatter puts each decision at its token's position",
                    ja="並べ替えた ID で gather すると、並べ替えた判定をもう一度並べ替えてしまい、元に戻りません。"
                       "scatter なら各判定をそのトークンの位置に戻せます"),
                "remove = remove_sorted.scatter(1, sorted_ids, remove_sorted)")
    if not in_sorted_order:
        return None
    return (say(en="the decision to keep or remove was made on the sorted logits, but it is still in sorted order: "
                   "put it back at each token's position in the vocabulary before masking the logits",
                ja="残すか除くかを並べ替えたロジットの上で決めましたが、並べ替えた順のままです。ロジットをマスクする前に、"
                   "語彙での各トークンの位置に戻します"),
            "remove = remove_sorted.scatter(1, sorted_ids, remove_sorted); "
            'logits.masked_fill(remove, float("-inf"))')


def _no_inf_hint(out: Any, expected: Any) -> tuple[str, str] | None:
    """(idea, code) when the removed tokens all got one ordinary value, such as 0, instead of -inf; else None."""
    removed = out[expected == float("-inf")]
    probabilities = bool(((out >= 0) & (out <= 1)).all())  # softmax afterwards: the removed ones are 0 too
    if probabilities or not len(removed) or not bool((removed == removed[0]).all()) or not -1e4 < removed[0] < 1e4:
        return None
    value = f"{float(removed[0]):g}"
    return (say(en=f"the removed tokens were set to {value}, an ordinary logit that softmax still turns into a "
                   "probability: set them to -inf, which it turns into exactly 0",
                ja=f"除いたトークンを {value} にしていますが、これはふつうのロジットで、softmax で確率が残ります。"
                   "-inf にすると確率はちょうど 0 になります"),
            'logits.masked_fill(remove, float("-inf"))')


def _top_p_hint(logits: Any, kept: Any, kept_expected: Any) -> tuple[str, str]:
    """(idea, code): dropped the token that crosses p, dropped the most likely token, or something else."""
    code = ("sorted_logits, sorted_ids = logits.sort(descending=True); probs = sorted_logits.softmax(-1); "
            "remove_sorted = probs.cumsum(-1) - probs >= p")
    return _top_p_idea(logits, kept, kept_expected), code


def _top_p_idea(logits: Any, kept: Any, kept_expected: Any) -> str:
    """What went wrong, in words."""
    import torch

    probs = logits.softmax(-1)  # (batch, vocab)
    if (len(kept) > 1 and bool((kept == kept[:1]).all()) and torch.equal(kept[0], kept_expected[0])
            and not bool((kept_expected == kept_expected[:1]).all())):  # row 0 right, and its tokens kept everywhere
        return say(en=f"all {len(kept)} rows keep the same tokens, though their logits differ: filter each row by its "
                      "own probabilities (softmax, sort and cumulative sum along the last dimension, dim=-1)",
                   ja=f"{len(kept)} 行すべてが同じトークンを残していますが、ロジットは行ごとに違います。各行をその行の"
                      "確率で絞り込みます（softmax、並べ替え、累積和は最後の次元 dim=-1 に沿って）")
    crossing = probs.masked_fill(~kept_expected, 2.0).argmin(-1)  # the least likely kept token is the one crossing p
    missing = [set((kept_expected[row] & ~kept[row]).nonzero().flatten().tolist()) for row in range(len(logits))]
    if all(row_missing <= {int(crossing[row])} for row, row_missing in enumerate(missing)) \
            and not (kept & ~kept_expected).any():
        return say(en="the token whose probability carries the total past p was removed, and it must stay: remove "
                      "a token only when the tokens before it already add up to p",
                   ja="合計を p 以上にするトークンを除いていますが、それは残します。それより確率の高いトークンの合計が"
                      "すでに p に達しているトークンだけを除きます")
    if not kept.gather(-1, probs.argmax(-1, keepdim=True)).all():
        return say(en="the most likely token was removed, and it must always stay: add up the probabilities from the "
                      "most likely token down (sort in descending order)",
                   ja="最も確率の高いトークンを除いていますが、それは必ず残します。確率の高いトークンから順に"
                      "（降順に並べて）足し合わせます")
    if (kept & ~kept_expected).any() and not (kept_expected & ~kept).any():
        return say(en="it keeps too many tokens: stop keeping once the tokens kept so far add up to p",
                   ja="残すトークンが多すぎます。それまでに残したトークンの合計が p に達したら、それ以降は残しません")
    return say(en="sort the probabilities from most to least likely, add them up, and keep tokens until the total "
                  "reaches p",
               ja="確率を高い順に並べて足し合わせ、合計が p に達するまでのトークンを残します")


def _only_kept_or_inf(out: Any, logits: Any) -> bool:
    """Every entry is either the original logit or -inf."""
    import torch

    kept = out > float("-inf")
    return bool(torch.equal(out[kept], logits[kept]) and not out.isnan().any())


def _filtered_value_hint(out: Any) -> tuple[str, str]:
    """(idea, code): probabilities returned, a large negative number instead of -inf, or changed logits."""
    code = 'logits.masked_fill(remove, float("-inf"))'
    if ((out >= 0) & (out <= 1)).all():
        return say(en="it returns probabilities: return the logits, with the removed ones set to -inf (the sampler "
                      "applies softmax afterwards)",
                   ja="確率を返しています。ロジットを返し、除いたものだけを -inf にします（softmax はサンプリングの際に"
                      "かかります）"), code
    if (out.isfinite() & (out < -1e4)).any():
        return say(en="removed tokens got a large negative number, which softmax still gives a tiny probability: use "
                      "-inf, which it gives exactly 0",
                   ja="除いたトークンに大きな負の数を入れていますが、softmax ではわずかな確率が残ります。-inf にすると"
                      "確率はちょうど 0 になります"), code
    return say(en="the kept logits were changed (rescaled or renormalized): keep them as they were and only set the "
                  "removed ones to -inf",
               ja="残したロジットが変わっています（スケールや正規化）。そのままにして、除くものだけを -inf にします"), code


@exercise_check(en="Temperature", ja="温度", answer=is_function)
def check_temperature(report: Report, my_apply_temperature: Callable[[Any, float], Any]) -> None:
    """Lesson 05: ``my_apply_temperature(logits, t)`` equals ``TemperatureLogitsWarper(t)``: t < 1 sharpens.

    >>> check_temperature(lambda logits, t: logits / t).passed
    True
    """
    import torch
    from transformers import TemperatureLogitsWarper

    usage = say(en="it is called as my_apply_temperature(logits, t) with logits of shape (2, 20)",
                ja="my_apply_temperature(logits, t) の形で呼ばれます。logits の形は (2, 20) です")
    logits, outputs = _random_logits(0), {}
    for t in (0.5, 2.0, 0.7, 1.5):
        ok, out = call(report, "my_apply_temperature", my_apply_temperature, (logits.clone(), t), usage)
        if not ok or not _is_logits(report, out, logits, "my_apply_temperature(...)"):
            return
        outputs[t] = out.detach().float()
    top, top_at_one = {t: out.softmax(-1).amax(-1) for t, out in outputs.items()}, logits.softmax(-1).amax(-1)
    sharper, flatter = bool((top[0.5] > top_at_one).all()), bool((top[2.0] < top_at_one).all())
    same = all(torch.allclose(out, TemperatureLogitsWarper(t)(None, logits.clone())) for t, out in outputs.items())
    hint = (_temperature_hint(outputs, logits), "logits / t")
    report.add(sharper, say(en="t = 0.5 sharpens the distribution (the top probability goes up)",
                            ja="t = 0.5 で分布が鋭くなります（最大の確率が上がります）") if sharper else
               say(en="t = 0.5 does not sharpen the distribution (the top probability should go up)",
                   ja="t = 0.5 で分布が鋭くなりません（最大の確率が上がるはずです）"), *hint)
    report.add(flatter, say(en="t = 2 flattens the distribution (the top probability goes down)",
                            ja="t = 2 で分布が平らになります（最大の確率が下がります）") if flatter else
               say(en="t = 2 does not flatten the distribution (the top probability should go down)",
                   ja="t = 2 で分布が平らになりません（最大の確率が下がるはずです）"), *hint)
    report.add(same, say(en=f"{'matches' if same else 'differs from'} TemperatureLogitsWarper(t) "
                            "for t = 0.5, 0.7, 1.5, 2",
                         ja="t = 0.5, 0.7, 1.5, 2 で TemperatureLogitsWarper(t) と"
                            + ("一致します" if same else "一致しません")),
               *hint)


def _temperature_hint(outputs: dict, logits: Any) -> str:
    """Multiplied, probabilities returned, t over the logits, shifted, rounded, unchanged, or something else."""
    import torch

    def like(t: float, expected: Any) -> bool:
        return bool(torch.allclose(outputs[t], expected.float(), atol=1e-5, equal_nan=True))

    if like(2.0, logits * 2.0) and like(0.5, logits * 0.5):
        return say(en="it multiplies the logits by t: a temperature below 1 must make them larger, so divide",
                   ja="ロジットに t を掛けています。1 より小さい温度でロジットが大きくなるように、t で割ります")
    if all(bool(((out >= 0) & (out <= 1)).all()) and torch.allclose(out.sum(-1), torch.ones(2), atol=1e-4)
           for out in outputs.values()):
        return say(en="it returns probabilities (softmax): return the scaled logits; softmax comes later, when sampling",
                   ja="確率（softmax）を返しています。スケールしたロジットを返します。softmax はサンプリングのときに"
                      "かかります")
    if like(2.0, (logits / 2.0).log_softmax(-1)) and like(0.5, (logits / 0.5).log_softmax(-1)):
        return say(en="it returns log-probabilities (log_softmax): return the scaled logits themselves; the sampler "
                      "normalizes them later",
                   ja="対数確率（log_softmax）を返しています。スケールしたロジットそのものを返します。正規化は"
                      "サンプリングのときに行われます")
    if like(2.0, 2.0 / logits):
        return say(en="it divides t by the logits: the logits go on top, t below",
                   ja="t をロジットで割っています。ロジットを t で割ります（ロジットが分子）")
    if like(2.0, logits - 2.0) or like(2.0, logits + 2.0):
        return say(en="it shifts the logits by t, which changes no probability: temperature scales them, by dividing",
                   ja="ロジットを t だけずらしていますが、それでは確率は変わりません。温度は割り算でスケールします")
    if like(2.0, torch.div(logits, 2.0, rounding_mode="floor")):
        return say(en="// rounds the result down to whole numbers: use true division, /",
                   ja="// は結果を整数に切り捨てます。ふつうの割り算 / を使います")
    if like(2.0, logits) and like(0.5, logits):
        return say(en="it returns the logits unchanged: t must change them, by dividing",
                   ja="ロジットをそのまま返しています。t で割って変えます")
    return say(en="divide every logit by t, and nothing else", ja="すべてのロジットを t で割るだけにします")


def _random_logits(seed: int) -> Any:
    """A reproducible batch of 2 rows of 20 logits, spread like a model's.

    >>> _random_logits(0).shape
    torch.Size([2, 20])
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    return torch.randn(2, 20, generator=generator) * 2.0  # (batch, vocab)


def _is_logits(report: Report, out: Any, logits: Any, name: str) -> bool:
    """A float tensor of the input's shape; otherwise add a failed line."""
    import torch

    if isinstance(out, torch.Tensor) and out.shape == logits.shape and out.is_floating_point():
        return True
    shown = f"{describe(out)} ({out.dtype})" if isinstance(out, torch.Tensor) else describe(out)
    report.add(False, say(en=f"{name} returned {shown}", ja=f"{name} が {shown} を返しました"),
               say(en=f"return a float tensor of the same shape as logits, {tuple(logits.shape)}",
                   ja=f"logits と同じ形 {tuple(logits.shape)} の浮動小数点テンソルを返します"))
    return False
