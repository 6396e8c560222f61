"""Issue 26's rules for exercise checks, one class of cases per rule for every check, each with a meta-test.

1. **Unseen inputs**: a value the learner could type in never passes by itself. For every check of a
   function, the answer "return what the right function returned the first time" fails (`typed_in`),
   and for every check of a batch, "give every row row 0's answer" fails (`first_row_only`).
2. **Inputs come back unchanged**: the right values, computed and then followed by a write into the
   input (`in_place`), fail with a line that says the input was changed.
3. **A hint names only what the check observed**: `check_cases.assert_fails_with` refuses, for every
   mistake of the corpus, a first failure that shows its solution; and no message spells out a number
   as text unless it is the exercise's own or a sourced fact (`LITERAL_NUMBERS`): any other number is
   computed in the run. The meta-tests here plant each violation.
4. **Stale state**: after the exercise cell stops with an error, every run of the check refuses, in a
   real IPython shell, for every exported check.

A check that has nothing a rule can act on (a value exercise has no function to call; a function of
numbers has no input to change) is listed with the reason in ``NOT_APPLICABLE``; a test fails when an
exported check is in neither.
"""

from __future__ import annotations

import ast
import copy
import inspect
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from check_cases import shown_solution
from test_checks_serving import read_stream, request_fields
from test_lesson07 import DigitsAndCommas, make_loop, my_penalize, my_token_logprobs
from test_lesson08 import lookup_loops, step_clamp
from transformers import set_seed

from llmcourse import checks, sampling

CHECKS = Path(checks.__file__).parent


@pytest.fixture(scope="module")
def kit(offline_model, tiny_model, tiny_tokenizer):
    model, tokenizer = offline_model
    left = copy.deepcopy(tokenizer)
    left.padding_side, left.pad_token = "left", left.eos_token
    return SimpleNamespace(model=model, tokenizer=tokenizer, left=left, tiny=tiny_model, tiny_tokenizer=tiny_tokenizer)


# ---------------------------------------------------------------- the right answers, as the lessons write them


def next_token(model, input_ids):
    return int(model(input_ids).logits[0, -1].argmax())


def new_text(k):
    return lambda inputs, output_ids: k.tokenizer.batch_decode(output_ids[:, inputs["input_ids"].shape[1]:],
                                                               skip_special_tokens=True)


def sample(k):
    def my_sample(seed):
        inputs = k.tiny_tokenizer(["I am a cat."], return_tensors="pt")
        set_seed(seed)
        output_ids = k.tiny.generate(**inputs, do_sample=True, max_new_tokens=8, pad_token_id=2)
        return k.tiny_tokenizer.decode(output_ids[0, inputs.input_ids.shape[1]:], skip_special_tokens=True)
    return my_sample


def batch_texts(k):
    def my_batch_texts(prompts):
        batch = k.left(prompts, padding=True, return_tensors="pt")
        output_ids = k.model.generate(**batch, max_new_tokens=6, do_sample=False, pad_token_id=k.left.pad_token_id)
        return k.left.batch_decode(output_ids[:, batch.input_ids.shape[1]:], skip_special_tokens=True)
    return my_batch_texts


def chat_prompt(k):
    return lambda question: k.tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                                             add_generation_prompt=True)


def stream(k):
    """The lesson's way: generate in a Thread, the TextIteratorStreamer read as it goes."""
    from threading import Thread

    from transformers import TextIteratorStreamer

    def my_stream_chunks(prompt):
        inputs = k.tokenizer(prompt, return_tensors="pt")
        streamer = TextIteratorStreamer(k.tokenizer, skip_prompt=True, skip_special_tokens=True)
        thread = Thread(target=k.model.generate, kwargs=dict(**inputs, max_new_tokens=8, do_sample=False,
                                                             streamer=streamer))
        thread.start()
        chunks = list(streamer)
        thread.join()
        return chunks
    return my_stream_chunks


def rate(result, seconds):
    return result.token_mask.sum().item() / seconds


