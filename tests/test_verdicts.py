"""What the speed cells print: every branch of the verdicts, in both languages, and the forward-pass clock.

Lessons 06, 08 and 09 never interpret a timing in prose; `llmcourse.verdicts` and `llmcourse.passes`
print the conclusion from the learner's numbers. Each function is fed numbers of each kind (near the
ceiling and far below, faster and slower, sooner and later) and must say the matching thing; a
conclusion that holds for one outcome only would be caught here. `ForwardClock` is checked against
generate's real forward passes on the tiny model, plain and assisted.
"""

from __future__ import annotations

import copy
import re

import pytest
import torch

from llmcourse.i18n import in_language
from llmcourse.passes import AssistedCosts, ForwardClock, assisted_verdict
from llmcourse.verdicts import batch_verdict, cache_verdict, finish_verdict, speed_verdict


def both(function, *args):
    """The English and the Japanese verdict for the same numbers."""
    with in_language("en"):
        english = function(*args)
    with in_language("ja"):
        japanese = function(*args)
    return english, japanese


def test_japanese_verdicts_carry_no_half_width_colon_after_japanese_and_no_english_sentence():
    cases = [(speed_verdict, {"fp32": 30.0, "bf16": 50.0}, {"fp32": 40.0, "bf16": 80.0}),
             (cache_verdict, 2.0, 1.5, 67, 1648), (batch_verdict, {1: 0.1, 4: 0.4}),
             (finish_verdict, {"a": [1.0, 2.0]}.copy() | {"b": [3.0, 3.0]}, {"a": 9.0, "b": 3.0})]
    for function, *args in cases:
        english, japanese = both(function, *args)
        assert english != japanese
        assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]:", japanese), japanese
        assert not re.search(r"\b(the|ran|faster|slower|reaches)\b", japanese), japanese


@pytest.mark.parametrize(("rate", "ceiling", "says"), [
    (30.0, 40.0, "reading memory takes most of a step"),
    (20.0, 40.0, "a large part of a step, not all of it"),
    (10.0, 40.0, "something other than reading the weights"),
    (50.0, 40.0, "the copy measured less bandwidth than the step used"),
])
def test_the_baseline_is_read_against_its_ceiling(rate, ceiling, says):
    english, japanese = both(speed_verdict, {"fp32": rate}, {"fp32": ceiling})
    assert says in english.replace("\n", " ")
    assert f"{rate / ceiling:.0%}" in english and f"{rate / ceiling:.0%}" in japanese


@pytest.mark.parametrize(("bf16", "says", "ja"), [
    (20.0, "on this run, fewer bytes came with faster steps", "速くなっています"),
    (7.0, "costs more here than reading fewer bytes saves", "高くつきます"),
    (10.5, "about as fast as fp32", "ほぼ同じ速さ"),
])
def test_fewer_bytes_are_judged_by_the_measured_ratio_both_ways(bf16, says, ja):
    english, japanese = both(speed_verdict, {"fp32": 10.0, "bf16": bf16}, {"fp32": 40.0, "bf16": 80.0})
    assert says in english.replace("\n", " ") and ja in japanese
    assert f"{bf16 / 10:.2f}x fp32" in english


@pytest.mark.parametrize(("without", "says"), [
    (6.0, "Far less than the extra work"),
    (40.0, "Close to the extra work"),
    (1.5, "Not slower on this run"),
])
def test_the_cache_verdict_follows_time_against_work(without, says):
    english, _ = both(cache_verdict, 2.0, without, 67, 1648)
    assert says in english and f"{without / 2:.1f}x the time for 24.6x the tokens fed" in english


def test_batching_is_said_to_pay_only_when_throughput_rose():
    paid, _ = both(batch_verdict, {1: 0.070, 4: 0.110, 8: 0.150})
    assert "Batching paid" in paid and "batch 8: a step takes 2.1x" in paid and "3.7x the throughput" in paid
    assert "each user waits longer per token" in paid
    free, _ = both(batch_verdict, {1: 0.070, 8: 0.072})  # steps no longer: no latency is said to be lost
    assert "Batching paid" in free and "waits longer" not in free
    flat, _ = both(batch_verdict, {1: 0.070, 8: 0.56})
    assert "did not raise throughput" in flat and "Batching paid" not in flat


@pytest.mark.parametrize(("totals", "says", "tail"), [
    ({"continuous": 17.1, "padded": 14.2}, "ended later with continuous (17.1 s against 14.2 s)", "5.2 s after"),
    ({"continuous": 12.0, "padded": 14.2}, "ended sooner with continuous", None),
    ({"continuous": 14.5, "padded": 14.2}, "about as long either way", None),
])
def test_finish_verdict_counts_sooner_requests_and_names_the_tail(totals, says, tail):
    english, japanese = both(finish_verdict, {"continuous": [8.3, 11.9, 11.6, 11.9], "padded": [14.2] * 4}, totals)
    assert "4 of 4 requests had their answer sooner with continuous than with padded, 0 about as soon, 0 later" \
        in english and says in english
    assert (tail in english) if tail else "after its last answer" not in english
    assert "4 件中 4 件" in japanese


