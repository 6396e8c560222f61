"""Learner mistakes with the course's public API: each gets a course error (or a ✘ check line) that names the fix.

One row per mistake: the call, what it must raise (a `CourseError` subclass, or `REPORT`
for a check, which never raises but returns a failed report) and words the message must
contain. The calls use the real offline model; none of them generates more than a few
tokens, and most fail before the model runs at all.
"""

from __future__ import annotations

import copy
import traceback
from types import SimpleNamespace

import pytest
import torch

from llmcourse import (
    CourseError,
    ModelNotAvailableError,
    checkpoint_dir,
    checks,
    fetch,
    format_steps,
    generate,
    generate_by_hand,
    generation,
    generation_steps,
    load_model,
    plots,
    sampling,
)
from llmcourse.checks import Report
from llmcourse.errors import SetupError
from llmcourse.quiet import captured_log

PROMPT = "A list of colors: red, blue"  # 8 tokens
REPORT = Report  # expected for a check: no exception, a failed report


@pytest.fixture(scope="module")
def offline_kit(offline_model):
    """The model, its tokenizer and the objects a learner has at hand (and mixes up)."""
    model, tokenizer = offline_model
    inputs = tokenizer(PROMPT, return_tensors="pt")
    outputs = model(**inputs)
    long_text = " ".join(["word"] * 9000)
    bare = copy.deepcopy(tokenizer)
    bare.chat_template = None  # a base model's tokenizer: no chat template
    return SimpleNamespace(
        model=model, tokenizer=tokenizer, inputs=inputs, outputs=outputs, logits=outputs.logits[:, -1, :],
        result=generate(model, tokenizer, PROMPT, max_new_tokens=2),
        steps=generation_steps(model, tokenizer, PROMPT, max_new_tokens=2),
        long_text=long_text, long_tokens=len(tokenizer(long_text).input_ids),
        near_limit=" ".join(["word"] * 8100), bare_tokenizer=bare,
    )


def row(name, call, expected, *words):
    """One mistake: ``call(offline_kit, env)`` must end in ``expected`` with every one of ``words`` in its message."""
    return pytest.param(call, expected, words, id=name)


