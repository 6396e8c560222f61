"""Lesson 07 (controlling the output) and lesson 03's write-the-loop exercise.

- the format-forcing processor: every output parses, over many seeds, with random scores and with the model;
- the presence/frequency penalty against its formula;
- scoring: `compute_transition_scores` agrees with `GenerationResult` on the same run, and one forward pass
  (`score_continuations`) gives back the log-probabilities generate recorded;
- `plot_token_surprisal` against the numbers it draws;
- every check: the correct answer (two ways) passes, each typical wrong answer fails with its hint.
"""

from __future__ import annotations

import json
import re

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from check_cases import assert_fails_with, assert_passes, right, wrong  # noqa: E402
from transformers import LogitsProcessor, LogitsProcessorList, set_seed  # noqa: E402

from llmcourse import ContinuationLogprobs, CourseError, generate, score_continuations  # noqa: E402  # noqa: E402
from llmcourse.checks import (  # noqa: E402
    check_digits_processor,
    check_greedy_loop,
    check_presence_frequency,
    check_token_logprobs,
)
from llmcourse.checks import loop as loop_check  # noqa: E402
from llmcourse.constrain import (  # noqa: E402
    PresenceFrequencyPenalty,
    RegexLogitsProcessor,
    vocabulary_texts,  # noqa: E402
)
from llmcourse.i18n import set_language  # noqa: E402
from llmcourse.plots import plot_token_surprisal  # noqa: E402
from llmcourse.scoring import token_logprobs  # noqa: E402

THREE_NUMBERS = r"[1-9], [1-9], [1-9]"
PERSON = r'\{"name": "[A-Z][a-z]{1,10}", "age": [1-9][0-9]?\}'


@pytest.fixture(scope="module")
def model(offline_model):
    return offline_model[0]


@pytest.fixture(scope="module")
def tokenizer(offline_model):
    return offline_model[1]


# ---------------------------------------------------------------- the format-forcing processor