def test_a_run_that_ends_with_its_last_answer_names_no_tail():
    english, _ = both(finish_verdict, {"a": [5.0, 9.0], "b": [2.0, 4.0]}, {"a": 9.05, "b": 4.0})
    assert "0 of 2 requests" in english and "0 about as soon, 2 later" in english
    assert "ended later with a (9.1 s against 4.0 s)." in english
    close, _ = both(finish_verdict, {"a": [1.0, 3.05], "b": [2.0, 3.0]}, {"a": 3.05, "b": 3.0})
    assert "1 of 2 requests had their answer sooner with a than with b, 1 about as soon, 0 later." in close


def test_the_forward_clock_sees_every_pass_of_generate(tiny_model):
    prompt = torch.tensor([[1, 5, 6, 7, 8]])
    with ForwardClock(model=tiny_model) as clock:
        tiny_model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=6, do_sample=False,
                            min_new_tokens=6)
    assert [p.fed for p in clock.passes] == [5, 1, 1, 1, 1, 1]  # the prefill gives the first token
    assert 0 < clock.spent("model") < clock.seconds and clock.other == pytest.approx(clock.seconds - clock.spent("model"))
    tiny_model(prompt)  # after the block: no hook left
    assert len(clock.passes) == 6


def test_the_assisted_verdict_splits_a_real_assisted_run(tiny_model):
    draft = copy.deepcopy(tiny_model)
    draft.generation_config.num_assistant_tokens = 3
    draft.generation_config.num_assistant_tokens_schedule = "constant"
    draft.generation_config.assistant_confidence_threshold = 0.0
    prompt = torch.tensor([[1, 5, 6, 7, 8]])
    settings = dict(attention_mask=torch.ones_like(prompt), max_new_tokens=8, min_new_tokens=8, do_sample=False)
    with ForwardClock(model=tiny_model) as plain:
        plain_ids = tiny_model.generate(prompt, **settings)
    with ForwardClock(model=tiny_model, draft=draft) as assisted:
        assisted_ids = tiny_model.generate(prompt, assistant_model=draft, **settings)
    assert torch.equal(plain_ids, assisted_ids)
    assert len(assisted.of("model")) < len(plain.of("model"))  # an identical draft: every guess kept
    assert assisted.of("draft")[0].fed == 5 and max(p.fed for p in assisted.of("model")[1:]) == 4  # k + 1
    costs = AssistedCosts.of(plain, assisted)
    assert costs.check_tokens == 4 and costs.c > 0 and costs.v > 0
    english, japanese = both(assisted_verdict, plain, assisted)
    assert f"{len(assisted.of('model'))} passes of the model" in english and "a check pass over 4 tokens (k + 1)" in english
    assert re.search(r"The draft paid|The draft did not pay|About even", english)
    assert "ドラフト" in japanese


def clock(seconds, *passes):
    """A ForwardClock as if it had timed ``passes`` ((model, tokens, seconds)) in a block of ``seconds``."""
    from llmcourse.passes import Pass

    made = ForwardClock()
    made.passes, made.seconds = [Pass(*each) for each in passes], seconds
    return made


PLAIN = clock(1.3, ("model", 36, 0.2), *[("model", 1, 0.1)] * 11)  # 12 tokens, one-token steps of 0.1 s


@pytest.mark.parametrize(("draft_step", "prefill", "says", "largest"), [
    (0.01, 0.02, "The draft paid", None),
    (0.05, 1.0, "The draft did not pay", "the draft's prefill"),
    (0.1, 0.1, "The draft did not pay", "the draft's steps"),
    (0.075, 0.05, "About even", None),
])
def test_the_assisted_verdict_says_paid_or_not_and_names_the_largest_cost(draft_step, prefill, says, largest):
    drafted = [("draft", 36, prefill)] + [("draft", 1, draft_step)] * 8
    checks = [("model", 40, 0.25), ("model", 5, 0.15), ("model", 5, 0.15)]
    spent = sum(p[2] for p in drafted + checks)
    assisted = clock(spent + 0.1, *drafted, *checks)  # the loop: 0.1 s, as in the plain run
    english, _ = both(assisted_verdict, PLAIN, assisted)
    assert says in english and (largest is None or f"the largest cost: {largest}" in english)
    speedup = PLAIN.seconds / assisted.seconds
    assert f"({speedup:.2f}x)" in english
    assert f"c = {draft_step / 0.1:.2f}" in english and "v = 1.50" in english