class Exercise:
    """One function exercise: its check, the right answer (built from the kit) and the check's other arguments."""

    def __init__(self, check, right, *args, batch=False, changeable=True):
        self.check, self.right, self.args = check, right, args
        self.batch = batch  # the answer has one row per input row: rule 1's per-row case applies
        self.changeable = changeable  # the function is handed a tensor, list or dict: rule 2 applies

    def run(self, k, wrap):
        args = [getattr(k, name) if isinstance(name, str) and hasattr(k, name) else name for name in self.args]
        right = self.right(k) if getattr(self.right, "needs_kit", False) else self.right
        return getattr(checks, self.check)(wrap(right), *args)


def with_kit(build):
    build.needs_kit = True
    return build


EXERCISES = {
    "check_next_token_fn": Exercise("check_next_token_fn", next_token, "model", "tokenizer"),
    "check_new_text_only": Exercise("check_new_text_only", with_kit(new_text), "model", "tokenizer", batch=True),
    "check_greedy_loop": Exercise("check_greedy_loop", make_loop(), "model", "tokenizer"),
    "check_reproducible_sampling": Exercise("check_reproducible_sampling", with_kit(sample), changeable=False),
    "check_padded_batch": Exercise("check_padded_batch", with_kit(batch_texts), "model", "tokenizer", batch=True),
    "check_top_p_filter": Exercise("check_top_p_filter", sampling.top_p_filter, batch=True),
    "check_temperature": Exercise("check_temperature", lambda logits, t: logits / t, batch=True),
    "check_chat_prompt": Exercise("check_chat_prompt", with_kit(chat_prompt), "tokenizer", changeable=False),
    "check_streamed_chunks": Exercise("check_streamed_chunks", with_kit(stream), "model", "tokenizer",
                                      changeable=False),
    "check_tokens_per_second": Exercise("check_tokens_per_second", rate),
    "check_token_logprobs": Exercise("check_token_logprobs", my_token_logprobs, "model", "tokenizer", batch=True),
    "check_digits_processor": Exercise("check_digits_processor", with_kit(lambda k: DigitsAndCommas(k.tokenizer)),
                                       "model", "tokenizer", batch=True),
    "check_presence_frequency": Exercise("check_presence_frequency", my_penalize, batch=True),
    "check_prompt_lookup": Exercise("check_prompt_lookup", lookup_loops),
    "check_speculative_sampling": Exercise("check_speculative_sampling", step_clamp),
    "check_speedup": Exercise("check_speedup", lambda n, k, c, v: n / (k * c + v), changeable=False),
    "check_sse_reader": Exercise("check_sse_reader", read_stream),
    "check_request_fields": Exercise("check_request_fields", request_fields),
}

NOT_APPLICABLE = {  # check -> why rules 1 and 2 have nothing to act on (rules 3 and 4 still apply)
    "check_model_folder": "a value exercise: the folder is the answer, a typed path is as right as a computed one",
    "check_classroom_env": "a value exercise: the environment dict is the answer itself",
    "check_4bit_model": "a value exercise: a loaded model cannot be typed in; the check inspects its layers",
    "check_8bit_config": "a value exercise: the config object is the answer itself",
    "check_left_padding": "a value exercise: the check pads a batch of its own with the learner's tokenizer",
    "check_max_new_tokens": "a value exercise: the dict of keyword arguments is the answer itself",
}


def test_every_check_has_a_case_per_rule_or_a_reason():
    exported = {name for name in checks.__all__ if name.startswith("check_")}
    assert exported == set(EXERCISES) | set(NOT_APPLICABLE), exported ^ (set(EXERCISES) | set(NOT_APPLICABLE))
    assert not set(EXERCISES) & set(NOT_APPLICABLE)


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_the_right_answer_passes(name, kit):
    report = EXERCISES[name].run(kit, lambda right: right)
    assert report.passed, report


# ---------------------------------------------------------------- rule 1: unseen inputs