MISTAKES = [
    # ---- generate: what is passed as the prompt
    row("generate: tokenized inputs instead of text",
        lambda k, env: generate(k.model, k.tokenizer, k.inputs, max_new_tokens=2), CourseError,
        "takes text", "BatchEncoding", "model.generate(**inputs)"),
    row("generate: a tensor of ids instead of text",
        lambda k, env: generate(k.model, k.tokenizer, k.inputs.input_ids), CourseError, "takes text", "token ids"),
    row("generate: None (an exercise left unfilled)",
        lambda k, env: generate(k.model, k.tokenizer, None), CourseError, "prompts is None", "pass a string"),
    row("generate: an empty list", lambda k, env: generate(k.model, k.tokenizer, []), CourseError, "prompts is empty"),
    row("generate: an empty prompt", lambda k, env: generate(k.model, k.tokenizer, "  "), CourseError,
        "prompt 0 is empty"),
    row("generate: chat messages instead of text",
        lambda k, env: generate(k.model, k.tokenizer, [{"role": "user", "content": "Hi"}]), CourseError,
        "chat message", "chat=True"),
    row("generate: chat=True with a tokenizer without a chat template",
        lambda k, env: generate(k.model, k.bare_tokenizer, "Hi", chat=True, max_new_tokens=2), CourseError,
        "chat=True needs", "no", "chat=False"),
    # ---- generate: model and tokenizer
    row("generate: model and tokenizer swapped",
        lambda k, env: generate(k.tokenizer, k.model, PROMPT), CourseError,
        "first argument must be the model", "swapped", "load_model()"),
    row("generate: the model's name instead of the model",
        lambda k, env: generate("SmolLM2-135M-Instruct", k.tokenizer, PROMPT), CourseError,
        "first argument must be the model", "'SmolLM2-135M-Instruct'"),
    # ---- generate: lengths
    row("generate: max_length shorter than the prompt",
        lambda k, env: generate(k.model, k.tokenizer, PROMPT, max_length=5), CourseError,
        "max_length=5 counts the prompt too", "has 8 tokens", "max_new_tokens"),
    row("generate: max_length and max_new_tokens together",
        lambda k, env: generate(k.model, k.tokenizer, PROMPT, max_length=12, max_new_tokens=3), CourseError,
        "not both", "max_new_tokens=3", "ignore max_length=12"),
    row("generate: max_new_tokens=0", lambda k, env: generate(k.model, k.tokenizer, PROMPT, max_new_tokens=0),
        CourseError, "max_new_tokens must be a whole number >= 1, got 0"),
    row("generate: max_new_tokens as text", lambda k, env: generate(k.model, k.tokenizer, PROMPT, max_new_tokens="20"),
        CourseError, "whole number >= 1", "'20'"),
    row("generate: max_new_tokens=10**6",
        lambda k, env: generate(k.model, k.tokenizer, PROMPT, max_new_tokens=10**6), CourseError,
        "max_new_tokens=1,000,000", "cap of 1,024", "context of 8,192", "8,184", "model.generate"),
    row("generate: a prompt longer than the context",
        lambda k, env: generate(k.model, k.tokenizer, k.long_text, max_new_tokens=2), CourseError,
        "context of 8,192", "shorten the prompt"),
    row("generate: prompt and new tokens beyond the context",
        lambda k, env: generate(k.model, k.tokenizer, k.near_limit, max_new_tokens=200), CourseError,
        "max_new_tokens=200", "context of 8,192", "new tokens fit after this prompt"),
    row("generate: a batch of 10,000 prompts",
        lambda k, env: generate(k.model, k.tokenizer, ["Hi"] * 10_000), CourseError,
        "10,000 prompts", "78.6 GB", "limit of 2.0 GB", "at most 254 prompts at a time"),
    # ---- generate: decoding settings
    row("generate: num_beams=0", lambda k, env: generate(k.model, k.tokenizer, PROMPT, num_beams=0),
        CourseError, "num_beams must be a whole number >= 1, got 0"),
    row("generate: repetition_penalty=0",
        lambda k, env: generate(k.model, k.tokenizer, PROMPT, repetition_penalty=0), CourseError,
        "repetition_penalty must be a number above 0, got 0", "1.0 changes nothing"),
    row("generate: top_p=1.5", lambda k, env: generate(k.model, k.tokenizer, PROMPT, do_sample=True, top_p=1.5),
        CourseError, "top_p must be in (0, 1]", "1.5"),
    row("generate: temperature=0 when sampling",
        lambda k, env: generate(k.model, k.tokenizer, PROMPT, do_sample=True, temperature=0), CourseError,
        "temperature must be a number > 0", "do_sample=False"),
    row("generate: temperature without do_sample",
        lambda k, env: generate(k.model, k.tokenizer, PROMPT, temperature=0), CourseError,
        "temperature=0 has no effect without do_sample=True", "greedy"),
    row("generate: temperature as text",
        lambda k, env: generate(k.model, k.tokenizer, PROMPT, do_sample=True, temperature="0.7"), CourseError,
        "temperature must be a number", "'0.7'"),
    row("generate: top_k=-1", lambda k, env: generate(k.model, k.tokenizer, PROMPT, do_sample=True, top_k=-1),
        CourseError, "top_k must be a whole number >= 1", "-1"),
    row("generate: min_p=2", lambda k, env: generate(k.model, k.tokenizer, PROMPT, do_sample=True, min_p=2),
        CourseError, "min_p must be in [0, 1]"),
    row("generate: do_sample='yes'", lambda k, env: generate(k.model, k.tokenizer, PROMPT, do_sample="yes"),
        CourseError, "do_sample must be True or False"),
    row("generate: max_tokens (the OpenAI name)",
        lambda k, env: generate(k.model, k.tokenizer, PROMPT, max_tokens=5), CourseError,
        "no setting 'max_tokens'", "max_new_tokens"),
    row("generate: stop (the OpenAI name)", lambda k, env: generate(k.model, k.tokenizer, PROMPT, stop=["."]),
        CourseError, "no setting 'stop'", "stop_strings"),
    row("generate: alternatives larger than the vocabulary",
        lambda k, env: generate(k.model, k.tokenizer, PROMPT, alternatives=50_000), CourseError,
        "alternatives must be between 1 and the vocabulary size (49152)", "50000"),
    row("generate: input_ids given as a setting",
        lambda k, env: generate(k.model, k.tokenizer, PROMPT, input_ids=k.inputs.input_ids), CourseError,
        "generate sets input_ids itself"),
    row("generate: greedy with num_return_sequences=3",
        lambda k, env: generate(k.model, k.tokenizer, PROMPT, num_return_sequences=3, max_new_tokens=2), CourseError,
        "generate rejected these settings", "num_return_sequences"),
    # ---- load_model
    row("load_model: a file instead of a folder",
        lambda k, env: load_model(str(checkpoint_dir() / "model.safetensors"), device="cpu"),
        ModelNotAvailableError, "is a file", f"load_model({str(checkpoint_dir())!r})"),
    row("load_model: a folder that does not exist", lambda k, env: load_model("./no-such-model", device="cpu"),
        ModelNotAvailableError, "There is no model folder at './no-such-model'", "load_model() with no name"),
    row("load_model: the model instead of its name", lambda k, env: load_model(k.model), CourseError,
        "takes a model's name", "not a LlamaForCausalLM"),
    row("load_model: quantization='4-bit'", lambda k, env: load_model(quantization="4-bit"), CourseError,
        "quantization='4-bit' is not known", "Did you mean '4bit'?"),
    row("load_model: device='gpu'", lambda k, env: load_model(device="gpu"), CourseError,
        "device='gpu' is not known", "'cuda'"),
    row("load_model: device='cuda' without a GPU",
        lambda k, env: env.setattr(torch.cuda, "is_available", lambda: False) or load_model(device="cuda"), SetupError,
        "torch sees no CUDA GPU", "device='cpu'"),
    row("load_model: a hub model with the hub switched off",
        lambda k, env: env.setenv("HF_HUB_OFFLINE", "1") or load_model("someone/not-a-cached-model"),
        ModelNotAvailableError, "switched off (HF_HUB_OFFLINE=1)", "load_model()"),
    row("fetch: LLMCOURSE_CACHE pointing at a file",
        lambda k, env: env.setenv("LLMCOURSE_CACHE", __file__) or fetch(), ModelNotAvailableError,
        "is a file, not a folder", "Point $LLMCOURSE_CACHE at a folder"),
    row("load_model: LLMCOURSE_CACHE pointing at a file",
        lambda k, env: env.setenv("LLMCOURSE_CACHE", __file__) or load_model(), ModelNotAvailableError,
        "is a file, not a folder"),
    # ---- generate_by_hand
    row("generate_by_hand: the whole BatchEncoding as input_ids",
        lambda k, env: generate_by_hand(k.model, k.inputs, max_new_tokens=2), CourseError,
        "the whole BatchEncoding", "**inputs"),
    row("generate_by_hand: text instead of ids", lambda k, env: generate_by_hand(k.model, PROMPT, max_new_tokens=2),
        CourseError, "input_ids must be a tensor of shape (batch, length)", "got str"),
    row("generate_by_hand: 1-D ids", lambda k, env: generate_by_hand(k.model, k.inputs.input_ids[0], max_new_tokens=2),
        CourseError, "shape (batch, length)", "ids[None]"),
    row("generate_by_hand: the tokenizer instead of the model",
        lambda k, env: generate_by_hand(k.tokenizer, k.inputs.input_ids, max_new_tokens=2), CourseError,
        "generate_by_hand's first argument must be the model"),
    row("generate_by_hand: temperature without do_sample",
        lambda k, env: generate_by_hand(k.model, **k.inputs, max_new_tokens=2, temperature=0.7), CourseError,
        "temperature=0.7 has no effect without do_sample=True"),
    row("generate_by_hand: top_p=1.5",
        lambda k, env: generate_by_hand(k.model, **k.inputs, max_new_tokens=2, do_sample=True, top_p=1.5),
        CourseError, "top_p must be in (0, 1]"),
    row("generate_by_hand: max_new_tokens=10**6",
        lambda k, env: generate_by_hand(k.model, **k.inputs, max_new_tokens=10**6), CourseError,
        "cap of 1,024", "context of 8,192"),
    row("generate_by_hand: a prompt longer than the context",
        lambda k, env: generate_by_hand(k.model, k.tokenizer(k.long_text, return_tensors="pt").input_ids,
                                        max_new_tokens=2), CourseError, "context of 8,192", "shorten the prompt"),
    # ---- generation_steps and format_steps
    row("generation_steps: a batch of prompts",
        lambda k, env: generation_steps(k.model, k.tokenizer, [PROMPT, "Hi"], max_new_tokens=2), CourseError,
        "follows one prompt", "2 texts", "generate"),
    row("generation_steps: the whole BatchEncoding",
        lambda k, env: generation_steps(k.model, k.tokenizer, k.inputs, max_new_tokens=2), CourseError,
        "inputs.input_ids"),
    row("generation_steps: None", lambda k, env: generation_steps(k.model, k.tokenizer, None, max_new_tokens=2),
        CourseError, "one prompt as text or token ids", "got None"),
    row("generation_steps: alternatives larger than the vocabulary",
        lambda k, env: generation_steps(k.model, k.tokenizer, PROMPT, max_new_tokens=2, alternatives=10**6),
        CourseError, "alternatives must be between 1 and the vocabulary size (49152)"),
    row("generation_steps: top=5 (the old name)",
        lambda k, env: generation_steps(k.model, k.tokenizer, PROMPT, max_new_tokens=2, top=5), CourseError,
        "does not know top", "alternatives=..."),
    row("format_steps: generate's result", lambda k, env: format_steps(k.result), CourseError,
        "format_steps takes the list that generation_steps(...) returns", "GenerationResult"),
    row("format_steps: one Step", lambda k, env: format_steps(k.steps[0]), CourseError,
        "got one Step", "format_steps([step])"),
    # ---- sampling
    row("sampling: top_p_filter(logits, 1.5)", lambda k, env: sampling.top_p_filter(k.logits, 1.5), CourseError,
        "top_p must be in (0, 1]"),
    row("sampling: apply_temperature(logits, 0)", lambda k, env: sampling.apply_temperature(k.logits, 0),
        CourseError, "temperature must be a number > 0", "do_sample=False"),
    row("sampling: the model's whole output", lambda k, env: sampling.greedy_pick(k.outputs), CourseError,
        "logits must be a float tensor", "CausalLMOutputWithPast"),
    row("sampling: logits of every position", lambda k, env: sampling.greedy_pick(k.outputs.logits), CourseError,
        "shape (batch, vocab)", "outputs.logits[:, -1, :]"),
    row("sampling: one row without its batch dimension", lambda k, env: sampling.greedy_pick(k.logits[0]),
        CourseError, "shape (batch, vocab)", "logits[None]"),
    row("sampling: an unknown setting", lambda k, env: sampling.sampling_probs(k.logits, top=3), CourseError,
        "unknown sampling setting", "top"),
    # ---- plots given the wrong object
    row("plots: plot_next_token(model)", lambda k, env: plots.plot_next_token(k.model), CourseError,
        "got the model", "model(**inputs).logits[:, -1, :]"),
    row("plots: plot_next_token(outputs)", lambda k, env: plots.plot_next_token(k.outputs, tokenizer=k.tokenizer),
        CourseError, "CausalLMOutputWithPast", "outputs.logits[:, -1, :]"),
    row("plots: plot_next_token(logits) without a tokenizer", lambda k, env: plots.plot_next_token(k.logits),
        CourseError, "Pass tokenizer="),
    row("plots: plot_next_token(result, step=99)", lambda k, env: plots.plot_next_token(k.result, step=99),
        CourseError, "step must be between 0 and 1", "got 99"),
    row("plots: plot_generation_heatmap(steps)", lambda k, env: plots.plot_generation_heatmap(k.steps), CourseError,
        "takes the GenerationResult", "generation_steps"),
    row("plots: plot_generation_heatmap(result, alternatives=99)",
        lambda k, env: plots.plot_generation_heatmap(k.result, alternatives=99), CourseError,
        "alternatives must be between 1 and 10", "pass alternatives= to generate"),
    row("plots: plot_confidence(text)", lambda k, env: plots.plot_confidence(k.result.texts[0]), CourseError,
        "takes the GenerationResult", "got the string '"),
    row("plots: plot_token_shading(None)", lambda k, env: plots.plot_token_shading(None), CourseError,
        "takes the GenerationResult", "got None"),
    row("plots: plot_raw_vs_processed(logits)", lambda k, env: plots.plot_raw_vs_processed(k.logits), CourseError,
        "takes the GenerationResult", "plot_next_token(logits, tokenizer=tokenizer)"),
    row("plots: plot_truncation(result)", lambda k, env: plots.plot_truncation(k.result, k.tokenizer, top_k=5),
        CourseError, "got a GenerationResult", "result.outputs.logits[step]"),
    row("plots: plot_beam_tree of a greedy result", lambda k, env: plots.plot_beam_tree(k.result), CourseError,
        "does not come from beam search", "num_beams"),
    row("plots: plot_memory(list)", lambda k, env: plots.plot_memory([538e6, 269e6]), CourseError,
        "footprints must map a label to bytes", "got a list"),
    # ---- checks given something that is not the answer (a check never raises: a ✘ line with a hint)
    row("checks: a function's name instead of the function",
        lambda k, env: checks.check_top_p_filter("my_top_p"), REPORT, "is the string 'my_top_p', not a function"),
    row("checks: None (the exercise left unfilled)", lambda k, env: checks.check_temperature(None), REPORT,
        "is None, not a function"),
    row("checks: the model's name instead of the model", lambda k, env: checks.check_4bit_model("model"), REPORT,
        "is the string 'model', not a model"),
    row("checks: the model instead of the tokenizer", lambda k, env: checks.check_left_padding(k.model), REPORT,
        "is a LlamaForCausalLM, not a tokenizer"),
]


