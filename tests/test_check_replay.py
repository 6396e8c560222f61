"""What the second independent learner replay of issue 26 found (128 attempts), kept as cases.

Each mistake here passed, or was refused, or got a hint about another mistake, when a stranger tried
the exercises in a real kernel; the row says what the check must now do. The first replay's findings
are spread through the corpus modules (test_check_corpus.py and the lessons' own test modules).
"""

from __future__ import annotations

import pytest
import torch
from check_cases import assert_fails_with, assert_passes, right, wrong
from transformers import GenerationConfig

from llmcourse import checks, sampling
from llmcourse.checks.lesson06_streaming import _finished_early_result


def decode_at(start):
    """my_decode with the new tokens' start typed in, as a learner who read it off the lesson's batch."""
    return lambda tokenizer: lambda inputs, output_ids: tokenizer.batch_decode(output_ids[:, start:],
                                                                               skip_special_tokens=True)


def stripped(tokenizer):
    def my_decode(inputs, output_ids):
        texts = tokenizer.batch_decode(output_ids[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        return [text.strip() for text in texts]
    return my_decode


@pytest.mark.parametrize(("make", "hint"), [
    wrong("check_new_text_only", "replay: the lesson's padded length typed in", decode_at(8),
          "the new tokens start after the padded prompt|cut short|misses its start|the same index"),
    wrong("check_new_text_only", "replay: every text stripped", stripped, "the texts were stripped"),
])
def test_new_text_on_batches_the_lesson_does_not_show(make, hint, offline_model):
    model, tokenizer = offline_model
    assert_fails_with(checks.check_new_text_only(make(tokenizer), model, tokenizer), hint)


def test_a_model_whose_unquantized_layers_are_float16_fails():
    """01/1: NF4, double quantization and bfloat16 matmuls, but the embeddings and norms in float16."""
    from llmcourse.checks.lesson01_loading import _judge_unquantized_dtype
    from llmcourse.precision import pick_dtypes

    report = checks.Report("4-bit model", ask="check_4bit_model(..., hint=2)")
    _judge_unquantized_dtype(report, torch.nn.Embedding(4, 2).half(), pick_dtypes("cpu"))
    assert_fails_with(report, "the exercise asks to be bfloat16")
    report = checks.Report("4-bit model")
    _judge_unquantized_dtype(report, torch.nn.Embedding(4, 2).to(torch.bfloat16), pick_dtypes("cpu"))
    assert_passes(report)


@pytest.mark.parametrize("my_kwargs", [
    right("check_max_new_tokens", "replay: in a GenerationConfig",
          {"generation_config": GenerationConfig(max_new_tokens=40, min_new_tokens=40)}),
    right("check_max_new_tokens", "replay: max_length=None spelled out",
          dict(max_new_tokens=40, min_new_tokens=40, max_length=None)),
])
def test_max_new_tokens_accepts_what_generate_reads_the_same_way(my_kwargs):
    assert_passes(checks.check_max_new_tokens(my_kwargs))


def test_the_three_numbers_a_first_failure_of_04_1_shows_are_not_the_answer():
    report = checks.check_max_new_tokens({"max_length": 50, "min_length": 45})
    assert_fails_with(report, "the floor on new tokens alone is min_new_tokens")
    assert "max_new_tokens=40" not in repr(report) and "min_new_tokens=40" not in repr(report)


def first_row_top_p(logits, p):
    """Row 0's filter applied to every row."""
    row = sampling.top_p_filter(logits[:1], p)
    return logits.masked_fill(row.isinf().expand_as(logits), float("-inf"))


def test_top_p_row_0_for_every_row_is_named():
    assert_fails_with(checks.check_top_p_filter(first_row_top_p), "rows keep the same tokens, though their logits")


def test_the_rate_of_one_row_is_not_called_not_per_second():
    report = checks.check_tokens_per_second(lambda result, seconds: result.token_mask[0].sum().item() / seconds)
    assert_fails_with(report, "one row")
    assert not any("not per second" in line.hint for line in report.failures), report


def test_the_rate_cases_cannot_mistake_one_mistake_for_another():
    """No two of the usual mistakes give the same number on the check's result and seconds (the replay's #126)."""
    from llmcourse.checks.lesson06_streaming import RATE_SECONDS

    result = _finished_early_result()
    generated, padded, row = int(result.token_mask.sum()), result.token_ids.numel(), int(result.token_mask[0].sum())
    for seconds in RATE_SECONDS:
        values = [generated / seconds, padded / seconds, row / seconds, seconds / generated, generated, padded,
                  generated * seconds, padded * seconds]
        assert len({round(value, 6) for value in values}) == len(values), (seconds, values)


def test_logprobs_of_row_0_only_says_a_row_is_missing(offline_model):
    from test_lesson07 import my_token_logprobs

    def row_0(logits, input_ids, prompt_length):
        return my_token_logprobs(logits[:1], input_ids[:1], prompt_length)

    assert_fails_with(checks.check_token_logprobs(row_0, *offline_model), r"returned 1 row\(s\) of a batch of 2")


@pytest.mark.parametrize("answer", [
    right("check_speedup", "replay: rounded to 2 decimal places", lambda n, k, c, v: round(n / (k * c + v), 2)),
])
def test_speedup_rounded_for_show_passes(answer):
    assert_passes(checks.check_speedup(answer))


def test_speedup_rounded_to_one_place_is_named():
    assert_fails_with(checks.check_speedup(lambda n, k, c, v: round(n / (k * c + v), 1)),
                      "rounded to 1 decimal place")


def request_fields_newer_name(settings):
    from test_checks_serving import request_fields

    fields = request_fields(settings)
    fields["max_completion_tokens"] = fields.pop("max_tokens")
    return fields


def test_request_fields_with_max_completion_tokens_pass():
    assert_passes(checks.check_request_fields(request_fields_newer_name))


def test_a_passing_request_shows_the_learners_own_fields():
    def spelled_out(settings):
        from test_checks_serving import request_fields

        fields = request_fields(settings)
        return {**fields, "top_p": 1.0} if settings.get("do_sample") and "top_p" not in settings else fields

    report = checks.check_request_fields(spelled_out)
    assert_passes(report)
    assert "'top_p': 1.0" in repr(report)


def test_a_cell_that_stopped_after_its_def_is_not_called_an_earlier_run():
    """The replay's #35: the def ran, the test call after it raised; the message must not say the def is older."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.run_cell("from llmcourse.checks import check_temperature")
        shell.run_cell("def my_apply_temperature(logits, t):\n    return logits / t\nmy_apply_temperature(None, 2)")
        report = shell.run_cell("check_temperature(my_apply_temperature)").result
        assert "did not run to its end" in report.lines[0].message and "earlier run" not in report.lines[0].message
    finally:
        InteractiveShell.clear_instance()


def test_the_variant_rule_would_catch_a_check_that_wants_one_spelling(monkeypatch):
    """The meta-test for rule 5 (every correct variant passes): planting the renaming away fails the newer field name."""
    import llmcourse.checks.lesson09_serving as serving

    assert checks.check_request_fields(request_fields_newer_name).passed
    monkeypatch.setattr(serving, "_renamed", dict)
    assert not checks.check_request_fields(request_fields_newer_name).passed


# ---------------------------------------------------------------- the third replay (after the fixes above): ~200 tries


def test_logprobs_that_ignore_prompt_length_fail(offline_model):
    """The two cases score 5 and 4 new tokens: an answer with the lesson's 4 typed in fails one."""
    def last_four(logits, input_ids, prompt_length):
        return logits[:, -5:-1].log_softmax(-1).gather(-1, input_ids[:, -4:].unsqueeze(-1)).squeeze(-1)

    assert not checks.check_token_logprobs(last_four, *offline_model).passed


def test_a_greedy_request_sends_temperature_0_whatever_temperature_says():
    from test_checks_serving import request_fields

    def keeps_temperature(settings):
        fields = request_fields(settings)
        fields["temperature"] = settings.get("temperature", 0 if not settings.get("do_sample") else 1.0)
        return fields

    assert_fails_with(checks.check_request_fields(keeps_temperature), "sample unless temperature=0")


def top_k_always(settings):
    """The lesson's fields, with top_k=50 sent on greedy requests too (a server ignores it at temperature 0)."""
    from test_checks_serving import request_fields

    return {**request_fields(settings), **({"top_k": 50} if settings.get("top_k", 50) else {})}


@pytest.mark.parametrize("answer", [right("check_request_fields", "replay: top_k=50 sent on greedy requests too",
                                          top_k_always)])
def test_top_k_on_a_greedy_request_is_harmless(answer):
    assert_passes(checks.check_request_fields(answer))


def test_streaming_without_a_thread_fails(offline_model):
    from transformers import TextIteratorStreamer

    model, tokenizer = offline_model

    def no_thread(prompt):
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        model.generate(**tokenizer(prompt, return_tensors="pt"), max_new_tokens=8, do_sample=False, streamer=streamer)
        return list(streamer)

    assert_fails_with(checks.check_streamed_chunks(no_thread, model, tokenizer), "start generate in a Thread")


def test_a_batch_made_one_prompt_at_a_time_fails(offline_model):
    import copy

    model, tokenizer = offline_model
    left = copy.deepcopy(tokenizer)
    left.padding_side, left.pad_token = "left", left.eos_token

    def one_by_one(prompts):
        texts = []
        for prompt in prompts:
            batch = left([prompt], return_tensors="pt")
            ids = model.generate(**batch, max_new_tokens=6, do_sample=False, pad_token_id=left.pad_token_id)
            texts.append(left.decode(ids[0, batch.input_ids.shape[1]:], skip_special_tokens=True))
        return texts

    assert_fails_with(checks.check_padded_batch(one_by_one, model, tokenizer), "one padded batch, one generate call")


def test_top_p_with_a_large_negative_number_is_told_only_that():
    def large_negative(logits, p):
        return logits.masked_fill(sampling.top_p_filter(logits, p).isinf(), -1e9)

    report = checks.check_top_p_filter(large_negative)
    assert_fails_with(report, "large negative number")
    assert report.lines[0].passed, report  # the kept set is right


def test_the_processor_placeholder_asks_for_a_processor():
    assert_fails_with(checks.check_digits_processor(None, None, None), "an instance of your LogitsProcessor class")


@pytest.mark.parametrize("answer", [right("check_speculative_sampling", "replay: lists instead of tensors",
                                          lambda p, q: (torch.clamp(p / q, max=1).tolist(),
                                                        ((p - q).clamp(min=0) / (p - q).clamp(min=0).sum()).tolist()))])
def test_speculative_step_as_lists_passes(answer):
    assert_passes(checks.check_speculative_sampling(answer))


@pytest.mark.parametrize(("answer", "hint"), [
    wrong("check_tokens_per_second", "replay: rounded", lambda r, s: round(r.token_mask.sum().item() / s, 1),
          "the rate was rounded"),
    wrong("check_tokens_per_second", "replay: floor division", lambda r, s: int(r.token_mask.sum()) // s,
          "// rounds the rate down"),
])
def test_rate_rounded_or_floored_is_named(answer, hint):
    assert_fails_with(checks.check_tokens_per_second(answer), hint)


def test_new_texts_as_a_tuple_pass(offline_model):
    model, tokenizer = offline_model

    def as_tuple(inputs, output_ids):
        return tuple(tokenizer.batch_decode(output_ids[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True))

    assert_passes(checks.check_new_text_only(as_tuple, model, tokenizer))