def typed_in(right):
    """The answer a learner could type in: what ``right`` returned on the first call, returned for every call."""
    first = []

    def answer(*args):
        if not first:
            first.append(right(*args))
        return copy.deepcopy(first[0])
    return answer


def first_row_only(right):
    """An answer blind to every row but the first: row 0's answer for every row."""
    def answer(*args):
        out = right(*args)
        if isinstance(out, torch.Tensor):
            return out[:1].expand_as(out).clone()
        return [out[0]] * len(out)
    return answer


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_a_typed_in_answer_fails(name, kit):
    report = EXERCISES[name].run(kit, typed_in)
    assert not report.passed, f"returning the first result every time passes:\n{report!r}"


@pytest.mark.parametrize("name", sorted(name for name, exercise in EXERCISES.items() if exercise.batch))
def test_an_answer_that_ignores_every_row_but_the_first_fails(name, kit):
    report = EXERCISES[name].run(kit, first_row_only)
    assert not report.passed, f"giving every row row 0's answer passes:\n{report!r}"


def test_the_typed_in_rule_would_catch_a_check_that_tries_one_input():
    """The meta-test: a planted check that calls the function on the lesson's input only lets the typed answer pass."""
    @checks.base.exercise_check(en="Demo", ja="デモ", answer=checks.base.is_function)
    def one_input_only(report, my_double):
        report.add(my_double(3) == 6, f"my_double(3) is {my_double(3)}")

    assert one_input_only(typed_in(lambda x: 2 * x)).passed
    assert not checks.check_speedup(typed_in(lambda n, k, c, v: n / (k * c + v))).passed


# ---------------------------------------------------------------- rule 2: inputs come back unchanged


def in_place(right):
    """The right values, after which the function writes into the first tensor, list or dict it was handed."""
    def answer(*args):
        out = right(*args)
        next(value for value in args if _vandalize(value))
        return out
    return answer


def _vandalize(value):
    """Change ``value`` in place, as ``/=``, ``.append`` or ``[key] =`` do; False when it cannot be changed."""
    if isinstance(value, torch.Tensor):
        value.logical_not_() if value.dtype == torch.bool else value.add_(1)
    elif isinstance(value, list):
        value.append(value[-1] if value else 0)
    elif isinstance(value, dict):
        value["changed"] = True
    elif hasattr(value, "token_mask") or hasattr(value, "data") and isinstance(value.data, dict):
        tensor = value.token_mask if hasattr(value, "token_mask") else value.data["input_ids"]
        return _vandalize(tensor)
    else:
        return False
    return True


@pytest.mark.parametrize("name", sorted(name for name, exercise in EXERCISES.items() if exercise.changeable))
def test_an_input_changed_in_place_fails(name, kit):
    report = EXERCISES[name].run(kit, in_place)
    assert not report.passed and any("in place" in line.message for line in report.failures), report


# ---------------------------------------------------------------- rule 3: the meta-tests of assert_fails_with's rules


def test_a_first_failure_that_shows_the_solution_is_caught():
    planted = checks.Report("Max new tokens", ask="check_max_new_tokens(..., hint=2)")
    planted.add(False, "does not set max_new_tokens", "add max_new_tokens=40")
    planted.add(False, "does not set min_new_tokens", "add min_new_tokens=40")  # the two together: the whole answer
    assert shown_solution(planted) == [("max_new_tokens=40", "min_new_tokens=40")]
    planted.level = 2  # asked for with hint=2: allowed
    assert shown_solution(planted) == []


