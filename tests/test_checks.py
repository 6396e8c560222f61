"""Exercise checks: each correct answer passes, each typical wrong answer fails with its hint, nothing raises.

The correct answers below are the solution cells of the lessons, as written there.
"""

from __future__ import annotations

import copy
import inspect
from threading import Thread

import pytest
import torch
from check_cases import assert_fails_with, assert_passes, right, wrong
from transformers import BitsAndBytesConfig

from llmcourse import checks
from llmcourse.checks import (
    Report,
    check_4bit_model,
    check_8bit_config,
    check_chat_prompt,
    check_left_padding,
    check_max_new_tokens,
    check_new_text_only,
    check_next_token_fn,
    check_padded_batch,
    check_reproducible_sampling,
    check_streamed_chunks,
    check_temperature,
    check_tokens_per_second,
    check_top_p_filter,
)
from llmcourse.checks.lesson01_loading import _judge_compute_dtype, _judge_footprint
from llmcourse.i18n import set_language

QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def tokenizer():
    """The offline model's tokenizer alone (no weights): padding on the right, as it ships."""
    from transformers import AutoTokenizer

    from llmcourse.offline import checkpoint_dir

    return AutoTokenizer.from_pretrained(checkpoint_dir())


@pytest.fixture(scope="module")
def tiny_chat_tokenizer(tiny_tokenizer):
    """The tiny tokenizer with a chat template of its own, for the checks that build a chat prompt first."""
    import copy

    tokenizer = copy.deepcopy(tiny_tokenizer)
    tokenizer.chat_template = "{% for message in messages %}{{ message['content'] }}{% endfor %}"
    return tokenizer


@pytest.fixture(scope="module")
def four_bit(offline_model):
    """The offline model in 4-bit NF4 with double quantization, loaded once (after the fp32 one sets the threads)."""
    from llmcourse import load_model

    return load_model(quantization="4bit")[0]


# ---------------------------------------------------------------- the report


def test_report_shows_ticks_crosses_hints_and_a_summary():
    report = Report("Left padding")
    report.add(True, "pads on the left", "never shown")
    report.add(False, "pads on the right", 'AutoTokenizer.from_pretrained(path, padding_side="left")')
    assert repr(report) == str(report) == (
        "Left padding\n✔ pads on the left\n"
        '✘ pads on the right — hint: AutoTokenizer.from_pretrained(path, padding_side="left")\n'
        "1 of 2 checks failed")
    assert not report.passed and [line.message for line in report.failures] == ["pads on the right"]


def test_report_all_passed_and_ipython_display():
    from IPython.lib.pretty import pretty

    report = Report("Demo")
    report.add(True, "one")
    assert report.passed and pretty(report) == "Demo\n✔ one\nAll checks passed!"
    assert not Report("empty").passed


def test_japanese_messages(tokenizer):
    set_language("ja")
    report = check_left_padding(tokenizer)
    assert "左" in report.lines[-1].message and "ヒント：" in repr(report)
    assert "\n3 件中 2 件が不合格です" in repr(report)
    assert repr(check_max_new_tokens({"max_new_tokens": 40, "min_new_tokens": 40})).endswith(
        "すべてのチェックに合格しました！")
    assert_fails_with(check_max_new_tokens({}), "20 トークンで止まり")
    assert_fails_with(check_temperature(lambda logits, t: logits * t), "t を掛けています")


# ---------------------------------------------------------------- wrong types never raise


CHECKS = [name for name in checks.__all__ if name.startswith("check_")]
EXAMPLE_ARGUMENTS = {"full_text": ", green"}  # a check's required argument after the answer, by its name (and the model)


def answer_parameter(name: str) -> inspect.Parameter:
    """The check's first parameter: the learner's answer (``my_...``)."""
    return next(iter(inspect.signature(getattr(checks, name)).parameters.values()))


FUNCTION_CHECKS = [name for name in CHECKS if "Callable" in str(answer_parameter(name).annotation)]
# the learner's answer is a function (the check's signature says so)


def run_check(name: str, answer, model, tokenizer) -> Report:
    """Call the check ``name`` with ``answer`` in the learner's place, and its other required arguments by their name
    (the tiny model and tokenizer where it takes them)."""
    at_hand = {**EXAMPLE_ARGUMENTS, "model": model, "tokenizer": tokenizer}
    after = [parameter.name for parameter in list(inspect.signature(getattr(checks, name)).parameters.values())[1:]
             if parameter.default is inspect.Parameter.empty and parameter.kind is parameter.POSITIONAL_OR_KEYWORD]
    unknown = [parameter for parameter in after if parameter not in at_hand]
    assert not unknown, f"{name} takes {unknown}: add an example value to EXAMPLE_ARGUMENTS"
    return getattr(checks, name)(answer, *(at_hand[parameter] for parameter in after))