def random_walk(processor, tokenizer, seed: int, steps: int = 40) -> str:
    """Generate with random scores over the real vocabulary through the processor: the model plays no part."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.tensor([[1, 2, 3]])  # a 3-token "prompt"
    for _ in range(steps):
        scores = processor(ids, torch.randn(1, len(tokenizer), generator=generator) * 3)
        next_id = torch.multinomial(scores.softmax(-1), 1, generator=generator)  # (1, 1)
        if int(next_id) == tokenizer.eos_token_id:
            return tokenizer.decode(ids[0, 3:])
        ids = torch.cat([ids, next_id], dim=1)
    raise AssertionError(f"no EOS after {steps} steps: {tokenizer.decode(ids[0, 3:])!r}")


@pytest.mark.parametrize("pattern", [THREE_NUMBERS, PERSON, r"(yes|no)", r"[a-z]{2,4}( [a-z]{2,4}){0,2}"])
def test_regex_processor_output_always_matches_with_random_scores(tokenizer, pattern):
    processor = RegexLogitsProcessor(tokenizer, pattern, prompt_length=3)
    for seed in range(25):
        text = random_walk(processor, tokenizer, seed)
        assert re.fullmatch(pattern, text), (seed, text)


def test_regex_processor_outputs_parse_over_many_seeds_with_the_model(model, tokenizer):
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": 'Describe a person as JSON with the keys '
                                                                          '"name" and "age".'}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    length = inputs.input_ids.shape[1]
    processor = RegexLogitsProcessor(tokenizer, PERSON, prompt_length=length)
    people = []
    for seed in range(3):
        set_seed(seed)
        ids = model.generate(**inputs, do_sample=True, temperature=1.5, num_return_sequences=4, max_new_tokens=36,
                             logits_processor=LogitsProcessorList([processor]))
        people += [json.loads(text) for text in tokenizer.batch_decode(ids[:, length:], skip_special_tokens=True)]
    assert len(people) == 12 and all(set(person) == {"name", "age"} for person in people)


def test_regex_processor_allows_eos_only_on_a_full_match(tokenizer):
    processor = RegexLogitsProcessor(tokenizer, THREE_NUMBERS, prompt_length=0)
    texts = vocabulary_texts(tokenizer)
    assert [texts[i] for i in processor.allowed_ids("3, 4").tolist()] == [","]
    assert processor.allowed_ids("3, 4, 5").tolist() == [tokenizer.eos_token_id]
    assert [texts[i] for i in processor.allowed_ids("").tolist()] == list("123456789")


def test_regex_processor_refuses_a_bad_pattern(tokenizer):
    with pytest.raises(CourseError, match="not a valid regular expression"):
        RegexLogitsProcessor(tokenizer, "[1-9", prompt_length=0)


def test_presence_frequency_penalty_follows_the_openai_formula():
    scores = torch.randn(2, 10, generator=torch.Generator().manual_seed(1))
    ids = torch.tensor([[9, 9, 4, 4, 4, 7], [9, 0, 1, 2, 3, 5]])  # first 2 tokens: the prompt
    out = PresenceFrequencyPenalty(0.5, 0.25, prompt_length=2)(ids, scores.clone())
    expected = scores.clone()
    for row in range(2):
        generated = ids[row, 2:].tolist()
        for token in set(generated):
            expected[row, token] -= 0.25 * generated.count(token) + 0.5
    torch.testing.assert_close(out, expected)
    assert out[0, 9] == scores[0, 9]  # in the prompt only: not penalized


# ---------------------------------------------------------------- scoring


@pytest.fixture(scope="module")
def sampled(model, tokenizer):
    set_seed(0)
    return generate(model, tokenizer, "A list of colors: red, blue", max_new_tokens=8, do_sample=True,
                    temperature=0.7)


def test_compute_transition_scores_agrees_with_the_generation_result(model, sampled):
    out = sampled.outputs
    processed = model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)  # (1, steps)
    raw = model.compute_transition_scores(out.sequences, out.logits, normalize_logits=True)
    # compute_transition_scores takes the log-softmax along dim 1 of (batch, vocab, steps): on the CPU that rounds
    # up to ~2e-4 away from a softmax over the last dim (GenerationResult's), which float64 confirms
    torch.testing.assert_close(processed.exp(), sampled.processed.chosen_prob, atol=5e-4, rtol=0)
    torch.testing.assert_close(raw.exp(), sampled.raw.chosen_prob, atol=5e-4, rtol=0)
    exact = torch.softmax(torch.stack(out.logits, 1).double(), -1).gather(-1, sampled.token_ids[..., None]).squeeze(-1)
    torch.testing.assert_close(sampled.raw.chosen_prob.double(), exact, atol=1e-4, rtol=0)  # float32 rounding
    assert not torch.allclose(processed, raw)  # temperature 0.7 and top_k=50 made them differ


def test_one_forward_pass_gives_back_the_log_probabilities_generate_recorded(model, tokenizer, sampled):
    out = sampled.outputs
    raw = model.compute_transition_scores(out.sequences, out.logits, normalize_logits=True)[0]
    scored = score_continuations(model, tokenizer, sampled.prompts[0], [sampled.texts[0]])[0]
    assert scored.ids == sampled.token_ids[0].tolist()
    # one pass over the whole text vs one token at a time with the cache: the same up to float rounding
    torch.testing.assert_close(scored.logprobs, sampled.raw.chosen_prob[0].log(), atol=5e-4, rtol=0)
    torch.testing.assert_close(scored.logprobs, raw, atol=5e-4, rtol=0)
    assert scored.log_likelihood == pytest.approx(float(raw.sum()), abs=2e-3)
    assert scored.perplexity == pytest.approx(float((-raw.mean()).exp()), rel=1e-3)


def test_token_logprobs_reads_each_token_one_position_earlier():
    logits = torch.randn(1, 4, 6)
    ids = torch.tensor([[0, 5, 2, 3]])
    out = token_logprobs(logits, ids, prompt_length=2)
    expected = [torch.log_softmax(logits[0, t - 1], -1)[ids[0, t]] for t in (2, 3)]
    torch.testing.assert_close(out[0], torch.stack(expected))
    with pytest.raises(CourseError, match="prompt_length"):
        token_logprobs(logits, ids, prompt_length=4)


# ---------------------------------------------------------------- the surprisal plot


def scored_answers(tokenizer):
    return [ContinuationLogprobs("Review:", "ab", [4, 5], torch.tensor([-0.5, -2.0]), tokenizer),
            ContinuationLogprobs("Review:", "c", [6], torch.tensor([-1.5]), tokenizer)]


def test_surprisal_plot_draws_each_token_as_long_as_its_surprisal(tiny_tokenizer):
    answers = scored_answers(tiny_tokenizer)
    fig = plot_token_surprisal(answers)
    ax = fig.axes[0]
    segments = [(round(p.get_y() + p.get_height() / 2), p.get_x(), p.get_width()) for p in ax.patches]
    assert segments == [(0, 0.0, 0.5), (0, 0.5, 2.0), (1, 0.0, 1.5)]
    texts = [t.get_text() for t in ax.texts]
    assert "sum -2.50 · mean -1.25 (2 tokens)" in texts and "sum -1.50 · mean -1.50 (1 token)" in texts
    assert [t.get_text() for t in ax.get_yticklabels()] == ["ab", "c"]
    assert ax.get_title(loc="left") == "Prompt: Review:"


def test_surprisal_plot_speaks_japanese(tiny_tokenizer):
    set_language("ja")
    ax = plot_token_surprisal(scored_answers(tiny_tokenizer)).axes[0]
    assert "合計 -2.50 · 平均 -1.25（2 トークン）" in [t.get_text() for t in ax.texts]
    assert "サプライザル" in ax.get_xlabel()


def test_surprisal_plot_refuses_anything_else(tiny_tokenizer):
    with pytest.raises(CourseError, match="score_continuations"):
        plot_token_surprisal([-1.0, -2.0])
    mixed = scored_answers(tiny_tokenizer)
    mixed[1].prompt = "Other"
    with pytest.raises(CourseError, match="one prompt"):
        plot_token_surprisal(mixed)


# ---------------------------------------------------------------- exercise 1: token log-probabilities


def my_token_logprobs(logits, input_ids, prompt_length):  # the lesson's solution
    log_probs = torch.log_softmax(logits[:, prompt_length - 1:-1], dim=-1)  # (batch, new, vocab)
    return log_probs.gather(-1, input_ids[:, prompt_length:, None]).squeeze(-1)  # (batch, new)


def looped_token_logprobs(logits, input_ids, prompt_length):
    rows = []
    for row in range(len(input_ids)):
        rows.append([torch.log_softmax(logits[row, t - 1], -1)[input_ids[row, t]]
                     for t in range(prompt_length, input_ids.shape[1])])
    return torch.tensor(rows)


@pytest.mark.parametrize("answer", [right("check_token_logprobs", "the lesson's slices", my_token_logprobs),
                                    right("check_token_logprobs", "a loop over rows and positions",
                                          looped_token_logprobs),
                                    right("check_token_logprobs", "the course's function", token_logprobs)])
def test_token_logprobs_check_passes(model, tokenizer, answer):
    assert_passes(check_token_logprobs(answer, model, tokenizer))


def logprobs_mistake(name, answer, hint):
    return wrong("check_token_logprobs", name, answer, hint)


@pytest.mark.parametrize(("answer", "hint"), [
    logprobs_mistake("summed", lambda logits, ids, p: my_token_logprobs(logits, ids, p).sum(-1), "one value per token"),
    logprobs_mistake("averaged", lambda logits, ids, p: my_token_logprobs(logits, ids, p).mean(-1),
                     "one value per token"),
    logprobs_mistake("probabilities", lambda logits, ids, p: my_token_logprobs(logits, ids, p).exp(),
                     r"not probabilities \(softmax\)"),
    logprobs_mistake("the surprisal", lambda logits, ids, p: -my_token_logprobs(logits, ids, p), "not their negatives"),
    logprobs_mistake("one position late", lambda logits, ids, p: torch.log_softmax(logits[:, p:], -1).gather(
        -1, ids[:, p:, None]).squeeze(-1), "one position late"),
    logprobs_mistake("the ids one position early", lambda logits, ids, p: torch.log_softmax(
        logits[:, p - 1:-1], -1).gather(-1, ids[:, p - 1:-1, None]).squeeze(-1), "scores the NEXT token"),
    logprobs_mistake("softmax over the positions", lambda logits, ids, p: torch.log_softmax(
        logits[:, p - 1:-1], dim=1).gather(-1, ids[:, p:, None]).squeeze(-1), "not over the positions"),
    logprobs_mistake("not normalized", lambda logits, ids, p: logits[:, p - 1:-1].gather(-1, ids[:, p:, None]).squeeze(
        -1), "normalize first"),
    logprobs_mistake("the prompt scored too", lambda logits, ids, p: my_token_logprobs(logits, ids, 1),
                     "only the continuation"),
    logprobs_mistake("the first row only", lambda logits, ids, p: my_token_logprobs(logits, ids, p)[0],
                     "every row of the batch"),
    logprobs_mistake("nothing returned", lambda logits, ids, p: None, "log_softmax over the vocabulary"),
])
def test_token_logprobs_check_hints(model, tokenizer, answer, hint):
    assert_fails_with(check_token_logprobs(answer, model, tokenizer), hint)


def test_token_logprobs_check_refuses_a_value():
    assert_fails_with(check_token_logprobs(None, None, None), "replace the None in the exercise cell")
    assert_fails_with(check_token_logprobs(0.5, None, None), "pass the function itself")


# ---------------------------------------------------------------- exercise 2: digits and commas


class DigitsAndCommas(LogitsProcessor):  # the lesson's solution
    def __init__(self, tokenizer):
        texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
        allowed = [bool(text) and set(text) <= set("0123456789, ") for text in texts]
        allowed[tokenizer.eos_token_id] = True
        self.allowed = torch.tensor(allowed)  # (vocab,)

    def __call__(self, input_ids, scores):
        return scores.masked_fill(~self.allowed, float("-inf"))


class WithIds(LogitsProcessor):
    """Another correct answer: a list of ids and a mask added to the scores."""

    def __init__(self, tokenizer, drop_eos=False, single_characters=False, extra=()):
        ids = [i for i in range(len(tokenizer))
               if (text := tokenizer.decode([i])) and all(c in "0123456789, " for c in text)
               and (not single_characters or len(text) == 1)]
        self.ids = sorted(set(ids + ([] if drop_eos else [tokenizer.eos_token_id]) + list(extra)))

    def __call__(self, input_ids, scores):
        mask = torch.full_like(scores, float("-inf"))
        mask[:, self.ids] = 0
        return scores + mask


class Inverted(DigitsAndCommas):
    def __call__(self, input_ids, scores):
        return scores.masked_fill(self.allowed, float("-inf"))


class InPlace(DigitsAndCommas):
    def __call__(self, input_ids, scores):
        scores.masked_fill_(~self.allowed, float("-inf"))  # and forgets to return


class Probabilities(DigitsAndCommas):
    def __call__(self, input_ids, scores):
        return super().__call__(input_ids, scores).softmax(-1)


def test_the_lessons_digits_processor_output_always_parses_with_random_scores(tokenizer):
    processor = DigitsAndCommas(tokenizer)
    for seed in range(25):
        assert re.fullmatch(r"[0-9, ]*", random_walk(processor, tokenizer, seed, steps=1000)), seed


class FromTheVocabulary(WithIds):
    """Wrong: tests the vocabulary's own strings, where a space is written "Ġ"."""

    def __init__(self, tokenizer):
        ids = [i for text, i in tokenizer.get_vocab().items() if set(text) <= set("0123456789, ")]
        self.ids = sorted(set(ids + [tokenizer.eos_token_id]))