NUMBER = re.compile(r"(?<![\w.\[,\-])-?\d+(?:\.\d+)?(?![\w\]\-])")  # not an index, not part of a name or of 4-bit
REFERENCE = re.compile(r"\b(?:lesson|pitfall|section|exercise)s? \d+|transformers \d+")
STRUCTURAL = {"0", "1", "-1"}  # probability 0, temperature=0, t + 1, one token, the last position: never a measurement
LITERAL_NUMBERS = {  # module -> numbers its messages may spell out as text, each the exercise's own or a sourced fact
    "lesson01_loading.py": {"0.3": "the footprint bound the check applies", "0.4": "bits per weight double "
                            "quantization saves (QLoRA, Dettmers et al. 2023: 0.373)", "16": "16-bit types",
                            "4": "the exercise's 4 bits"},
    "lesson03_generating.py": {},
    "lesson04_batch.py": {},
    "lesson04_pitfalls.py": {"2": "the seeds it is called with, 0-3", "3": "the seeds it is called with, 0-3",
                             "20": "generate's default of 20 new tokens"},
    "lesson05_decoding.py": {"0.5": "the t and p the check uses", "0.7": "the t the check uses",
                             "0.8": "the p the check uses", "0.95": "the p the check uses",
                             "1.5": "the t the check uses", "2": "the check's logits, (2, 20), and t = 2",
                             "20": "the check's logits, (2, 20)", "3": "3 random batches"},
    "lesson07_controlling.py": {"2": "the random case's shape", "3": "its prompt_length", "7": "its shape",
                                "11": "its shape", "4": "the 4 samples the check draws"},
    "lesson08_faster.py": {},
    "lesson09_serving.py": {"20": "generate's default length", "32": "an example request",
                            "50": "generate's hidden top_k", "1024": "transformers serve's default max_tokens "
                            "(lesson 09 shows its source)"},
}


def literal_numbers(source: str) -> list[tuple[int, str]]:
    """(line, number) for every number written as text (not computed) in the English of a say(...) call."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "say":
            for keyword in (keyword for keyword in node.keywords if keyword.arg == "en"):
                text = " ".join(part.value for part in ast.walk(keyword.value)
                                if isinstance(part, ast.Constant) and isinstance(part.value, str))
                found += [(node.lineno, number) for number in NUMBER.findall(REFERENCE.sub("", text))
                          if number not in STRUCTURAL]
    return found


@pytest.mark.parametrize("path", sorted(CHECKS.glob("*.py")), ids=lambda path: path.name)
def test_a_number_a_message_spells_out_is_the_exercises_own_or_sourced(path):
    """Rule 3: any other number a hint quotes is computed in that run (an f-string's value), never typed into it."""
    allowed = LITERAL_NUMBERS.get(path.name, {})
    stray = [(line, number) for line, number in literal_numbers(path.read_text()) if number not in allowed]
    assert not stray, f"{path.name}: numbers typed into messages (line, number): {stray}; measure them, or declare why"


def test_a_number_typed_into_a_hint_is_caught():
    """The meta-test: the hint of the first replay, quoting another lesson's run, is caught; a measured one is not."""
    planted = 'say(en="generate stops earlier (lesson 03 stopped after 8 of 30)", ja="...")'
    assert literal_numbers(planted) == [(1, "8"), (1, "30")]
    assert literal_numbers('say(en=f"it stopped after {count} of {limit}", ja="...")') == []


# ---------------------------------------------------------------- rule 4: every check refuses a stale answer


@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    yield shell
    InteractiveShell.clear_instance()


@pytest.mark.parametrize("name", sorted(name for name in checks.__all__ if name.startswith("check_")))
def test_every_check_refuses_a_stale_answer_every_time(name, shell, kit, capsys):
    check = getattr(checks, name)
    parameters = list(inspect.signature(check).parameters.values())
    answer = parameters[0].name
    extra = [getattr(kit, p.name, "text") for p in parameters[1:] if p.default is inspect.Parameter.empty]
    shell.user_ns.update(check=check, extra=extra)
    shell.run_cell(f"{answer} = None")
    shell.run_cell(f"undefined_name\n{answer} = 1")  # the exercise cell stops before its answer
    for _ in range(3):
        report = shell.run_cell(f"check({answer}, *extra)").result
        assert not report.passed and "stopped with NameError" in report.lines[0].message, report
    shell.run_cell(f"{answer} = None")  # runs cleanly: judged again (a placeholder fails, for its own reason)
    report = shell.run_cell(f"check({answer}, *extra)").result
    assert not any("stopped with" in line.message for line in report.lines), report
