"""Lesson 08 (faster decoding): faster decoding gives the same greedy output, the measuring helpers, the plots
against the numbers they draw, the exercise checks, and the GPU check's branch on a machine without CUDA.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from check_cases import assert_fails_with, assert_passes, right, wrong

from llmcourse.checks import Report, check_prompt_lookup, check_speculative_sampling, check_speedup
from llmcourse.checks.lesson08_faster import LOOKUP_CASES, reference_lookup
from llmcourse.drafts import draft_agreement, speculative_distribution, truncated_copy
from llmcourse.errors import CourseError
from llmcourse.i18n import set_language
from llmcourse.measure import StepLog, Timing, copy_bandwidth, decode_bytes, kv_cache_bytes, time_interleaved, time_runs
from llmcourse.plots import plot_speedups, plot_tokens_per_pass

ROOT = Path(__file__).resolve().parents[1]
TYPO_TEXT = ("Fix the typos in this paragraph:\nThe quick brown fox jumpd over the lazy dog. It was a sunny day and "
             "the fox was hapy to run in the feld.\n\nCorrected paragraph:\n")


def greedy(model, inputs, new_tokens, **settings):
    """Greedy ids and the tokens each forward pass added."""
    log = StepLog()
    ids = model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False, streamer=log, **settings)
    return ids, log.tokens_per_pass


def set_draft_tokens(draft, k):
    """The draft proposes exactly k tokens per pass (as lesson 08 sets it)."""
    draft.generation_config.num_assistant_tokens = k
    draft.generation_config.num_assistant_tokens_schedule = "constant"
    draft.generation_config.assistant_confidence_threshold = 0.0


# ---------------------------------------------------------------- the same output, faster (tiny random model)


@pytest.fixture(scope="module")
def repeating_prompt():
    """Ids that repeat, so prompt lookup finds guesses (batch 1)."""
    ids = torch.tensor([[5, 6, 7, 8, 9, 10, 11, 5, 6, 7, 8, 9, 10, 11, 5, 6]])
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def test_prompt_lookup_gives_plain_greedy_ids_on_a_random_model(tiny_model, repeating_prompt):
    plain, plain_passes = greedy(tiny_model, repeating_prompt, 24, min_new_tokens=24)
    lookup, lookup_passes = greedy(tiny_model, repeating_prompt, 24, min_new_tokens=24, prompt_lookup_num_tokens=5)
    assert torch.equal(plain, lookup)
    assert plain_passes == [1] * 24 and sum(lookup_passes) == 24


@pytest.mark.parametrize("k", [1, 3, 6])
def test_assisted_greedy_gives_plain_greedy_ids_with_a_good_and_a_bad_draft(tiny_model, repeating_prompt, k):
    from transformers import LlamaForCausalLM

    plain, _ = greedy(tiny_model, repeating_prompt, 20, min_new_tokens=20)
    same = copy.deepcopy(tiny_model)  # always right: every guess is kept
    torch.manual_seed(1)
    other = LlamaForCausalLM(tiny_model.config).eval()  # another random model: most guesses are rejected
    for draft, all_kept in ((same, True), (other, False)):
        set_draft_tokens(draft, k)
        assisted, passes = greedy(tiny_model, repeating_prompt, 20, min_new_tokens=20, assistant_model=draft)
        assert torch.equal(plain, assisted), f"draft {'copy' if all_kept else 'random'}, k={k}"
        assert sum(passes) == 20
        if all_kept:
            assert all(tokens == k + 1 for tokens in passes[:-1])


# ---------------------------------------------------------------- the same output, faster (the lesson's model)


@pytest.fixture(scope="module")
def lesson_inputs(offline_model):
    model, tokenizer = offline_model
    sky = tokenizer.apply_chat_template([{"role": "user", "content": "Why is the sky blue?"}],
                                        add_generation_prompt=True, return_tensors="pt")
    typos = tokenizer(TYPO_TEXT, return_tensors="pt")
    return model, sky, typos


def test_prompt_lookup_equals_plain_greedy_and_saves_passes_when_the_answer_copies(lesson_inputs):
    model, sky, typos = lesson_inputs
    plain, _ = greedy(model, typos, 32)
    lookup, passes = greedy(model, typos, 32, prompt_lookup_num_tokens=10)
    assert torch.equal(plain, lookup)
    assert sum(passes) == 32 and len(passes) <= 16  # the lesson shows 11 passes
    free, free_passes = greedy(model, sky, 16, prompt_lookup_num_tokens=10)
    assert torch.equal(free, greedy(model, sky, 16)[0]) and len(free_passes) == 16  # free text: nothing to copy


def test_assisted_greedy_with_the_16_bit_copy_equals_plain_greedy(lesson_inputs):
    from llmcourse import pick_dtypes

    model, sky, _ = lesson_inputs
    draft = copy.deepcopy(model).to(pick_dtypes("cpu").torch_dtype())
    plain, _ = greedy(model, sky, 16)
    for k in (2, 8):
        set_draft_tokens(draft, k)
        assisted, passes = greedy(model, sky, 16, assistant_model=draft)
        assert torch.equal(plain, assisted)
        assert len(passes) <= 16 // (k + 1) + 1  # nearly every guess kept


def test_a_copy_with_the_first_layers_is_a_bad_draft_and_a_16_bit_copy_a_good_one(lesson_inputs):
    model, sky, _ = lesson_inputs
    answer, _ = greedy(model, sky, 16)
    length = sky["input_ids"].shape[1]
    short = truncated_copy(model, 10)
    assert short.config.num_hidden_layers == 10 and model.config.num_hidden_layers == 30
    assert torch.equal(short.model.layers[9].mlp.up_proj.weight, model.model.layers[9].mlp.up_proj.weight)
    agree, total = draft_agreement(model, short, answer, length)
    assert total == 16 and agree <= 3  # the lesson shows 1 of 16
    agree, _ = draft_agreement(model, copy.deepcopy(model).to(torch.bfloat16), answer, length)
    assert agree >= 14  # the lesson shows 15 of 16


def test_decode_bytes_of_the_lesson_model(offline_model):
    model, _ = offline_model
    assert kv_cache_bytes(model, 1) == 46080  # lesson 06: 2 x 30 layers x 3 KV heads x 64 x 4 bytes
    assert decode_bytes(model, 100) == model.get_memory_footprint() + 100 * 46080


# ---------------------------------------------------------------- helpers


def test_timing_median_spread_rate_and_paired_speedups():
    timing = Timing((2.0, 1.0, 4.0))
    assert (timing.median, timing.fastest, timing.slowest) == (2.0, 1.0, 4.0)
    assert timing.rate(8) == (4.0, 2.0, 8.0)
    assert Timing((1.0, 2.0)).speedups(Timing((2.0, 3.0))) == [2.0, 1.5]
    with pytest.raises(ValueError):
        Timing((1.0,)).speedups(Timing((1.0, 2.0)))


def test_time_runs_warms_up_untimed_then_times_each_run():
    calls = []
    timing = time_runs(lambda: calls.append(1), runs=3, warmup=2)
    assert len(calls) == 5 and len(timing.seconds) == 3 and all(s >= 0 for s in timing.seconds)


def test_time_interleaved_takes_turns():
    order = []
    timings = time_interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, runs=2, warmup=1)
    assert order == ["a", "b", "a", "b", "a", "b"]
    assert sorted(timings) == ["a", "b"] and len(timings["a"].seconds) == 2


def test_copy_bandwidth_is_bytes_per_second():
    assert 1e8 < copy_bandwidth("cpu", megabytes=8, runs=2) < 1e13
    assert copy_bandwidth(torch.device("cpu"), megabytes=8, runs=1) > 1e8


def test_kv_cache_bytes_reads_the_config_with_or_without_head_dim():
    with_head_dim = SimpleNamespace(num_hidden_layers=2, num_key_value_heads=2, head_dim=8)
    without = SimpleNamespace(num_hidden_layers=2, num_attention_heads=4, hidden_size=32, num_key_value_heads=None)
    assert kv_cache_bytes(SimpleNamespace(config=with_head_dim, dtype=torch.float32), 3) == 2 * 2 * 2 * 8 * 4 * 3
    assert kv_cache_bytes(SimpleNamespace(config=without, dtype=torch.bfloat16), 3) == 2 * 2 * 4 * 8 * 2 * 3


def test_step_log_counts_passes_and_times_them(tiny_model):
    ids = torch.tensor([[5, 6, 7]])
    log = StepLog()
    tiny_model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, min_new_tokens=6,
                        do_sample=False, streamer=log)
    assert log.tokens_per_pass == [1] * 6 and log.passes == 6 and log.new_tokens == 6
    assert len(log.times) == 7 and len(log.step_seconds().seconds) == 5


def test_truncated_copy_of_all_layers_is_the_model(tiny_model):
    ids = torch.tensor([[5, 6, 7, 8]])
    whole = truncated_copy(tiny_model, tiny_model.config.num_hidden_layers)
    first = truncated_copy(tiny_model, 1)
    with torch.no_grad():
        assert torch.equal(whole(ids).logits, tiny_model(ids).logits)
    assert first.config.num_hidden_layers == 1 and len(first.model.layers) == 1
    assert first.lm_head.weight.data_ptr() == first.model.embed_tokens.weight.data_ptr()  # still tied
    assert draft_agreement(tiny_model, whole, ids, 2) == (2, 2)  # the tokens after positions 2 and 3


def test_speculative_distribution_is_p_for_the_papers_rule():
    torch.manual_seed(0)
    for _ in range(5):
        p, q = torch.rand(50).double().softmax(-1), torch.rand(50).double().softmax(-1)
        accept = torch.clamp(p / q, max=1)
        residual = (p - q).clamp(min=0) / (p - q).clamp(min=0).sum()
        assert torch.allclose(speculative_distribution(q, accept, residual), p, atol=1e-12)
    wrong = speculative_distribution(q, torch.ones(50, dtype=torch.double), p)  # keep every guess
    assert torch.allclose(wrong, q)  # then the text follows the draft, not the model


# ---------------------------------------------------------------- plots against the numbers they draw


def test_tokens_per_pass_draws_one_block_per_pass_as_wide_as_its_tokens():
    fig = plot_tokens_per_pass({"plain greedy": [1, 1, 1, 1], "prompt lookup": [3, 1]})
    ax = fig.axes[0]
    widths = [(round(patch.get_y() + patch.get_height() / 2), patch.get_x(), patch.get_width()) for patch in ax.patches]
    assert widths == [(0, 0, 1), (0, 1, 1), (0, 2, 1), (0, 3, 1), (1, 0, 3), (1, 3, 1)]
    assert [label.get_text() for label in ax.get_yticklabels()] == ["plain greedy", "prompt lookup"]
    assert [text.get_text().strip() for text in ax.texts] == ["4 tokens in 4 passes", "4 tokens in 2 passes"]
    assert ax.get_title() == "New tokens added by each forward pass"
    assert repr(fig) == "<CourseFigure size 800x250 with 1 Axes>"


def test_speedups_draws_the_median_with_min_max_whiskers():
    fig = plot_speedups({"k = 2": [0.5, 0.7, 0.6], "prompt lookup": [2.0, 1.5, 2.5]}, xlabel="method")
    ax = fig.axes[0]
    assert [patch.get_height() for patch in ax.patches] == [0.6, 2.0]
    (whiskers,) = ax.collections  # the error bars: one vertical segment per bar, slowest to fastest run
    assert [tuple(round(y, 6) for y in segment[:, 1]) for segment in whiskers.get_segments()] == [(0.5, 0.7),
                                                                                                   (1.5, 2.5)]
    assert [text.get_text() for text in ax.texts if "×" in text.get_text()] == ["0.60×", "2.00×"]
    assert ax.get_lines()[-1].get_ydata()[0] == 1  # plain decoding
    assert ax.get_xlabel() == "method"
    assert ax.get_title() == "Speed-up over plain greedy decoding (median of 3 runs, whiskers: min-max)"


def test_speed_plots_speak_japanese():
    set_language("ja")
    fig = plot_speedups({"k = 2": [0.5]})
    assert fig.axes[0].get_title().startswith("通常の貪欲デコーディングに対する高速化")
    assert plot_tokens_per_pass({"a": [2]}).axes[0].texts[0].get_text().strip() == "1 回のパスで 2 トークン"


@pytest.mark.parametrize("bad", [None, {}, [1, 2], {"a": []}, {"a": "12"}, {"a": 3}])
def test_speed_plots_refuse_what_they_cannot_draw(bad):
    for plot in (plot_tokens_per_pass, plot_speedups):
        with pytest.raises(CourseError, match="map"):
            plot(bad)


# ---------------------------------------------------------------- exercise 1: prompt lookup's guesses


def lookup_loops(ids, max_ngram, num_tokens):
    """The lesson's solution."""
    for n in range(min(max_ngram, len(ids) - 1), 0, -1):
        ngram = ids[-n:]
        for start in range(len(ids) - n):
            if ids[start:start + n] == ngram:
                return ids[start + n:start + n + num_tokens]
    return []