@pytest.mark.parametrize("make", [right("check_digits_processor", "a boolean mask", DigitsAndCommas),
                                  right("check_digits_processor", "a list of ids, added as a mask", WithIds)])
def test_digits_check_passes(model, tokenizer, make):
    assert_passes(check_digits_processor(make(tokenizer), model, tokenizer))


def digits_mistake(name, make, hint):
    return wrong("check_digits_processor", name, make, hint)


@pytest.mark.parametrize(("make", "hint"), [
    digits_mistake("inverted", Inverted, "inverted"),
    digits_mistake("changed in place, not returned", InPlace, "return the scores, a tensor of shape"),
    digits_mistake("probabilities", Probabilities, r'float\("-inf"\)'),
    digits_mistake("no EOS", lambda tokenizer: WithIds(tokenizer, drop_eos=True), "keep the EOS token"),
    digits_mistake("one-character tokens only", lambda tokenizer: WithIds(tokenizer, single_characters=True),
                   r"is missing: .*longer ones"),
    digits_mistake("a letter kept", lambda tokenizer: WithIds(tokenizer, extra=[tokenizer.convert_tokens_to_ids("a")]),
                   "'a' .* is not made only"),
    digits_mistake("the vocabulary's strings", FromTheVocabulary, "a space as 'Ġ'"),
])
def test_digits_check_hints(model, tokenizer, make, hint):
    assert_fails_with(check_digits_processor(make(tokenizer), model, tokenizer), hint)