def test_every_check_is_exported_once():
    assert len(CHECKS) == len(set(CHECKS)) >= 17  # lessons 00-06 and 09, two or three checks each


def test_the_function_checks_are_read_from_the_signatures():
    """The answers that are functions, as the lessons pose them (the list this file once kept by hand, and later)."""
    assert {"check_next_token_fn", "check_new_text_only", "check_reproducible_sampling", "check_top_p_filter",
            "check_temperature", "check_tokens_per_second"} <= set(FUNCTION_CHECKS)
    assert "check_4bit_model" not in FUNCTION_CHECKS and "check_digits_processor" not in FUNCTION_CHECKS


@pytest.mark.parametrize("answer", [None, 42, ["a list"], {"a": "dict"}], ids=repr)
@pytest.mark.parametrize("name", CHECKS)
def test_a_wrong_type_is_a_failed_line_with_a_hint(name, answer, tiny_model, tiny_tokenizer):
    report = run_check(name, answer, tiny_model, tiny_tokenizer)
    assert not report.passed and report.failures[0].hint, report


@pytest.mark.parametrize("name", FUNCTION_CHECKS)
def test_a_function_that_raises_is_a_failed_line(name, tiny_model, tiny_chat_tokenizer):
    def broken(*args):
        raise IndexError("index 5 is out of bounds")

    report = run_check(name, broken, tiny_model, tiny_chat_tokenizer)
    how_it_is_called = {"check_greedy_loop": r"call model\(\.\.\.\) once per new token"}  # the loop calls the model
    assert_fails_with(report, how_it_is_called.get(name, "called as"))
    assert "IndexError: index 5 is out of bounds" in report.failures[0].message


def test_a_broken_model_argument_is_a_failed_line():
    report = check_next_token_fn(lambda model, input_ids: 0, None, None)
    assert_fails_with(report, "rerun the lesson")
    assert "could not finish" in report.failures[0].message


def test_a_check_takes_only_the_learners_arguments():
    assert list(inspect.signature(check_max_new_tokens).parameters) == ["my_kwargs", "n", "hint"]
    assert check_max_new_tokens.__name__ == "check_max_new_tokens" and "Lesson 04" in check_max_new_tokens.__doc__


# ---------------------------------------------------------------- 01 loading


def test_4bit_model(four_bit):
    assert_passes(check_4bit_model(four_bit))


def test_4bit_model_wrong_answers(four_bit, offline_model, monkeypatch):
    assert_fails_with(check_4bit_model(offline_model[0]), r"BitsAndBytesConfig\(load_in_4bit=True", code=True)
    assert_fails_with(check_4bit_model(offline_model), "load_model returns \\(model, tokenizer\\)")
    for layer in (module for module in four_bit.modules() if type(module).__name__ == "Linear4bit"):
        monkeypatch.setattr(layer.weight, "quant_type", "fp4")
        monkeypatch.setattr(layer.weight, "compress_statistics", False)
    report = check_4bit_model(four_bit)
    assert_fails_with(report, 'bnb_4bit_quant_type="nf4"', code=True)
    assert_fails_with(report, "bnb_4bit_use_double_quant=True", code=True)


def test_4bit_model_compute_dtype_follows_the_device(four_bit, monkeypatch):
    """bfloat16 matmuls on a CPU (the lesson's solution); float32 is refused with the device's dtype as the hint."""
    report = check_4bit_model(four_bit)
    assert "✔ matmuls run in bfloat16, the 16-bit type for this CPU" in str(report)
    for layer in (module for module in four_bit.modules() if type(module).__name__ == "Linear4bit"):
        monkeypatch.setattr(layer, "compute_dtype", torch.float32)  # BitsAndBytesConfig's default
    assert_fails_with(check_4bit_model(four_bit), r"on this CPU use bfloat16.*bnb_4bit_compute_dtype=torch\.bfloat16\)",
                      code=True)