def lookup_tensors(ids, max_ngram, num_tokens):
    """Another right answer: windows of a tensor, returned as a tensor."""
    ids = torch.tensor(ids)
    for n in range(min(max_ngram, len(ids) - 1), 0, -1):
        windows = ids.unfold(0, n, 1)[:-1]  # every earlier n-gram, not the last one
        hits = (windows == ids[-n:]).all(-1).nonzero().flatten()
        if len(hits):
            start = int(hits[0]) + n
            return ids[start:start + num_tokens]
    return torch.tensor([], dtype=torch.long)


def lookup_last_match(ids, max_ngram, num_tokens):
    for n in range(min(max_ngram, len(ids) - 1), 0, -1):
        for start in reversed(range(len(ids) - n)):
            if ids[start:start + n] == ids[-n:]:
                return ids[start + n:start + n + num_tokens]
    return []


def lookup_no_fallback(ids, max_ngram, num_tokens):
    n = max_ngram
    for start in range(len(ids) - n):
        if ids[start:start + n] == ids[-n:]:
            return ids[start + n:start + n + num_tokens]
    return []


def lookup_the_ngram(ids, max_ngram, num_tokens):
    for n in range(min(max_ngram, len(ids) - 1), 0, -1):
        for start in range(len(ids) - n):
            if ids[start:start + n] == ids[-n:]:
                return ids[start:start + n]
    return []