def test_digits_check_asks_for_an_instance_not_the_class(model, tokenizer):
    assert_fails_with(check_digits_processor(DigitsAndCommas, model, tokenizer),
                      r"call DigitsAndCommas\(\.\.\.\) with the arguments its __init__ takes")


# ---------------------------------------------------------------- exercise 3: presence and frequency penalties


def my_penalize(scores, generated_ids, presence, frequency):  # the lesson's solution
    counts = torch.zeros_like(scores).scatter_add_(1, generated_ids, torch.ones_like(generated_ids, dtype=scores.dtype))
    return scores - frequency * counts - presence * (counts > 0).float()


def bincount_penalize(scores, generated_ids, presence, frequency):
    out = scores.clone()
    for row, ids in enumerate(generated_ids):
        counts = torch.bincount(ids, minlength=scores.shape[-1]).float()
        out[row] -= frequency * counts + presence * (counts > 0).float()
    return out


def indexed_penalize(scores, generated_ids, presence, frequency):  # repeated ids subtract once
    out = scores.clone()
    for row, ids in enumerate(generated_ids):
        out[row, ids] -= presence + frequency
    return out


@pytest.mark.parametrize("answer", [
    right("check_presence_frequency", "scatter_add_", my_penalize),
    right("check_presence_frequency", "bincount per row", bincount_penalize),
    right("check_presence_frequency", "the course's processor",
          lambda s, ids, p, f: PresenceFrequencyPenalty(p, f, prompt_length=0)(ids, s)),
])
def test_penalty_check_passes(answer):
    assert_passes(check_presence_frequency(answer))


