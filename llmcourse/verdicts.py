"""What a speed measurement means on this run, printed from its numbers (lessons 06, 08, 09).

Timings change from machine to machine and from run to run; a sentence that interprets them must
not. So the lessons state the mechanism with its condition ("where a step is bound by the bytes it
reads, fewer bytes make it faster"), and which condition held on the learner's run is printed by
these functions, from the numbers, with every outcome written out (faster or slower, near the
ceiling or far below it, sooner or later), in the lesson's language.

- `speed_verdict`: decode speed of versions of a model, against each one's memory-bandwidth ceiling.
- `cache_verdict`: the time with and without the KV cache, against the tokens each fed the model.
- `batch_verdict`: what more rows did to a step's time and to throughput.
- `finish_verdict`: when each request got its answer, one way of running them against another.
- `assisted_verdict` (in `passes`): where an assisted-decoding run's time went.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .i18n import say

__all__ = ["speed_verdict", "cache_verdict", "batch_verdict", "finish_verdict", "SAME", "MOST", "PART"]

SAME = 0.10  # within 10 % of each other, two timings count as "about the same": single runs vary that much
MOST = 0.7  # a step at 70 % of its bandwidth ceiling or more spends most of its time reading memory
PART = 0.3  # between 30 % and 70 %: reading memory is a large part, not all (the ceiling is an estimate)


def speed_verdict(rates: Mapping[str, float], ceilings: Mapping[str, float]) -> str:
    """Each version's tokens/s against its ceiling (bandwidth ÷ bytes per token), then what that means.

    The first entry is the baseline (fp32): is it near its ceiling (reading memory limits a step) or
    far below (something else does), and did each version with fewer bytes run faster than it?

    >>> print(speed_verdict({"fp32": 14.0, "bf16": 11.0}, {"fp32": 40.0, "bf16": 80.0}))
    fp32: 14.0 tokens/s, 35% of its ceiling of 40 tokens/s
    bf16: 11.0 tokens/s (0.79x fp32), 14% of its ceiling of 80 tokens/s
    fp32 reaches 35% of its ceiling: reading memory is a large part of a step, not all of it
    (the fixed cost of each operation and the arithmetic take the rest).
    bf16 ran at 0.79x fp32 with fewer bytes: the work it adds (converting or unpacking weights, other kernels)
    costs more here than reading fewer bytes saves.
    """
    base, base_rate = next(iter(rates.items()))
    lines = []
    for name, rate in rates.items():
        ratio = rate / base_rate
        versus = say(en=f" ({ratio:.2f}x {base})", ja=f"（{base} の {ratio:.2f} 倍）") if name != base else ""
        lines.append(say(en=f"{name}: {rate:.1f} tokens/s{versus}, {rate / ceilings[name]:.0%} of its ceiling "
                            f"of {ceilings[name]:.0f} tokens/s",
                         ja=f"{name}：{rate:.1f} トークン/秒{versus}、上限 {ceilings[name]:.0f} トークン/秒の "
                            f"{rate / ceilings[name]:.0%}"))
    lines.append(_ceiling_meaning(base, base_rate / ceilings[base]))
    lines += [_fewer_bytes_meaning(name, base, rate / base_rate) for name, rate in rates.items() if name != base]
    return "\n".join(lines)


def _ceiling_meaning(name: str, share: float) -> str:
    """What reaching ``share`` of the bandwidth ceiling says about what limits a step.

    The ceiling rests on the bandwidth a copy reaches, an estimate (plain reads can run faster, and a
    small model may partly stay in the CPU's cache), so only shares far from the middle say "most".
    """
    if share > 1:
        return say(en=f"{name} ran faster than its ceiling: the copy measured less bandwidth than the step used (a busy "
                      "moment, reads faster\nthan a copy, or weights kept in the CPU's cache). Here the ceiling says "
                      "little.",
                   ja=f"{name} が上限より速く動きました。ステップが使った帯域をコピーでは測りきれていません"
                      "（マシンが忙しかったか、読み出しがコピーより速いか、重みが CPU のキャッシュに残っていたため）。"
                      "ここでは上限はあまり参考になりません。")
    if share >= MOST:
        return say(en=f"{name} reaches {share:.0%} of its ceiling: reading memory takes most of a step,\n"
                      "so fewer bytes per step can make it faster.",
                   ja=f"{_ja_topic(name)}上限の {share:.0%} に達しています。ステップの時間の大半はメモリの読み出しなので、"
                      "読むバイト数を減らせば速くなる見込みがあります。")
    if share >= PART:
        return say(en=f"{name} reaches {share:.0%} of its ceiling: reading memory is a large part of a step, not all "
                      "of it\n(the fixed cost of each operation and the arithmetic take the rest).",
                   ja=f"{_ja_topic(name)}上限の {share:.0%} に達しています。ステップの時間のかなりの部分は"
                      "メモリの読み出しですが、すべてではありません（残りは演算ごとの固定コストと計算そのものです）。")
    return say(en=f"{name} reaches {share:.0%} of its ceiling: most of a step goes to something other than reading "
                  "the weights\n(the fixed cost of each operation, the arithmetic).",
               ja=f"{_ja_topic(name)}上限の {share:.0%} にとどまります。ステップの時間の大半は重みの読み出し以外"
                  "（演算ごとの固定コスト、計算そのもの）に使われています。")


def _ja_topic(name: str) -> str:
    """``name`` with 「は」: no space after a Japanese label (「8 ビットは」), one after a Latin one (「fp32 は」).

    >>> _ja_topic("8 ビット"), _ja_topic("fp32")
    ('8 ビットは', 'fp32 は')
    """
    return f"{name}は" if re.match(r"[ぁ-んァ-ヶー一-龯]", name[-1:]) else f"{name} は"


def _fewer_bytes_meaning(name: str, base: str, ratio: float) -> str:
    """What a version with fewer bytes running at ``ratio`` times the baseline's speed says."""
    if ratio >= 1 + SAME:
        return say(en=f"{name} ran {ratio:.2f}x as fast as {base}: on this run, fewer bytes came with faster steps.",
                   ja=f"{_ja_topic(name)} {base} の {ratio:.2f} 倍の速さでした。今回は、読むバイト数が少ないほうが"
                      "ステップも速くなっています。")
    if ratio <= 1 - SAME:
        return say(en=f"{name} ran at {ratio:.2f}x {base} with fewer bytes: the work it adds (converting or unpacking "
                      "weights, other kernels)\ncosts more here than reading fewer bytes saves.",
                   ja=f"{_ja_topic(name)}バイト数が少ないのに {base} の {ratio:.2f} 倍の速さでした。"
                      "重みの変換や展開、別のカーネルといった追加の処理のほうが、読むバイト数の節約より"
                      "ここでは高くつきます。")
    return say(en=f"{name} ran about as fast as {base} ({ratio:.2f}x): the bytes it saves made no clear difference here.",
               ja=f"{_ja_topic(name)} {base} とほぼ同じ速さでした（{ratio:.2f} 倍）。バイト数の節約はここでは"
                  "はっきりした差になっていません。")


def cache_verdict(seconds_with: float, seconds_without: float, fed_with: int, fed_without: int) -> str:
    """The time without the KV cache over the time with it, against the tokens fed: what one pass costs.

    >>> print(cache_verdict(2.0, 6.0, 67, 1648))
    without the cache: 3.0x the time for 24.6x the tokens fed.
    Far less than the extra work: a pass over many tokens costs much less per token than a pass over one
    (each pass reads the weights once and pays each operation's fixed cost once, whatever it feeds).
    """
    time_ratio, work_ratio = seconds_without / seconds_with, fed_without / fed_with
    head = say(en=f"without the cache: {time_ratio:.1f}x the time for {work_ratio:.1f}x the tokens fed.",
               ja=f"キャッシュなし：入力したトークンは {work_ratio:.1f} 倍、時間は {time_ratio:.1f} 倍。")
    if time_ratio <= 1:
        return head + "\n" + say(
            en="Not slower on this run: the machine was busier during the run with the cache. The tokens fed are the "
               "work; run the cell again for the clock.",
            ja="今回は遅くなっていません。キャッシュありの実行中にマシンがより忙しかったためです。"
               "仕事量は入力したトークン数のほうです。時間を見るにはセルをもう一度実行してください。")
    if time_ratio < work_ratio / 2:
        return head + "\n" + say(
            en="Far less than the extra work: a pass over many tokens costs much less per token than a pass over one\n"
               "(each pass reads the weights once and pays each operation's fixed cost once, whatever it feeds).",
            ja="増えた仕事量よりずっと小さい差です。多くのトークンを通す 1 回のパスは、1 トークンのパスよりトークン"
               "あたりずっと安くつきます（入力の数にかかわらず、パスごとに重みを 1 回読み、演算ごとの固定コストを 1 回"
               "払うからです）。")
    return head + "\n" + say(
        en="Close to the extra work: on this machine a pass costs about as much as the tokens it feeds (the arithmetic "
           "limits it).",
        ja="増えた仕事量に近い差です。このマシンでは、パスの費用がほぼ入力したトークン数に比例します"
           "（計算そのものが制約になっています）。")


def batch_verdict(step_seconds: Mapping[int, float]) -> str:
    """For each batch size, a step's time and the throughput against the smallest batch's; then whether it paid.

    >>> print(batch_verdict({1: 0.070, 8: 0.150}))
    batch 8: a step takes 2.1x as long as at batch 1 and makes 8 tokens: 3.7x the throughput.
    Batching paid: the rows share what a step costs whatever its rows (reading the weights, the fixed cost of each
    operation), so the machine makes more tokens; each user waits longer per token.
    """
    sizes = sorted(step_seconds)
    base = sizes[0]
    lines, gain = [], 1.0
    for size in sizes[1:]:
        slower = step_seconds[size] / step_seconds[base]
        gain = (size / step_seconds[size]) / (base / step_seconds[base])
        lines.append(say(en=f"batch {size}: a step takes {slower:.1f}x as long as at batch {base} and makes {size} "
                            f"tokens: {gain:.1f}x the throughput.",
                         ja=f"バッチ {size}：1 ステップの時間はバッチ {base} の {slower:.1f} 倍で、{size} トークンを"
                            f"作ります。スループットは {gain:.1f} 倍です。"))
    if gain >= 1 + SAME:
        lines.append(say(en="Batching paid: the rows share what a step costs whatever its rows (reading the weights, "
                            "the fixed cost of each\noperation), so the machine makes more tokens",
                         ja="バッチ処理は元が取れました。行数にかかわらずステップにかかる費用（重みの読み出し、"
                            "演算ごとの固定コスト）を行どうしで分け合うので、マシンが作るトークンは増えます")
                     + (say(en="; each user waits longer per token.",
                            ja="。ユーザー 1 人あたりのトークンの待ち時間は延びます。")
                        if slower >= 1 + SAME else say(en=".", ja="。")))
    else:
        lines.append(say(en="Batching did not raise throughput on this run: a step grew as fast as its rows (the "
                            "arithmetic was the limit,\nor the machine was busy). Run the cell again.",
                         ja="今回はバッチ処理でスループットが上がりませんでした。ステップの時間が行数と同じだけ"
                            "伸びています（計算そのものが制約だったか、マシンが忙しかったためです）。"
                            "セルをもう一度実行してください。"))
    return "\n".join(lines)


def finish_verdict(finished: Mapping[str, Sequence[float]], totals: Mapping[str, float]) -> str:
    """When each request had its answer, two ways of running the same requests; and when the whole run ended.

    ``finished[way][i]`` is the seconds from the start of the run to the end of request i's answer;
    ``totals[way]`` the seconds of the whole run (it may end after the last answer: shutting down).

    >>> print(finish_verdict({"continuous": [8.3, 11.9, 11.6, 11.9], "padded": [14.2] * 4},
    ...                      {"continuous": 17.1, "padded": 14.2}))
    4 of 4 requests had their answer sooner with continuous than with padded, 0 about as soon, 0 later.
    The whole run ended later with continuous (17.1 s against 14.2 s): 5.2 s after its last answer.
    """
    (first, first_done), (second, second_done) = finished.items()
    pairs = list(zip(first_done, second_done, strict=True))
    same = sum(abs(a - b) <= SAME * max(a, b) for a, b in pairs)  # within 10 %: about as soon
    sooner = sum(a < b and abs(a - b) > SAME * max(a, b) for a, b in pairs)
    lines = [say(en=f"{sooner} of {len(pairs)} requests had their answer sooner with {first} than with {second}, "
                    f"{same} about as soon, {len(pairs) - sooner - same} later.",
                 ja=f"{len(pairs)} 件中 {sooner} 件の回答が「{second}」より「{first}」のほうが早く完了し、{same} 件は"
                    f"ほぼ同時、{len(pairs) - sooner - same} 件は遅くなりました。")]
    a, b = totals[first], totals[second]
    tail = a - max(first_done)
    if abs(a - b) <= SAME * b:
        lines.append(say(en=f"The whole run took about as long either way ({a:.1f} s against {b:.1f} s).",
                         ja=f"実行全体の時間はどちらもほぼ同じでした（{a:.1f} 秒と {b:.1f} 秒）。"))
    elif a < b:
        lines.append(say(en=f"The whole run ended sooner with {first} ({a:.1f} s against {b:.1f} s).",
                         ja=f"実行全体も「{first}」のほうが早く終わりました（{a:.1f} 秒と {b:.1f} 秒）。"))
    else:
        lines.append(say(en=f"The whole run ended later with {first} ({a:.1f} s against {b:.1f} s)",
                         ja=f"実行全体は「{first}」のほうが遅く終わりました（{a:.1f} 秒と {b:.1f} 秒）")
                     + (say(en=f": {tail:.1f} s after its last answer.", ja=f"。最後の回答の {tail:.1f} 秒後です。")
                        if tail > SAME * a else say(en=".", ja="。")))
    return "\n".join(lines)