def lookup_uncapped(ids, max_ngram, num_tokens):
    for n in range(min(max_ngram, len(ids) - 1), 0, -1):
        for start in range(len(ids) - n):
            if ids[start:start + n] == ids[-n:]:
                return ids[start + n:]
    return []


def lookup_stops_one_early(ids, max_ngram, num_tokens):
    for n in range(min(max_ngram, len(ids) - 1), 0, -1):
        for start in range(len(ids) - n - 1):  # misses a match that ends where the last n tokens begin
            if ids[start:start + n] == ids[-n:]:
                return ids[start + n:start + n + num_tokens]
    return []


def test_reference_lookup_is_transformers_on_the_cases():
    assert [reference_lookup(ids, n, k) for _, ids, n, k in LOOKUP_CASES] == [
        [7, 8, 9], [3, 4, 1], [3, 8, 2], [3, 4], [3, 7], []]


@pytest.mark.parametrize("answer", [right("check_prompt_lookup", "loops over lists", lookup_loops),
                                    right("check_prompt_lookup", "windows of a tensor", lookup_tensors),
                                    right("check_prompt_lookup", "transformers' own", reference_lookup)])
def test_check_prompt_lookup_passes_right_answers(answer):
    example = [17, 3, 4, 5, 9, 3, 4, 5, 6, 30, 3, 4]
    report = check_prompt_lookup(answer, example)
    assert report.passed, report
    assert len(report.lines) == len(LOOKUP_CASES) + 1 and "the lesson's text" in report.lines[-1].message