@pytest.mark.parametrize("capability, used, passed", [
    ((7, 5), torch.float16, True), ((7, 5), torch.bfloat16, False), ((8, 0), torch.bfloat16, True),
    ((8, 0), torch.float16, False),
], ids=["t4-fp16", "t4-bf16", "a100-bf16", "a100-fp16"])
def test_4bit_compute_dtype_on_gpus(capability, used, passed):
    """A T4 (7.5) wants float16, an A100 (8.0) bfloat16: the check accepts the right one for the learner's device."""
    from llmcourse.precision import pick_dtypes

    layer = type("Linear4bit", (), {"compute_dtype": used})()
    report = Report("compute dtype")
    _judge_compute_dtype(report, layer, pick_dtypes("cuda", capability=capability, name="GPU"))
    assert report.passed is passed, report
    if not passed:
        wanted = "float16" if capability < (8, 0) else "bfloat16"
        assert_fails_with(report, rf"on this GPU \(GPU, compute capability.*bnb_4bit_compute_dtype=torch\.{wanted}\)",
                          code=True)


def test_4bit_model_footprint(four_bit, offline_model, monkeypatch):
    monkeypatch.setattr(four_bit, "get_memory_footprint", lambda *args, **kwargs: 170e6)  # 0.32 of 538 MB
    assert_fails_with(check_4bit_model(four_bit), "Linear layers")
    report = Report("footprint")
    _judge_footprint(report, offline_model[0])  # fp32 everywhere: the embeddings too
    assert_fails_with(report, r"dtype=torch\.bfloat16", code=True)


def test_8bit_layers_are_not_4bit():
    from llmcourse.quiet import silence_bitsandbytes

    silence_bitsandbytes()
    import bitsandbytes as bnb

    model = torch.nn.Sequential(bnb.nn.Linear8bitLt(8, 8, has_fp16_weights=False))
    assert_fails_with(check_4bit_model(model), "this model is 8-bit")


def test_8bit_config():
    my_config = BitsAndBytesConfig(load_in_8bit=True)  # int8 weights (LLM.int8())
    assert_passes(check_8bit_config(my_config))


@pytest.mark.parametrize("my_config, hint", [
    (BitsAndBytesConfig(load_in_4bit=True), "this is a 4-bit config"),
    ({"load_in_8bit": True}, r"transformers 5 removed .*quantization_config"),
    ({}, "wants a config object"),
    ("8bit", "load_model's shortcut"),
], ids=["4bit_config", "keyword_dict", "empty_dict", "shortcut"])
def test_8bit_config_wrong_answers(my_config, hint):
    assert_fails_with(check_8bit_config(my_config), hint)


# ---------------------------------------------------------------- 02 tokenizing


def test_left_padding(tokenizer):
    from transformers import AutoTokenizer

    from llmcourse.offline import checkpoint_dir

    my_tokenizer = AutoTokenizer.from_pretrained(checkpoint_dir(), padding_side="left")
    report = check_left_padding(my_tokenizer)
    assert_passes(report)
    assert "[0, 0, 1, 1, 1, 1, 1, 1, 1]" in report.lines[-1].message
    assert_fails_with(check_left_padding(tokenizer), "the padding must come first, on the left")
    my_tokenizer.pad_token = None
    assert_fails_with(check_left_padding(my_tokenizer), r"pad_token = my_tokenizer\.eos_token", code=True)
    assert_fails_with(check_left_padding(("model", tokenizer)), "load_model returns")