def counts(s, ids):
    return torch.zeros_like(s).scatter_add_(1, ids, torch.ones_like(ids, dtype=s.dtype))


def penalty_mistake(name, answer, hint):
    return wrong("check_presence_frequency", name, answer, hint)


@pytest.mark.parametrize(("answer", "hint"), [
    penalty_mistake("indexed: repeats subtract once", indexed_penalize, "frequency counts every occurrence"),
    penalty_mistake("presence per occurrence", lambda s, ids, p, f: my_penalize(s, ids, p, f) - p * (
        counts(s, ids) - (counts(s, ids) > 0).float()), "presence counts once per token"),
    penalty_mistake("counted over the batch", lambda s, ids, p, f: my_penalize(
        s, ids.flatten()[None].expand(len(ids), -1), p, f), "count per row"),
    penalty_mistake("added", lambda s, ids, p, f: 2 * s - my_penalize(s, ids, p, f), "subtract the penalties"),
    penalty_mistake("divided like repetition_penalty", lambda s, ids, p, f: torch.where(
        torch.zeros_like(s, dtype=torch.bool).scatter_(1, ids, True),
        torch.where(s > 0, s / (1 + p + f), s * (1 + p + f)), s), "do not divide"),
    penalty_mistake("nothing returned", lambda s, ids, p, f: None, r"scores - counts \* frequency"),
])
def test_penalty_check_hints(answer, hint):
    assert_fails_with(check_presence_frequency(answer), hint)


# ---------------------------------------------------------------- lesson 03: the learner's greedy loop


@pytest.fixture(scope="module")
def loop_cases(model, tokenizer):
    return loop_check._cases(model, tokenizer)


@pytest.fixture
def cached_cases(monkeypatch, loop_cases):
    """model.generate's ids for the three prompts, computed once for all the loop tests."""
    monkeypatch.setattr(loop_check, "_cases", lambda model, tokenizer: loop_cases)