def lookup_mistake(name, answer, hint):
    return wrong("check_prompt_lookup", name, answer, hint)


@pytest.mark.parametrize(("answer", "hint"), [
    lookup_mistake("the last match", lookup_last_match, "FIRST"),
    lookup_mistake("no shorter n-grams", lookup_no_fallback, "try shorter ones"),
    lookup_mistake("the n-gram itself", lookup_the_ngram, "FOLLOWED"),
    lookup_mistake("no cap", lookup_uncapped, "at most num_tokens"),
    lookup_mistake("one start short", lookup_stops_one_early, "range\\(len\\(ids\\) - n\\)"),
    lookup_mistake("None", lambda ids, n, k: None, "empty list"),
    lookup_mistake("an index out of range", lambda ids, n, k: ids[99], "my_lookup\\(ids, max_ngram, num_tokens\\)"),
    lookup_mistake("always empty", lambda ids, n, k: [], "look for the last n tokens|try shorter ones"),
])
def test_check_prompt_lookup_hints_at_the_usual_slips(answer, hint):
    report = check_prompt_lookup(answer)
    assert_fails_with(report, hint)


def test_check_prompt_lookup_refuses_a_non_function():
    report = check_prompt_lookup(None)
    assert report.failures[0].message == "my_lookup is None, not a function"