def test_chat_prompt(tokenizer):
    def my_chat_prompt(question):
        messages = [{"role": "user", "content": question}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    report = check_chat_prompt(my_chat_prompt, tokenizer)
    assert_passes(report)
    assert len(report.lines) == 3 and "a question it has not seen" in repr(report)


def test_chat_prompt_wrong_answers(tokenizer):
    def template(role="user", content=lambda question: question, **options):
        return lambda question: tokenizer.apply_chat_template([{"role": role, "content": content(question)}], **options)

    assert_fails_with(check_chat_prompt(lambda question: question, tokenizer), "question alone.*chat template")
    assert_fails_with(check_chat_prompt(template(tokenize=False), tokenizer), "add_generation_prompt=True", code=True)
    for role in ("system", "assistant"):
        report = check_chat_prompt(template(role, tokenize=False, add_generation_prompt=True), tokenizer)
        assert_fails_with(report, f'in a "{role}" turn')
    assert_fails_with(check_chat_prompt(template(add_generation_prompt=True), tokenizer), "tokenize=False", code=True)
    spain = template(content=lambda question: question.replace("France", "Spain"), tokenize=False,
                     add_generation_prompt=True)
    assert_fails_with(check_chat_prompt(spain, tokenizer), "exactly the question the function is given")
    report = check_chat_prompt(lambda question: 1 / 0, tokenizer)
    assert not report.passed and "my_chat_prompt raised ZeroDivisionError" in report.failures[0].message


def test_typed_in_chat_prompt_never_passes(tokenizer):
    """Issue 26, rule 1: the lesson's prompt, typed in, fails on a question the learner has not seen."""
    typed = tokenizer.apply_chat_template([{"role": "user", "content": QUESTION}], tokenize=False,
                                          add_generation_prompt=True)
    report = check_chat_prompt(lambda question: typed, tokenizer)
    assert not report.passed and report.lines[0].passed and "it has not seen" in report.failures[0].message
    assert_fails_with(report, "not from the lesson's question")


# ---------------------------------------------------------------- 03 generating


def test_next_token_fn(offline_model):
    model, tokenizer = offline_model

    def my_next_token(model, input_ids):
        with torch.no_grad():
            logits = model(input_ids).logits  # (1, length, vocab)
        return int(logits[0, -1].argmax())  # the most likely token after the last position

    report = check_next_token_fn(my_next_token, model, tokenizer)
    assert_passes(report)
    assert "' Paris'" in report.lines[0].message


def test_next_token_fn_wrong_answers(offline_model):
    model, tokenizer = offline_model

    def a_tensor(model, ids):  # an id as a one-element tensor is fine too
        return model(ids).logits[0, -1].argmax()

    assert_passes(check_next_token_fn(a_tensor, model, tokenizer))
    assert_fails_with(check_next_token_fn(lambda model, ids: model(ids).logits[0, 0].argmax(), model, tokenizer),
                      "first position.*logits\\[0, -1\\]", code=True)
    assert_fails_with(check_next_token_fn(lambda model, ids: model(ids).logits[0, -1], model, tokenizer),
                      "return one token id")


def test_new_text_only(offline_model):
    model, tokenizer = offline_model

    def my_decode(inputs, output_ids):
        new_ids = output_ids[:, inputs["input_ids"].shape[1]:]  # every row's new tokens start after the padded prompt
        return tokenizer.batch_decode(new_ids, skip_special_tokens=True)

    assert_passes(check_new_text_only(my_decode, model, tokenizer))


def test_new_text_only_wrong_answers(offline_model):
    model, tokenizer = offline_model

    def whole(inputs, output_ids):
        return tokenizer.batch_decode(output_ids, skip_special_tokens=True)

    def specials_kept(inputs, output_ids):
        return tokenizer.batch_decode(output_ids[:, inputs["input_ids"].shape[1]:])

    def per_row_length(inputs, output_ids):
        lengths = inputs["attention_mask"].sum(1)
        return [tokenizer.decode(row[n:], skip_special_tokens=True) for row, n in zip(output_ids, lengths, strict=True)]

    assert_fails_with(check_new_text_only(whole, model, tokenizer), "output_ids holds each prompt")
    assert_fails_with(check_new_text_only(specials_kept, model, tokenizer), "skip_special_tokens=True", code=True)
    assert_fails_with(check_new_text_only(per_row_length, model, tokenizer), "start at the same index")


# ---------------------------------------------------------------- 04 pitfalls


@pytest.mark.parametrize("my_kwargs", [
    right("check_max_new_tokens", "the lesson's dict()", dict(max_new_tokens=40, min_new_tokens=40)),
    right("check_max_new_tokens", "a literal, floor first, greedy said", {"min_new_tokens": 40, "max_new_tokens": 40,
                                                                           "do_sample": False}),
    right("check_max_new_tokens", "from a variable", {name: 40 for name in ("max_new_tokens", "min_new_tokens")}),
])
def test_max_new_tokens(my_kwargs):
    assert_passes(check_max_new_tokens(my_kwargs))


def test_max_new_tokens_for_another_n():
    assert_passes(check_max_new_tokens(dict(min_new_tokens=10, max_new_tokens=10), n=10))


def test_exactly_n_tokens_really_comes_out_of_generate(tiny_model, tiny_tokenizer):
    """The passing answer is exact: with min_new_tokens the model's end-of-text token cannot stop it early."""
    inputs = tiny_tokenizer("hello world", return_tensors="pt")
    eos = tiny_model.generation_config.eos_token_id
    settings = {"max_new_tokens": 12, "min_new_tokens": 12}
    assert check_max_new_tokens(settings, n=12).passed
    bias = {(eos,): 100.0}  # make the end-of-text token the most likely at every step
    ceiling = tiny_model.generate(**inputs, max_new_tokens=12, sequence_bias=bias, pad_token_id=eos)
    exact = tiny_model.generate(**inputs, **settings, sequence_bias=bias, pad_token_id=eos)
    prompt = inputs["input_ids"].shape[1]
    assert ceiling.shape[1] - prompt < 12  # max_new_tokens alone: stopped at the end-of-text token
    assert exact.shape[1] - prompt == 12


def max_tokens_mistake(name: str, my_kwargs: dict, hint: str):
    return wrong("check_max_new_tokens", name, my_kwargs, hint)


@pytest.mark.parametrize("my_kwargs, hint", [
    max_tokens_mistake("no length at all", {}, "stops after 20 new tokens"),
    max_tokens_mistake("max_length", {"max_length": 40}, "counts the prompt.s tokens too, so how many new tokens"),
    max_tokens_mistake("ceiling and floor swapped", {"max_new_tokens": 20, "min_new_tokens": 40},
                       "up to 20 new tokens: the exercise asks for 40"),
    max_tokens_mistake("max_length kept too", {"max_new_tokens": 40, "min_new_tokens": 40, "max_length": 60},
                       "remove it"),
    max_tokens_mistake("a ceiling only", {"max_new_tokens": 40}, "only a ceiling"),
    max_tokens_mistake("min_length for the floor", {"max_new_tokens": 40, "min_length": 40},
                       "floor on new tokens alone is min_new_tokens"),
    max_tokens_mistake("a lower floor", {"max_new_tokens": 40, "min_new_tokens": 30}, "min_new_tokens=30 is the floor"),
    max_tokens_mistake("one more", {"max_new_tokens": 41, "min_new_tokens": 40}, "up to 41 new tokens"),
    max_tokens_mistake("the number as text", {"max_new_tokens": "40", "min_new_tokens": "40"},
                       "'40' is str: generate wants a whole number"),
])
def test_max_new_tokens_wrong_answers(my_kwargs, hint):
    assert_fails_with(check_max_new_tokens(my_kwargs), hint)


def test_reproducible_sampling(offline_model):
    model, tokenizer = offline_model
    inputs = tokenizer("I am a cat.", return_tensors="pt")  # the exercise's prompt

    def my_sample(seed):
        torch.manual_seed(seed)  # the same seed replays the same random draws
        output_ids = model.generate(**inputs, do_sample=True, max_new_tokens=8)
        return tokenizer.decode(output_ids[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    torch.manual_seed(123)
    state, manual_seed = torch.get_rng_state(), torch.manual_seed
    assert_passes(check_reproducible_sampling(my_sample))
    assert torch.equal(torch.get_rng_state(), state), "the check must leave the session's random state alone"
    assert torch.manual_seed is manual_seed


def test_reproducible_sampling_wrong_answers(tiny_model, tiny_tokenizer):
    inputs = tiny_tokenizer("I am a cat.", return_tensors="pt")

    def sampler(seeding, **settings):
        def my_sample(seed):
            seeding(seed)
            output_ids = tiny_model.generate(**inputs, max_new_tokens=6, **settings)
            return tiny_tokenizer.decode(output_ids[0, inputs.input_ids.shape[1]:], skip_special_tokens=True)
        return my_sample

    greedy = sampler(torch.manual_seed, do_sample=False)
    assert_fails_with(check_reproducible_sampling(greedy), "do_sample=True")
    assert_fails_with(check_reproducible_sampling(sampler(lambda seed: None, do_sample=True)), "set inside the function")
    fixed_seed = sampler(lambda seed: torch.manual_seed(42), do_sample=True)
    assert_fails_with(check_reproducible_sampling(fixed_seed), "never reached torch's generator")
    assert_fails_with(check_reproducible_sampling(lambda seed: [greedy(seed)]), "return the text itself")


def test_the_sampling_check_sees_a_model_reached_through_a_dict_or_an_object(tiny_model, tiny_tokenizer):
    """A learner's replay: a model in a dict or on an object was not seen, so these slips passed."""
    inputs = tiny_tokenizer("I am a cat.", return_tensors="pt")
    kept = {"lm": tiny_model}

    def in_a_dict(seed):
        torch.manual_seed(seed)
        output_ids = kept["lm"].generate(**inputs, do_sample=True, max_new_tokens=20, pad_token_id=2)
        return tiny_tokenizer.decode(output_ids[0, inputs.input_ids.shape[1]:], skip_special_tokens=True)

    class Sampler:
        def __init__(self, lm):
            self.lm = lm

        def __call__(self, seed):
            torch.manual_seed(seed)
            output_ids = self.lm.generate(**inputs, do_sample=True, max_new_tokens=8, pad_token_id=2)
            return tiny_tokenizer.decode(output_ids[0, inputs.input_ids.shape[1]:], skip_special_tokens=True)

    assert_fails_with(check_reproducible_sampling(in_a_dict), r"\b20\b")
    assert check_reproducible_sampling(Sampler(tiny_model)).passed


def test_the_sampling_check_names_another_prompt_and_an_empty_text(tiny_model, tiny_tokenizer):
    """A learner's replay: "I am a dog." passed, and '' for every seed was told "generate is not sampling"."""
    def sampler(prompt, start=None):
        def my_sample(seed):
            inputs = tiny_tokenizer(prompt, return_tensors="pt")
            torch.manual_seed(seed)
            output_ids = tiny_model.generate(**inputs, do_sample=True, max_new_tokens=8, pad_token_id=2)
            return tiny_tokenizer.decode(output_ids[0, start or inputs.input_ids.shape[1]:], skip_special_tokens=True)
        return my_sample

    assert check_reproducible_sampling(sampler("I am a cat.")).passed
    assert_fails_with(check_reproducible_sampling(sampler("I am a dog.")), "the exercise's prompt 'I am a cat.'")
    assert_fails_with(check_reproducible_sampling(sampler("I am a cat.", start=40)), "empty text for every seed")


def patchable(model) -> dict:
    """What the sampling check could leave patched: the seed functions, transformers' generate, the model's own."""
    import random

    import numpy
    from transformers import GenerationMixin

    return {"torch.manual_seed": torch.manual_seed, "torch.random.manual_seed": torch.random.manual_seed,
            "random.seed": random.seed, "numpy.random.seed": numpy.random.seed,
            "GenerationMixin.generate": GenerationMixin.generate, "model.generate": model.__dict__.get("generate")}


def left_patched(before: dict, after: dict) -> list[str]:
    """The names whose object changed: what a check left patched in the learner's kernel."""
    return [name for name in before if before[name] != after[name]]


@pytest.mark.parametrize("raises", [False, True], ids=["returns", "raises"])
def test_the_sampling_check_leaves_nothing_patched(tiny_model, tiny_tokenizer, raises):
    inputs = tiny_tokenizer("I am a cat.", return_tensors="pt")

    def my_sample(seed):
        torch.manual_seed(seed)
        output_ids = tiny_model.generate(**inputs, max_new_tokens=8, do_sample=True)
        if raises:
            raise RuntimeError("the learner's own bug, after generate")
        return tiny_tokenizer.decode(output_ids[0, inputs.input_ids.shape[1]:], skip_special_tokens=True)

    torch.manual_seed(123)
    before, state = patchable(tiny_model), torch.get_rng_state()
    report = check_reproducible_sampling(my_sample)
    assert report.passed is not raises
    assert left_patched(before, patchable(tiny_model)) == []
    assert torch.equal(torch.get_rng_state(), state), "the check must leave the session's random state alone"
    assert tiny_model.generate(**inputs, max_new_tokens=2).shape == (1, inputs.input_ids.shape[1] + 2)  # generate again


def test_a_check_that_leaves_its_wrapper_behind_is_caught(tiny_model, tiny_tokenizer, monkeypatch):
    """The planted violation: the same check, its cleanup skipped, fails the test above's assertion."""
    import contextlib

    from transformers import GenerationMixin

    from llmcourse.checks import lesson04_pitfalls

    real = lesson04_pitfalls.observe

    @contextlib.contextmanager
    def leaky(events, mark=0):
        with real(events, mark):
            yield
            wrapper = GenerationMixin.generate
        GenerationMixin.generate = wrapper  # put back after the cleanup: left patched

    inputs = tiny_tokenizer("I am a cat.", return_tensors="pt")

    def my_sample(seed):
        torch.manual_seed(seed)
        output_ids = tiny_model.generate(**inputs, max_new_tokens=4, do_sample=True)
        return tiny_tokenizer.decode(output_ids[0, inputs.input_ids.shape[1]:])

    before = patchable(tiny_model)
    monkeypatch.setattr(lesson04_pitfalls, "observe", leaky)
    try:
        check_reproducible_sampling(my_sample)
        assert left_patched(before, patchable(tiny_model)) == ["GenerationMixin.generate"]
    finally:
        GenerationMixin.generate = before["GenerationMixin.generate"]
    monkeypatch.setattr(torch, "manual_seed", lambda seed: None)  # and a process-wide patch is named too
    assert left_patched(before, patchable(tiny_model)) == ["torch.manual_seed"]


def test_padded_batch(offline_model):
    model, tokenizer = offline_model
    left = copy.deepcopy(tokenizer)
    left.padding_side = "left"  # pad before the prompt, so that every row ends with its own last token

    def my_batch_texts(prompts):
        batch = left(prompts, padding=True, return_tensors="pt")
        output_ids = model.generate(**batch, max_new_tokens=6, do_sample=False)
        return left.batch_decode(output_ids[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)

    report = check_padded_batch(my_batch_texts, model, tokenizer)
    assert_passes(report)
    assert len(report.lines) == 3 and "a batch of 3 it has not seen" in repr(report)


@pytest.mark.parametrize("side, mask, hint", [
    ("right", True, "padded on the right"),
    ("left", False, "without its attention mask"),
], ids=repr)
def test_padded_batch_wrong_answers_are_named_from_the_variant_they_equal(offline_model, side, mask, hint):
    model, tokenizer = offline_model
    padded = copy.deepcopy(tokenizer)
    padded.padding_side = side

    def my_batch_texts(prompts):
        batch = padded(prompts, padding=True, return_tensors="pt")
        kwargs = dict(batch) if mask else {"input_ids": batch.input_ids}
        output_ids = model.generate(**kwargs, max_new_tokens=6, do_sample=False, pad_token_id=padded.pad_token_id)
        return padded.batch_decode(output_ids[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)

    assert_fails_with(check_padded_batch(my_batch_texts, model, tokenizer), hint)


def test_typed_in_texts_never_pass(offline_model):
    """Issue 26, rule 1: the lesson's right answer, typed in, fails on a batch the learner has not seen."""
    model, tokenizer = offline_model
    report = check_padded_batch(lambda prompts: [" Wednesday, and Thursday) to", ", H, I, J"], model, tokenizer)
    assert not report.passed and report.lines[0].passed and "it has not seen" in report.failures[0].message


# ---------------------------------------------------------------- 05 decoding


def my_top_p(logits, p):
    """The lesson's solution: keep the most likely tokens until their probabilities add up to p."""
    sorted_probs, order = logits.softmax(dim=-1).sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(dim=-1) - sorted_probs  # probability of the tokens ranked above each one
    remove_sorted = before >= p  # already p without this token: drop it (the most likely one always stays)
    remove = remove_sorted.scatter(-1, order, remove_sorted)  # back to vocabulary order
    return logits.masked_fill(remove, float("-inf"))


def test_top_p_filter():
    from llmcourse.sampling import top_p_filter

    assert_passes(check_top_p_filter(my_top_p))
    assert_passes(check_top_p_filter(top_p_filter))


def drops_crossing_token(logits, p):
    """Wrong: removes the token that carries the total past p."""
    sorted_probs, order = logits.softmax(-1).sort(-1, descending=True)
    remove_sorted = sorted_probs.cumsum(-1) > p
    return logits.masked_fill(remove_sorted.scatter(-1, order, remove_sorted), float("-inf"))


def keeps_least_likely(logits, p):
    """Wrong: adds up from the least likely token."""
    sorted_probs, order = logits.softmax(-1).sort(-1)
    remove_sorted = sorted_probs.cumsum(-1) > p
    return logits.masked_fill(remove_sorted.scatter(-1, order, remove_sorted), float("-inf"))


@pytest.mark.parametrize("wrong, hint", [
    (drops_crossing_token, "carries the total past p"),
    (keeps_least_likely, "most likely token was removed"),
    (lambda logits, p: my_top_p(logits, p).clamp(min=-1e9), r'float\("-inf"\)'),
    (lambda logits, p: my_top_p(logits, p).softmax(-1), "returns probabilities"),
    (lambda logits, p: my_top_p(logits, p)[0], "same shape as logits"),
], ids=["drops_crossing_token", "keeps_least_likely", "large_negative", "probabilities", "one_row"])
def test_top_p_filter_wrong_answers(wrong, hint):
    assert_fails_with(check_top_p_filter(wrong), hint, code=True)


def test_temperature():
    def my_apply_temperature(logits, t):
        return logits / t  # t < 1 sharpens, t > 1 flattens

    assert_passes(check_temperature(my_apply_temperature))


@pytest.mark.parametrize("wrong, hint", [
    (lambda logits, t: logits * t, "multiplies the logits by t"),
    (lambda logits, t: logits - t, "shifts the logits"),
], ids=["multiplied", "subtracted"])
def test_temperature_wrong_answers(wrong, hint):
    assert_fails_with(check_temperature(wrong), hint)


# ---------------------------------------------------------------- 06 streaming and speed


def stream_chunks_fn(model, tokenizer, **streamer_settings):
    """The lesson's solution, my_stream_chunks(prompt), with the streamer's settings as given."""
    from transformers import TextIteratorStreamer

    def my_stream_chunks(prompt):
        inputs = tokenizer(prompt, return_tensors="pt")
        streamer = TextIteratorStreamer(tokenizer, **streamer_settings)
        thread = Thread(target=model.generate, kwargs=dict(**inputs, streamer=streamer, max_new_tokens=8,
                                                           do_sample=False))
        thread.start()
        chunks = [chunk for chunk in streamer]  # each chunk arrives while generate is still running
        thread.join()
        return chunks

    return my_stream_chunks


def test_streamed_chunks(offline_model):
    from llmcourse import generate

    model, tokenizer = offline_model
    my_stream_chunks = stream_chunks_fn(model, tokenizer, skip_prompt=True, skip_special_tokens=True)
    report = check_streamed_chunks(my_stream_chunks, model, tokenizer)
    assert_passes(report)
    assert len(report.lines) == 3 and "a prompt it has not seen" in repr(report)
    full_text = generate(model, tokenizer, "A list of colors: red, blue", max_new_tokens=8).texts[0]
    assert "".join(my_stream_chunks("A list of colors: red, blue")) == full_text  # what the lesson shows


@pytest.mark.parametrize("settings, hint", [
    (dict(skip_special_tokens=True), "skip_prompt=True"),
    (dict(skip_prompt=True), "skip_special_tokens=True"),
], ids=repr)
def test_streamed_chunks_wrong_answers(offline_model, settings, hint):
    model, tokenizer = offline_model
    assert_fails_with(check_streamed_chunks(stream_chunks_fn(model, tokenizer, **settings), model, tokenizer), hint,
                      code=True)


def test_streamed_chunks_survive_a_function_that_raises_or_hangs(offline_model, monkeypatch):
    """A ✘ line, never a traceback or a check that waits forever: a loop over a streamer that no generate feeds."""
    from transformers import TextIteratorStreamer

    import llmcourse.checks.lesson06_streaming as lesson06_streaming

    model, tokenizer = offline_model
    report = check_streamed_chunks(lambda prompt: 1 / 0, model, tokenizer)
    assert not report.passed and "my_stream_chunks raised ZeroDivisionError" in report.failures[0].message
    monkeypatch.setattr(lesson06_streaming, "_patience", lambda seconds: 1.0)

    def waits(prompt):
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, timeout=5)  # generate is never started
        return [chunk for chunk in streamer]

    report = check_streamed_chunks(waits, model, tokenizer)
    assert_fails_with(report, "start generate in a Thread before the loop")
    assert "did not return within 1 s" in report.failures[0].message


def test_typed_in_chunks_never_pass(offline_model):
    """Issue 26, rule 1: the lesson's chunks, typed in, fail on a prompt the learner has not seen."""
    model, tokenizer = offline_model
    typed = ["", ", ", "and green", "\n", "\n", "The", " user", " will", ""]
    report = check_streamed_chunks(lambda prompt: typed, model, tokenizer)
    assert not report.passed and report.lines[0].passed and "it has not seen" in report.failures[0].message


def test_tokens_per_second():
    def my_rate_fn(result, seconds):
        return result.token_mask.sum().item() / seconds  # only real new tokens: no prompt, no padding after EOS

    assert_passes(check_tokens_per_second(my_rate_fn))
    assert_passes(check_tokens_per_second(lambda result, seconds: result.token_mask.sum() / seconds))  # a tensor too


@pytest.mark.parametrize("wrong, hint", [
    (lambda result, s: result.token_ids.numel() / s, "padding after EOS"),
    (lambda result, s: result.sequences.numel() / s, "prompt tokens"),
    (lambda result, s: result.steps / s, "every row"),
    (lambda result, s: s / result.token_mask.sum().item(), "seconds per token"),
    (lambda result, s: "fast", "return a number"),
], ids=["padding_counted", "prompt_counted", "one_row", "seconds_per_token", "not_a_number"])
def test_tokens_per_second_wrong_answers(wrong, hint):
    assert_fails_with(check_tokens_per_second(wrong), hint)