@pytest.mark.parametrize("call, expected, words", MISTAKES)
def test_a_mistake_gets_a_message_that_names_the_fix(offline_kit, monkeypatch, call, expected, words):
    if expected is REPORT:
        report = call(offline_kit, monkeypatch)
        assert isinstance(report, Report) and not report.passed
        said = " ".join(f"{line.message} {line.hint}" for line in report.failures)
    else:
        with pytest.raises(CourseError) as caught:
            call(offline_kit, monkeypatch)
        error = caught.value
        assert type(error) is expected, f"{type(error).__name__}: {error}"
        said = str(error)
        assert "\n" not in said, said  # one line in the notebook
        assert len(traceback.format_exception_only(error)) == 1 and error.__cause__ is None
    for word in words:
        assert word in said, f"{word!r} is not in: {said}"


def test_the_table_is_large_enough():
    assert len(MISTAKES) >= 30
    assert len({param.id for param in MISTAKES}) == len(MISTAKES)


def test_the_prompt_longer_than_the_context_says_its_length(offline_kit):
    with pytest.raises(CourseError, match=f"The prompt has {offline_kit.long_tokens:,} tokens"):
        generate(offline_kit.model, offline_kit.tokenizer, offline_kit.long_text, max_new_tokens=2)


def test_max_length_is_never_overridden_by_the_default(offline_kit):
    """The course fills in max_new_tokens=20 only when no length is given: max_length=10 gives 10 - 8 = 2 tokens."""
    result = generate(offline_kit.model, offline_kit.tokenizer, PROMPT, max_length=10)
    assert result.steps == 2 and "max_new_tokens" not in result.settings
    assert result.token_ids.tolist() == offline_kit.result.token_ids.tolist()  # the same as max_new_tokens=2
    settings = {}
    assert generation._validated_length(settings, offline_kit.model, prompt_tokens=8) == 20  # no length given: the default
    assert settings["max_new_tokens"] == generation.DEFAULT_MAX_NEW_TOKENS == 20


def test_stop_strings_work_without_passing_the_tokenizer_again(offline_kit):
    result = generate(offline_kit.model, offline_kit.tokenizer, PROMPT, max_new_tokens=6, stop_strings=[","])
    assert result.texts[0] == ","


def test_transformers_warnings_the_lessons_show_are_kept(offline_kit):
    """Lesson 04 shows the right-padding warning of model.generate: the course's own calls must not silence it."""
    generate(offline_kit.model, offline_kit.tokenizer, PROMPT, max_new_tokens=1)
    tokenizer = copy.deepcopy(offline_kit.tokenizer)
    tokenizer.padding_side = "right"
    batch = tokenizer(["1, 2, 3", "A, B, C, D, E"], padding=True, return_tensors="pt")
    with captured_log("transformers") as log:
        offline_kit.model.generate(**batch, max_new_tokens=1, pad_token_id=tokenizer.pad_token_id)
    assert "right-padding was detected" in log.getvalue()