# ---------------------------------------------------------------- exercise 2: speculative sampling's rule


def step_clamp(p, q):
    """The lesson's solution."""
    accept = torch.clamp(p / q, max=1)
    leftover = (p - q).clamp(min=0)
    return accept, leftover / leftover.sum()


def step_minimum(p, q):
    """Another right answer: min(p, q) / q, and p minus what was kept."""
    kept = torch.minimum(p, q)
    return kept / q, (p - kept) / (p - kept).sum()


@pytest.fixture(scope="module")
def model_and_draft_distributions(offline_model):
    """The lesson's p and q: the model and its 10-layer copy at the first new token of the sky question."""
    model, tokenizer = offline_model
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "Why is the sky blue?"}],
                                        add_generation_prompt=True, return_tensors="pt").input_ids
    with torch.no_grad():
        p = model(ids).logits[0, -1].double().softmax(-1)
        q = truncated_copy(model, 10)(ids).logits[0, -1].double().softmax(-1)
    return p, q


@pytest.mark.parametrize("answer", [right("check_speculative_sampling", "clamp", step_clamp),
                                    right("check_speculative_sampling", "minimum", step_minimum)])
def test_check_speculative_sampling_passes_right_answers(answer, model_and_draft_distributions):
    assert check_speculative_sampling(answer).passed
    report = check_speculative_sampling(answer, *model_and_draft_distributions)
    assert report.passed, report
    assert report.lines[0].message.startswith("3 tokens: the token kept is distributed as p (the draft's is kept "
                                              "with probability 0.700)")


def step_mistake(name, answer, hint):
    return wrong("check_speculative_sampling", name, answer, hint)


def leftover(p, q):
    return (p - q).clamp(min=0) / (p - q).clamp(min=0).sum()


@pytest.mark.parametrize(("answer", "hint"), [
    step_mistake("no cap at 1", lambda p, q: (p / q, leftover(p, q)), "cap it"),
    step_mistake("q / p", lambda p, q: (torch.clamp(q / p, max=1), leftover(p, q)), "upside down"),
    step_mistake("residual not normalized", lambda p, q: (torch.clamp(p / q, max=1), (p - q).clamp(min=0)),
                 "divide max\\(0, p - q\\) by its sum"),
    step_mistake("residual reversed", lambda p, q: (torch.clamp(p / q, max=1), leftover(q, p)), "reversed"),
    step_mistake("resample from p", lambda p, q: (torch.clamp(p / q, max=1), p), "second chance"),
    step_mistake("always accept", lambda p, q: (torch.ones_like(p), p), "min\\(1, p\\(x\\) / q\\(x\\)\\)"),
    step_mistake("accept only", lambda p, q: torch.clamp(p / q, max=1), "return accept, residual"),
    step_mistake("wrong shapes", lambda p, q: (p[:2], p), "return accept, residual"),
    step_mistake("one argument", lambda p: p, "my_speculative_step\\(p, q\\)"),
])
def test_check_speculative_sampling_hints_at_the_usual_slips(answer, hint):
    report = check_speculative_sampling(answer)
    assert_fails_with(report, hint)


def test_check_speculative_sampling_shows_the_code_line_when_asked():
    report = check_speculative_sampling(lambda p, q: (p / q, p), hint=2)
    assert "accept = torch.clamp(p / q, max=1)" in repr(report)


def test_checks_speak_japanese():
    set_language("ja")
    assert check_prompt_lookup(lookup_loops).title == "プロンプトルックアップ"
    report = check_speculative_sampling(step_clamp)
    assert report.title == "投機的サンプリング" and "p に従って分布します" in report.lines[0].message


def test_reports_are_reports():
    assert isinstance(check_prompt_lookup(lookup_loops), Report)


# ---------------------------------------------------------------- make test-gpu on a machine without CUDA


def test_gpu_check_says_there_is_no_cuda_and_exits_0():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no GPU visible, whatever this machine has
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no CUDA GPU" in done.stdout and "nothing was run" in done.stdout