def make_loop(*, cache_kw="cache", whole=False, mask=True, grow=True, cache=True, extra=0, eos=True,
              eos_before=False, new_only=False, own_mask=False):
    """The lesson's loop, with one mistake switched on by a keyword."""

    def my_greedy_loop(model, input_ids, attention_mask, max_new_tokens, eos_token_id):
        prompt, past, new_ids = input_ids, None, input_ids
        if own_mask:  # the given mask ignored: all ones, the pad tokens attended to (issue 26)
            attention_mask = torch.ones_like(input_ids)
        for _ in range(max_new_tokens + extra):
            out = model(input_ids=new_ids, attention_mask=attention_mask if mask else None,
                        use_cache=cache, **{cache_kw: past})
            next_id = out.logits[:, -1, :].argmax(dim=-1, keepdim=True)  # (1, 1)
            if eos_before and eos and next_id.item() == eos_token_id:
                break
            input_ids = torch.cat([input_ids, next_id], dim=-1)
            if grow:
                attention_mask = torch.cat([attention_mask, torch.ones_like(next_id)], dim=-1)
            if eos and next_id.item() == eos_token_id:
                break
            if cache:
                past, new_ids = out.cache, (input_ids if whole else next_id)
            else:
                new_ids = input_ids
        return input_ids[:, prompt.shape[1]:] if new_only else input_ids

    return my_greedy_loop


@pytest.mark.parametrize("answer", [right("check_greedy_loop", "cache=", make_loop()),
                                    right("check_greedy_loop", "past_key_values=", make_loop(cache_kw="past_key_values"))])
def test_loop_check_passes(model, tokenizer, cached_cases, answer):
    report = check_greedy_loop(answer, model, tokenizer)
    assert_passes(report)
    assert "greedy: the same 6 new tokens as model.generate" in repr(report)


def loop_mistake(name, answer, hint):
    return wrong("check_greedy_loop", name, answer, hint)


@pytest.mark.parametrize(("answer", "hint"), [
    loop_mistake("the whole sequence with the cache", make_loop(whole=True), "feed only the new token"),
    loop_mistake("no attention mask", make_loop(mask=False), "pass attention_mask"),
    loop_mistake("a mask that does not grow", make_loop(grow=False), "the mask must cover"),
    loop_mistake("its own all-ones mask", make_loop(own_mask=True), "leaves out 3 pad tokens .zeros., but a pass got "
                 "a mask with 0"),
    loop_mistake("no cache", make_loop(cache=False), "use the cache"),
    loop_mistake("one step short", make_loop(extra=-1), "one token short"),
    loop_mistake("one step too many", make_loop(extra=1), "one token too many"),
    loop_mistake("no stop at EOS", make_loop(eos=False), "stop after the EOS token"),
    loop_mistake("EOS not appended", make_loop(eos_before=True), "append the EOS token before you stop"),
    loop_mistake("the new ids only", make_loop(new_only=True), "return the prompt too"),
    loop_mistake("no forward pass", lambda model, input_ids, attention_mask, max_new_tokens, eos_token_id: None,
                 r"call model\(\.\.\.\) once"),
])
def test_loop_check_hints(model, tokenizer, cached_cases, answer, hint):
    assert_fails_with(check_greedy_loop(answer, model, tokenizer), hint)


def test_loop_check_gives_the_line_only_when_asked(model, tokenizer, cached_cases):
    """Issue 26, rule 3: the loop's hints are ideas; hint=2 adds the line of the lesson's loop that fixes the mistake."""
    first = repr(check_greedy_loop(make_loop(grow=False), model, tokenizer))
    assert "torch.ones_like(next_id)" not in first and "check_greedy_loop(..., hint=2)" in first
    asked = repr(check_greedy_loop(make_loop(grow=False), model, tokenizer, hint=2))
    assert "attention_mask = torch.cat([attention_mask, torch.ones_like(next_id)], dim=-1)" in asked


def test_loop_check_hints_in_japanese(model, tokenizer, cached_cases):
    set_language("ja")
    report = check_greedy_loop(make_loop(mask=False), model, tokenizer)
    assert_fails_with(report, "attention_mask=... を渡します")


def test_loop_check_refuses_a_value():
    assert_fails_with(check_greedy_loop(None, None, None), "replace the None in the exercise cell")
    assert_fails_with(check_greedy_loop([1, 2], None, None), "pass the function itself")


def test_docstring_examples_run():
    import doctest
    import importlib

    for name in ("constrain", "scoring", "plots.surprisal", "checks.lesson07_controlling", "checks.loop"):
        module = importlib.import_module(f"llmcourse.{name}")
        assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0, name