def test_a_benchmark_row_that_failed_makes_make_bench_fail(capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")  # a script, not a package
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = bench  # dataclasses look their module up while the class is built
    spec.loader.exec_module(bench)
    rows = [bench.Row("course", "00_setup.ipynb", note="ok"),
            bench.Row("course", "09_serving.ipynb", note="FAILED: CourseError: port taken")]
    assert bench.exit_code(rows[:1]) == 0
    assert bench.exit_code(rows) == 1
    assert capsys.readouterr().err == "FAILED course 09_serving.ipynb: CourseError: port taken\n"


# ---------------------------------------------------------------- exercise 3: the speed-up arithmetic

def speedup_in_steps(n, k, c, v):
    plain_steps = n  # one model step per token
    assisted_steps = k * c + v  # k draft steps and one check
    return plain_steps / assisted_steps


def speedup_mistake(name, answer, hint):
    return wrong("check_speedup", name, answer, hint)


def printed(n, k, c, v):
    print(n / (k * c + v))


@pytest.mark.parametrize("answer", [
    right("check_speedup", "the formula", lambda n, k, c, v: n / (k * c + v)),
    right("check_speedup", "steps plain over steps assisted", speedup_in_steps),
    right("check_speedup", "a tensor scalar", lambda n, k, c, v: torch.tensor(n) / (k * c + v)),
    right("check_speedup", "a one-element array", lambda n, k, c, v: np.array([n / (k * c + v)])),
    right("check_speedup", "rounded to 3 digits", lambda n, k, c, v: float(f"{n / (k * c + v):.3g}")),
])
def test_check_speedup_passes_right_answers(answer):
    assert_passes(check_speedup(answer))


@pytest.mark.parametrize(("answer", "hint"), [
    speedup_mistake("k + 1 tokens always", lambda n, k, c, v: (k + 1) / (k * c + v), "tokens the pass really yielded"),
    speedup_mistake("a check costs one step", lambda n, k, c, v: n / (k * c + 1), "costs v one-token steps"),
    speedup_mistake("a draft step costs a model step", lambda n, k, c, v: n / (k + v), "costs c model steps"),
    speedup_mistake("upside down", lambda n, k, c, v: (k * c + v) / n, "the other way up"),
    speedup_mistake("floor division", lambda n, k, c, v: n // (k * c + v), "rounds down"),
    speedup_mistake("the draft forgotten", lambda n, k, c, v: n / v, "one model step per token"),
    speedup_mistake("c capped at 1", lambda n, k, c, v: n / (k * min(c, 1) + v), "costs c model steps"),
    speedup_mistake("never below 1 token", lambda n, k, c, v: n / (k * c + v) if n > 1 else 0.0,
                    "one model step per token"),
    speedup_mistake("printed, not returned", printed, "returns nothing"),
    speedup_mistake("a string", lambda n, k, c, v: f"{n / (k * c + v):.2f}x", "return one number"),
    speedup_mistake("three arguments", lambda n, k, c: n / (k * c + 1), "my_speedup\\(n, k, c, v\\)"),
])
def test_check_speedup_names_the_slip_it_measured(answer, hint):
    report = check_speedup(answer)
    assert_fails_with(report, hint)
    assert "n / (k * c + v)" not in repr(report)  # the first failure never shows the solution line


def test_check_speedup_cases_tell_every_slip_apart():
    """On each case list, every slip gives a number other than the right one (else it could pass)."""
    from llmcourse.checks.lesson08_faster import SPEEDUP_CASES, reference_speedup
    slips = [lambda n, k, c, v: (k + 1) / (k * c + v), lambda n, k, c, v: n / (k * c + 1),
             lambda n, k, c, v: n / (k + v), lambda n, k, c, v: (k * c + v) / n, lambda n, k, c, v: n / v,
             lambda n, k, c, v: n // (k * c + v), lambda n, k, c, v: n / (k * min(c, 1) + v)]
    for slip in slips:
        assert any(abs(slip(*case) - reference_speedup(*case)) > 1e-2 for case in SPEEDUP_CASES)


def test_an_untouched_placeholder_is_told_to_be_replaced_not_called():
    assert_fails_with(check_speedup(None), "replace the None in the exercise cell")
